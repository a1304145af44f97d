package engine

import (
	"net/netip"
	"slices"
	"time"

	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

// Status is a snapshot of the engine, published by its goroutine for
// seesawctl and metrics. It is immutable once published.
type Status struct {
	Time     time.Time
	Services []ServiceStatus
	// Leaving are owned services no longer configured, draining away.
	Leaving []ipvs.ServiceKey
	// VRRP is the last event of each instance, sorted by instance.
	VRRP []vrrp.Event
	// Announced are the VIPs reported to OnAnnounce; NodeDrained says
	// every announcement is withdrawn (Engine.DrainNode).
	Announced   []netip.Addr
	NodeDrained bool
	// Last is the last reconcile that changed something or failed.
	Last        ReconcileInfo
	LastSuccess time.Time
	LastError   string
}

// ServiceStatus is one configured service.
type ServiceStatus struct {
	Name    string
	Key     ipvs.ServiceKey
	State   ServiceState
	Since   time.Time
	Healthy int
	Quorum  int
	// InKernel says whether the kernel holds the service (as the engine knows it).
	InKernel bool
	// SorryActive says the sorry server takes new connections.
	SorryActive bool
	// Track is the VRRP instance lowered while the service is down.
	Track    string
	Backends []BackendStatus
}

// BackendStatus is one backend of a service.
type BackendStatus struct {
	Addr   netip.AddrPort
	Health healthcheck.State
	// HasCheck is false for a backend without a check (always up).
	HasCheck bool
	Weight   uint32
	// Drained is "config", "runtime" or "".
	Drained string
	// InKernel, KernelWeight and the connection counts are as the kernel
	// last reported or confirmed them.
	InKernel      bool
	KernelWeight  uint32
	ActiveConns   uint32
	InactiveConns uint32
	// Leaving says the backend left the configuration and is draining away.
	Leaving bool
}

// publishEvery bounds how often the snapshot is rebuilt: a burst of health
// transitions on 10,000 backends does not rebuild it 10,000 times.
const publishEvery = 100 * time.Millisecond

// publish rebuilds the snapshot.
func (e *Engine) publish() {
	now := e.clock.Now()
	st := e.st
	out := &Status{Time: now, Last: e.lastInfo, LastSuccess: e.lastOK}
	if e.lastErr != nil {
		out.LastError = e.lastErr.Error()
	}
	if st.cfg != nil {
		out.Services = make([]ServiceStatus, 0, len(st.cfg.Services))
		for i := range st.cfg.Services {
			out.Services = append(out.Services, e.serviceStatus(&st.cfg.Services[i]))
		}
	}
	out.Leaving = sortedServiceKeys(st.leaving)
	out.Announced, out.NodeDrained = slices.Clone(e.announced), e.nodeDrained
	for _, ev := range e.vrrpStates {
		out.VRRP = append(out.VRRP, ev)
	}
	slices.SortFunc(out.VRRP, func(a, b vrrp.Event) int {
		if a.Instance.String() < b.Instance.String() {
			return -1
		}
		return 1
	})
	e.status.Store(out)
	e.published = now
	e.dirty = false
}

func (e *Engine) serviceStatus(s *Service) ServiceStatus {
	st := e.st
	k := s.IPVS.Key()
	ks := e.view[k]
	q := st.quorums[s.Name]
	ss := ServiceStatus{Name: s.Name, Key: k, State: q.state, Since: q.since, Quorum: s.Quorum, InKernel: ks != nil}
	ss.Healthy, _ = st.counts(s, ks)
	if s.Track != nil {
		ss.Track = s.Track.Instance
	}
	if s.Sorry != nil && ks != nil {
		if d, ok := ks.dests[s.Sorry.Key()]; ok && d.Weight > 0 {
			ss.SorryActive = true
		}
	}
	for i := range s.Backends {
		b := &s.Backends[i]
		bk := b.Key(s.Name)
		bs := BackendStatus{Addr: bk.Addr, Health: st.healthOf(s, b), HasCheck: b.Check != nil, Weight: b.Dest.Weight}
		switch {
		case b.Drain:
			bs.Drained = "config"
		case st.drains[bk]:
			bs.Drained = "runtime"
		}
		if ks != nil {
			if d, ok := ks.dests[b.Dest.Key()]; ok {
				bs.InKernel, bs.KernelWeight = true, d.Weight
				bs.ActiveConns, bs.InactiveConns = d.ActiveConns, d.InactiveConns
			}
		}
		ss.Backends = append(ss.Backends, bs)
	}
	for dk := range st.leavingDests[k] {
		bs := BackendStatus{Addr: netip.AddrPortFrom(dk.Address, dk.Port), Leaving: true}
		if ks != nil {
			if d, ok := ks.dests[dk]; ok {
				bs.InKernel, bs.KernelWeight = true, d.Weight
				bs.ActiveConns, bs.InactiveConns = d.ActiveConns, d.InactiveConns
			}
		}
		ss.Backends = append(ss.Backends, bs)
	}
	return ss
}
