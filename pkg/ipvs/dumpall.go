package ipvs

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
)

// ServiceDestinations is a service with its destinations.
type ServiceDestinations struct {
	Service      Service
	Destinations []Destination
}

// DumpAll returns every service with its destinations: Services, then
// Destinations for each (the kernel has no single request for both), read
// over Config.DumpSockets sockets at once. Services removed between the two
// steps are left out. It is as consistent as its parts: a repeat seen in
// any of the dumps is removed and reported with ErrDumpInconsistent, with
// the whole list; any other error comes with no list.
//
// Several sockets pay off because a destination dump is many small round
// trips: the kernel fills each part under its IPVS mutex, but the system
// calls, the copies and the decoding around it run in parallel. With two
// vCPUs, two sockets take about 40% off a 1,000-service dump (see
// docs/benchmarks.md); one CPU gains nothing but loses nothing either.
func (c *Client) DumpAll(ctx context.Context) ([]ServiceDestinations, error) {
	svcs, err := c.Services(ctx)
	inconsistent := err != nil // ErrDumpInconsistent or ErrDumpInterrupted: the list came back
	if err != nil && svcs == nil {
		return nil, err
	}
	out := make([]ServiceDestinations, len(svcs))
	gone := make([]bool, len(svcs))
	socks := append([]*sock{&c.main}, c.extra...)
	workers := max(min(len(socks), len(svcs)), 1)

	// A failure stops the workers between two dumps; no derived context,
	// whose AfterFunc would cost two allocations per dump.
	var (
		next     atomic.Int64
		stop     atomic.Bool
		firstErr error
		mu       sync.Mutex
		wg       sync.WaitGroup
	)
	work := func(k *sock) {
		for !stop.Load() {
			i := int(next.Add(1)) - 1
			if i >= len(svcs) {
				return
			}
			ds, err := k.destinations(ctx, svcs[i])
			switch {
			case errors.Is(err, os.ErrNotExist):
				gone[i] = true
				continue
			case err != nil && ds == nil:
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					stop.Store(true)
				}
				mu.Unlock()
				return
			case err != nil:
				mu.Lock()
				inconsistent = true
				mu.Unlock()
			}
			out[i] = ServiceDestinations{Service: svcs[i], Destinations: ds}
		}
	}
	for _, k := range socks[1:workers] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(k)
		}()
	}
	work(&c.main)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	n := 0
	for i := range out {
		if !gone[i] {
			out[n] = out[i]
			n++
		}
	}
	out = out[:n]
	if inconsistent {
		return out, &OpError{Op: opDumpAll, Err: ErrDumpInconsistent}
	}
	return out, nil
}

// dedupe removes the repeats from a dump, keeping each entry where it came
// first but with its last value (the freshest), and reports whether there
// were any. Short lists, which are most destination lists, are compared
// pairwise without allocating.
func dedupe[T any, K comparable](list []T, key func(T) K) ([]T, bool) {
	const small = 32
	var at map[K]int
	var keys [small]K
	if len(list) > small {
		at = make(map[K]int, len(list))
	}
	n := 0
	for _, v := range list {
		k := key(v)
		j := -1
		if at != nil {
			if p, ok := at[k]; ok {
				j = p
			} else {
				at[k] = n
			}
		} else {
			for p := 0; p < n; p++ {
				if keys[p] == k {
					j = p
					break
				}
			}
			if j < 0 {
				keys[n] = k
			}
		}
		if j >= 0 {
			list[j] = v
			continue
		}
		list[n] = v
		n++
	}
	return list[:n], n < len(list)
}
