// Package e2e tests seesawd end to end on the real kernel: the LB lab of
// internal/lab (a client, two LB nodes running the daemon, three HTTP
// backends) in the VM lab, asserting on what the kernel holds (ipvsadm) and
// on what the client sees.
package e2e
