package engine

import (
	"errors"
	"os"
	"slices"
	"time"

	"github.com/seesawd/seesawd/pkg/ipvs"
)

// view is what the kernel holds, as far as the engine knows: the last dump,
// corrected by every operation the kernel confirmed since and by
// single-object reads. The engine diffs desired state against it, never
// against the previous configuration.
type view map[ipvs.ServiceKey]*kService

// kService is one service of the view with its destinations.
type kService struct {
	svc   ipvs.Service
	dests map[ipvs.DestinationKey]ipvs.Destination
	// fromDump says the entry comes from a dump and has not been confirmed
	// since: the kernel's dumps are not consistent snapshots under
	// concurrent changes, so a removal it suggests is confirmed first.
	fromDump bool
	// readAt is when the kernel last reported the entry (dump or read):
	// connection counts are as of then.
	readAt time.Time
}

// viewFromDump builds a view from a full dump. Duplicate entries, which an
// inconsistent dump can return, collapse into one.
func viewFromDump(dump []ipvs.ServiceDestinations, now time.Time) view {
	v := make(view, len(dump))
	for _, sd := range dump {
		v.set(sd.Service, sd.Destinations, true, now)
	}
	return v
}

// set replaces the entry of s with the given destinations, read at now.
func (v view) set(s ipvs.Service, dests []ipvs.Destination, fromDump bool, now time.Time) {
	ks := &kService{svc: s, dests: make(map[ipvs.DestinationKey]ipvs.Destination, len(dests)), fromDump: fromDump, readAt: now}
	for _, d := range dests {
		ks.dests[d.Key()] = d
	}
	v[s.Key()] = ks
}

// applied records an operation the kernel confirmed.
func (v view) applied(op *ipvs.Op) {
	k := op.Service.Key()
	switch op.Kind {
	case ipvs.OpCreateService:
		v[k] = &kService{svc: op.Service, dests: map[ipvs.DestinationKey]ipvs.Destination{}}
	case ipvs.OpUpdateService:
		if ks := v[k]; ks != nil {
			st := ks.svc.Stats
			ks.svc = op.Service
			ks.svc.Stats = st
		}
	case ipvs.OpRemoveService:
		delete(v, k)
	case ipvs.OpCreateDestination, ipvs.OpUpdateDestination:
		ks := v[k]
		if ks == nil {
			return
		}
		d := op.Destination
		if old, ok := ks.dests[d.Key()]; ok {
			d.ActiveConns, d.InactiveConns, d.PersistentConns, d.Stats = old.ActiveConns, old.InactiveConns, old.PersistentConns, old.Stats
		}
		ks.dests[d.Key()] = d
	case ipvs.OpRemoveDestination:
		if ks := v[k]; ks != nil {
			delete(ks.dests, op.Destination.Key())
		}
	}
}

// needsReread reports whether an operation's error means the view is wrong
// about its object: it exists when we thought not, or the reverse.
func needsReread(err error) bool {
	return errors.Is(err, os.ErrExist) || errors.Is(err, os.ErrNotExist)
}

// sortedKeys returns the keys of m in a stable order, so operation batches
// and logs are deterministic.
func sortedServiceKeys[V any](m map[ipvs.ServiceKey]V) []ipvs.ServiceKey {
	out := make([]ipvs.ServiceKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, compareServiceKeys)
	return out
}

func compareServiceKeys(a, b ipvs.ServiceKey) int {
	switch {
	case a.FWMark != b.FWMark:
		return cmpInt(a.FWMark, b.FWMark)
	case a.Family != b.Family:
		return cmpInt(a.Family, b.Family)
	case a.Address != b.Address:
		return a.Address.Compare(b.Address)
	case a.Port != b.Port:
		return cmpInt(a.Port, b.Port)
	}
	return cmpInt(a.Protocol, b.Protocol)
}

func sortedDestKeys[V any](m map[ipvs.DestinationKey]V) []ipvs.DestinationKey {
	out := make([]ipvs.DestinationKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b ipvs.DestinationKey) int {
		if c := a.Address.Compare(b.Address); c != 0 {
			return c
		}
		return cmpInt(a.Port, b.Port)
	})
	return out
}

func cmpInt[T ~uint8 | ~uint16 | ~uint32 | ~int](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sameEntry reports whether two views agree about a service: both absent,
// or the same service with the same destinations (counters aside).
func sameEntry(a, b *kService) bool {
	if a == nil || b == nil {
		return a == b
	}
	if !a.svc.Equal(b.svc) || len(a.dests) != len(b.dests) {
		return false
	}
	for k, d := range a.dests {
		if o, ok := b.dests[k]; !ok || !d.Equal(o) {
			return false
		}
	}
	return true
}
