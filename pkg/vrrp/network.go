package vrrp

import (
	"context"
	"net"
	"net/netip"
	"slices"
)

// Network is a Node's boundary with the kernel: advertisement sockets, interface state,
// addresses and neighbour announcements. The default is the Linux kernel (see
// NewLinuxNetwork); tests can hand a Node a fake.
type Network interface {
	// Link returns the current state of an interface.
	Link(name string) (Link, error)
	// ListenVRRP opens the advertisement socket of one family on one interface: joined to
	// the VRRP group, sending with TTL/hop limit 255, reporting TTL and destination.
	// The Node calls PacketConn.SetVRIDs on it before reading.
	ListenVRRP(ifname string, f Family) (PacketConn, error)
	// Announcer opens what announces addresses of family f on an interface:
	// gratuitous ARP for IPv4, unsolicited neighbour advertisements for IPv6.
	Announcer(ifname string, f Family) (Announcer, error)
	// AddAddress adds a virtual address (IPv6 without duplicate address detection).
	// An address already present is not an error.
	AddAddress(ifname string, p netip.Prefix) error
	// DelAddress removes a virtual address. An address already gone is not an error.
	DelAddress(ifname string, p netip.Prefix) error
	// Watch sends link state changes and address changes to ch until ctx ends.
	// It returns once the subscription is open. If the subscription fails later it
	// sends a WatchFailed event and stops.
	Watch(ctx context.Context, ch chan<- NetEvent) error
	// AcceptFilter installs, empty, the filter that enforces Accept_Mode False and
	// returns it. Installing it again replaces a filter left behind by an earlier run.
	AcceptFilter() (AcceptFilter, error)
}

// AcceptFilter enforces RFC 5798 Accept_Mode False (section 6.4.3): a master that is
// not the address owner must not accept packets addressed to its virtual addresses.
// The filter drops incoming IP packets whose destination is one of the addresses it
// holds, except IPv6 neighbour solicitations and advertisements so that neighbour
// unreachability detection keeps working; ARP is not IP and is never filtered.
// On Linux it is the nftables table FilterTable.
type AcceptFilter interface {
	// Drop starts dropping packets addressed to addr. An address already dropped is not an error.
	Drop(addr netip.Addr) error
	// Allow stops dropping packets addressed to addr. An address not dropped is not an error.
	Allow(addr netip.Addr) error
	// Close removes the filter from the kernel.
	Close() error
}

// FilterTable is the nftables table (family inet) of the Linux AcceptFilter.
const FilterTable = "seesawd"

// Link is the state of one interface.
type Link struct {
	Name         string
	Index        int
	HardwareAddr net.HardwareAddr
	// Up is administratively up with carrier.
	Up bool
	// Addrs4 are the IPv4 addresses, primary first; the Node skips its virtual addresses
	// to find the advertisement source. Primary6 is the IPv6 link-local address
	// usable as a source, Addrs6 every IPv6 address.
	Addrs4   []netip.Addr
	Primary6 netip.Addr
	Addrs6   []netip.Addr
}

// Has reports whether a is one of the interface's addresses.
func (l *Link) Has(a netip.Addr) bool {
	if a.Is4() {
		return slices.Contains(l.Addrs4, a)
	}
	return slices.Contains(l.Addrs6, a)
}

// PacketConn is an advertisement socket.
type PacketConn interface {
	// ReadBatch reads at least one and at most len(msgs) messages into the
	// callers' buffers (Message.Buf), blocking until one arrives. Close makes it
	// return net.ErrClosed. One goroutine reads.
	ReadBatch(msgs []Message) (int, error)
	// WriteTo sends one message from src to dst.
	WriteTo(b []byte, src, dst netip.Addr) error
	// SetVRIDs admits only VRRPv3 advertisements (version 3, type 1) for these
	// VRIDs from now on, replacing the previous set. The Linux socket filters in
	// the kernel (a classic BPF socket filter), so what it discards costs no
	// system call and is not counted; a PacketConn that cannot filter may admit
	// more, as the Node checks every message again.
	SetVRIDs(vrids []uint8) error
	Close() error
}

// Message is one received message.
type Message struct {
	// Buf is the buffer the message is read into, supplied and reused by the reader.
	Buf []byte
	// Data is the VRRP message within Buf, without IP header.
	Data []byte
	Info RecvInfo
}

// RecvInfo is what the IP layer tells about a received message.
type RecvInfo struct {
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit, or -1 when unknown.
	TTL     int
	IfIndex int
}

// Announcer sends the neighbour announcements for addresses of one family.
type Announcer interface {
	Announce(addr netip.Addr) error
	Close() error
}

// NetEventKind says what changed.
type NetEventKind uint8

// Network event kinds.
const (
	// LinkChanged reports a new link state in NetEvent.Up.
	LinkChanged NetEventKind = iota
	// AddressRemoved reports that NetEvent.Prefix left the interface.
	AddressRemoved
	// AddressAdded reports that NetEvent.Prefix appeared on the interface.
	AddressAdded
	// WatchFailed reports in NetEvent.Err that the subscription ended; Watch must be called again.
	WatchFailed
)

// String returns the kind name.
func (k NetEventKind) String() string {
	switch k {
	case LinkChanged:
		return "link-changed"
	case AddressRemoved:
		return "address-removed"
	case AddressAdded:
		return "address-added"
	case WatchFailed:
		return "watch-failed"
	}
	return "NetEventKind(?)"
}

// NetEvent is a change of interface state.
type NetEvent struct {
	Kind   NetEventKind
	Ifname string
	Up     bool
	Prefix netip.Prefix
	Err    error
}
