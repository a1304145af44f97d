//go:build linux

package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/seesawd/seesawd/pkg/config"
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

// udpSysctls makes IPVS drop the connection entries of a removed
// destination on their next packet when UDP services are configured: the
// engine deletes UDP backends at once (datagrams have no connection to
// finish), and without this their flows would be black-holed until the
// entries expire.
func udpSysctls(cfg *config.Config) error {
	for _, s := range cfg.Services {
		if s.Protocol == "udp" {
			return os.WriteFile("/proc/sys/net/ipv4/vs/expire_nodest_conn", []byte("1\n"), 0o644)
		}
	}
	return nil
}
