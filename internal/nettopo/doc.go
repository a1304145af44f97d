// Package nettopo builds throwaway network-namespace topologies with
// iproute2 for seesawd's integration tests and benchmarks: a switch
// namespace holding a Linux bridge, and node namespaces (two load balancers
// and a client by default) each wired to the bridge by a veth pair, with
// IPv4 (192.0.2.0/24, TEST-NET-1) and IPv6 (2001:db8::/64 plus link-local)
// addresses.
//
// Nothing here depends on package testing, so the same topology serves a
// TestIntegration* test and a benchmark command. It also renders and runs
// the two VRRP speakers compared in those programs, keepalived and seesawd,
// and sends a steady ICMP echo stream to measure the silence a client sees
// during a failover.
//
// Everything that touches the kernel is Linux only and needs root; other
// platforms get ErrUnsupported.
package nettopo

import (
	"errors"
	"net"
	"net/netip"
)

// ErrUnsupported is returned on platforms without network namespaces.
var ErrUnsupported = errors.New("nettopo: network namespaces need linux")

// Default addressing of the standard topology.
var (
	// VIPv4 is the IPv4 virtual address the VRRP tests fail over.
	VIPv4 = netip.MustParsePrefix("192.0.2.100/24")
	// VIPv6 is the IPv6 virtual address the VRRP tests fail over.
	VIPv6 = netip.MustParsePrefix("2001:db8::100/64")
)

// NodeConfig describes one namespace attached to the switch.
type NodeConfig struct {
	// Name is the node's logical name ("lb1"); it names the switch port,
	// so it must be a valid interface name (at most 15 bytes).
	Name string
	// IPv4 and IPv6 are the node's addresses on its interface; a zero
	// prefix means none of that family.
	IPv4 netip.Prefix
	IPv6 netip.Prefix
	// MAC is the interface's hardware address; nil lets the kernel pick.
	MAC net.HardwareAddr
}

// Config describes a topology. The zero value (or nil) gives the default:
// lb1 (.1, ::1), lb2 (.2, ::2) and client (.10, ::10) on one bridge.
type Config struct {
	// Prefix starts every namespace name; empty means "nt" plus random hex,
	// so concurrent topologies never collide.
	Prefix string
	// Nodes are the namespaces wired to the bridge; nil means the default three.
	Nodes []NodeConfig
	// Iface is the interface name inside each node; empty means "eth0".
	Iface string
}

// DefaultNodes returns the default lb1, lb2 and client nodes.
func DefaultNodes() []NodeConfig {
	return []NodeConfig{
		{Name: "lb1", IPv4: netip.MustParsePrefix("192.0.2.1/24"), IPv6: netip.MustParsePrefix("2001:db8::1/64"),
			MAC: net.HardwareAddr{0x02, 0x5e, 0x00, 0x00, 0x00, 0x01}},
		{Name: "lb2", IPv4: netip.MustParsePrefix("192.0.2.2/24"), IPv6: netip.MustParsePrefix("2001:db8::2/64"),
			MAC: net.HardwareAddr{0x02, 0x5e, 0x00, 0x00, 0x00, 0x02}},
		{Name: "client", IPv4: netip.MustParsePrefix("192.0.2.10/24"), IPv6: netip.MustParsePrefix("2001:db8::10/64"),
			MAC: net.HardwareAddr{0x02, 0x5e, 0x00, 0x00, 0x00, 0x0a}},
	}
}
