package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// group splits the targets into keepalived's virtual servers, ten real
// servers each (100 x 10 for 1,000 targets).
func group(targets []netip.AddrPort) [][]netip.AddrPort {
	var out [][]netip.AddrPort
	for len(targets) > 0 {
		n := min(10, len(targets))
		out = append(out, targets[:n])
		targets = targets[n:]
	}
	return out
}

// vip is virtual server i's address (port 80).
func vip(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 99, byte(i / 250), byte(i%250 + 1)}), 80)
}

// ipvsRules renders the virtual servers as ipvsadm -R input: what
// keepalived programs for its configuration.
func ipvsRules(services [][]netip.AddrPort) string {
	var b strings.Builder
	for i, rs := range services {
		fmt.Fprintf(&b, "-A -t %s -s rr\n", vip(i))
		for _, r := range rs {
			fmt.Fprintf(&b, "-a -t %s -r %s -m -w 1\n", vip(i), r)
		}
	}
	return b.String()
}

// keepalivedConfig renders 2.2.7's configuration for the same virtual
// servers, each real server with a TCP_CHECK every delayLoop (the
// benchmark's interval, or what keepalived.calibrate sets) and the
// benchmark's timeout (connect_timeout), every failure logged.
func keepalivedConfig(services [][]netip.AddrPort, delayLoop, timeout time.Duration) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id hc-bench\n    checker_log_all_failures\n}\n")
	for i, rs := range services {
		v := vip(i)
		fmt.Fprintf(&b, "virtual_server %s %d {\n    delay_loop %s\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n",
			v.Addr(), v.Port(), seconds(delayLoop))
		for _, r := range rs {
			fmt.Fprintf(&b, "    real_server %s %d {\n        weight 1\n        TCP_CHECK {\n            connect_timeout %s\n        }\n    }\n",
				r.Addr(), r.Port(), seconds(timeout))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// keepalivedFailure says whether a log line reports a failed TCP_CHECK
// ("TCP connection to [...] failed." or "timeout.").
func keepalivedFailure(line string) bool {
	return strings.Contains(line, "TCP connection to") && (strings.Contains(line, "failed") || strings.Contains(line, "timeout"))
}
