package ipvs

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

// Family is an address family: IPv4 (AF_INET) or IPv6 (AF_INET6).
type Family uint16

// The address families IPVS supports.
const (
	IPv4 Family = u.AF_INET
	IPv6 Family = u.AF_INET6
)

// String returns "inet", "inet6" or the number.
func (f Family) String() string {
	switch f {
	case IPv4:
		return "inet"
	case IPv6:
		return "inet6"
	}
	return "family(" + strconv.Itoa(int(f)) + ")"
}

// addrLen is the length of an address of the family, or 0 for an unknown one.
func (f Family) addrLen() int {
	switch f {
	case IPv4:
		return 4
	case IPv6:
		return 16
	}
	return 0
}

// familyOf returns the family of a valid address, 0 for the zero Addr.
func familyOf(a netip.Addr) Family {
	switch {
	case !a.IsValid():
		return 0
	case a.Is4() || a.Is4In6():
		return IPv4
	}
	return IPv6
}

// Protocol is the transport protocol of a virtual service.
type Protocol uint16

// The protocols IPVS balances.
const (
	TCP  Protocol = u.IPPROTO_TCP
	UDP  Protocol = u.IPPROTO_UDP
	SCTP Protocol = u.IPPROTO_SCTP
)

// String returns "tcp", "udp", "sctp" or the number.
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// ForwardMethod is how the director sends packets to a destination.
type ForwardMethod uint32

// The forwarding methods (IP_VS_CONN_F_*).
const (
	// Masquerade is NAT (ipvsadm -m).
	Masquerade ForwardMethod = u.IP_VS_CONN_F_MASQ
	// Local delivers to a local socket.
	Local ForwardMethod = u.IP_VS_CONN_F_LOCALNODE
	// Tunnel encapsulates (ipvsadm -i): IPIP, GUE or GRE, see TunnelType.
	Tunnel ForwardMethod = u.IP_VS_CONN_F_TUNNEL
	// DirectRoute rewrites the MAC only (ipvsadm -g, "gatewaying").
	DirectRoute ForwardMethod = u.IP_VS_CONN_F_DROUTE
	// Bypass is the cache-bypass method.
	Bypass ForwardMethod = u.IP_VS_CONN_F_BYPASS
)

// String returns "masq", "local", "tunnel", "route", "bypass" or the number.
func (m ForwardMethod) String() string {
	switch m {
	case Masquerade:
		return "masq"
	case Local:
		return "local"
	case Tunnel:
		return "tunnel"
	case DirectRoute:
		return "route"
	case Bypass:
		return "bypass"
	}
	return "fwd(" + strconv.Itoa(int(m)) + ")"
}

// TunnelType is the encapsulation of a Tunnel destination.
type TunnelType uint8

// The tunnel types (IP_VS_CONN_F_TUNNEL_TYPE_*).
const (
	IPIP TunnelType = u.IP_VS_CONN_F_TUNNEL_TYPE_IPIP
	GUE  TunnelType = u.IP_VS_CONN_F_TUNNEL_TYPE_GUE
	GRE  TunnelType = u.IP_VS_CONN_F_TUNNEL_TYPE_GRE
)

// String returns "ipip", "gue", "gre" or the number.
func (t TunnelType) String() string {
	switch t {
	case IPIP:
		return "ipip"
	case GUE:
		return "gue"
	case GRE:
		return "gre"
	}
	return "tun(" + strconv.Itoa(int(t)) + ")"
}

// TunnelFlags are the encapsulation checksum flags of a GUE or GRE tunnel.
type TunnelFlags uint16

// The tunnel flags (IP_VS_TUNNEL_ENCAP_FLAG_*); zero means no checksum.
const (
	TunnelChecksum       TunnelFlags = u.IP_VS_TUNNEL_ENCAP_FLAG_CSUM
	TunnelRemoteChecksum TunnelFlags = u.IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM
)

// String returns "nocsum", "csum", "remcsum", or those joined with "|".
func (f TunnelFlags) String() string {
	if f == 0 {
		return "nocsum"
	}
	return flagString(uint32(f), []flagName{
		{uint32(TunnelChecksum), "csum"},
		{uint32(TunnelRemoteChecksum), "remcsum"},
	})
}

// ServiceFlags are the IP_VS_SVC_F_* flags of a virtual service.
//
// The kernel also reports IP_VS_SVC_F_HASHED on every service it holds;
// Client masks it away on decode so that what a caller reads back compares
// equal to what it asked for.
type ServiceFlags uint32

// The service flags. The three scheduler flags mean different things to
// different schedulers; the sh and mh aliases name them for those two.
const (
	Persistent ServiceFlags = u.IP_VS_SVC_F_PERSISTENT
	OnePacket  ServiceFlags = u.IP_VS_SVC_F_ONEPACKET
	SchedFlag1 ServiceFlags = u.IP_VS_SVC_F_SCHED1
	SchedFlag2 ServiceFlags = u.IP_VS_SVC_F_SCHED2
	SchedFlag3 ServiceFlags = u.IP_VS_SVC_F_SCHED3

	SHFallback ServiceFlags = u.IP_VS_SVC_F_SCHED_SH_FALLBACK
	SHPort     ServiceFlags = u.IP_VS_SVC_F_SCHED_SH_PORT
	MHFallback ServiceFlags = u.IP_VS_SVC_F_SCHED_MH_FALLBACK
	MHPort     ServiceFlags = u.IP_VS_SVC_F_SCHED_MH_PORT

	// hashedFlag is what the kernel adds to every service it has hashed.
	hashedFlag ServiceFlags = u.IP_VS_SVC_F_HASHED
)

// String lists the flag names joined with "|" ("persistent|one-packet"),
// naming the scheduler flags "sched1".."sched3"; see NamesFor for the sh and
// mh names. Zero is "none".
func (f ServiceFlags) String() string { return f.NamesFor("") }

// NamesFor is String with the scheduler flags named as the scheduler sched
// reads them: "sh-fallback" and "sh-port" for sh, "mh-fallback" and
// "mh-port" for mh (as ipvsadm's --sched-flags spells them).
func (f ServiceFlags) NamesFor(sched string) string {
	if f == 0 {
		return "none"
	}
	s1, s2, s3 := "sched1", "sched2", "sched3"
	switch sched {
	case "sh":
		s1, s2 = "sh-fallback", "sh-port"
	case "mh":
		s1, s2 = "mh-fallback", "mh-port"
	}
	return flagString(uint32(f), []flagName{
		{uint32(Persistent), "persistent"},
		{uint32(hashedFlag), "hashed"},
		{uint32(OnePacket), "one-packet"},
		{uint32(SchedFlag1), s1},
		{uint32(SchedFlag2), s2},
		{uint32(SchedFlag3), s3},
	})
}

type flagName struct {
	bit  uint32
	name string
}

func flagString(v uint32, names []flagName) string {
	var b strings.Builder
	for _, n := range names {
		if v&n.bit == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(n.name)
		v &^= n.bit
	}
	if v != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		fmt.Fprintf(&b, "%#x", v)
	}
	return b.String()
}

// Stats are the counters and rate estimates of a service or destination.
// The kernel's 64-bit set (STATS64) is used when the reply carries it.
type Stats struct {
	Connections uint64 // connections scheduled
	PacketsIn   uint64
	PacketsOut  uint64
	BytesIn     uint64
	BytesOut    uint64
	CPS         uint64 // connections per second (estimate)
	PPSIn       uint64 // packets per second in
	PPSOut      uint64
	BPSIn       uint64 // bytes per second in
	BPSOut      uint64
}

// Service is an IPVS virtual service. It is identified either by
// (Family, Protocol, Address, Port) or, when FWMark is non-zero, by
// (Family, FWMark); see Key.
type Service struct {
	// Family defaults to the family of Address, or IPv4 for a fwmark service.
	Family   Family
	Protocol Protocol
	Address  netip.Addr
	Port     uint16
	// FWMark, when non-zero, makes this a firewall-mark service: Protocol,
	// Address and Port are then not sent and read back as zero.
	FWMark uint32

	// Scheduler is the scheduler module name without "ip_vs_": rr wrr lc
	// wlc lblc lblcr dh sh sed nq fo ovf mh. Empty means "wlc", which is
	// what reads back.
	Scheduler string
	Flags     ServiceFlags
	// Timeout is the persistence timeout in seconds (used with Persistent),
	// at most MaxPersistenceTimeout. The kernel keeps it without
	// Persistent too, and it reads back.
	Timeout uint32
	// Netmask is the persistence granularity as a prefix length: up to 32
	// for IPv4 (sent as a mask) or 128 for IPv6 (sent as a length). Zero
	// means the full length, and the full length is what reads back; a /0
	// mask (IPv4 only) is ZeroNetmask. A non-contiguous IPv4 mask set by
	// another tool reads back as the length of its leading ones.
	Netmask uint8
	// PersistenceEngine is the persistence engine name ("sip"), or empty.
	PersistenceEngine string

	// Stats is filled on read and ignored on write.
	Stats Stats
}

// ServiceKey is the identity of a service, comparable with ==, usable as a map key.
type ServiceKey struct {
	Family   Family
	Protocol Protocol
	Address  netip.Addr
	Port     uint16
	FWMark   uint32
}

// String renders the key as ipvsadm does: "tcp 10.0.0.1:80", "udp [::1]:53", "fwmark 7 inet".
func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		return "fwmark " + strconv.FormatUint(uint64(k.FWMark), 10) + " " + k.Family.String()
	}
	return k.Protocol.String() + " " + netip.AddrPortFrom(k.Address, k.Port).String()
}

// Key returns the identity of s, with the family and address normalised the
// way they read back from the kernel.
func (s Service) Key() ServiceKey {
	f := s.family()
	if s.FWMark != 0 {
		return ServiceKey{Family: f, FWMark: s.FWMark}
	}
	return ServiceKey{Family: f, Protocol: s.Protocol, Address: normAddr(s.Address, f), Port: s.Port}
}

// normAddr is a as the kernel reports it for family f: no zone, and an
// IPv4 address unmapped.
func normAddr(a netip.Addr, f Family) netip.Addr {
	a = a.WithZone("")
	if f == IPv4 {
		a = a.Unmap()
	}
	return a
}

// Normalize returns s as the kernel reports it back once created: the
// family spelled out, the address unmapped and without a zone (and, for a
// fwmark service, no protocol, address or port), the "wlc" scheduler for
// an empty one, the full netmask for 0, and the kernel's internal HASHED
// flag cleared. Stats are kept as they are. Normalize does not validate: a
// service the kernel would refuse normalises all the same.
func (s Service) Normalize() Service {
	f := s.family()
	s.Family = f
	if s.FWMark != 0 {
		s.Protocol, s.Address, s.Port = 0, netip.Addr{}, 0
	} else {
		s.Address = normAddr(s.Address, f)
	}
	if s.Scheduler == "" {
		s.Scheduler = "wlc"
	}
	s.Flags &^= hashedFlag
	if s.Netmask == 0 {
		s.Netmask = uint8(f.addrLen() * 8)
	}
	return s
}

// Equal reports whether s and o configure the same service once both are
// normalised (see Normalize), ignoring Stats: whether a service read back
// from the kernel is what was asked for. A diff is Key to match services
// up and Equal to tell whether one needs an update.
func (s Service) Equal(o Service) bool {
	a, b := s.Normalize(), o.Normalize()
	a.Stats, b.Stats = Stats{}, Stats{}
	return a == b
}

// String returns s.Key().String().
func (s Service) String() string { return s.Key().String() }

// family is the effective address family of s.
func (s Service) family() Family {
	if s.Family != 0 {
		return s.Family
	}
	if f := familyOf(s.Address); f != 0 {
		return f
	}
	if s.FWMark != 0 {
		return IPv4
	}
	return 0
}

// Destination is a real server behind a Service.
type Destination struct {
	// Family defaults to the family of Address. It may differ from the
	// service's family only with the Tunnel method (an IPv4 backend behind
	// an IPv6 service, say).
	Family  Family
	Address netip.Addr
	Port    uint16

	Forward ForwardMethod
	// Weight is at most MaxWeight.
	Weight uint32
	// UpperThreshold and LowerThreshold bound active connections (upper 0 =
	// no limit). The kernel wants LowerThreshold <= UpperThreshold, even
	// with no upper limit.
	UpperThreshold uint32
	LowerThreshold uint32

	// TunnelType, TunnelPort and TunnelFlags apply to the Tunnel method
	// only; they are not sent for the others. TunnelPort is the GUE
	// destination port (required for GUE), TunnelFlags the GUE and GRE
	// checksum options.
	TunnelType  TunnelType
	TunnelPort  uint16
	TunnelFlags TunnelFlags

	// ActiveConns, InactiveConns, PersistentConns and Stats are filled on
	// read and ignored on write.
	ActiveConns     uint32
	InactiveConns   uint32
	PersistentConns uint32
	Stats           Stats
}

// DestinationKey is the identity of a destination within its service.
type DestinationKey struct {
	Family  Family
	Address netip.Addr
	Port    uint16
}

// String renders the key as "10.0.0.2:80" or "[2001:db8::2]:80".
func (k DestinationKey) String() string {
	return netip.AddrPortFrom(k.Address, k.Port).String()
}

// Key returns the identity of d within its service.
func (d Destination) Key() DestinationKey {
	f := d.family()
	return DestinationKey{Family: f, Address: normAddr(d.Address, f), Port: d.Port}
}

// Normalize returns d as the kernel reports it back once created: the
// family spelled out, the address unmapped and without a zone, and the
// tunnel fields zero unless the method is Tunnel (they are not sent
// otherwise). The connection counters and Stats are kept as they are.
func (d Destination) Normalize() Destination {
	f := d.family()
	d.Family = f
	d.Address = normAddr(d.Address, f)
	if d.Forward != Tunnel {
		d.TunnelType, d.TunnelPort, d.TunnelFlags = 0, 0, 0
	}
	return d
}

// Equal reports whether d and o configure the same destination once both
// are normalised (see Normalize), ignoring Stats and the ActiveConns,
// InactiveConns and PersistentConns counters.
func (d Destination) Equal(o Destination) bool {
	a, b := d.Normalize(), o.Normalize()
	a.ActiveConns, a.InactiveConns, a.PersistentConns, a.Stats = 0, 0, 0, Stats{}
	b.ActiveConns, b.InactiveConns, b.PersistentConns, b.Stats = 0, 0, 0, Stats{}
	return a == b
}

// String returns d.Key().String().
func (d Destination) String() string { return d.Key().String() }

func (d Destination) family() Family {
	if d.Family != 0 {
		return d.Family
	}
	return familyOf(d.Address)
}

// DaemonState says whether a connection sync daemon sends or receives.
type DaemonState uint32

// The sync daemon states (IP_VS_STATE_*).
const (
	Master DaemonState = u.IP_VS_STATE_MASTER
	Backup DaemonState = u.IP_VS_STATE_BACKUP
)

// String returns "master", "backup" or the number.
func (s DaemonState) String() string {
	switch s {
	case Master:
		return "master"
	case Backup:
		return "backup"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Daemon is a connection synchronisation daemon (ipvsadm --start-daemon).
type Daemon struct {
	State     DaemonState
	Interface string // multicast interface, required
	SyncID    uint32
	// MaxLen is the maximum sync message length (0 = kernel default, from the MTU).
	MaxLen uint16
	// Group is the multicast group (zero = 224.0.0.81), IPv4 or IPv6.
	Group netip.Addr
	// Port is the UDP port (0 = 8848), TTL the multicast TTL (0 = 1).
	Port uint16
	TTL  uint8
}

// Version is the IPVS version number, 0x010201 for "1.2.1".
type Version uint32

// String returns the dotted version.
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v>>16&0xff, v>>8&0xff, v&0xff)
}

// Info is what IPVS_CMD_GET_INFO reports.
type Info struct {
	Version Version
	// ConnTableSize is the number of buckets of the connection hash table.
	ConnTableSize uint32
}

// Timeouts are the connection timeouts of ipvsadm --set, in whole seconds
// (SetTimeouts refuses fractions rather than round them). A zero field in
// SetTimeouts leaves that timeout unchanged.
type Timeouts struct {
	TCP    time.Duration
	TCPFin time.Duration
	UDP    time.Duration
}
