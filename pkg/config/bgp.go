package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/seesawd/seesawd/pkg/ipvs"
)

// BGP configures the announcement of service VIPs to routers (services
// with announce: bgp), so that every node announcing a VIP gets its share
// of the traffic by ECMP.
type BGP struct {
	// ASN is this node's autonomous system number.
	ASN uint32 `mapstructure:"asn"`
	// RouterID is an IPv4 address; default the node's first IPv4 address.
	RouterID string `mapstructure:"router_id"`
	// ListenPort, when set, accepts the peers' connections on that port
	// too (179); by default seesawd only connects out.
	ListenPort int       `mapstructure:"listen_port"`
	Peers      []BGPPeer `mapstructure:"peers"`
	// Communities are added to every announced route: "65001:100" or
	// no-export, no-advertise, no-export-subconfed.
	Communities []string `mapstructure:"communities"`
	// LoopTimeout withdraws every route when the engine's loop has not run
	// for that long: a hung daemon must not keep attracting traffic.
	LoopTimeout time.Duration `mapstructure:"loop_timeout"`
	// Drain withdraws every route while set, established connections
	// keep being served (seesawctl drain-node does the same at run time).
	Drain bool `mapstructure:"drain"`
	// GracefulRestart asks the peers to keep our routes across a restart
	// of seesawd (RFC 4724); off, a stopped seesawd is out of the ECMP set
	// at once, which is what a load balancer wants.
	GracefulRestart bool `mapstructure:"graceful_restart"`

	// Router and CommunityValues are RouterID and Communities parsed.
	Router          netip.Addr `mapstructure:"-"`
	CommunityValues []uint32   `mapstructure:"-"`
}

// BGPPeer is one router seesawd announces to.
type BGPPeer struct {
	Address string `mapstructure:"address"`
	ASN     uint32 `mapstructure:"asn"`
	// Password turns on TCP MD5 signatures (RFC 2385).
	Password string `mapstructure:"password"`
	// HoldTime is proposed in OPEN (default 9s); keepalives go every third
	// of the negotiated one. 0 means no keepalives, as RFC 4271 allows.
	HoldTime *time.Duration `mapstructure:"hold_time"`
	// ConnectRetry is the interval between connection attempts (default 5s).
	ConnectRetry time.Duration `mapstructure:"connect_retry"`
	// Port is the peer's BGP port (default 179).
	Port int `mapstructure:"port"`
	// Multihop is the TTL of an eBGP session to a peer that is not
	// directly connected (default 0: directly connected, TTL 1).
	Multihop int `mapstructure:"multihop"`

	// Addr is Address parsed.
	Addr netip.Addr `mapstructure:"-"`
}

// Sync runs the kernel's IPVS connection sync daemon, master and backup at
// once, so every node holds the connection table of the others.
type Sync struct {
	// Interface carries the sync multicast (a dedicated link is best).
	Interface string `mapstructure:"interface"`
	// SyncID tells clusters sharing a link apart, 0-255.
	SyncID int `mapstructure:"sync_id"`
	// MaxLen is the largest sync message (default: from the MTU).
	MaxLen int `mapstructure:"max_len"`
	// Group is the multicast group (default 224.0.0.81), Port its UDP port
	// (default 8848), TTL its hop limit (default 1).
	Group string `mapstructure:"group"`
	Port  int    `mapstructure:"port"`
	TTL   int    `mapstructure:"ttl"`
	// RefreshPeriod, when set, resends every connection at most this
	// often while it carries packets (net.ipv4.vs.sync_refresh_period,
	// with sync_threshold "3 0"), instead of the kernel's every 50th
	// packet: a node coming back learns the connections opened while it
	// was away within it, whatever their packet rate.
	RefreshPeriod time.Duration `mapstructure:"refresh_period"`
	// Retries resends each refresh that many times more, 0-3
	// (net.ipv4.vs.sync_retries), against lost sync datagrams.
	Retries int `mapstructure:"retries"`
}

// Defaults of the bgp section.
const (
	DefaultBGPHoldTime     = 9 * time.Second
	DefaultBGPConnectRetry = 5 * time.Second
	DefaultBGPLoopTimeout  = 3 * time.Second
	// maxMD5Key is the kernel's TCP_MD5SIG_MAXKEYLEN.
	maxMD5Key = 80
)

var wellKnownCommunities = map[string]uint32{
	"no-export": 0xffffff01, "no-advertise": 0xffffff02, "no-export-subconfed": 0xffffff03,
}

func (c *Config) validateBGP(v *validator) {
	b := c.BGP
	if b == nil {
		return
	}
	if b.ASN == 0 || b.ASN == 23456 || b.ASN == 4294967295 {
		v.bad("bgp.asn", "%d is not a usable AS number (1-4294967294, not 23456)", b.ASN)
	}
	if b.RouterID != "" {
		a, err := netip.ParseAddr(b.RouterID)
		if err != nil || !a.Is4() {
			v.bad("bgp.router_id", "%q is not an IPv4 address (a router ID is 32 bits)", b.RouterID)
		}
		b.Router = a
	}
	if b.ListenPort < 0 || b.ListenPort > 65535 {
		v.bad("bgp.listen_port", "%d out of range 0-65535 (0: connect out only)", b.ListenPort)
	}
	if len(b.Peers) == 0 {
		v.bad("bgp.peers", "at least one peer required")
	}
	seen := map[netip.Addr]int{}
	for i := range b.Peers {
		p := &b.Peers[i]
		path := fmt.Sprintf("bgp.peers[%d]", i)
		a, err := netip.ParseAddr(p.Address)
		switch {
		case err != nil || a.Zone() != "":
			v.bad(path+".address", "%q is not an IP address", p.Address)
		case a.IsUnspecified() || a.IsMulticast():
			v.bad(path+".address", "%v cannot be a peer", a)
		default:
			a = a.Unmap()
			if first, dup := seen[a]; dup {
				v.bad(path+".address", "%v is already bgp.peers[%d]", a, first)
			}
			seen[a] = i
			p.Addr = a
		}
		if p.ASN == 0 || p.ASN == 23456 || p.ASN == 4294967295 {
			v.bad(path+".asn", "%d is not a usable AS number (1-4294967294, not 23456)", p.ASN)
		}
		if len(p.Password) > maxMD5Key {
			v.bad(path+".password", "%d bytes; a TCP MD5 key is at most %d", len(p.Password), maxMD5Key)
		}
		if p.HoldTime == nil {
			p.HoldTime = ptr(DefaultBGPHoldTime)
		}
		if h := *p.HoldTime; h != 0 && (h < 3*time.Second || h > 65535*time.Second || h%time.Second != 0) {
			v.bad(path+".hold_time", "%v: 0 or whole seconds from 3s to 65535s (RFC 4271)", h)
		}
		if p.ConnectRetry == 0 {
			p.ConnectRetry = DefaultBGPConnectRetry
		}
		if p.ConnectRetry < time.Second || p.ConnectRetry%time.Second != 0 {
			v.bad(path+".connect_retry", "%v is not a whole number of seconds, at least 1s", p.ConnectRetry)
		}
		if p.Port == 0 {
			p.Port = 179
		}
		if p.Port < 1 || p.Port > 65535 {
			v.bad(path+".port", "%d out of range 1-65535", p.Port)
		}
		if p.Multihop < 0 || p.Multihop > 255 {
			v.bad(path+".multihop", "%d out of range 0-255", p.Multihop)
		}
		if p.Multihop > 0 && p.ASN == b.ASN {
			v.bad(path+".multihop", "applies to eBGP peers; this one is in our AS %d", b.ASN)
		}
	}
	b.CommunityValues = nil
	for i, s := range b.Communities {
		n, err := parseCommunity(s)
		if err != nil {
			v.bad(fmt.Sprintf("bgp.communities[%d]", i), "%v", err)
			continue
		}
		b.CommunityValues = append(b.CommunityValues, n)
	}
	if b.LoopTimeout == 0 {
		b.LoopTimeout = DefaultBGPLoopTimeout
	}
	if b.LoopTimeout < time.Second {
		v.bad("bgp.loop_timeout", "%v is below 1s: the engine's loop pings every second", b.LoopTimeout)
	}
}

// parseCommunity reads "65001:100" or a well-known name (RFC 1997).
func parseCommunity(s string) (uint32, error) {
	if n, ok := wellKnownCommunities[strings.ToLower(s)]; ok {
		return n, nil
	}
	hi, lo, ok := strings.Cut(s, ":")
	a, err1 := strconv.ParseUint(hi, 10, 16)
	b, err2 := strconv.ParseUint(lo, 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not a community: ASN:VALUE, each 0-65535, or no-export, no-advertise, no-export-subconfed", s)
	}
	return uint32(a)<<16 | uint32(b), nil
}

// validateSync checks ipvs.sync and what the kernel demands of services
// while a sync daemon runs.
func (c *Config) validateSync(v *validator) {
	s := c.IPVS.Sync
	if s == nil {
		return
	}
	if s.Interface == "" {
		v.bad("ipvs.sync.interface", "required: the link the sync multicast goes over")
	} else if len(s.Interface) > 15 || strings.ContainsAny(s.Interface, "/ \t") {
		v.bad("ipvs.sync.interface", "%q is not an interface name", s.Interface)
	}
	if s.SyncID < 0 || s.SyncID > 255 {
		v.bad("ipvs.sync.sync_id", "%d out of range 0-255 (the kernel sends one byte)", s.SyncID)
	}
	if s.MaxLen != 0 && (s.MaxLen < 128 || s.MaxLen > 65507) {
		v.bad("ipvs.sync.max_len", "%d out of range 128-65507 (0: from the MTU)", s.MaxLen)
	}
	if s.Group != "" {
		if a, err := netip.ParseAddr(s.Group); err != nil || !a.IsMulticast() {
			v.bad("ipvs.sync.group", "%q is not a multicast address", s.Group)
		}
	}
	if s.Port < 0 || s.Port > 65535 {
		v.bad("ipvs.sync.port", "%d out of range 1-65535 (0: 8848)", s.Port)
	}
	if s.TTL < 0 || s.TTL > 255 {
		v.bad("ipvs.sync.ttl", "%d out of range 1-255 (0: 1)", s.TTL)
	}
	if s.RefreshPeriod < 0 || s.RefreshPeriod%time.Second != 0 {
		v.bad("ipvs.sync.refresh_period", "%v is not a whole number of seconds (0: every 50th packet)", s.RefreshPeriod)
	}
	if s.Retries < 0 || s.Retries > 3 {
		v.bad("ipvs.sync.retries", "%d out of range 0-3", s.Retries)
	} else if s.Retries > 0 && s.RefreshPeriod == 0 {
		v.bad("ipvs.sync.retries", "needs refresh_period: the kernel retries within a refresh period")
	}
	for i := range c.Services {
		es := &c.Services[i].engine
		for j := range es.Backends {
			d := &es.Backends[j].Dest
			if es.IPVS.FWMark == 0 && d.Address.Is4() != es.IPVS.Address.Is4() {
				v.bad(fmt.Sprintf("services[%d].backends[%d].address", i, j),
					"%v is not of the service's family: the kernel refuses a sync daemon (ipvs.sync) while such a destination exists", d.Address)
			}
		}
	}
}

// Daemons returns the sync daemons to run, master and backup, or nil
// without ipvs.sync.
func (s *Sync) Daemons() []ipvs.Daemon {
	if s == nil {
		return nil
	}
	var group netip.Addr
	if s.Group != "" {
		group, _ = netip.ParseAddr(s.Group)
	}
	d := ipvs.Daemon{Interface: s.Interface, SyncID: uint32(s.SyncID), MaxLen: uint16(s.MaxLen), Group: group,
		Port: uint16(s.Port), TTL: uint8(s.TTL)}
	m, b := d, d
	m.State, b.State = ipvs.Master, ipvs.Backup
	return []ipvs.Daemon{m, b}
}

// validateAnnounce checks a service's announce key.
func (c *Config) validateAnnounce(v *validator, p string, s *Service) bool {
	switch s.Announce {
	case "":
		return false
	case "bgp":
	default:
		v.bad(p+".announce", "%q is not bgp (or absent)", s.Announce)
		return false
	}
	if s.FWMark != 0 {
		v.bad(p+".announce", "an fwmark service has no VIP to announce")
		return false
	}
	if c.BGP == nil {
		v.bad(p+".announce", "bgp needs a bgp section (asn and peers)")
		return false
	}
	if a, err := netip.ParseAddr(s.VIP); err == nil {
		same := false
		for _, p := range c.BGP.Peers {
			same = same || p.Addr.IsValid() && p.Addr.Is4() == a.Unmap().Is4()
		}
		if !same {
			v.warn(p+".announce", "no bgp peer of the VIP's family: %v is announced to nobody (each VIP goes to the peers of its family)", a)
		}
	}
	// Every node announcing the VIP takes a share of its flows by ECMP,
	// and a flow moves between nodes when the ECMP set changes.
	if s.Scheduler != "mh" {
		v.warn(p+".scheduler", "%s with announce: bgp: a flow that ECMP moves to another node reaches another backend; "+
			"scheduler: mh picks the same one on every node (docs/scaleout.md)", s.Scheduler)
	}
	if s.Forward == "nat" {
		v.warn(p+".forward", "nat with announce: bgp: a backend's replies must come back through the node that forwarded "+
			"the connection, which ECMP does not ensure; dr or tunnel reply to the client directly (docs/scaleout.md)")
	}
	return true
}
