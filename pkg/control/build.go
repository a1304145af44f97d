package control

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

// Sources are what a Status is built from: the daemon's snapshots of its
// parts, each taken without blocking them.
type Sources struct {
	Node    string
	Version string
	PID     int
	Started time.Time
	Now     time.Time
	Ready   bool
	// ConfigPath, ConfigHash and ConfigLoaded describe the running file.
	ConfigPath   string
	ConfigHash   string
	ConfigLoaded time.Time
	// Config is the running engine configuration (schedulers, forwarding
	// methods, check types); nil leaves them out.
	Config *engine.Config
	// Engine is the engine's snapshot, nil on a node without IPVS.
	Engine    *engine.Status
	VRRP      []vrrp.InstanceStatus
	VRRPStats vrrp.Stats
	// Checks are the health checks' states (healthcheck.Manager.Snapshot),
	// found by the engine's check IDs.
	Checks []healthcheck.Status
	// BGP is the speaker's and the sync daemons' snapshot, nil when
	// neither is configured.
	BGP *BGP
}

// BuildStatus assembles a Status.
func BuildStatus(src Sources) *Status {
	st := &Status{
		Node: src.Node, Version: src.Version, PID: src.PID, Started: src.Started, Time: src.Now, Ready: src.Ready,
		Config:   ConfigInfo{Path: src.ConfigPath, Hash: src.ConfigHash, Loaded: src.ConfigLoaded},
		IPVS:     src.Engine != nil,
		VRRP:     []Instance{},
		Services: []Service{},
		BGP:      src.BGP,
	}
	st.VRRP = buildInstances(src)
	if src.Engine == nil {
		return st
	}
	es := src.Engine
	st.NodeDrained = es.NodeDrained
	last := es.Last
	st.Reconcile = Reconcile{Reason: last.Reason, Errors: last.Errors, Took: Duration(last.Duration),
		LastSuccess: es.LastSuccess, LastError: es.LastError}
	for _, n := range last.Ops {
		st.Reconcile.Ops += n
	}
	for _, k := range es.Leaving {
		st.Leaving = append(st.Leaving, k.String())
	}
	configured := map[string]*engine.Service{}
	if src.Config != nil {
		for i := range src.Config.Services {
			configured[src.Config.Services[i].Name] = &src.Config.Services[i]
		}
	}
	checks := make(map[string]*healthcheck.Status, len(src.Checks))
	for i := range src.Checks {
		checks[src.Checks[i].ID] = &src.Checks[i]
	}
	for i := range es.Services {
		st.Services = append(st.Services, buildService(&es.Services[i], configured[es.Services[i].Name], checks))
	}
	return st
}

func buildInstances(src Sources) []Instance {
	events := map[vrrp.InstanceID]vrrp.Event{}
	if src.Engine != nil {
		for _, ev := range src.Engine.VRRP {
			events[ev.Instance] = ev
		}
	}
	out := make([]Instance, 0, len(src.VRRP))
	for _, is := range src.VRRP {
		in := Instance{Name: is.ID.Name, Family: is.ID.Family.String(), Interface: is.Interface, VRID: is.VRID,
			State: is.State.String(), Priority: is.Priority, Faults: is.Faults}
		if is.Master.IsValid() {
			in.Master = is.Master.String()
		}
		// The engine's last event is this state's only if it is the
		// instance's last transition.
		if ev, ok := events[is.ID]; ok && ev.Seq == is.Seq && is.Seq != 0 {
			in.Since, in.Reason = ev.Time, ev.Reason.String()
		}
		if c, ok := src.VRRPStats.Instances[is.ID]; ok {
			in.Transitions, in.AdvertsSent, in.AdvertsReceived, in.SendErrors =
				c.Transitions, c.AdvertsSent, c.AdvertsReceived, c.SendErrors
			for _, n := range c.Drops {
				in.Drops += n
			}
		}
		out = append(out, in)
	}
	return out
}

func buildService(ss *engine.ServiceStatus, cs *engine.Service, checks map[string]*healthcheck.Status) Service {
	k := ss.Key
	s := Service{Name: ss.Name, Key: k.String(), State: ss.State.String(), Since: ss.Since, Healthy: ss.Healthy,
		Quorum: ss.Quorum, InKernel: ss.InKernel, SorryActive: ss.SorryActive, Track: ss.Track,
		Backends: make([]Backend, 0, len(ss.Backends))}
	if k.FWMark != 0 {
		s.FWMark = k.FWMark
	} else {
		s.Protocol, s.Address, s.Port = k.Protocol.String(), k.Address.String(), k.Port
	}
	forward := map[netip.AddrPort]string{}
	if cs != nil {
		s.Scheduler = cs.IPVS.Scheduler
		for i := range cs.Backends {
			b := &cs.Backends[i]
			forward[b.Key(cs.Name).Addr] = b.Dest.Forward.String()
		}
	}
	for _, bs := range ss.Backends {
		b := Backend{Address: bs.Addr.String(), Forward: forward[bs.Addr], Health: bs.Health.String(), Weight: bs.Weight,
			InKernel: bs.InKernel, KernelWeight: bs.KernelWeight, Drained: bs.Drained,
			ActiveConns: bs.ActiveConns, InactiveConns: bs.InactiveConns, Leaving: bs.Leaving}
		if bs.Leaving {
			b.Health = ""
		} else {
			s.Total++
		}
		if hs := checks[engine.BackendKey{Service: ss.Name, Addr: bs.Addr}.String()]; hs != nil && bs.HasCheck {
			b.Check = buildCheck(hs)
		}
		s.Backends = append(s.Backends, b)
	}
	return s
}

func buildCheck(hs *healthcheck.Status) *Check {
	c := &Check{Type: hs.Definition.Type.String(), State: hs.State.String(), Since: hs.Since,
		ConsecutiveOK: hs.ConsecutiveOK, ConsecutiveFail: hs.ConsecutiveFail, Runs: hs.Runs, Failures: hs.Failures}
	if r := hs.Last; !r.Time.IsZero() {
		c.Last = &CheckResult{Time: r.Time, OK: r.OK(), Outcome: r.Outcome().String(), Latency: Duration(r.Latency), Detail: r.Detail}
		if r.Err != nil {
			c.Last.Error = r.Err.Error()
		}
	}
	return c
}

// FindService returns the service named name, or an *Error listing the
// services there are.
func (st *Status) FindService(name string) (*Service, error) {
	for i := range st.Services {
		if st.Services[i].Name == name {
			return &st.Services[i], nil
		}
	}
	names := make([]string, 0, len(st.Services))
	for _, s := range st.Services {
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return nil, Errorf(CodeNotFound, "", "no service %q: this node has no services", name)
	}
	return nil, Errorf(CodeNotFound, "seesawctl services lists them", "no service %q (services: %s)", name, list(names))
}

// ResolveBackend finds the configured backend arg names: "10.0.1.11:8080",
// or "10.0.1.11" when the service has only one backend at that address.
// Its error, an *Error, lists the service's backends.
func (s *Service) ResolveBackend(arg string) (netip.AddrPort, error) {
	var addrs []string
	var match []netip.AddrPort
	ap, apErr := netip.ParseAddrPort(arg)
	a, aErr := netip.ParseAddr(strings.Trim(arg, "[]"))
	if apErr != nil && aErr != nil {
		return netip.AddrPort{}, Errorf(CodeBadRequest, "", "%q is not a backend address: give ADDRESS:PORT or ADDRESS (backends of %s: %s)",
			arg, s.Name, list(backendAddrs(s)))
	}
	for _, b := range s.Backends {
		if b.Leaving {
			continue
		}
		bap, err := netip.ParseAddrPort(b.Address)
		if err != nil {
			continue
		}
		addrs = append(addrs, b.Address)
		switch {
		case apErr == nil && bap.Addr() == ap.Addr().Unmap() && bap.Port() == ap.Port():
			return bap, nil
		case apErr != nil && bap.Addr() == a.Unmap():
			match = append(match, bap)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) > 1:
		ms := make([]string, len(match))
		for i, m := range match {
			ms[i] = m.String()
		}
		return netip.AddrPort{}, Errorf(CodeAmbiguous, "give the port too", "%s is ambiguous in service %s: it has %s", arg, s.Name, list(ms))
	case len(addrs) == 0:
		return netip.AddrPort{}, Errorf(CodeNotFound, "", "service %s has no backends", s.Name)
	}
	return netip.AddrPort{}, Errorf(CodeNotFound, "seesawctl backends "+s.Name+" shows them",
		"service %s has no backend %s (its backends: %s)", s.Name, arg, list(addrs))
}

func backendAddrs(s *Service) []string {
	var out []string
	for _, b := range s.Backends {
		if !b.Leaving {
			out = append(out, b.Address)
		}
	}
	return out
}

// list joins names for a message, the first ten of them.
func list(names []string) string {
	const show = 10
	if len(names) > show {
		return strings.Join(names[:show], ", ") + ", ... (" + strconv.Itoa(len(names)-show) + " more)"
	}
	return strings.Join(names, ", ")
}
