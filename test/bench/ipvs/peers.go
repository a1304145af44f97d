//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"

	cfipvs "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
)

func cloudflareImpl() (impl, error) {
	c, err := cfipvs.New()
	if err != nil {
		return impl{}, fmt.Errorf("cloudflare/ipvs: %w", err)
	}
	svc := func(ap netip.AddrPort) cfipvs.Service {
		return cfipvs.Service{
			Address: ap.Addr(), Netmask: netmask.MaskFrom(32, 32), Scheduler: "wrr", Port: ap.Port(),
			Family: cfipvs.INET, Protocol: cfipvs.TCP,
		}
	}
	return impl{
		name: "cloudflare/ipvs",
		create: func(w work) error {
			for i, s := range w.services {
				sv := svc(s)
				if err := c.CreateService(sv); err != nil {
					return err
				}
				for _, d := range w.dests[i] {
					if err := c.CreateDestination(sv, cfipvs.Destination{
						Address: d.Addr(), Port: d.Port(), Weight: 1, FwdMethod: cfipvs.Masquerade, Family: cfipvs.INET,
					}); err != nil {
						return err
					}
				}
			}
			return nil
		},
		dump: func() (int, int, error) {
			svcs, err := c.Services()
			if err != nil {
				return 0, 0, err
			}
			n := 0
			for _, s := range svcs {
				ds, err := c.Destinations(s.Service)
				if err != nil {
					return 0, 0, err
				}
				n += len(ds)
			}
			return len(svcs), n, nil
		},
		remove: func(w work) error {
			for _, s := range w.services {
				if err := c.RemoveService(svc(s)); err != nil {
					return err
				}
			}
			return nil
		},
	}, nil
}

// ipvsadmImpl feeds ipvsadm -R a rule file: the C tool's own restore path.
func ipvsadmImpl() impl {
	restore := func(rules string) error {
		cmd := exec.Command("ipvsadm", "-R")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ipvsadm -R: %w: %s", err, out)
		}
		return nil
	}
	return impl{
		name: "ipvsadm -R",
		create: func(w work) error {
			var b strings.Builder
			for i, s := range w.services {
				fmt.Fprintf(&b, "-A -t %s -s wrr\n", s)
				for _, d := range w.dests[i] {
					fmt.Fprintf(&b, "-a -t %s -r %s -m -w 1\n", s, d)
				}
			}
			return restore(b.String())
		},
		dump: func() (int, int, error) { return kernelCounts() },
		remove: func(w work) error {
			var b strings.Builder
			for _, s := range w.services {
				fmt.Fprintf(&b, "-D -t %s\n", s)
			}
			return restore(b.String())
		},
	}
}
