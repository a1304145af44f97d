//go:build !linux

package main

import (
	"net/netip"

	"github.com/seesawd/seesawd/pkg/config"
)

func missingCaps() []string { return nil }

func sysctls(*config.Config) error { return nil }

func routeSource(netip.Addr) (netip.Addr, error) { return netip.Addr{}, nil }
