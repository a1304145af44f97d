package kaimport

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/healthcheck"
)

// translate imports one file and parses the result as seesawd would.
func translate(t *testing.T, conf string) (*config.Config, []Note, string) {
	t.Helper()
	res, err := Import(mapFS(map[string]string{"k.conf": conf}), "k.conf", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range res.unhandled {
		t.Errorf("k.conf:%d: %q was not looked at", n.Line, n.String())
	}
	cfg, err := config.Parse(res.YAML)
	if err != nil {
		t.Fatalf("seesawd refuses the translation: %v\n%s", err, res.YAML)
	}
	return cfg, res.Notes, string(res.YAML)
}

// wantNote fails unless a note at line contains every part.
func wantNote(t *testing.T, notes []Note, line int, parts ...string) {
	t.Helper()
	for _, n := range notes {
		if n.Line != line {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(n.Text, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no note at line %d with %q; notes:\n%s", line, parts, strings.Join(notesText(notes), "\n"))
}

func noNoteAt(t *testing.T, notes []Note, line int) {
	t.Helper()
	for _, n := range notes {
		if n.Line == line {
			t.Errorf("unexpected note at line %d: %s", line, n.Text)
		}
	}
}

func TestTranslateCheckDefaults(t *testing.T) {
	// keepalived's defaults: delay_loop 60s, connect_timeout 5s, retry 1,
	// delay_before_retry 1s (3s for HTTP_GET); a real server is up after
	// one success.
	cfg, notes, _ := translate(t, `virtual_server 192.0.2.1 80 {
    protocol TCP
    real_server 10.0.0.1 80 {
        TCP_CHECK {
        }
    }
}
virtual_server 192.0.2.1 8080 {
    protocol TCP
    real_server 10.0.0.1 8080 {
        HTTP_GET {
            url {
                path /
            }
        }
    }
}
`)
	hc := cfg.Services[0].HealthCheck
	if *hc.Type != "tcp" || *hc.Interval != 60*time.Second || *hc.Timeout != 5*time.Second || *hc.Rise != 1 || *hc.Fall != 2 {
		t.Errorf("TCP_CHECK defaults: type %s interval %v timeout %v rise %d fall %d", *hc.Type, *hc.Interval, *hc.Timeout, *hc.Rise, *hc.Fall)
	}
	wantNote(t, notes, 4, "after 1s", "retry 1", "60s")
	wantNote(t, notes, 11, "after 3s", "retry 1")
	if cfg.Services[0].Scheduler != "wlc" || cfg.Services[0].Forward != "nat" {
		t.Errorf("scheduler %s forward %s, want keepalived's wlc and nat", cfg.Services[0].Scheduler, cfg.Services[0].Forward)
	}
}

func TestTranslateTimeoutNotBelowInterval(t *testing.T) {
	cfg, notes, y := translate(t, `virtual_server 192.0.2.1 80 {
    protocol TCP
    delay_loop 2
    real_server 10.0.0.1 80 {
        TCP_CHECK {
        }
    }
}
`)
	hc := cfg.Services[0].HealthCheck
	if *hc.Interval != 2*time.Second || *hc.Timeout != 1800*time.Millisecond {
		t.Errorf("interval %v timeout %v, want 2s and 1.8s", *hc.Interval, *hc.Timeout)
	}
	wantNote(t, notes, 5, "connect_timeout 5s is not below delay_loop 2s", "timeout 1.8s")
	if !strings.Contains(y, "# keepalived: connect_timeout 5s, not below delay_loop 2s\n      timeout: 1.8s") {
		t.Errorf("no comment above the adjusted timeout:\n%s", y)
	}
}

func TestTranslateProtocolDefaultsToUDP(t *testing.T) {
	cfg, notes, _ := translate(t, `virtual_server 192.0.2.1 53 {
    real_server 10.0.0.1 53 {
    }
}
`)
	if cfg.Services[0].Protocol != "udp" {
		t.Errorf("protocol %s, want udp as keepalived", cfg.Services[0].Protocol)
	}
	wantNote(t, notes, 1, "keepalived used UDP")
	if cfg.Services[0].HealthCheck != nil {
		t.Errorf("a real server with no checker got a check")
	}
}

func TestTranslateForwardingAndPorts(t *testing.T) {
	cfg, notes, _ := translate(t, `virtual_server 192.0.2.1 80 {
    protocol TCP
    lb_kind DR
    real_server 10.0.0.1 8080 {
    }
    real_server 10.0.0.2 {
    }
}
virtual_server fwmark 7 {
    lvs_method TUN type gue port 6080 csum
    real_server 10.0.0.1 80 {
    }
}
virtual_server fwmark 8 {
    lvs_method NAT
    real_server 10.0.0.1 8080 {
    }
}
`)
	s := cfg.Services
	if s[0].Forward != "dr" || s[0].Backends[0].Port != 80 && s[0].Backends[0].Port != 0 {
		t.Errorf("DR backend port %d, want the service's", s[0].Backends[0].Port)
	}
	wantNote(t, notes, 4, "port 8080", "dr forwarding cannot change the port")
	noNoteAt(t, notes, 6)
	if s[1].Forward != "tunnel" || s[1].Tunnel != (config.Tunnel{Type: "gue", Port: 6080, Checksum: "csum"}) {
		t.Errorf("tunnel %s %+v", s[1].Forward, s[1].Tunnel)
	}
	if s[1].Backends[0].Port != 0 {
		t.Errorf("tunnelled fwmark backend port %d, want 0", s[1].Backends[0].Port)
	}
	wantNote(t, notes, 11, "keeps the client's port")
	if s[2].Backends[0].Port != 8080 {
		t.Errorf("NAT fwmark backend port %d, want 8080", s[2].Backends[0].Port)
	}
}

// TestTranslateThresholds: the kernel refuses a lower threshold above the
// upper one, "no upper threshold" (0) included: keepalived's ADDDEST fails
// with ERANGE (seen in the VM lab). The translation keeps the backend.
func TestTranslateThresholds(t *testing.T) {
	cfg, notes, _ := translate(t, `virtual_server 192.0.2.1 80 {
    protocol TCP
    real_server 10.0.0.1 80 {
        lthreshold 10
    }
    real_server 10.0.0.2 80 {
        uthreshold 100
        lthreshold 10
    }
}
`)
	b := cfg.Services[0].Backends
	if b[0].LowerThreshold != 0 || b[1].UpperThreshold != 100 || b[1].LowerThreshold != 10 {
		t.Errorf("thresholds %d/%d and %d/%d", b[0].UpperThreshold, b[0].LowerThreshold, b[1].UpperThreshold, b[1].LowerThreshold)
	}
	wantNote(t, notes, 3, "ERANGE")
	noNoteAt(t, notes, 6)
}

func TestTranslatePersistenceAndFlags(t *testing.T) {
	cfg, notes, _ := translate(t, `virtual_server 192.0.2.1 80 {
    protocol TCP
    lb_algo sh
    flag-1
    flag-2
    persistence_granularity 255.255.255.0
    real_server 10.0.0.1 80 {
    }
}
virtual_server 192.0.2.1 81 {
    protocol TCP
    lb_algo rr
    sh-port
    persistence_timeout
    persistence_granularity 255.0.255.0
    real_server 10.0.0.1 81 {
    }
}
`)
	a, b := cfg.Services[0], cfg.Services[1]
	if diff := cmp.Diff([]string{"sh-fallback", "sh-port"}, a.SchedulerFlags); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
	// Granularity alone makes the service persistent for keepalived's 360s.
	if a.Persistence.Timeout != 360*time.Second || a.Persistence.Netmask != 24 {
		t.Errorf("persistence %+v", a.Persistence)
	}
	if len(b.SchedulerFlags) != 0 || b.Persistence.Timeout != 360*time.Second || b.Persistence.Netmask != 0 {
		t.Errorf("second service: flags %v persistence %+v", b.SchedulerFlags, b.Persistence)
	}
	wantNote(t, notes, 13, "sh-port", "no effect with scheduler rr")
	wantNote(t, notes, 15, "contiguous netmask")
}

func TestTranslateOnFailure(t *testing.T) {
	cfg, notes, _ := translate(t, `virtual_server 192.0.2.1 80 {
    protocol TCP
    inhibit_on_failure
    real_server 10.0.0.1 80 {
    }
}
virtual_server 192.0.2.1 81 {
    protocol TCP
    real_server 10.0.0.1 81 {
        inhibit_on_failure
    }
    real_server 10.0.0.2 81 {
        inhibit_on_failure yes
    }
    real_server 10.0.0.3 81 {
    }
}
`)
	if cfg.Services[0].OnFailure != "weight0" || cfg.Services[1].OnFailure != "weight0" {
		t.Errorf("on_failure %s %s, want weight0 twice", cfg.Services[0].OnFailure, cfg.Services[1].OnFailure)
	}
	wantNote(t, notes, 15, "10.0.0.3", "would remove it on failure")
}

func TestTranslateQuorum(t *testing.T) {
	for _, tc := range []struct {
		name         string
		weights      []int
		quorum, hyst int
		wantQ, wantH int
		note         string
	}{
		{"count", []int{1, 1, 1, 1}, 3, 1, 3, 1, ""},
		{"equal weights", []int{100, 100, 100}, 200, 100, 2, 1, ""},
		{"weights that count the same", []int{10, 5}, 15, 0, 2, 0, ""},
		{"quorum above the total", []int{1, 1}, 5, 0, 2, 0, "lowers it to 2"},
		{"hysteresis not below quorum", []int{1, 1, 1, 1}, 2, 3, 2, 1, "lowers it to 1"},
		{"lines an odd distance apart", []int{2, 2, 2, 2}, 4, 1, 2, 0, "the nearest"},
		{"unequal weights", []int{10, 1, 1, 1}, 11, 0, 3, 1, "up at 4 backends, down below 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			fmt.Fprintf(&b, "virtual_server 192.0.2.1 80 {\n    protocol TCP\n    quorum %d\n    hysteresis %d\n", tc.quorum, tc.hyst)
			for i, w := range tc.weights {
				fmt.Fprintf(&b, "    real_server 10.0.0.%d 80 {\n        weight %d\n    }\n", i+1, w)
			}
			b.WriteString("}\n")
			cfg, notes, _ := translate(t, b.String())
			s := cfg.Services[0]
			if q := *s.Quorum; q != tc.wantQ || s.QuorumHysteresis != tc.wantH {
				t.Errorf("quorum %d hysteresis %d, want %d %d", q, s.QuorumHysteresis, tc.wantQ, tc.wantH)
			}
			if tc.note != "" {
				wantNote(t, notes, 3, tc.note)
			} else {
				noNoteAt(t, notes, 3)
			}
		})
	}
}

func TestTranslateTrackInterfaces(t *testing.T) {
	cfg, notes, y := translate(t, `vrrp_sync_group G {
    group {
        B
    }
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    priority 100
    track_interface {
        eth0
        eth1 weight 10
        eth2 weight -20
        eth3
        eth4 weight 5 reverse
    }
    virtual_ipaddress {
        192.0.2.1
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    track_interface {
        eth1 weight -20
    }
    virtual_ipaddress {
        192.0.2.2
    }
}
vrrp_instance C {
    interface eth0
    virtual_router_id 3
    priority 255
    track_interface {
        eth1 weight -20
        eth2
    }
    virtual_ipaddress {
        192.0.2.3
    }
}
`)
	a, b, c := cfg.VRRP[0], cfg.VRRP[1], cfg.VRRP[2]
	// +10 while eth1 is up in keepalived = priority 110, -10 while down here.
	if *a.Priority != 110 {
		t.Errorf("A priority %d, want 110", *a.Priority)
	}
	want := []config.TrackInterface{{Name: "eth1", Weight: 10}, {Name: "eth2", Weight: 20}, {Name: "eth3"}}
	if diff := cmp.Diff(want, a.TrackInterfaces); diff != "" {
		t.Errorf("A tracks (-want +got):\n%s", diff)
	}
	wantNote(t, notes, 15, "reverse")
	noNoteAt(t, notes, 11) // its own interface: tracked anyway
	if !strings.Contains(y, "# keepalived priority 100 plus 10") {
		t.Errorf("no comment on the raised priority:\n%s", y)
	}
	// In a sync group keepalived zeroes the weight.
	if diff := cmp.Diff([]config.TrackInterface{{Name: "eth1"}}, b.TrackInterfaces); diff != "" {
		t.Errorf("B tracks (-want +got):\n%s", diff)
	}
	wantNote(t, notes, 25, "sync group")
	// The address owner ignores weighted interfaces.
	if diff := cmp.Diff([]config.TrackInterface{{Name: "eth2"}}, c.TrackInterfaces); diff != "" {
		t.Errorf("C tracks (-want +got):\n%s", diff)
	}
	wantNote(t, notes, 36, "priority 255")
}

func TestTranslateVRRPInstance(t *testing.T) {
	cfg, notes, _ := translate(t, `global_defs {
    vrrp_strict
    vrrp_garp_master_repeat 2
}
vrrp_instance A {
    state MASTER
    interface eth0
    virtual_router_id 10
    nopreempt
    preempt_delay 5
    advert_int 0.015
    unicast_peer {
        192.0.2.20
        192.0.2.21 min_ttl 250
    }
    virtual_ipaddress {
        192.0.2.1/24 dev eth1
        192.0.2.1/24
        192.0.2.2/24 brd + scope global
    }
    virtual_ipaddress_excluded {
        198.51.100.1/24
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 11
    nopreempt
    advert_int 100
    version 3
    unicast_peer {
        2001:db8::99
    }
    virtual_ipaddress {
        192.0.2.3
    }
}
vrrp_instance NoVRID {
    interface eth0
    virtual_ipaddress {
        192.0.2.4
    }
}
vrrp_instance NoVIP {
    interface eth0
    virtual_router_id 12
}
vrrp_instance SameVRID {
    interface eth0
    virtual_router_id 10
    virtual_ipaddress {
        192.0.2.5
    }
}
vrrp_instance V6 {
    interface eth0
    virtual_router_id 10
    virtual_ipaddress {
        2001:db8::10
    }
}
`)
	if len(cfg.VRRP) != 3 {
		t.Fatalf("%d instances, want A, B and V6", len(cfg.VRRP))
	}
	a, b, v6 := cfg.VRRP[0], cfg.VRRP[1], cfg.VRRP[2]
	// state MASTER makes keepalived ignore nopreempt and preempt_delay.
	if !*a.Preempt || a.PreemptDelay != 0 {
		t.Errorf("A preempt %v delay %v, want preempt and no delay", *a.Preempt, a.PreemptDelay)
	}
	wantNote(t, notes, 9, "state MASTER")
	wantNote(t, notes, 10, "state MASTER")
	// keepalived rounds a VRRPv2 interval to whole seconds.
	if a.AdvertInterval != time.Second {
		t.Errorf("A advert %v, want 1s", a.AdvertInterval)
	}
	wantNote(t, notes, 11, "rounds it to 1s for VRRPv2")
	if *a.Accept {
		t.Errorf("A accepts, but vrrp_strict turns accept mode off")
	}
	if diff := cmp.Diff([]string{"192.0.2.20", "192.0.2.21"}, a.UnicastPeers); diff != "" {
		t.Errorf("peers (-want +got):\n%s", diff)
	}
	wantNote(t, notes, 14, "min_ttl 250")
	if diff := cmp.Diff([]string{"192.0.2.1/24", "192.0.2.2/24", "198.51.100.1/24"}, a.VirtualIPs); diff != "" {
		t.Errorf("VIPs (-want +got):\n%s", diff)
	}
	wantNote(t, notes, 17, "dev eth1")
	wantNote(t, notes, 18, "listed twice")
	wantNote(t, notes, 19, "brd +, scope global")
	wantNote(t, notes, 21, "excluded")
	if *a.GARP.Count != 2 {
		t.Errorf("garp count %d, want vrrp_garp_master_repeat 2", *a.GARP.Count)
	}
	wantNote(t, notes, 5, "VRRPv2")
	if *b.Preempt || b.AdvertInterval != 40950*time.Millisecond {
		t.Errorf("B preempt %v advert %v", *b.Preempt, b.AdvertInterval)
	}
	noNoteAt(t, notes, 25) // version 3: no VRRPv2 note
	wantNote(t, notes, 29, "at most 40.95s")
	wantNote(t, notes, 32, "no address of its family")
	if len(b.UnicastPeers) != 0 {
		t.Errorf("B peers %v, want none", b.UnicastPeers)
	}
	wantNote(t, notes, 38, "virtual_router_id")
	wantNote(t, notes, 44, "no virtual address")
	wantNote(t, notes, 48, "already used on eth0 by A")
	if v6.Name != "V6" {
		t.Errorf("an IPv6 instance may share a VRID with an IPv4 one: got %s", v6.Name)
	}
	noNoteAt(t, notes, 55) // IPv6: VRRPv3 in keepalived too
	// VRRPv3 rounds to 10ms, halves up.
	cfg, notes, _ = translate(t, "vrrp_instance C {\n interface eth0\n virtual_router_id 1\n version 3\n advert_int 0.015\n"+
		" virtual_ipaddress {\n  192.0.2.1\n }\n}\n")
	if cfg.VRRP[0].AdvertInterval != 20*time.Millisecond {
		t.Errorf("C advert %v, want 20ms", cfg.VRRP[0].AdvertInterval)
	}
	wantNote(t, notes, 5, "rounds it to 20ms for VRRPv3")
}

func TestTranslateHealthChecks(t *testing.T) {
	cfg, notes, _ := translate(t, `virtual_server 192.0.2.1 80 {
    protocol TCP
    delay_loop 10
    virtualhost vs.example
    real_server 10.0.0.1 80 {
        HTTP_GET {
            url {
                path /a
                status_code 200 300-302
                regex "^ok$"
                regex_options caseless dotall
                virtualhost url.example
            }
            url {
                path /b
            }
            connect_port 8080
            bindto 10.0.0.254
        }
    }
    real_server 10.0.0.2 80 {
        alpha
        HTTP_GET {
            url {
                path /a
                status_code 200 300-302
                regex "^ok$"
                regex_options caseless dotall
                virtualhost url.example
            }
            connect_port 8080
            bindto 10.0.0.254
        }
        TCP_CHECK {
        }
    }
    real_server 10.0.0.3 80 {
    }
}
virtual_server 192.0.2.1 443 {
    protocol TCP
    real_server 10.0.0.1 443 {
        SSL_GET {
            url {
                path health
                regex_no_match
                regex "x"
            }
        }
    }
}
virtual_server 192.0.2.1 53 {
    protocol UDP
    real_server 10.0.0.1 53 {
        DNS_CHECK {
        }
    }
    real_server 10.0.0.2 53 {
        UDP_CHECK {
            payload 48454c4c4f
            require_reply 4f4b
        }
    }
}
`)
	web := cfg.Services[0]
	hc := web.HealthCheck
	if *hc.Type != "http" || *hc.Port != 8080 || *hc.Path != "/a" || *hc.Host != "url.example" ||
		*hc.ExpectBody != "(?is)^ok$" || *hc.Source != "10.0.0.254" {
		t.Errorf("web check %s port %d path %s host %s body %s source %s", *hc.Type, *hc.Port, *hc.Path, *hc.Host, *hc.ExpectBody, *hc.Source)
	}
	if diff := cmp.Diff([]any{200, "300-302"}, hc.ExpectStatus); diff != "" {
		t.Errorf("expect_status (-want +got):\n%s", diff)
	}
	wantNote(t, notes, 14, "url /b", "not checked")
	// The second backend's alpha only applies to it; its TCP_CHECK is dropped.
	if o := web.Backends[1].HealthCheck; o == nil || o.Initial == nil || *o.Initial != "down" || o.Type != nil {
		t.Errorf("second backend override %+v, want only initial: down", o)
	}
	wantNote(t, notes, 34, "TCP_CHECK", "one check per backend")
	if o := web.Backends[2].HealthCheck; o == nil || *o.Type != "none" {
		t.Errorf("a real server with no checker must not inherit the service's check: %+v", o)
	}
	tls := cfg.Services[1].HealthCheck
	if *tls.Type != "https" || !*tls.Insecure || *tls.Path != "/health" || tls.ExpectBody != nil {
		t.Errorf("tls check %s insecure %v path %s body %v", *tls.Type, *tls.Insecure, *tls.Path, tls.ExpectBody)
	}
	wantNote(t, notes, 43, "never verifies")
	wantNote(t, notes, 47, "regex_no_match")
	// What each backend really runs: the service's check with its override.
	dns := cfg.Engine().Services[2].Backends
	if d := dns[0].Check; d == nil || d.Type != healthcheck.TypeDNS || d.DNS.Name != "." || d.DNS.QType != dnsmessage.TypeSOA || d.Fall != 4 {
		t.Errorf("DNS_CHECK defaults: %+v", d)
	}
	if u := dns[1].Check; u == nil || u.Type != healthcheck.TypeUDP || string(u.UDP.Payload) != "HELLO" ||
		string(u.UDP.Expect) != "OK" || u.UDP.Match != healthcheck.MatchPrefix || u.Fall != 2 {
		t.Errorf("UDP_CHECK: %+v", u)
	}
}

func TestTranslateSorryServer(t *testing.T) {
	cfg, notes, _ := translate(t, `virtual_server 192.0.2.1 80 {
    protocol TCP
    sorry_server 10.0.0.9 8080
    real_server 10.0.0.1 80 {
    }
}
virtual_server 192.0.2.1 81 {
    protocol TCP
    lb_kind DR
    sorry_server 10.0.0.9 8080
    real_server 10.0.0.1 81 {
    }
}
virtual_server 192.0.2.1 82 {
    protocol TCP
    sorry_server 10.0.0.1
    real_server 10.0.0.1 82 {
    }
}
virtual_server 192.0.2.1 80 {
    protocol TCP
    real_server 10.0.0.5 80 {
    }
}
`)
	if len(cfg.Services) != 3 {
		t.Fatalf("%d services, want the duplicate left out", len(cfg.Services))
	}
	if cfg.Services[0].SorryServer != "10.0.0.9:8080" || cfg.Services[1].SorryServer != "10.0.0.9" || cfg.Services[2].SorryServer != "" {
		t.Errorf("sorry servers %q %q %q", cfg.Services[0].SorryServer, cfg.Services[1].SorryServer, cfg.Services[2].SorryServer)
	}
	wantNote(t, notes, 10, "keeps the service's port")
	wantNote(t, notes, 16, "also a real server")
	wantNote(t, notes, 20, "already configured at k.conf:1")
}

func TestTranslateVirtualServerGroup(t *testing.T) {
	cfg, notes, _ := translate(t, `virtual_server_group G {
    192.0.2.1-3 80
    192.0.2.8/31 443
    2001:db8::a-b 80
    fwmark 5 inet6
    192.0.2.99-1 80
}
virtual_server group G {
    protocol TCP
    lb_kind TUN
    real_server 2001:db8:1::1 80 {
    }
}
virtual_server_group Unused {
    192.0.2.50 80
}
`)
	var names []string
	for _, s := range cfg.Services {
		names = append(names, s.Name)
	}
	want := []string{"192_0_2_1-80", "192_0_2_2-80", "192_0_2_3-80", "192_0_2_8-443", "192_0_2_9-443",
		"2001_db8__a-80", "2001_db8__b-80", "fwmark-5-ipv6"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	wantNote(t, notes, 6, "not an address range")
	wantNote(t, notes, 8, "one service per address and port of the group (8)")
	wantNote(t, notes, 14, "no virtual_server uses it")
}

func TestTranslateGlobals(t *testing.T) {
	cfg, notes, _ := translate(t, `global_defs {
    router_id lb-7
    lvs_timeouts tcp 900 tcpfin 30 udp 60
    lvs_flush_on_stop
    lvs_sync_daemon eth1
    some_future_keyword 1
}
static_routes {
    10.0.0.0/8 via 192.0.2.254
}
bogus
`)
	if cfg.Node.Name != "lb-7" || !cfg.IPVS.RemoveOnStop {
		t.Errorf("node %q remove_on_stop %v", cfg.Node.Name, cfg.IPVS.RemoveOnStop)
	}
	if want := (config.Timeouts{TCP: 900 * time.Second, TCPFin: 30 * time.Second, UDP: 60 * time.Second}); cfg.IPVS.Timeouts != want {
		t.Errorf("timeouts %+v", cfg.IPVS.Timeouts)
	}
	wantNote(t, notes, 5, "sync daemon")
	wantNote(t, notes, 6, "some_future_keyword", "not translated")
	wantNote(t, notes, 8, "static")
	wantNote(t, notes, 11, "unknown keyword bogus")
}
