package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seesawd/seesawd/pkg/vrrp"
)

const valid = `
node: { name: lb1 }
log: { level: debug, format: json }
vrrp:
  - name: front
    interface: eth0
    vrid: 51
    priority: 150
    advert_interval: 100ms
    preempt: false
    preempt_delay: 2s
    accept: true
    unicast_peers: [192.0.2.2, "fe80::2"]
    checksum: ipv4-no-pseudo-header
    garp: { count: 5, interval: 50ms, refresh: 10s }
    track_interfaces: [{ name: eth1, weight: 0 }, { name: eth2, weight: 20 }]
    virtual_ips: [192.0.2.100/24, "2001:db8::100/64", 192.0.2.101]
  - name: back
    interface: eth1
    vrid: 51
    virtual_ips: [198.51.100.1/24]
sync_groups: [{ name: g1, instances: [front, back] }]
`

func TestParseValid(t *testing.T) {
	c, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	insts, groups := c.VRRPInstances()
	pfx := netip.MustParsePrefix
	front := vrrp.InstanceConfig{
		Name: "front", Interface: "eth0", VRID: 51, Priority: 150, AdvertInterval: 100 * time.Millisecond,
		PreemptDelay: 2 * time.Second, Accept: true, Checksum: vrrp.ChecksumIPv4NoPseudoHeader,
		GARP:            vrrp.GARPConfig{Count: 5, Interval: 50 * time.Millisecond, Refresh: 10 * time.Second},
		TrackInterfaces: []vrrp.TrackInterface{{Name: "eth1"}, {Name: "eth2", Weight: 20}},
	}
	f4, f6 := front, front
	f4.Family, f6.Family = vrrp.IPv4, vrrp.IPv6
	f4.VirtualIPs = []netip.Prefix{pfx("192.0.2.100/24"), pfx("192.0.2.101/32")}
	f4.UnicastPeers = []netip.Addr{netip.MustParseAddr("192.0.2.2")}
	f6.VirtualIPs = []netip.Prefix{pfx("2001:db8::100/64")}
	f6.UnicastPeers = []netip.Addr{netip.MustParseAddr("fe80::2")}
	back := vrrp.InstanceConfig{
		Name: "back", Family: vrrp.IPv4, Interface: "eth1", VRID: 51, Priority: 100, AdvertInterval: time.Second,
		Preempt: true, Accept: true, GARP: vrrp.GARPConfig{Count: 3, Interval: 100 * time.Millisecond},
		VirtualIPs: []netip.Prefix{pfx("198.51.100.1/24")},
	}
	want := []vrrp.InstanceConfig{f4, f6, back}
	opts := cmp.Options{cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })}
	if diff := cmp.Diff(want, insts, opts); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]vrrp.SyncGroup{{Name: "g1", Instances: []string{"front", "back"}}}, groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if c.Node.Name != "lb1" || c.Log.Level != "debug" || c.Log.Format != "json" {
		t.Errorf("node/log = %+v %+v", c.Node, c.Log)
	}
	if err := (&vrrp.Config{Instances: insts, SyncGroups: groups}).Validate(); err != nil {
		t.Errorf("converted config does not validate in pkg/vrrp: %v", err)
	}
}

func TestExampleFile(t *testing.T) {
	c, err := Load("../../configs/seesawd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	insts, _ := c.VRRPInstances()
	if len(insts) != 2 {
		t.Errorf("example has %d protocol instances, want ipv4 and ipv6", len(insts))
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("vrrp: [{name: a, interface: eth0, vrid: 1, virtual_ips: [10.0.0.1/24]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	insts, _ := c.VRRPInstances()
	got := insts[0]
	if got.Priority != 100 || got.AdvertInterval != time.Second || !got.Preempt || !got.Accept ||
		got.Checksum != vrrp.ChecksumRFC5798 || got.GARP.Count != 3 || got.GARP.Interval != 100*time.Millisecond {
		t.Errorf("defaults: %+v", got)
	}
	if c.Log.Level != "info" || c.Log.Format != "auto" || c.Node.Name == "" {
		t.Errorf("log/node defaults: %+v %+v", c.Log, c.Node)
	}
}

// base is a valid instance that each error case breaks in one place.
const base = "vrrp: [{name: a, interface: eth0, vrid: 1, virtual_ips: [10.0.0.1/24]"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key", "bogus: 1\n" + base + "}]", []string{"bogus: unknown key"}},
		{"unknown instance key", base + ", colour: red}]", []string{"vrrp[0].colour: unknown key"}},
		{"unknown nested key", base + ", garp: {count: 1, burst: 2}}]", []string{"vrrp[0].garp.burst: unknown key"}},
		{"vrid out of range", "vrrp: [{name: a, interface: eth0, vrid: 300, virtual_ips: [10.0.0.1/24]}]",
			[]string{"vrrp[0].vrid: 300 out of range 1-255"}},
		{"vrid missing", "vrrp: [{name: a, interface: eth0, virtual_ips: [10.0.0.1/24]}]",
			[]string{"vrrp[0].vrid: 0 out of range 1-255"}},
		{"priority 0", base + ", priority: 0}]", []string{"vrrp[0].priority: 0 out of range 1-255"}},
		{"priority 256", base + ", priority: 256}]", []string{"vrrp[0].priority: 256 out of range 1-255"}},
		{"duplicate vrid on interface and family", base + "}, {name: b, interface: eth0, vrid: 1, virtual_ips: [10.0.0.2/24]}]",
			[]string{"vrrp[1].vrid: 1 already used on eth0 for ipv4 by vrrp[0]"}},
		{"vip not an address", base + "}, {name: b, interface: eth1, vrid: 2, virtual_ips: [10.0.0.300/24]}]",
			[]string{`vrrp[1].virtual_ips[0]: "10.0.0.300/24" is not an address`}},
		{"interval not a 10ms multiple", base + ", advert_interval: 15ms}]",
			[]string{"vrrp[0].advert_interval: 15ms is not a multiple of 10ms between 10ms and 40.95s"}},
		{"interval too long", base + ", advert_interval: 41s}]",
			[]string{"vrrp[0].advert_interval: 41s is not a multiple of 10ms between 10ms and 40.95s"}},
		{"interval not a duration", base + ", advert_interval: soon}]", []string{"vrrp[0].advert_interval: "}},
		{"sync group unknown instance", base + "}]\nsync_groups: [{name: g, instances: [a, nope]}]",
			[]string{`sync_groups[0].instances[1]: unknown instance "nope"`}},
		{"instance in two groups", base + "}]\nsync_groups: [{name: g, instances: [a]}, {name: h, instances: [a]}]",
			[]string{`sync_groups[1].instances[0]: instance "a" is already in sync_groups[0]`}},
		{"bad checksum mode", base + ", checksum: md5}]", []string{`vrrp[0].checksum: "md5" is not rfc5798`}},
		{"bad log level", "log: {level: loud}\n" + base + "}]", []string{`log.level: "loud" is not one of`}},
		{"bad log format", "log: {format: xml}\n" + base + "}]", []string{`log.format: "xml" is not one of`}},
		{"no virtual ips", "vrrp: [{name: a, interface: eth0, vrid: 1}]", []string{"vrrp[0].virtual_ips: at least one address required"}},
		{"missing name and interface", "vrrp: [{vrid: 1, virtual_ips: [10.0.0.1]}]",
			[]string{"vrrp[0].interface: required", "vrrp[0].name: required"}},
		{"duplicate name", base + "}, {name: a, interface: eth1, vrid: 1, virtual_ips: [10.0.0.2]}]", []string{`vrrp[1].name: "a" used by another instance`}},
		{"bad unicast peer", base + ", unicast_peers: [peer1]}]", []string{`vrrp[0].unicast_peers[0]: "peer1" is not an address`}},
		{"track weight out of range", base + ", track_interfaces: [{name: eth1, weight: 300}]}]",
			[]string{"vrrp[0].track_interfaces[0].weight: 300 out of range 0-254"}},
		{"wrong type", base + ", priority: high}]", []string{"vrrp[0].priority: "}},
		{"not yaml", "vrrp: [", []string{"yaml: "}},
		{"every problem at once", "bogus: 1\nvrrp: [{name: a, interface: eth0, vrid: 0, priority: 0, advert_interval: 5ms, virtual_ips: [nope], garp: {x: 1}}]",
			[]string{"bogus: unknown key", "vrrp[0].advert_interval: 5ms", "vrrp[0].garp.x: unknown key", "vrrp[0].priority: 0", `vrrp[0].virtual_ips[0]: "nope"`, "vrrp[0].vrid: 0"}},
		{"type errors and unknown keys together", "bogus: 1\n" + base + ", priority: high, advert_interval: soon}]",
			[]string{"bogus: unknown key", "vrrp[0].advert_interval: time: invalid duration", "vrrp[0].priority: expected type 'int'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if c != nil {
				t.Errorf("Parse returned a config with an error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error = %v, want *Error", err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant %d: %q", strings.Join(got, "\n"), len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d = %q, want prefix %q", i, got[i], w)
				}
			}
		})
	}
}

func TestLoadNamesFile(t *testing.T) {
	_, err := Load("testdata/bad.yaml")
	if err == nil || !strings.Contains(err.Error(), "testdata/bad.yaml") || !strings.Contains(err.Error(), "vrrp[0].vrid: 300 out of range 1-255") {
		t.Errorf("Load error = %v", err)
	}
	if _, err := Load("testdata/missing.yaml"); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(base + "}]"))
	f.Add([]byte("vrrp: [{vrid: 999}]"))
	f.Add([]byte(svcYAML(twoBackends)))
	f.Add([]byte(svcYAML("    healthcheck: { type: http, expect_status: [200, \"300-302\"] }\n    forward: tunnel\n    tunnel: { type: gue, port: 6080 }\n" + twoBackends)))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", c != nil, err)
		}
		if c != nil {
			insts, groups := c.VRRPInstances()
			if err := (&vrrp.Config{Instances: insts, SyncGroups: groups}).Validate(); err != nil {
				t.Fatalf("accepted config fails vrrp validation: %v", err)
			}
			for _, s := range c.Engine().Services {
				for _, b := range s.Backends {
					if b.Check != nil {
						if err := b.Check.Validate(); err != nil {
							t.Fatalf("accepted check fails healthcheck validation: %v", err)
						}
					}
				}
			}
		}
	})
}
