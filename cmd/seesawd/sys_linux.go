//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

// Capability bits (linux/capability.h).
const (
	capNetAdmin = 12
	capNetRaw   = 13
)

// missingCaps returns the capabilities seesawd needs that this process lacks.
func missingCaps() []string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil // cannot tell: let the first operation say
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapEff:")
		if !ok {
			continue
		}
		eff, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return nil
		}
		var missing []string
		if eff&(1<<capNetAdmin) == 0 {
			missing = append(missing, "CAP_NET_ADMIN")
		}
		if eff&(1<<capNetRaw) == 0 {
			missing = append(missing, "CAP_NET_RAW")
		}
		return missing
	}
	return nil
}

// sysctls sets what the configured services need from the kernel:
//   - with UDP services, IPVS drops the connection entries of a removed
//     destination on their next packet (net.ipv4.vs.expire_nodest_conn):
//     the engine deletes UDP backends at once, since datagrams have no
//     connection to finish, and their flows must not be black-holed until
//     the entries expire;
//   - with through_vip checks, the node accepts packets whose source is one
//     of its own addresses (net.ipv4.conf.all.accept_local): a check's reply
//     comes from the VIP, which is local on the master;
//   - with mh (Maglev hashing) services, IPVS schedules a TCP or SCTP flow
//     from any packet, not only its first (net.ipv4.vs.sloppy_tcp and
//     sloppy_sctp): a flow that ECMP moves to this node mid-connection
//     reaches the backend mh picks on every node, instead of a reset;
//   - with ipvs.sync.refresh_period, the sync daemon resends a connection
//     on time rather than every 50th packet (net.ipv4.vs.sync_threshold
//     "3 0", sync_refresh_period, sync_retries).
func sysctls(cfg *config.Config) error {
	var errs []error
	setTo := func(path, value string) {
		if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	set := func(path string) { setTo(path, "1") }
	udp, through, mh := false, false, false
	for _, s := range cfg.Engine().Services {
		udp = udp || s.IPVS.Protocol == ipvs.UDP
		mh = mh || s.IPVS.Scheduler == "mh"
		for _, b := range s.Backends {
			through = through || b.ThroughVIP
		}
	}
	if udp {
		set("/proc/sys/net/ipv4/vs/expire_nodest_conn")
	}
	if through {
		set("/proc/sys/net/ipv4/conf/all/accept_local")
	}
	if mh {
		set("/proc/sys/net/ipv4/vs/sloppy_tcp")
		set("/proc/sys/net/ipv4/vs/sloppy_sctp")
	}
	if s := cfg.IPVS.Sync; s != nil && s.RefreshPeriod > 0 {
		setTo("/proc/sys/net/ipv4/vs/sync_threshold", "3 0")
		setTo("/proc/sys/net/ipv4/vs/sync_refresh_period", strconv.Itoa(int(s.RefreshPeriod/time.Second)))
		setTo("/proc/sys/net/ipv4/vs/sync_retries", strconv.Itoa(s.Retries))
	}
	return errors.Join(errs...)
}

// routeSource returns the preferred source address of the route to dst.
func routeSource(dst netip.Addr) (netip.Addr, error) {
	routes, err := netlink.RouteGet(dst.AsSlice())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("route to %v: %w", dst, err)
	}
	for _, r := range routes {
		if src, ok := netip.AddrFromSlice(r.Src); ok && src.IsValid() {
			return src.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("route to %v has no source address", dst)
}
