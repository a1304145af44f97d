package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/seesawd/seesawd/pkg/ipvs"
)

func seesawService(w work, i int) ipvs.Service {
	return ipvs.Service{Protocol: ipvs.TCP, Address: w.services[i].Addr(), Port: w.services[i].Port(), Scheduler: "wrr"}
}

func seesawDest(w work, i, j int) ipvs.Destination {
	d := w.dests[i][j]
	return ipvs.Destination{Address: d.Addr(), Port: d.Port(), Forward: ipvs.Masquerade, Weight: 1}
}

// seesawImpls measures pkg/ipvs twice: the way seesawd uses it (batched:
// every change in one Apply call, the dump with DumpAll), and one call per
// change like the peers (single: Services, then Destinations for each).
func seesawImpls() ([]impl, error) {
	c, err := ipvs.New(nil)
	if err != nil {
		return nil, fmt.Errorf("pkg/ipvs: %w", err)
	}
	ctx := context.Background()
	dumpAll := func() (int, int, error) {
		all, err := c.DumpAll(ctx)
		if err != nil {
			return 0, 0, err
		}
		n := 0
		for _, sd := range all {
			n += len(sd.Destinations)
		}
		return len(all), n, nil
	}
	dumpEach := func() (int, int, error) {
		svcs, err := c.Services(ctx)
		if err != nil {
			return 0, 0, err
		}
		n := 0
		for _, s := range svcs {
			ds, err := c.Destinations(ctx, s)
			if err != nil {
				return 0, 0, err
			}
			n += len(ds)
		}
		return len(svcs), n, nil
	}
	apply := func(ops []ipvs.Op) error {
		errs, err := c.Apply(ctx, ops)
		if err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	batched := impl{
		name: "seesaw batched",
		create: func(w work) error {
			ops := make([]ipvs.Op, 0, len(w.services)*(1+len(w.dests[0])))
			for i := range w.services {
				s := seesawService(w, i)
				ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: s})
				for j := range w.dests[i] {
					ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: s, Destination: seesawDest(w, i, j)})
				}
			}
			return apply(ops)
		},
		dump: dumpAll,
		remove: func(w work) error {
			ops := make([]ipvs.Op, 0, len(w.services))
			for i := range w.services {
				ops = append(ops, ipvs.Op{Kind: ipvs.OpRemoveService, Service: seesawService(w, i)})
			}
			return apply(ops)
		},
	}
	single := impl{
		name: "seesaw single",
		create: func(w work) error {
			for i := range w.services {
				s := seesawService(w, i)
				if err := c.CreateService(ctx, s); err != nil {
					return err
				}
				for j := range w.dests[i] {
					if err := c.CreateDestination(ctx, s, seesawDest(w, i, j)); err != nil {
						return err
					}
				}
			}
			return nil
		},
		dump: dumpEach,
		remove: func(w work) error {
			for i := range w.services {
				if err := c.RemoveService(ctx, seesawService(w, i)); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return []impl{batched, single}, nil
}
