package config

import (
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

// IPVS configures how the engine keeps the kernel's IPVS table.
type IPVS struct {
	// ResyncInterval is how often the kernel is read again and drift (an
	// `ipvsadm -C`, a weight edited by hand) repaired; default 30s.
	ResyncInterval time.Duration `mapstructure:"resync_interval"`
	// Timeouts are the connection timeouts to set; unset leaves the kernel's.
	Timeouts Timeouts `mapstructure:"timeouts"`
	// RemoveOnStop deletes our services at SIGTERM (default: leave them serving).
	RemoveOnStop bool `mapstructure:"remove_on_stop"`
	// StateFile records which services this daemon created, so one removed
	// from the configuration while it was down is removed at the next start
	// and services it never created are left alone.
	StateFile string `mapstructure:"state_file"`
	// CheckMarks is the firewall mark range given to the per-backend
	// services of through_vip checks.
	CheckMarks MarkRange `mapstructure:"check_marks"`
	// Sync runs the connection sync daemon (bgp.go).
	Sync *Sync `mapstructure:"sync"`
}

// Timeouts are the IPVS connection timeouts (ipvsadm --set), whole seconds.
type Timeouts struct {
	TCP    time.Duration `mapstructure:"tcp"`
	TCPFin time.Duration `mapstructure:"tcp_fin"`
	UDP    time.Duration `mapstructure:"udp"`
}

// MarkRange is an inclusive range of firewall marks.
type MarkRange struct {
	First uint32 `mapstructure:"first"`
	Last  uint32 `mapstructure:"last"`
}

// Defaults of the ipvs section.
const (
	DefaultResyncInterval = 30 * time.Second
	DefaultStateFile      = "/run/seesawd/ipvs-state.json"
	DefaultCheckMarkFirst = 0x5eed0000
	DefaultCheckMarkLast  = 0x5eedffff
)

func (i *IPVS) defaultsAndValidate(v *validator) {
	if i.ResyncInterval == 0 {
		i.ResyncInterval = DefaultResyncInterval
	}
	if i.ResyncInterval < time.Second {
		v.bad("ipvs.resync_interval", "%v is below 1s: each resync reads the whole IPVS table", i.ResyncInterval)
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"tcp", i.Timeouts.TCP}, {"tcp_fin", i.Timeouts.TCPFin}, {"udp", i.Timeouts.UDP}} {
		if t.d < 0 || t.d%time.Second != 0 || t.d > math.MaxInt32*time.Second {
			v.bad("ipvs.timeouts."+t.name, "%v is not a whole number of seconds (the kernel counts seconds)", t.d)
		}
	}
	if i.StateFile == "" {
		i.StateFile = DefaultStateFile
	}
	if i.CheckMarks == (MarkRange{}) {
		i.CheckMarks = MarkRange{DefaultCheckMarkFirst, DefaultCheckMarkLast}
	}
	if i.CheckMarks.First == 0 || i.CheckMarks.Last < i.CheckMarks.First {
		v.bad("ipvs.check_marks", "%d-%d is not a range of non-zero marks", i.CheckMarks.First, i.CheckMarks.Last)
	}
}

// Service is one virtual service.
type Service struct {
	Name string `mapstructure:"name"`
	// VIP with Port and Protocol, or FWMark with Family, identifies the service.
	VIP      string `mapstructure:"vip"`
	Port     int    `mapstructure:"port"`
	Protocol string `mapstructure:"protocol"`
	FWMark   uint32 `mapstructure:"fwmark"`
	Family   string `mapstructure:"family"`

	// Scheduler is any IPVS scheduler (default wlc, the kernel's).
	Scheduler      string   `mapstructure:"scheduler"`
	SchedulerFlags []string `mapstructure:"scheduler_flags"`
	// Forward is nat (default), dr, tunnel or local.
	Forward     string      `mapstructure:"forward"`
	Tunnel      Tunnel      `mapstructure:"tunnel"`
	Persistence Persistence `mapstructure:"persistence"`
	OnePacket   bool        `mapstructure:"one_packet"`

	Quorum           *int           `mapstructure:"quorum"`
	QuorumHysteresis int            `mapstructure:"quorum_hysteresis"`
	QuorumUpDelay    *time.Duration `mapstructure:"quorum_up_delay"`
	SorryServer      string         `mapstructure:"sorry_server"`
	OnFailure        string         `mapstructure:"on_failure"`
	DrainTimeout     *time.Duration `mapstructure:"drain_timeout"`
	VRRPTrack        *VRRPTrack     `mapstructure:"vrrp_track"`
	// Announce is "bgp" to announce the VIP while the service is up.
	Announce string `mapstructure:"announce"`

	HealthCheck *HealthCheck `mapstructure:"healthcheck"`
	Backends    []Backend    `mapstructure:"backends"`

	// engine is the validated service, filled by validateServices.
	engine engine.Service
	// decodeErrs are the keys decodeServices could not decode.
	decodeErrs []*keyError
	// ownWarns are the warnings of the service's own validation, their
	// paths from the service's ("", ".healthcheck.port").
	ownWarns []Problem
}

// Tunnel configures the encapsulation of forward: tunnel.
type Tunnel struct {
	// Type is ipip (default), gue or gre.
	Type string `mapstructure:"type"`
	// Port is the GUE destination port.
	Port int `mapstructure:"port"`
	// Checksum is none (default), csum or remcsum (GUE and GRE).
	Checksum string `mapstructure:"checksum"`
}

// Persistence makes a client stick to one backend for Timeout after its
// last connection (ipvsadm -p), grouping clients by Netmask.
type Persistence struct {
	Timeout time.Duration `mapstructure:"timeout"`
	// Netmask is a prefix length, default 32 (IPv4) or 128 (IPv6).
	Netmask int `mapstructure:"netmask"`
	// Engine is a persistence engine ("sip").
	Engine string `mapstructure:"engine"`
}

// VRRPTrack lowers a VRRP instance's priority while the service is below quorum.
type VRRPTrack struct {
	Instance string `mapstructure:"instance"`
	Weight   int    `mapstructure:"weight"`
}

// Backend is one real server.
type Backend struct {
	Address string `mapstructure:"address"`
	// Port defaults to the service's port.
	Port int `mapstructure:"port"`
	// Weight defaults to 1; 0 takes no new connections.
	Weight         *int `mapstructure:"weight"`
	Drain          bool `mapstructure:"drain"`
	UpperThreshold int  `mapstructure:"upper_threshold"`
	LowerThreshold int  `mapstructure:"lower_threshold"`
	// HealthCheck overrides fields of the service's health check for this backend.
	HealthCheck *HealthCheck `mapstructure:"healthcheck"`
}

// Service defaults.
const (
	DefaultDrainTimeout  = 60 * time.Second
	DefaultQuorumUpDelay = 0
	maxWeight            = 65535 // ipvsadm's bound
)

// schedulers are the kernel's IPVS schedulers and the flags each reads.
var schedulers = map[string][]string{
	"rr": nil, "wrr": nil, "lc": nil, "wlc": nil, "lblc": nil, "lblcr": nil, "dh": nil,
	"sed": nil, "nq": nil, "fo": nil, "ovf": nil, "twos": nil,
	"sh": {"sh-fallback", "sh-port"},
	"mh": {"mh-fallback", "mh-port"},
}

var schedulerFlags = map[string]ipvs.ServiceFlags{
	"sh-fallback": ipvs.SHFallback, "sh-port": ipvs.SHPort,
	"mh-fallback": ipvs.MHFallback, "mh-port": ipvs.MHPort,
}

func (c *Config) validateServices(v *validator) {
	names := map[string]string{}
	keys := map[ipvs.ServiceKey]string{}
	holders := c.vipHolders()
	instances := map[string]bool{}
	groups := map[string][]string{} // instance -> the instances lowered with it
	for _, in := range c.VRRP {
		instances[in.Name] = true
		groups[in.Name] = []string{in.Name}
	}
	for _, g := range c.SyncGroups {
		for _, n := range g.Instances {
			groups[n] = append([]string(nil), g.Instances...)
		}
	}
	// Services validate on their own, in parallel (a 1,000-service file
	// spends most of a reload here and in parsing); the checks across
	// services run after, in order.
	type result struct {
		es   engine.Service
		v    validator
		path string
	}
	res := make([]result, len(c.Services))
	parallel(len(c.Services), func(i int) {
		r := &res[i]
		r.path = fmt.Sprintf("services[%d]", i)
		r.v.c = c
		s := &c.Services[i]
		if v.reused != nil && v.reused[i] != nil {
			// Validated before from the same text and rest of the file.
			r.es = s.engine
			for _, w := range s.ownWarns {
				w.Path = r.path + w.Path
				r.v.warns = append(r.v.warns, w)
			}
			return
		}
		r.es = s.validate(&r.v, r.path, instances, groups)
		s.ownWarns = nil
		for _, w := range r.v.warns {
			w.Path = strings.TrimPrefix(w.Path, r.path)
			s.ownWarns = append(s.ownWarns, w)
		}
	})
	for i := range c.Services {
		s, r, p := &c.Services[i], &res[i], res[i].path
		v.probs = append(v.probs, r.v.probs...)
		v.warns = append(v.warns, r.v.warns...)
		r.es.Announce = c.validateAnnounce(v, p, s)
		if s.Name != "" {
			if other, dup := names[s.Name]; dup {
				v.bad(p+".name", "%q is already the name of %s", s.Name, other)
			}
			names[s.Name] = p
		}
		if len(r.v.probs) > 0 {
			continue
		}
		k := r.es.IPVS.Key()
		if other, dup := keys[k]; dup {
			v.bad(p, "%s is already configured by %s", k, other)
		}
		keys[k] = p
		if k.FWMark != 0 && c.IPVS.CheckMarks.Contains(k.FWMark) {
			v.bad(p+".fwmark", "%d is in ipvs.check_marks (%d-%d), which through_vip checks use",
				k.FWMark, c.IPVS.CheckMarks.First, c.IPVS.CheckMarks.Last)
		}
		if k.FWMark == 0 && !r.es.Announce {
			if _, held := holders[k.Address]; !held {
				v.warn(p+".vip", "%v is on no VRRP instance: it must reach this node another way (routed or anycast)", k.Address)
			}
		}
		s.engine = r.es
	}
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) { parallelOn(runtime.GOMAXPROCS(0), n, f) }

// parallelOn runs f(0..n-1) on up to workers goroutines.
func parallelOn(workers, n int, f func(i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

func (m MarkRange) Contains(x uint32) bool { return x >= m.First && x <= m.Last }

// validate fills defaults and returns the engine's form of the service.
func (s *Service) validate(v *validator, p string, instances map[string]bool, groups map[string][]string) engine.Service {
	if len(s.decodeErrs) > 0 {
		for _, e := range s.decodeErrs {
			path := p
			if e.key != "" {
				path = joinPath(p, strings.TrimPrefix(e.key, "."))
			}
			v.bad(path, "%v", e.err)
		}
		return engine.Service{}
	}
	es := engine.Service{Name: s.Name}
	if s.Name == "" {
		v.bad(p+".name", "required")
	} else if strings.ContainsAny(s.Name, "/ \t\n") {
		v.bad(p+".name", "%q: no slashes or spaces (it names metrics and seesawctl arguments)", s.Name)
	}
	svc := &es.IPVS
	var fam ipvs.Family
	switch {
	case s.FWMark != 0:
		if s.VIP != "" {
			v.bad(p+".vip", "a service has a vip or an fwmark, not both")
		}
		if s.Port != 0 {
			v.bad(p+".port", "an fwmark service has no port: the mark selects the packets")
		}
		switch s.Family {
		case "", "ipv4":
			fam = ipvs.IPv4
		case "ipv6":
			fam = ipvs.IPv6
		default:
			v.bad(p+".family", "%q is not ipv4 or ipv6", s.Family)
		}
		svc.FWMark, svc.Family = s.FWMark, fam
	case s.VIP == "":
		v.bad(p+".vip", "required (or fwmark)")
	default:
		a, err := netip.ParseAddr(s.VIP)
		if err != nil || a.Zone() != "" {
			v.bad(p+".vip", "%q is not an IP address", s.VIP)
			break
		}
		a = a.Unmap()
		fam = ipvs.IPv4
		if a.Is6() {
			fam = ipvs.IPv6
		}
		if s.Family != "" {
			v.bad(p+".family", "only an fwmark service takes a family; a vip has its own")
		}
		svc.Address, svc.Family = a, fam
		if s.Port < 1 || s.Port > 65535 {
			v.bad(p+".port", "%d out of range 1-65535", s.Port)
		}
		svc.Port = uint16(s.Port)
	}
	if s.Protocol == "" {
		s.Protocol = "tcp"
	}
	switch s.Protocol {
	case "tcp":
		svc.Protocol = ipvs.TCP
	case "udp":
		svc.Protocol = ipvs.UDP
	case "sctp":
		svc.Protocol = ipvs.SCTP
	default:
		v.bad(p+".protocol", "%q is not tcp, udp or sctp", s.Protocol)
	}
	if svc.FWMark != 0 {
		svc.Protocol = 0
	}
	if s.Scheduler == "" {
		s.Scheduler = "wlc"
	}
	allowed, known := schedulers[s.Scheduler]
	if !known {
		v.bad(p+".scheduler", "%q is not an IPVS scheduler (%s)", s.Scheduler, strings.Join(schedulerNames(), ", "))
	}
	svc.Scheduler = s.Scheduler
	for j, f := range s.SchedulerFlags {
		if !slices.Contains(allowed, f) {
			want := "none"
			if len(allowed) > 0 {
				want = strings.Join(allowed, ", ")
			}
			v.bad(fmt.Sprintf("%s.scheduler_flags[%d]", p, j), "%q is not a flag of scheduler %s (it takes: %s)", f, s.Scheduler, want)
			continue
		}
		svc.Flags |= schedulerFlags[f]
	}
	if s.OnePacket {
		svc.Flags |= ipvs.OnePacket
	}
	per := s.Persistence
	maxBits := 32
	if fam == ipvs.IPv6 {
		maxBits = 128
	}
	if per.Netmask < 0 || per.Netmask > maxBits {
		v.bad(p+".persistence.netmask", "%d out of range 1-%d", per.Netmask, maxBits)
	}
	switch {
	case per.Timeout < 0 || per.Timeout%time.Second != 0:
		v.bad(p+".persistence.timeout", "%v is not a whole number of seconds", per.Timeout)
	case per.Timeout > math.MaxUint32*time.Second:
		v.bad(p+".persistence.timeout", "%v is too long", per.Timeout)
	case per.Timeout > 0:
		svc.Flags |= ipvs.Persistent
		svc.Timeout = uint32(per.Timeout / time.Second)
		svc.Netmask = uint8(per.Netmask)
	}
	if per.Engine != "" {
		switch {
		case per.Engine != "sip":
			v.bad(p+".persistence.engine", "%q is not a persistence engine (sip)", per.Engine)
		case svc.Protocol != ipvs.UDP:
			v.bad(p+".persistence.engine", "the sip engine needs protocol udp")
		case per.Timeout == 0:
			v.bad(p+".persistence.engine", "needs persistence.timeout")
		}
		svc.PersistenceEngine = per.Engine
	}

	fwd, tun := s.forward(v, p)
	if s.OnFailure == "" {
		s.OnFailure = "remove"
	}
	switch s.OnFailure {
	case "remove":
		es.OnFailure = engine.FailRemove
	case "weight0":
		es.OnFailure = engine.FailWeight0
	default:
		v.bad(p+".on_failure", "%q is not remove or weight0", s.OnFailure)
	}
	es.DrainTimeout = durationOr(s.DrainTimeout, DefaultDrainTimeout)
	if es.DrainTimeout < 0 {
		v.bad(p+".drain_timeout", "%v is negative", es.DrainTimeout)
	}
	es.UpDelay = durationOr(s.QuorumUpDelay, DefaultQuorumUpDelay)
	if es.UpDelay < 0 {
		v.bad(p+".quorum_up_delay", "%v is negative", es.UpDelay)
	}
	if s.VRRPTrack != nil {
		t := s.VRRPTrack
		if !instances[t.Instance] {
			v.bad(p+".vrrp_track.instance", "unknown VRRP instance %q", t.Instance)
		}
		if t.Weight < 1 || t.Weight > 254 {
			v.bad(p+".vrrp_track.weight", "%d out of range 1-254", t.Weight)
		}
		es.Track = &engine.Track{Instance: t.Instance, Instances: groups[t.Instance], Weight: t.Weight}
	}

	if len(s.Backends) == 0 {
		v.bad(p+".backends", "at least one backend required")
	}
	seen := map[netip.AddrPort]int{}
	for j := range s.Backends {
		bp := fmt.Sprintf("%s.backends[%d]", p, j)
		b, ok := s.Backends[j].validate(v, bp, svc, fwd, tun, s.HealthCheck)
		if !ok {
			continue
		}
		k := netip.AddrPortFrom(b.Dest.Address, b.Dest.Port)
		if first, dup := seen[k]; dup {
			v.bad(bp, "%v is already backends[%d]", k, first)
		}
		seen[k] = j
		es.Backends = append(es.Backends, b)
	}
	quorum := 1
	if s.Quorum != nil {
		quorum = *s.Quorum
	}
	switch {
	case quorum < 1:
		v.bad(p+".quorum", "%d: at least 1", quorum)
	case quorum > len(s.Backends) && len(s.Backends) > 0:
		v.bad(p+".quorum", "%d but %d backend(s): the service could never be up", quorum, len(s.Backends))
	}
	if s.QuorumHysteresis < 0 || s.QuorumHysteresis >= quorum && s.QuorumHysteresis > 0 {
		v.bad(p+".quorum_hysteresis", "%d out of range 0-%d (below quorum)", s.QuorumHysteresis, max(quorum-1, 0))
	}
	es.Quorum, es.Hysteresis = quorum, s.QuorumHysteresis
	if s.SorryServer != "" {
		d, err := parseHostPort(s.SorryServer, svc.Port)
		if err != nil {
			v.bad(p+".sorry_server", "%v", err)
		} else if msg := reach(fam, d.Addr(), fwd); msg != "" {
			v.bad(p+".sorry_server", "%s", msg)
		} else {
			dst := ipvs.Destination{Address: d.Addr(), Port: d.Port(), Forward: fwd, Weight: 1}
			applyTunnel(&dst, tun)
			if _, dup := seen[d]; dup {
				v.bad(p+".sorry_server", "%v is also a backend", d)
			}
			es.Sorry = &dst
		}
	}
	return es
}

func schedulerNames() []string {
	out := make([]string, 0, len(schedulers))
	for k := range schedulers {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// forward validates the forwarding method and tunnel settings.
func (s *Service) forward(v *validator, p string) (ipvs.ForwardMethod, *Tunnel) {
	if s.Forward == "" {
		s.Forward = "nat"
	}
	var fwd ipvs.ForwardMethod
	switch s.Forward {
	case "nat":
		fwd = ipvs.Masquerade
	case "dr":
		fwd = ipvs.DirectRoute
	case "tunnel":
		fwd = ipvs.Tunnel
	case "local":
		fwd = ipvs.Local
	default:
		v.bad(p+".forward", "%q is not nat, dr, tunnel or local", s.Forward)
	}
	t := &s.Tunnel
	if fwd != ipvs.Tunnel {
		if *t != (Tunnel{}) {
			v.bad(p+".tunnel", "tunnel settings need forward: tunnel")
		}
		return fwd, nil
	}
	if t.Type == "" {
		t.Type = "ipip"
	}
	if t.Checksum == "" {
		t.Checksum = "none"
	}
	switch t.Type {
	case "ipip":
		if t.Port != 0 || t.Checksum != "none" {
			v.bad(p+".tunnel", "ipip takes no port and no checksum")
		}
	case "gue":
		if t.Port < 1 || t.Port > 65535 {
			v.bad(p+".tunnel.port", "gue needs the backends' GUE port (1-65535), got %d", t.Port)
		}
	case "gre":
		if t.Port != 0 {
			v.bad(p+".tunnel.port", "gre takes no port")
		}
	default:
		v.bad(p+".tunnel.type", "%q is not ipip, gue or gre", t.Type)
	}
	switch t.Checksum {
	case "none", "csum", "remcsum":
	default:
		v.bad(p+".tunnel.checksum", "%q is not none, csum or remcsum", t.Checksum)
	}
	return fwd, t
}

func applyTunnel(d *ipvs.Destination, t *Tunnel) {
	if t == nil {
		return
	}
	switch t.Type {
	case "ipip":
		d.TunnelType = ipvs.IPIP
	case "gue":
		d.TunnelType = ipvs.GUE
	case "gre":
		d.TunnelType = ipvs.GRE
	}
	d.TunnelPort = uint16(t.Port)
	switch t.Checksum {
	case "csum":
		d.TunnelFlags = ipvs.TunnelChecksum
	case "remcsum":
		d.TunnelFlags = ipvs.TunnelRemoteChecksum
	}
}

// reach says why a backend of address a cannot be reached from a service of
// family fam with forwarding method fwd, or "" when it can.
func reach(fam ipvs.Family, a netip.Addr, fwd ipvs.ForwardMethod) string {
	bf := ipvs.IPv4
	if a.Is6() {
		bf = ipvs.IPv6
	}
	if fam == 0 || bf == fam || fwd == ipvs.Tunnel {
		return ""
	}
	name := map[ipvs.Family]string{ipvs.IPv4: "IPv4", ipvs.IPv6: "IPv6"}
	return fmt.Sprintf("%v is %s but the service is %s: only forward: tunnel crosses address families", a, name[bf], name[fam])
}

func parseHostPort(s string, defPort uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%q is not an address or address:port", s)
	}
	return netip.AddrPortFrom(a.Unmap(), defPort), nil
}

// validate checks one backend and returns its engine form.
func (b *Backend) validate(v *validator, p string, svc *ipvs.Service, fwd ipvs.ForwardMethod, tun *Tunnel, svcCheck *HealthCheck) (engine.Backend, bool) {
	before := len(v.probs)
	a, err := netip.ParseAddr(b.Address)
	if err != nil || a.Zone() != "" {
		v.bad(p+".address", "%q is not an IP address", b.Address)
		return engine.Backend{}, false
	}
	a = a.Unmap()
	if msg := reach(svc.Family, a, fwd); msg != "" {
		v.bad(p+".address", "%s", msg)
	}
	port := b.Port
	if port == 0 {
		port = int(svc.Port)
	}
	if port < 0 || port > 65535 {
		v.bad(p+".port", "%d out of range 1-65535", port)
	}
	if (fwd == ipvs.DirectRoute || fwd == ipvs.Tunnel) && svc.FWMark == 0 && port != int(svc.Port) {
		v.bad(p+".port", "%d differs from the service port %d: %s forwarding cannot change the port", port, svc.Port,
			map[ipvs.ForwardMethod]string{ipvs.DirectRoute: "dr", ipvs.Tunnel: "tunnel"}[fwd])
	}
	weight := 1
	if b.Weight != nil {
		weight = *b.Weight
	}
	if weight < 0 || weight > maxWeight {
		v.bad(p+".weight", "%d out of range 0-%d", weight, maxWeight)
	}
	if b.UpperThreshold < 0 || b.LowerThreshold < 0 {
		v.bad(p, "thresholds must not be negative")
	}
	if b.LowerThreshold > b.UpperThreshold {
		// The kernel refuses it even without an upper threshold (ERANGE).
		v.bad(p+".lower_threshold", "%d is above upper_threshold %d (set upper_threshold too)", b.LowerThreshold, b.UpperThreshold)
	}
	eb := engine.Backend{
		Dest: ipvs.Destination{
			Address: a, Port: uint16(port), Forward: fwd, Weight: uint32(weight),
			UpperThreshold: uint32(b.UpperThreshold), LowerThreshold: uint32(b.LowerThreshold),
		},
		Drain: b.Drain,
	}
	applyTunnel(&eb.Dest, tun)
	hc := mergeHealthCheck(svcCheck, b.HealthCheck)
	if hc != nil {
		hp := p + ".healthcheck"
		if b.HealthCheck == nil {
			hp = p[:strings.LastIndex(p, ".backends[")] + ".healthcheck"
		}
		def, through := hc.definition(v, hp, a, uint16(port), svc, fwd)
		eb.Check, eb.ThroughVIP = def, through
	}
	return eb, len(v.probs) == before
}

// Engine returns the engine's configuration of a validated Config.
func (c *Config) Engine() engine.Config {
	out := engine.Config{
		ResyncInterval: c.IPVS.ResyncInterval,
		Timeouts:       ipvs.Timeouts{TCP: c.IPVS.Timeouts.TCP, TCPFin: c.IPVS.Timeouts.TCPFin, UDP: c.IPVS.Timeouts.UDP},
		RemoveOnStop:   c.IPVS.RemoveOnStop,
		CheckMarks:     engine.MarkRange{First: c.IPVS.CheckMarks.First, Last: c.IPVS.CheckMarks.Last},
	}
	for _, s := range c.Services {
		out.Services = append(out.Services, s.engine)
	}
	return out
}
