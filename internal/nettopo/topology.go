package nettopo

import (
	"net"
	"net/netip"
)

// Topology is a switch namespace with a bridge and nodes attached to it.
// Close removes all of it.
type Topology struct {
	// Switch holds the bridge (named Bridge) and one port per node.
	Switch *Netns
	// Bridge is the bridge's name inside Switch.
	Bridge string
	// Nodes are in configuration order.
	Nodes []*Node
}

// Node is a namespace attached to the topology's bridge.
type Node struct {
	Netns
	// Short is the node's logical name ("lb1").
	Short string
	// Iface is the node's interface name; Port is its peer on the bridge.
	Iface, Port string
	// IPv4 and IPv6 are the configured addresses (zero if none).
	IPv4, IPv6 netip.Prefix
	// LinkLocal is Iface's IPv6 link-local address.
	LinkLocal netip.Addr
	// MAC is Iface's hardware address.
	MAC net.HardwareAddr
	// Index is Iface's interface index inside the node.
	Index int

	topo *Topology
}

// Node returns the node with the logical name, or nil.
func (t *Topology) Node(name string) *Node {
	for _, n := range t.Nodes {
		if n.Short == name {
			return n
		}
	}
	return nil
}

// Namespaces returns every namespace of the topology, switch first.
func (t *Topology) Namespaces() []*Netns {
	all := []*Netns{t.Switch}
	for _, n := range t.Nodes {
		all = append(all, &n.Netns)
	}
	return all
}

// NodeOf returns the node whose interface has the MAC, or nil.
func (t *Topology) NodeOf(mac net.HardwareAddr) *Node {
	for _, n := range t.Nodes {
		if n.MAC.String() == mac.String() {
			return n
		}
	}
	return nil
}
