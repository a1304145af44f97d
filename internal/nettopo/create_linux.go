//go:build linux

package nettopo

import "context"

// NewNetns creates a namespace named name with loopback up and IPv6
// duplicate address detection off, for topologies built by other packages.
func NewNetns(ctx context.Context, name string) (*Netns, error) {
	n := &Netns{Name: name}
	if err := addNetns(ctx, n); err != nil {
		return nil, err
	}
	return n, nil
}
