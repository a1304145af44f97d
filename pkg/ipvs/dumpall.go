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
// Services removed between the two steps are left out.
//
// Reading the destinations over several sockets at once was tried and
// gained nothing: the kernel serialises IPVS dumps on its own mutexes.
func (c *Client) DumpAll(ctx context.Context) ([]ServiceDestinations, error) {
	svcs, err := c.Services(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ServiceDestinations, 0, len(svcs))
	for _, s := range svcs {
		ds, err := c.Destinations(ctx, s)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, ServiceDestinations{Service: s, Destinations: ds})
	}
	return out, nil
}
