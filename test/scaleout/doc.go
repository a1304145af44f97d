// Package scaleout tests seesawd beyond one active node on the real kernel
// (the VM lab): LBs announcing an anycast VIP over BGP to a router running
// FRR, which spreads flows over them by ECMP; Maglev hashing with sloppy
// TCP keeping flows that ECMP moves; and the IPVS sync daemon keeping NAT
// connections across a VRRP failover and failback, beside keepalived's.
// The topology is internal/lab's scale-out lab.
package scaleout
