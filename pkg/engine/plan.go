package engine

import (
	"net/netip"
	"time"

	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

// state is everything the desired IPVS state is computed from. It is owned
// by the engine's loop; the planning methods below do no I/O and take the
// time as an argument, so they are tested without a kernel or a clock.
type state struct {
	cfg    *Config
	byName map[string]*Service
	// byKey maps each configured service's kernel identity to it.
	byKey map[ipvs.ServiceKey]*Service
	// health holds the dampened state of every backend that has a check.
	health map[BackendKey]healthcheck.State
	// drains are the backends drained at run time (seesawctl drain).
	drains map[BackendKey]bool
	// quorums holds each configured service's quorum state, by name.
	quorums map[string]*quorum
	// marks are the fwmarks of the per-backend services of through_vip checks.
	marks map[BackendKey]uint32
	// owned are the services this daemon created or adopted.
	owned map[ipvs.ServiceKey]bool
	// leaving are the owned services no longer configured, draining away,
	// with when they must go at the latest.
	leaving map[ipvs.ServiceKey]leave
	// leavingDests are destinations no longer wanted in a service,
	// draining away, by service.
	leavingDests map[ipvs.ServiceKey]map[ipvs.DestinationKey]leave
	// lastDrain remembers the drain timeout of services that left the configuration.
	lastDrain map[ipvs.ServiceKey]time.Duration
}

// leave is a service or destination on its way out.
type leave struct {
	since, deadline time.Time
}

func newState() *state {
	return &state{
		byName:       map[string]*Service{},
		byKey:        map[ipvs.ServiceKey]*Service{},
		health:       map[BackendKey]healthcheck.State{},
		drains:       map[BackendKey]bool{},
		quorums:      map[string]*quorum{},
		marks:        map[BackendKey]uint32{},
		owned:        map[ipvs.ServiceKey]bool{},
		leaving:      map[ipvs.ServiceKey]leave{},
		leavingDests: map[ipvs.ServiceKey]map[ipvs.DestinationKey]leave{},
		lastDrain:    map[ipvs.ServiceKey]time.Duration{},
	}
}

// setConfig installs a new configuration. Health of backends that stay is
// kept; services that left become leaving (the caller plans them).
func (st *state) setConfig(cfg *Config, now time.Time) {
	for k, s := range st.byKey {
		st.lastDrain[k] = s.DrainTimeout
	}
	st.cfg = cfg
	st.byName = make(map[string]*Service, len(cfg.Services))
	st.byKey = make(map[ipvs.ServiceKey]*Service, len(cfg.Services))
	live := map[BackendKey]bool{}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		st.byName[s.Name] = s
		st.byKey[s.IPVS.Key()] = s
		st.owned[s.IPVS.Key()] = true
		delete(st.leaving, s.IPVS.Key())
		if st.quorums[s.Name] == nil {
			st.quorums[s.Name] = &quorum{since: now}
		}
		for j := range s.Backends {
			live[s.Backends[j].Key(s.Name)] = true
		}
	}
	for name := range st.quorums {
		if st.byName[name] == nil {
			delete(st.quorums, name)
		}
	}
	for k := range st.health {
		if !live[k] {
			delete(st.health, k)
		}
	}
	for k := range st.drains {
		if !live[k] {
			delete(st.drains, k)
		}
	}
}

// healthOf returns the backend's dampened health; one without a check is up.
func (st *state) healthOf(s *Service, b *Backend) healthcheck.State {
	if b.Check == nil {
		return healthcheck.StateUp
	}
	return st.health[b.Key(s.Name)]
}

// counts returns how many backends of s are healthy for its quorum: lo
// counts those known healthy, hi also those not known yet. A drained
// backend, or one configured with weight 0, serves no new connections and
// does not count.
func (st *state) counts(s *Service, ks *kService) (lo, hi int) {
	for i := range s.Backends {
		b := &s.Backends[i]
		if b.Drain || b.Dest.Weight == 0 || st.drains[b.Key(s.Name)] {
			continue
		}
		switch st.healthOf(s, b) {
		case healthcheck.StateUp:
			lo++
			hi++
		case healthcheck.StateUnknown:
			// Until its first result, a backend the kernel serves with
			// is taken as it is.
			if ks != nil {
				if d, ok := ks.dests[b.Dest.Key()]; ok && d.Weight > 0 {
					lo++
				}
			}
			hi++
		}
	}
	return lo, hi
}

// updateQuorum re-evaluates the quorum of s. It returns whether the state
// changed and when to look again while an up delay runs.
func (st *state) updateQuorum(s *Service, v view, now time.Time) (bool, time.Time) {
	lo, hi := st.counts(s, v[s.IPVS.Key()])
	return st.quorums[s.Name].update(now, s, lo, hi)
}

// want is the desired kernel state of one service.
type want struct {
	svc   ipvs.Service
	dests map[ipvs.DestinationKey]ipvs.Destination
	// gone says the service itself must go (a leaving service whose
	// destinations have all drained).
	gone bool
}

// wantService computes the desired state of configured service s from its
// backends' health and drains, and the kernel's current entry ks (nil when
// the kernel has none). It records destinations that start leaving.
func (st *state) wantService(s *Service, ks *kService, now time.Time) *want {
	w := &want{svc: s.IPVS, dests: make(map[ipvs.DestinationKey]ipvs.Destination, len(s.Backends)+1)}
	configured := make(map[ipvs.DestinationKey]bool, len(s.Backends))
	q := st.quorums[s.Name]
	sorry := s.Sorry != nil && q != nil && !q.serving()
	for i := range s.Backends {
		b := &s.Backends[i]
		dk := b.Dest.Key()
		configured[dk] = true
		drained := b.Drain || st.drains[b.Key(s.Name)]
		var cur ipvs.Destination
		inKernel := false
		if ks != nil {
			cur, inKernel = ks.dests[dk]
		}
		var d ipvs.Destination
		switch st.healthOf(s, b) {
		case healthcheck.StateDown:
			if s.OnFailure == FailRemove {
				continue
			}
			d = b.Dest
			d.Weight = 0
		case healthcheck.StateUnknown:
			// Keep what the kernel has until the first result.
			if !inKernel {
				continue
			}
			d = cur
			if drained {
				d.Weight = 0
			}
		default:
			d = b.Dest
			if drained || sorry {
				d.Weight = 0
			}
		}
		w.dests[dk] = d
	}
	if sorry {
		w.dests[s.Sorry.Key()] = *s.Sorry
		configured[s.Sorry.Key()] = true
	}
	if ks != nil {
		st.drainAway(s.IPVS, s.DrainTimeout, ks, w, configured, now)
	}
	return w
}

// drainAway keeps destinations of ks that nobody configures any more at
// weight 0 until they are idle or their drain deadline passes. A configured
// backend that is absent from w on purpose (failed, on_failure remove) is
// not draining: it goes at once.
func (st *state) drainAway(svc ipvs.Service, timeout time.Duration, ks *kService, w *want,
	configured map[ipvs.DestinationKey]bool, now time.Time) {
	k := svc.Key()
	ld := st.leavingDests[k]
	for dk, cur := range ks.dests {
		if _, ok := w.dests[dk]; ok || configured[dk] {
			if ld != nil {
				delete(ld, dk) // configured again: no longer leaving
			}
			continue
		}
		if svc.Protocol == ipvs.UDP || timeout <= 0 {
			continue // datagrams have no connection to finish
		}
		if ld == nil {
			ld = map[ipvs.DestinationKey]leave{}
			st.leavingDests[k] = ld
		}
		l, ok := ld[dk]
		if !ok {
			l = leave{since: now, deadline: now.Add(timeout)}
			ld[dk] = l
		}
		idle := cur.ActiveConns+cur.InactiveConns == 0 && ks.readAt.After(l.since)
		if idle || !now.Before(l.deadline) {
			continue // it goes; forget drops the entry once the kernel confirms
		}
		cur.Weight = 0
		w.dests[dk] = cur
	}
}

// wantLeaving computes the desired state of an owned service that is no
// longer configured: its destinations drain away, then it goes.
func (st *state) wantLeaving(ks *kService, now time.Time) *want {
	k := ks.svc.Key()
	w := &want{svc: ks.svc, dests: map[ipvs.DestinationKey]ipvs.Destination{}}
	timeout, known := st.lastDrain[k]
	if !known {
		timeout = defaultLeaveTimeout
	}
	if st.cfg != nil && st.cfg.CheckMarks.Contains(k.FWMark) {
		timeout = 0 // a through_vip check service carries no clients
	}
	l, ok := st.leaving[k]
	if !ok {
		l = leave{since: now, deadline: now.Add(timeout)}
		st.leaving[k] = l
	}
	if timeout > 0 && ks.svc.Protocol != ipvs.UDP && now.Before(l.deadline) {
		st.drainAway(ks.svc, l.deadline.Sub(now), ks, w, nil, now)
		if len(w.dests) > 0 {
			return w
		}
	}
	w.gone = true
	return w
}

// forget drops the leaving entries of services and destinations the kernel
// no longer holds. Planning never deletes them itself, so planning twice
// (after a confirming read) gives the same answer.
func (st *state) forget(v view) {
	for k := range st.leaving {
		if v[k] == nil {
			delete(st.leaving, k)
		}
	}
	for k, ld := range st.leavingDests {
		ks := v[k]
		for dk := range ld {
			if ks == nil {
				delete(ld, dk)
			} else if _, ok := ks.dests[dk]; !ok {
				delete(ld, dk)
			}
		}
		if len(ld) == 0 {
			delete(st.leavingDests, k)
		}
	}
}

// defaultLeaveTimeout drains a leaving service whose drain timeout is not
// known (it was configured before this daemon started).
const defaultLeaveTimeout = 60 * time.Second

// wantCheckServices returns the per-backend fwmark services of s's
// through_vip checks: each sends packets marked with the backend's mark to
// that backend alone, however it is weighted in s.
func (st *state) wantCheckServices(s *Service) map[ipvs.ServiceKey]*want {
	var out map[ipvs.ServiceKey]*want
	for i := range s.Backends {
		b := &s.Backends[i]
		mark := st.marks[b.Key(s.Name)]
		if !b.ThroughVIP || mark == 0 {
			continue
		}
		svc := ipvs.Service{Family: s.IPVS.Family, FWMark: mark, Scheduler: "rr"}
		d := b.Dest
		d.Weight = 1
		d.UpperThreshold, d.LowerThreshold = 0, 0
		if out == nil {
			out = map[ipvs.ServiceKey]*want{}
		}
		out[svc.Key()] = &want{svc: svc, dests: map[ipvs.DestinationKey]ipvs.Destination{d.Key(): d}}
	}
	return out
}

// diff returns the operations that turn ks (nil: absent) into w, in a
// stable order: the service first when created, its removal last.
func diff(w *want, ks *kService) []ipvs.Op {
	var ops []ipvs.Op
	if w.gone {
		if ks != nil {
			ops = append(ops, ipvs.Op{Kind: ipvs.OpRemoveService, Service: ks.svc})
		}
		return ops
	}
	if ks == nil {
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: w.svc})
		for _, dk := range sortedDestKeys(w.dests) {
			ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: w.svc, Destination: w.dests[dk]})
		}
		return ops
	}
	if !w.svc.Equal(ks.svc) {
		ops = append(ops, ipvs.Op{Kind: ipvs.OpUpdateService, Service: w.svc})
	}
	for _, dk := range sortedDestKeys(ks.dests) {
		if _, ok := w.dests[dk]; !ok {
			ops = append(ops, ipvs.Op{Kind: ipvs.OpRemoveDestination, Service: w.svc, Destination: ks.dests[dk]})
		}
	}
	for _, dk := range sortedDestKeys(w.dests) {
		d := w.dests[dk]
		cur, ok := ks.dests[dk]
		switch {
		case !ok:
			ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: w.svc, Destination: d})
		case !d.Equal(cur):
			ops = append(ops, ipvs.Op{Kind: ipvs.OpUpdateDestination, Service: w.svc, Destination: d})
		}
	}
	return ops
}

// hasRemoval reports whether ops delete anything.
func hasRemoval(ops []ipvs.Op) bool {
	for i := range ops {
		if ops[i].Kind == ipvs.OpRemoveService || ops[i].Kind == ipvs.OpRemoveDestination {
			return true
		}
	}
	return false
}

// backendOf finds the configured backend of s with address ap.
func backendOf(s *Service, ap netip.AddrPort) *Backend {
	for i := range s.Backends {
		b := &s.Backends[i]
		if b.Key(s.Name).Addr == ap {
			return b
		}
	}
	return nil
}
