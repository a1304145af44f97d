//go:build linux

package lab

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// PassivePreemptDelay is how long a returning master of the active/passive
// lab waits before it preempts (both seesawd and keepalived).
const PassivePreemptDelay = 5 * time.Second

// The services the scale-out tests run: an echo service on EchoPort whose
// TCP checks go to CheckPort, so blocking CheckPort on one LB takes its
// service below quorum while the backends keep serving.
func scaleBackends(indent string) string {
	return indent + "backends: [{ address: 10.0.1.11 }, { address: 10.0.1.12 }, { address: 10.0.1.13 }]\n"
}

func scaleCheck(indent string) string {
	// Generous for the emulated VM, where 200 busy flows slow everything.
	return fmt.Sprintf("%shealthcheck: { type: tcp, port: %d, interval: 1s, timeout: 900ms, rise: 1, fall: 3 }\n", indent, CheckPort)
}

// AnycastService is the echo service announced by every LB: Maglev
// hashing and direct routing, so a flow ECMP moves between LBs reaches
// the same backend and its replies need no LB.
func AnycastService() string {
	return fmt.Sprintf("  - name: echo\n    vip: %v\n    port: %d\n    scheduler: mh\n    forward: dr\n    announce: bgp\n    quorum: 2\n",
		AnycastVIP, EchoPort) + scaleCheck("    ") + scaleBackends("    ")
}

// PassiveService is the echo service held by the VRRP master, by NAT,
// round robin: a node that takes over without the connection table drops
// every established flow (mh with sloppy_tcp would pick the same backend
// again, hiding what the sync daemon does).
func PassiveService() string {
	return fmt.Sprintf("  - name: echo\n    vip: %v\n    port: %d\n    scheduler: rr\n    forward: nat\n", PassiveVIP, EchoPort) +
		scaleCheck("    ") + scaleBackends("    ")
}

func (lb *ScaleLB) header(b *strings.Builder) {
	fmt.Fprintf(b, "node: { name: %s }\nlog: { level: debug, format: json }\n", lb.Name)
	fmt.Fprintf(b, "metrics: { listen: \"\" }\ncontrol: { socket: %s }\n", lb.ControlSocket())
}

// ControlSocket is the path of the LB's seesawctl socket.
func (lb *ScaleLB) ControlSocket() string { return filepath.Join(lb.lab.cfg.Dir, lb.Name+".sock") }

// AnycastConfig is the LB's seesawd configuration announcing services
// (a YAML list) to the router over BGP, with short timers.
func (lb *ScaleLB) AnycastConfig(services string) string {
	var b strings.Builder
	lb.header(&b)
	fmt.Fprintf(&b, "ipvs: { state_file: %s }\n", lb.StatePath)
	fmt.Fprintf(&b, "bgp:\n  asn: %d\n  router_id: %v\n  loop_timeout: 3s\n", LBASN, lb.Link)
	fmt.Fprintf(&b, "  peers: [{ address: %v, asn: %d, hold_time: 3s, connect_retry: 1s }]\n", lbLink(lb.N, 254), RouterASN)
	b.WriteString("services:\n" + services)
	return b.String()
}

// PassiveConfig is the LB's seesawd configuration holding PassiveVIP and
// the backends' gateway with VRRP at priority, with the IPVS sync daemon
// on the back bridge when sync is set.
func (lb *ScaleLB) PassiveConfig(priority int, sync bool, services string) string {
	var b strings.Builder
	lb.header(&b)
	fmt.Fprintf(&b, "ipvs:\n  state_file: %s\n", lb.StatePath)
	if sync {
		// Resend each connection every second: the old master learns
		// the ones opened while it was away before it preempts.
		b.WriteString("  sync: { interface: eth1, sync_id: 51, refresh_period: 1s, retries: 1 }\n")
	}
	// preempt_delay: a returning master stays backup while the current
	// one's sync daemon sends it the connections opened meanwhile (each
	// is resent every 50 packets, sync_threshold).
	fmt.Fprintf(&b, `vrrp:
  - { name: passive, interface: eth1, vrid: %d, priority: %d, advert_interval: 300ms, preempt_delay: %v,
      virtual_ips: [%v/24, %v/24], garp: { count: 4, interval: 500ms } }
`, PassiveVRID, priority, PassivePreemptDelay, PassiveVIP, PassiveGateway)
	b.WriteString("services:\n" + services)
	return b.String()
}

// KeepalivedPassive is keepalived's configuration for the same
// active/passive service, with its lvs_sync_daemon (which keepalived runs
// as master on the VRRP master and as backup on the others).
func (lb *ScaleLB) KeepalivedPassive(priority int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global_defs {
  router_id %s
  vrrp_version 3
  lvs_sync_daemon eth1 PASSIVE id 51
}
vrrp_instance PASSIVE {
  state BACKUP
  interface eth1
  virtual_router_id %d
  priority %d
  advert_int 0.3
  preempt_delay %d
  virtual_ipaddress {
    %v/24 dev eth1
    %v/24 dev eth1
  }
}
virtual_server %v %d {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
`, lb.Name, PassiveVRID, priority, int(PassivePreemptDelay/time.Second), PassiveVIP, PassiveGateway, PassiveVIP, EchoPort)
	for i := range 3 {
		fmt.Fprintf(&b, "  real_server 10.0.1.%d %d {\n    TCP_CHECK { connect_port %d connect_timeout 1 }\n  }\n", 11+i, EchoPort, CheckPort)
	}
	b.WriteString("}\n")
	return b.String()
}
