//go:build linux

package main

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	mobyipvs "github.com/moby/ipvs"
)

// mobyImpl does the work with github.com/moby/ipvs, one call per change.
func mobyImpl() (impl, error) {
	h, err := mobyipvs.New("")
	if err != nil {
		return impl{}, fmt.Errorf("moby/ipvs: %w", err)
	}
	svc := func(ap netip.AddrPort) *mobyipvs.Service {
		return &mobyipvs.Service{
			Address: net.IP(ap.Addr().AsSlice()), Protocol: syscall.IPPROTO_TCP, Port: ap.Port(),
			SchedName: "wrr", AddressFamily: syscall.AF_INET, Netmask: 0xffffffff,
		}
	}
	return impl{
		name: "moby/ipvs",
		create: func(w work) error {
			for i, s := range w.services {
				sv := svc(s)
				if err := h.NewService(sv); err != nil {
					return err
				}
				for _, d := range w.dests[i] {
					if err := h.NewDestination(sv, &mobyipvs.Destination{
						Address: net.IP(d.Addr().AsSlice()), Port: d.Port(), Weight: 1,
						ConnectionFlags: mobyipvs.ConnectionFlagMasq, AddressFamily: syscall.AF_INET,
					}); err != nil {
						return err
					}
				}
			}
			return nil
		},
		dump: func() (int, int, error) {
			svcs, err := h.GetServices()
			if err != nil {
				return 0, 0, err
			}
			n := 0
			for _, s := range svcs {
				ds, err := h.GetDestinations(s)
				if err != nil {
					return 0, 0, err
				}
				n += len(ds)
			}
			return len(svcs), n, nil
		},
		remove: func(w work) error {
			for _, s := range w.services {
				if err := h.DelService(svc(s)); err != nil {
					return err
				}
			}
			return nil
		},
	}, nil
}
