package main

import (
	"context"
	"os"
	"slices"
	"sync"

	"github.com/seesawd/seesawd/pkg/ipvs"
)

// mapKernel is an in-memory IPVS table with the kernel's EEXIST/ENOENT
// semantics, for the engine measured without a kernel.
type mapKernel struct {
	mu   sync.Mutex
	svcs map[ipvs.ServiceKey]*ipvs.ServiceDestinations
}

func newMapKernel() *mapKernel {
	return &mapKernel{svcs: map[ipvs.ServiceKey]*ipvs.ServiceDestinations{}}
}

func (k *mapKernel) DumpAll(context.Context) ([]ipvs.ServiceDestinations, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]ipvs.ServiceDestinations, 0, len(k.svcs))
	for _, s := range k.svcs {
		out = append(out, ipvs.ServiceDestinations{Service: s.Service, Destinations: slices.Clone(s.Destinations)})
	}
	return out, nil
}

func (k *mapKernel) Service(_ context.Context, s ipvs.Service) (ipvs.Service, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sd := k.svcs[s.Key()]; sd != nil {
		return sd.Service, nil
	}
	return ipvs.Service{}, &ipvs.OpError{Op: "get service", Err: os.ErrNotExist}
}

func (k *mapKernel) Destinations(_ context.Context, s ipvs.Service) ([]ipvs.Destination, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sd := k.svcs[s.Key()]; sd != nil {
		return slices.Clone(sd.Destinations), nil
	}
	return nil, &ipvs.OpError{Op: "dump destinations", Err: os.ErrNotExist}
}

func (k *mapKernel) Timeouts(context.Context) (ipvs.Timeouts, error)  { return ipvs.Timeouts{}, nil }
func (k *mapKernel) SetTimeouts(context.Context, ipvs.Timeouts) error { return nil }

func (k *mapKernel) Apply(_ context.Context, ops []ipvs.Op) ([]error, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	errs := make([]error, len(ops))
	for i, op := range ops {
		key := op.Service.Key()
		sd := k.svcs[key]
		idx := -1
		if sd != nil {
			idx = slices.IndexFunc(sd.Destinations, func(d ipvs.Destination) bool { return d.Key() == op.Destination.Key() })
		}
		missing := &ipvs.OpError{Op: op.Kind.String(), Err: os.ErrNotExist}
		switch {
		case op.Kind == ipvs.OpCreateService && sd != nil,
			op.Kind == ipvs.OpCreateDestination && idx >= 0:
			errs[i] = &ipvs.OpError{Op: op.Kind.String(), Err: os.ErrExist}
		case op.Kind == ipvs.OpCreateService:
			k.svcs[key] = &ipvs.ServiceDestinations{Service: op.Service}
		case sd == nil:
			errs[i] = missing
		case op.Kind == ipvs.OpUpdateService:
			sd.Service = op.Service
		case op.Kind == ipvs.OpRemoveService:
			delete(k.svcs, key)
		case op.Kind == ipvs.OpCreateDestination:
			sd.Destinations = append(sd.Destinations, op.Destination)
		case idx < 0:
			errs[i] = missing
		case op.Kind == ipvs.OpUpdateDestination:
			sd.Destinations[idx] = op.Destination
		case op.Kind == ipvs.OpRemoveDestination:
			sd.Destinations = slices.Delete(sd.Destinations, idx, idx+1)
		}
	}
	return errs, nil
}
