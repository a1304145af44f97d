package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

const vrrpFront = `vrrp:
  - name: front
    interface: eth0
    vrid: 51
    virtual_ips: [192.0.2.100/24, "2001:db8::100/64"]
`

// svcYAML is a valid service; cases append keys to it or to its backends.
func svcYAML(extra string) string {
	return vrrpFront + `services:
  - name: web
    vip: 192.0.2.100
    port: 80
` + extra
}

const twoBackends = `    backends:
      - { address: 10.0.1.10, port: 8080, weight: 100 }
      - { address: 10.0.1.11, port: 8080 }
`

func TestServicesToEngine(t *testing.T) {
	c, err := Parse([]byte(svcYAML(`    protocol: tcp
    scheduler: mh
    scheduler_flags: [mh-port]
    persistence: { timeout: 300s, netmask: 24 }
    quorum: 2
    sorry_server: 10.0.9.9
    on_failure: weight0
    drain_timeout: 10s
    vrrp_track: { instance: front, weight: 50 }
    healthcheck: { type: http, port: 9000, path: /healthz, expect_status: [200, "300-302"], interval: 1s, timeout: 500ms }
    backends:
      - { address: 10.0.1.10, port: 8080, weight: 100 }
      - { address: 10.0.1.11, port: 8080, drain: true, healthcheck: { path: /other, initial: down } }
`)))
	if err != nil {
		t.Fatal(err)
	}
	ec := c.Engine()
	if ec.ResyncInterval != 30*time.Second || len(ec.Services) != 1 {
		t.Fatalf("engine config %+v", ec)
	}
	s := ec.Services[0]
	wantSvc := ipvs.Service{Family: ipvs.IPv4, Protocol: ipvs.TCP, Address: netip.MustParseAddr("192.0.2.100"), Port: 80,
		Scheduler: "mh", Flags: ipvs.MHPort | ipvs.Persistent, Timeout: 300, Netmask: 24}
	if s.IPVS != wantSvc {
		t.Errorf("ipvs service = %+v, want %+v", s.IPVS, wantSvc)
	}
	if s.Quorum != 2 || s.OnFailure != engine.FailWeight0 || s.DrainTimeout != 10*time.Second ||
		s.Track == nil || s.Track.Instance != "front" || s.Track.Weight != 50 || !slices.Equal(s.Track.Instances, []string{"front"}) {
		t.Errorf("service = %+v", s)
	}
	if s.Sorry == nil || s.Sorry.Address != netip.MustParseAddr("10.0.9.9") || s.Sorry.Port != 80 || s.Sorry.Weight != 1 {
		t.Errorf("sorry = %+v", s.Sorry)
	}
	b0, b1 := s.Backends[0], s.Backends[1]
	if b0.Dest.Weight != 100 || b0.Dest.Forward != ipvs.Masquerade || b1.Dest.Weight != 1 || !b1.Drain {
		t.Errorf("backends = %+v %+v", b0, b1)
	}
	if b0.Check.Target != netip.MustParseAddrPort("10.0.1.10:9000") || b0.Check.HTTP.Path != "/healthz" ||
		b0.Check.Interval != time.Second || len(b0.Check.HTTP.Status) != 2 || b0.Check.Initial != healthcheck.StateUnknown {
		t.Errorf("check 0 = %+v %+v", b0.Check, b0.Check.HTTP)
	}
	// The override changes the path and the initial state, and keeps the rest.
	if b1.Check.HTTP.Path != "/other" || b1.Check.Initial != healthcheck.StateDown || b1.Check.Target.Port() != 9000 {
		t.Errorf("check 1 = %+v %+v", b1.Check, b1.Check.HTTP)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
}

// TestVRRPTrackLowersTheSyncGroup: lowering one member of a sync group
// alone would make the group flap between nodes.
func TestVRRPTrackLowersTheSyncGroup(t *testing.T) {
	c, err := Parse([]byte(vrrpFront + `  - { name: back, interface: eth1, vrid: 52, virtual_ips: [10.0.1.254/24] }
  - { name: other, interface: eth2, vrid: 53, virtual_ips: [10.0.2.254/24] }
sync_groups: [{ name: lb, instances: [front, back] }]
services:
  - { name: web, vip: 192.0.2.100, port: 80, vrrp_track: { instance: front, weight: 60 }, backends: [{ address: 10.0.1.10 }] }
  - { name: api, vip: 192.0.2.100, port: 81, vrrp_track: { instance: other, weight: 10 }, backends: [{ address: 10.0.1.10 }] }
`))
	if err != nil {
		t.Fatal(err)
	}
	ss := c.Engine().Services
	if got := ss[0].Track.Instances; !slices.Equal(got, []string{"front", "back"}) {
		t.Errorf("web lowers %v, want the sync group [front back]", got)
	}
	if got := ss[1].Track.Instances; !slices.Equal(got, []string{"other"}) {
		t.Errorf("api lowers %v, want [other]", got)
	}
}

func TestServiceDefaults(t *testing.T) {
	c, err := Parse([]byte(svcYAML("    backends: [{ address: 10.0.1.10 }]\n")))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Engine().Services[0]
	if s.IPVS.Scheduler != "wlc" || s.IPVS.Protocol != ipvs.TCP || s.Quorum != 1 || s.OnFailure != engine.FailRemove ||
		s.DrainTimeout != DefaultDrainTimeout || s.Backends[0].Dest.Port != 80 || s.Backends[0].Dest.Weight != 1 ||
		s.Backends[0].Check != nil {
		t.Errorf("defaults: %+v", s)
	}
	if c.IPVS.StateFile != DefaultStateFile || c.IPVS.CheckMarks.First != DefaultCheckMarkFirst {
		t.Errorf("ipvs defaults: %+v", c.IPVS)
	}
}

func TestFWMarkAndTunnel(t *testing.T) {
	c, err := Parse([]byte(vrrpFront + `services:
  - name: marked
    fwmark: 7
    family: ipv6
    forward: tunnel
    tunnel: { type: gue, port: 6080, checksum: remcsum }
    healthcheck: { type: tcp, port: 443 }
    backends: [{ address: 10.0.1.10 }, { address: "2001:db8::10" }]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Engine().Services[0]
	if s.IPVS.Key() != (ipvs.ServiceKey{Family: ipvs.IPv6, FWMark: 7}) {
		t.Errorf("key %v", s.IPVS.Key())
	}
	d := s.Backends[0].Dest
	if d.Forward != ipvs.Tunnel || d.TunnelType != ipvs.GUE || d.TunnelPort != 6080 || d.TunnelFlags != ipvs.TunnelRemoteChecksum {
		t.Errorf("dest %+v", d)
	}
	if s.Backends[0].Check.Target != netip.MustParseAddrPort("10.0.1.10:443") {
		t.Errorf("check target %v", s.Backends[0].Check.Target)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("an fwmark service needs no VIP on VRRP: %v", c.Warnings)
	}
}

func TestVIPOnNoInstanceIsAWarning(t *testing.T) {
	c, err := Parse([]byte(vrrpFront + `services:
  - { name: anycast, vip: 198.51.100.1, port: 53, protocol: udp, backends: [{ address: 10.0.1.10 }] }
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0].String(), "services[0].vip: 198.51.100.1 is on no VRRP instance") ||
		c.Warnings[0].Line != 7 {
		t.Errorf("warnings = %+v", c.Warnings)
	}
}

func TestServiceErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"duplicate service", svcYAML(twoBackends) + "  - { name: web2, vip: 192.0.2.100, port: 80, backends: [{address: 10.0.1.12}] }\n",
			[]string{"services[1]: tcp 192.0.2.100:80 is already configured by services[0]"}},
		{"duplicate fwmark", vrrpFront + "services:\n  - { name: a, fwmark: 3, backends: [{address: 10.0.1.1, port: 80}] }\n" +
			"  - { name: b, fwmark: 3, backends: [{address: 10.0.1.2, port: 80}] }\n",
			[]string{"services[1]: fwmark 3 inet is already configured by services[0]"}},
		{"duplicate name", svcYAML(twoBackends) + "  - { name: web, vip: 192.0.2.100, port: 81, backends: [{address: 10.0.1.12}] }\n",
			[]string{`services[1].name: "web" is already the name of services[0]`}},
		{"port on fwmark", vrrpFront + "services:\n  - { name: a, fwmark: 3, port: 80, backends: [{address: 10.0.1.1, port: 80}] }\n",
			[]string{"services[0].port: an fwmark service has no port"}},
		{"nat cannot cross families", svcYAML("    backends: [{ address: \"2001:db8::1\" }]\n"),
			[]string{"services[0].backends[0].address: 2001:db8::1 is IPv6 but the service is IPv4: only forward: tunnel"}},
		{"dr cannot change the port", svcYAML("    forward: dr\n    backends: [{ address: 10.0.1.1, port: 8080 }]\n"),
			[]string{"services[0].backends[0].port: 8080 differs from the service port 80: dr forwarding cannot change the port"}},
		{"unknown vrrp_track instance", svcYAML("    vrrp_track: { instance: back, weight: 10 }\n" + twoBackends),
			[]string{`services[0].vrrp_track.instance: unknown VRRP instance "back"`}},
		{"flag of another scheduler", svcYAML("    scheduler: wrr\n    scheduler_flags: [sh-port]\n" + twoBackends),
			[]string{`services[0].scheduler_flags[0]: "sh-port" is not a flag of scheduler wrr (it takes: none)`}},
		{"unknown scheduler", svcYAML("    scheduler: fastest\n" + twoBackends), []string{`services[0].scheduler: "fastest" is not an IPVS scheduler`}},
		{"quorum above backends", svcYAML("    quorum: 3\n" + twoBackends),
			[]string{"services[0].quorum: 3 but 2 backend(s): the service could never be up"}},
		{"duplicate backend", svcYAML("    backends: [{ address: 10.0.1.1 }, { address: 10.0.1.1, port: 80 }]\n"),
			[]string{"services[0].backends[1]: 10.0.1.1:80 is already backends[0]"}},
		{"through_vip needs dr", svcYAML("    healthcheck: { type: tcp, through_vip: true }\n" + twoBackends),
			[]string{"services[0].healthcheck.through_vip: needs forward: dr or tunnel"}},
		{"check timeout not below interval", svcYAML("    healthcheck: { type: tcp, interval: 1s, timeout: 2s }\n" + twoBackends),
			[]string{"services[0].healthcheck.timeout: 2s must be below interval 1s"}},
		{"backend override names its path", svcYAML("    healthcheck: { type: tcp }\n    backends:\n      - { address: 10.0.1.1, healthcheck: { rise: 0 } }\n"),
			[]string{"services[0].backends[0].healthcheck.rise: must be at least 1, got 0"}},
		{"option of another check type", svcYAML("    healthcheck: { type: tcp, path: /x }\n" + twoBackends),
			[]string{"services[0].healthcheck.path: applies to http/https checks, not tcp"}},
		{"no unit on a duration", svcYAML("    drain_timeout: 30\n" + twoBackends),
			[]string{"services[0].drain_timeout: 30 has no unit"}},
		{"metrics listen not an address", "metrics: { listen: \"nowhere\" }\n", []string{"metrics.listen: \"nowhere\" is not host:port"}},
		{"control socket relative", "control: { socket: seesawd.sock }\n", []string{"control.socket: \"seesawd.sock\" is not an absolute path"}},
		{"udp timeout not whole seconds", "ipvs: { timeouts: { udp: 400ms } }\n",
			[]string{"ipvs.timeouts.udp: 400ms is not a whole number of seconds"}},
		{"fwmark in the check range", vrrpFront + "services:\n  - { name: a, fwmark: 0x5eed0001, backends: [{address: 10.0.1.1, port: 80}] }\n",
			[]string{"services[0].fwmark: 1592590337 is in ipvs.check_marks"}},
		{"sorry server across families", svcYAML("    sorry_server: \"[2001:db8::9]:80\"\n" + twoBackends),
			[]string{"services[0].sorry_server: 2001:db8::9 is IPv6 but the service is IPv4"}},
		{"gue without port", svcYAML("    forward: tunnel\n    tunnel: { type: gue }\n    backends: [{ address: 10.0.1.1 }]\n"),
			[]string{"services[0].tunnel.port: gue needs the backends' GUE port"}},
		{"sip engine on tcp", svcYAML("    persistence: { timeout: 60s, engine: sip }\n" + twoBackends),
			[]string{"services[0].persistence.engine: the sip engine needs protocol udp"}},
		{"missing backends", svcYAML(""), []string{"services[0].backends: at least one backend required"}},
		{"service not a mapping", vrrpFront + "services: [web]\n", []string{"services[0]: expected a mapping, got string web"}},
		{"services not a list", vrrpFront + "services: web\n", []string{"services: "}},
		{"lower threshold alone", svcYAML("    backends: [{ address: 10.0.1.1, lower_threshold: 5 }]\n"),
			[]string{"services[0].backends[0].lower_threshold: 5 is above upper_threshold 0 (set upper_threshold too)"}},
		{"backend keys decoded by hand keep their paths", svcYAML("    backends:\n      - { address: 10.0.1.1, colour: red, port: eighty, weight: 1.5, drain: yes-please }\n" +
			"      - { address: 10.0.1.2, healthcheck: { type: tcp, rise: x, bogus: 1 } }\n"),
			[]string{"services[0].backends[0].colour: unknown key", "services[0].backends[0].drain: expected true or false",
				"services[0].backends[0].port: expected an integer", "services[0].backends[0].weight: expected an integer",
				"services[0].backends[1].healthcheck.bogus: unknown key", "services[0].backends[1].healthcheck.rise: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblems(t, tt.yaml, tt.want, func(p Problem) bool { return p.Path != "" && !strings.HasPrefix(p.Path, "ipvs") })
		})
	}
}

// wantProblems parses yaml and checks that its problems start with want,
// in order, and that those for which needLine holds have a line.
func wantProblems(t *testing.T, yaml string, want []string, needLine func(Problem) bool) {
	t.Helper()
	_, err := Parse([]byte(yaml))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse error = %v, want *Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
		if p.Line == 0 && needLine(p) {
			t.Errorf("problem %q has no line", p)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d: %q", strings.Join(got, "\n"), len(want), want)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("problem %d = %q, want prefix %q", i, got[i], w)
		}
	}
}

func TestDuplicateAndCaseFoldedKeysRefusedWithLines(t *testing.T) {
	for _, tt := range []struct {
		yaml, want string
		line       int
	}{
		{"vrrp:\n  - name: a\n    interface: eth0\n    vrid: 1\n    VRID: 2\n    virtual_ips: [10.0.0.1]\n",
			`vrrp[0].vrid: keys "vrid" (line 4) and "VRID" differ only in case`, 5},
		{"log: { level: info }\nlog: { level: debug }\n", `log: key "log" given twice (first at line 1)`, 2},
	} {
		_, err := Parse([]byte(tt.yaml))
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 {
			t.Fatalf("Parse(%q) = %v, want one problem", tt.yaml, err)
		}
		if p := ce.Problems[0]; !strings.HasPrefix(p.String(), tt.want) || p.Line != tt.line {
			t.Errorf("problem = %q at line %d, want %q at line %d", p, p.Line, tt.want, tt.line)
		}
	}
}

func TestErrorsCarryLinesAndFile(t *testing.T) {
	_, err := Load("testdata/bad.yaml")
	if err == nil || !strings.Contains(err.Error(), "testdata/bad.yaml:4: vrrp[0].vrid: 300 out of range 1-255") {
		t.Errorf("Load error = %v", err)
	}
}

// TestCheckConfigMatchesStart builds what the daemon builds at start from
// files the check accepts: what passes --check-config must start.
func TestCheckConfigMatchesStart(t *testing.T) {
	var vips []string
	for i := range 256 {
		vips = append(vips, fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
	}
	_, err := Parse([]byte("vrrp: [{name: a, interface: eth0, vrid: 1, virtual_ips: [" + strings.Join(vips, ", ") + "]}]\n"))
	if err == nil || !strings.Contains(err.Error(), "vrrp[0].virtual_ips: 256 ipv4 addresses; one VRRP advertisement carries at most 255") {
		t.Errorf("256 VIPs: %v", err)
	}
	c, err := Load("../../configs/seesawd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Engine().Services {
		for _, b := range s.Backends {
			if b.Check == nil {
				continue
			}
			if err := b.Check.Validate(); err != nil {
				t.Errorf("check of %s accepted by config but refused by healthcheck: %v", s.Name, err)
			}
			if b.Check.Type != healthcheck.TypeHTTP {
				t.Errorf("example check type %v", b.Check.Type)
			}
		}
	}
}
