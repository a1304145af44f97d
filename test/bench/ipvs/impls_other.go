//go:build !linux

package main

import "errors"

// implementations has none to offer but Linux's: moby/ipvs builds nowhere
// else, and every implementation needs the kernel's IPVS anyway.
func implementations() ([]impl, error) {
	return nil, errors.New("ipvs-bench: runs only on Linux (make bench-ipvs runs it in the VM lab)")
}
