package main

import (
	"fmt"
	"net/netip"
	"strings"
)

// layout is the benchmark's service table: services VIPs 10.200.x.y:80 with
// backends 10.1.0.1-10.1.0.B on port 10000+i, so the backend namespace
// serves every target with one listener per service port.
type layout struct {
	services, backends int
}

func (l layout) vip(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 200, byte(i / 250), byte(1 + i%250)})
}

func (l layout) backend(j int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, 0, byte(1 + j)}) }

func (l layout) port(i int) int { return 10000 + i }

// weight is backend j of service i's weight, shifted by bump for the
// reload's one change.
func (l layout) weight(i, j int, bump map[[2]int]int) int { return 1 + j + bump[[2]int{i, j}] }

// seesawd renders the configuration: check is the healthcheck mapping.
func (l layout) seesawd(check string, bump map[[2]int]int, stateFile string) string {
	var b strings.Builder
	b.WriteString("node: { name: bench }\nlog: { level: debug, format: json }\n")
	fmt.Fprintf(&b, "ipvs: { resync_interval: 30s, state_file: %s }\nservices:\n", stateFile)
	for i := range l.services {
		fmt.Fprintf(&b, "  - name: s%d\n    vip: %v\n    port: 80\n    scheduler: wrr\n    healthcheck: %s\n    backends:\n",
			i, l.vip(i), check)
		for j := range l.backends {
			fmt.Fprintf(&b, "      - { address: %v, port: %d, weight: %d }\n", l.backend(j), l.port(i), l.weight(i, j, bump))
		}
	}
	return b.String()
}

// keepalived renders the same table for keepalived's checker.
func (l layout) keepalived(bump map[[2]int]int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id bench\n}\n")
	for i := range l.services {
		fmt.Fprintf(&b, "virtual_server %v 80 {\n  delay_loop 60\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n", l.vip(i))
		for j := range l.backends {
			fmt.Fprintf(&b, "  real_server %v %d {\n    weight %d\n    TCP_CHECK {\n      connect_timeout 5\n    }\n  }\n",
				l.backend(j), l.port(i), l.weight(i, j, bump))
		}
		b.WriteString("}\n")
	}
	return b.String()
}
