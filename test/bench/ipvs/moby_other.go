//go:build !linux

package main

import "errors"

// mobyImpl: moby/ipvs builds on Linux only.
func mobyImpl() (impl, error) { return impl{}, errors.New("moby/ipvs: Linux only") }
