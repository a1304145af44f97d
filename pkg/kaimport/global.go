package kaimport

import (
	"fmt"
	"slices"
	"time"
)

// globals are the global_defs settings that change how the rest translates.
type globals struct {
	// vrrpVersion is keepalived's default VRRP version for IPv4 instances.
	vrrpVersion int
	// strict is vrrp_strict, which turns accept mode off by default.
	strict bool
	// defaultInterface is where keepalived puts addresses with no interface.
	defaultInterface string
	// GARP defaults for every instance.
	garpRepeat   *int
	garpRefresh  time.Duration
	garpInterval time.Duration
}

func defaultGlobals() globals {
	return globals{vrrpVersion: 2, defaultInterface: "eth0"}
}

// sslContext is the SSL block: the files every SSL_GET uses.
type sslContext struct {
	ca, cert, key string
	node          *Node
	used          bool
}

// Keywords of global_defs grouped by the note they get.
var (
	emailKeywords = []string{"notification_email", "notification_email_from", "smtp_server", "smtp_helo_name",
		"smtp_connect_timeout", "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker", "no_email_faults", "no_checker_emails"}
	scriptKeywords = []string{"script_user", "enable_script_security", "notify_fifo", "notify_fifo_script",
		"vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script", "startup_script",
		"shutdown_script", "startup_script_timeout", "shutdown_script_timeout", "fifo_write_vrrp_states_on_reload",
		"vrrp_notify_priority_changes", "rs_init_notifies"}
	firewallKeywords = []string{"vrrp_iptables", "vrrp_ipsets", "nftables", "nftables_priority", "nftables_counters",
		"nftables_ifindex", "nftables_ipvs", "nftables_ipvs_priority", "nftables_ipvs_start_fwmark"}
	snmpKeywords = []string{"snmp_socket", "enable_snmp_vrrp", "enable_snmp_checker", "enable_snmp_rfc",
		"enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_traps", "enable_dbus", "dbus_service_name",
		"enable_snmp_keepalived"}
	namespaceKeywords = []string{"net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "instance", "use_pid_dir"}
)

const (
	emailNote     = "%s: seesawd sends no e-mail: alert on its logs or metrics instead"
	scriptNote    = "%s: seesawd runs no scripts and writes no notify FIFO: state changes are in its logs and metrics"
	firewallNote  = "%s: seesawd keeps its own nftables table (inet seesawd) for instances with accept: false"
	snmpNote      = "%s: seesawd has no SNMP or D-Bus interface: use its metrics"
	namespaceNote = "%s: run seesawd itself in the namespace (ip netns exec, or NetworkNamespacePath= in its systemd unit)"
)

func (t *translator) globalDefs(n *Node) {
	t.use(n)
	for _, c := range n.Children {
		kw := c.Keyword()
		switch {
		case kw == "router_id" && c.Arg(1) != "":
			t.nodeName = c.Arg(1)
			t.use(c)
		case kw == "vrrp_version":
			if v := c.Arg(1); v == "2" || v == "3" {
				t.g.vrrpVersion = int(v[0] - '0')
				t.use(c) // each instance says what its version means
			} else {
				t.note(c, "vrrp_version %q is not 2 or 3: ignored, as keepalived does", v)
			}
		case kw == "vrrp_strict":
			t.g.strict = true
			t.note(c, "vrrp_strict: seesawd has no strict mode; what it implies for accept mode is kept "+
				"(accept: false unless priority 255); it also forbade unicast, authentication and preempt_delay")
		case kw == "default_interface" && c.Arg(1) != "":
			t.g.defaultInterface = c.Arg(1)
			t.use(c)
		case kw == "lvs_timeouts":
			t.lvsTimeouts(c)
		case kw == "lvs_flush_on_stop":
			t.ipvs().setc("remove_on_stop", true, "from lvs_flush_on_stop")
			t.use(c)
		case kw == "lvs_flush":
			t.note(c, "lvs_flush: seesawd never flushes IPVS; it removes only services it created (ipvs.state_file). "+
				"Clear what keepalived left once with ipvsadm -C")
		case kw == "lvs_sync_daemon":
			t.note(c, "lvs_sync_daemon: seesawd does not run the IPVS connection sync daemon, so connections are not "+
				"synchronised between nodes; start it with ipvsadm --start-daemon if you need it")
		case kw == "vrrp_garp_master_repeat":
			if v, ok := t.uintArg(c, 0, 255); ok {
				t.g.garpRepeat = &v
			}
		case kw == "vrrp_min_garp":
			if on, ok := parseBool(c.Arg(1)); ok && on {
				one := 1
				t.g.garpRepeat = &one
			}
			t.use(c)
		case kw == "vrrp_garp_master_refresh":
			if d, ok := parseTimer(c.Arg(1)); ok {
				t.g.garpRefresh = d.Truncate(time.Second)
				t.use(c)
			} else {
				t.note(c, "vrrp_garp_master_refresh %q: not a time, ignored", c.Arg(1))
			}
		case kw == "vrrp_garp_interval" || kw == "vrrp_gna_interval":
			if d, ok := parseTimer(c.Arg(1)); ok && d > 0 {
				t.g.garpInterval = max(t.g.garpInterval, d)
				t.use(c)
			} else {
				t.note(c, "%s %q: seesawd needs a positive interval between announcements; its default (100ms) is used", kw, c.Arg(1))
			}
		case kw == "vrrp_garp_master_delay" || kw == "vrrp_garp_lower_prio_delay" || kw == "vrrp_garp_lower_prio_repeat" ||
			kw == "vrrp_garp_master_refresh_repeat" || kw == "vrrp_garp_extra_if" || kw == "vrrp_garp_extra_if_vmac":
			t.note(c, "%s: seesawd sends one burst of announcements (garp.count, garp.interval) on becoming master, "+
				"then one every garp.refresh; it has no second delayed burst", kw)
		case kw == "vrrp_mcast_group4" || kw == "vrrp_mcast_group6":
			t.note(c, "%s: seesawd sends adverts to the RFC 5798 groups (224.0.0.18, ff02::12) or to unicast_peers", kw)
		case slices.Contains(emailKeywords, kw):
			t.note(c, emailNote, kw)
		case slices.Contains(scriptKeywords, kw):
			t.note(c, scriptNote, kw)
		case slices.Contains(firewallKeywords, kw):
			t.note(c, firewallNote, kw)
		case slices.Contains(snmpKeywords, kw):
			t.note(c, snmpNote, kw)
		case slices.Contains(namespaceKeywords, kw):
			t.note(c, namespaceNote, kw)
		default:
			t.note(c, "global_defs %s: not translated (no seesawd equivalent)", kw)
		}
	}
}

// ipvs returns the ipvs section, creating it.
func (t *translator) ipvs() *ymap {
	if t.ipvsSection == nil {
		t.ipvsSection = &ymap{}
	}
	return t.ipvsSection
}

// lvsTimeouts translates "lvs_timeouts [tcp S] [tcpfin S] [udp S]".
func (t *translator) lvsTimeouts(n *Node) {
	m := &ymap{flow: true}
	keys := map[string]string{"tcp": "tcp", "tcpfin": "tcp_fin", "udp": "udp"}
	for i := 1; i+1 < len(n.Words); i += 2 {
		k, ok := keys[n.Words[i]]
		v, okv := parseUint(n.Words[i+1], 1, 1<<31-1)
		if !ok || !okv {
			t.note(n, "lvs_timeouts: %q %q is not tcp|tcpfin|udp SECONDS: ignored", n.Words[i], n.Words[i+1])
			return
		}
		m.set(k, formatDuration(time.Duration(v)*time.Second))
	}
	if len(m.items) == 0 || len(n.Words)%2 == 0 {
		t.note(n, "lvs_timeouts: expected tcp|tcpfin|udp SECONDS pairs: ignored")
		return
	}
	t.ipvs().set("timeouts", m)
	t.use(n)
}

func (t *translator) sslBlock(n *Node) {
	t.use(n)
	t.ssl.node = n
	for _, c := range n.Children {
		switch c.Keyword() {
		case "ca":
			t.ssl.ca = c.Arg(1)
			t.use(c)
		case "certificate":
			t.ssl.cert = c.Arg(1)
			t.use(c)
		case "key":
			t.ssl.key = c.Arg(1)
			t.use(c)
		case "password":
			t.note(c, "SSL password: seesawd reads unencrypted private keys only: decrypt the key (openssl pkey)")
		default:
			t.note(c, "unknown keyword %s in SSL: keepalived rejects it too", c.Keyword())
		}
	}
}

func (t *translator) vrrpScript(n *Node) {
	name := n.Arg(1)
	t.scripts[name] = n
	script := ""
	for _, c := range n.Children {
		if c.Keyword() == "script" {
			script = c.Arg(1)
		}
	}
	t.noteRepeat(n, "vrrp_script", fmt.Sprintf("vrrp_script %s (%q): seesawd runs no scripts. A service's vrrp_track lowers an instance's "+
		"priority while the service is below quorum; a local daemon can be health-checked as a service backend", name, script),
		fmt.Sprintf("vrrp_script %s (%q): seesawd runs no scripts", name, script))
	markAll(n)
}

func (t *translator) defineVSG(n *Node) {
	t.use(n)
	if name := n.Arg(1); name != "" {
		t.vsgs[name] = n
	} else {
		t.note(n, "virtual_server_group with no name: ignored, as keepalived does")
	}
}

// topLevel notes the top-level blocks seesawd has no counterpart for.
func (t *translator) topLevel(n *Node) {
	kw := n.Keyword()
	switch kw {
	case "static_ipaddress", "static_routes", "static_rules":
		t.note(n, "%s: seesawd does not manage static addresses, routes or rules: configure them in the system's network configuration", kw)
	case "vrrp_track_process", "track_file", "vrrp_track_file":
		t.note(n, "%s: seesawd tracks interfaces (track_interfaces) and services (vrrp_track), not processes or files", kw)
	case "bfd_instance":
		t.note(n, "bfd_instance: seesawd has no BFD")
	case "garp_group":
		t.note(n, "garp_group: seesawd paces announcements per instance (garp.interval), not per interface group")
	case "linkbeat_interfaces", "linkbeat_use_polling":
		t.note(n, "%s: seesawd follows link state from netlink only", kw)
	case "interface_up_down_delays":
		t.note(n, "interface_up_down_delays: seesawd reacts to a tracked interface's state at once")
	case "track_group":
		t.note(n, "track_group: seesawd manages no static addresses to track")
	case "child_wait_time":
		t.note(n, "child_wait_time: seesawd is a single process")
	default:
		if slices.Contains(namespaceKeywords, kw) {
			t.note(n, namespaceNote, kw)
			return
		}
		t.note(n, "unknown keyword %s: keepalived rejects it too", kw)
	}
}
