package lab

import "net/netip"

// The scale-out lab (NewScale) puts LB nodes behind a router that runs a
// real BGP daemon, FRR's bgpd with zebra installing ECMP routes in the
// router's kernel:
//
//	client 203.0.113.10 ── router 203.0.113.1 (FRR, AS 65000)
//	                         │ lbN's link: 10.255.N.254 ── lbN 10.255.N.1 (AS 65001)
//	                         │ 10.0.1.254
//	back bridge 10.0.1.0/24: lb1 .1  lb2 .2  lb3 .3   backends .11 .12 .13
//
// Each LB peers with the router over its own link, so a cut link is seen
// at once (link detection) while a silent LB is seen at the hold time.
// Anycast services (AnycastVIP, direct routing, mh) are announced by every
// LB and the router spreads flows over them by ECMP (L4 hash); backends
// reply to the client through the router. Active/passive services
// (PassiveVIP, NAT) are held by VRRP on the back bridge with the backends'
// gateway (PassiveGateway), and the router reaches the master by ARP.
// Backends serve an echo line protocol on EchoPort and accept health
// checks on CheckPort.

// Addresses of the scale-out lab.
var (
	AnycastVIP     = netip.MustParseAddr("198.51.100.10")
	PassiveVIP     = netip.MustParseAddr("10.0.1.100")
	PassiveGateway = netip.MustParseAddr("10.0.1.253")
	ScaleClientIP  = netip.MustParseAddr("203.0.113.10")
	RouterBackIP   = netip.MustParseAddr("10.0.1.254")
)

// Ports and AS numbers of the scale-out lab.
const (
	EchoPort  = 9000
	CheckPort = 9001
	RouterASN = 65000
	LBASN     = 65001
	// PassiveVRID is the VRRP instance of the active/passive services.
	PassiveVRID = 52
)

// lbLink returns lbN's address (host 1) or the router's (host 254) on their link.
func lbLink(n int, host byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 255, byte(n), host}) }
