// Package engine will be seesawd's single owner of load-balancer state: one
// goroutine that consumes health-check transitions (pkg/healthcheck) and VRRP
// mastership events (pkg/vrrp), computes the desired IPVS state from the
// configuration, and reconciles the kernel to it through one batched
// pkg/ipvs Apply per change.
//
// It is the subject of the next issue; docs/architecture.md describes the
// contract the three foundation packages already honour for it: events out on
// channels, whole-set updates that keep the state of what did not change,
// comparable Service/Destination keys for diffs, and injected clocks.
package engine
