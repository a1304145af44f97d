package ipvs

import (
	"context"
	"errors"
	"os"
)

// ServiceDestinations is a service with its destinations.
type ServiceDestinations struct {
	Service      Service
	Destinations []Destination
}

// DumpAll returns every service with its destinations: Services, then
// Destinations for each (the kernel has no single request for both).
// Services removed between the two steps are left out. It is as
// consistent as its parts (see the package documentation): a repeat seen
// in any of the dumps is removed and reported with ErrDumpInconsistent,
// with the whole list; any other error comes with no list.
//
// Reading the destinations over several sockets at once was measured and
// gains nothing: IPVS is not a parallel_ops generic netlink family, so the
// kernel handles every request and fills every dump part under genl_mutex
// (and IPVS's own __ip_vs_mutex), and a second socket only waits, spinning.
// With 2 vCPUs, 1,000 services of 10 destinations: 1 socket 367 ms with
// 1.23 CPUs busy, 2 sockets 487 ms with 1.63, 4 sockets 426 ms with 1.77
// (medians of 15 interleaved rounds; see docs/benchmarks.md).
func (c *Client) DumpAll(ctx context.Context) ([]ServiceDestinations, error) {
	// dumpErr is the first ErrDumpInconsistent or ErrDumpInterrupted: the
	// dumps go on, as their lists came back.
	svcs, dumpErr := c.Services(ctx)
	if dumpErr != nil && svcs == nil {
		return nil, dumpErr
	}
	out := make([]ServiceDestinations, 0, len(svcs))
	for _, s := range svcs {
		ds, err := c.Destinations(ctx, s)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil && ds == nil:
			return nil, err
		case err != nil && dumpErr == nil:
			dumpErr = err
		}
		out = append(out, ServiceDestinations{Service: s, Destinations: ds})
	}
	return out, dumpErr
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
