// Package lab builds the load-balancer lab that seesawd's end-to-end tests
// and `make demo` share: a client, two LB nodes running seesawd and three
// HTTP backends, in network namespaces on two bridges.
//
//	client 192.0.2.10 ─┐ front bridge (192.0.2.0/24, VIP 192.0.2.100)
//	lb1 .1   lb2 .2  ──┤
//	                   └ back bridge (10.0.1.0/24, gateway VIP 10.0.1.254)
//	backends 10.0.1.11, .12, .13 (default route via the gateway VIP)
//
// Each LB is its own namespace, so each has its own IPVS table, and runs its
// own seesawd with VRRP instances "front" (VRID 51) and "back" (VRID 52) in
// one sync group: the master holds the VIP and the backends' gateway, so NAT
// replies come back through it. lb1 has priority 150, lb2 100. Backends
// serve HTTP on any port asked, answering with their name; for direct
// routing they can carry the VIP on their loopback.
//
// NewScale builds the other lab, for scale-out: LBs announcing VIPs over BGP
// to a router running FRR (scaleout.go).
//
// IPVS needs the VM lab on hosts without it (test/vm).
package lab

import "net/netip"

// Addresses of the lab.
var (
	VIP       = netip.MustParseAddr("192.0.2.100")
	Gateway   = netip.MustParseAddr("10.0.1.254")
	ClientIP  = netip.MustParseAddr("192.0.2.10")
	FrontVRID = 51
	BackVRID  = 52
)
