package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seesawd/seesawd/pkg/ipvs"
)

const bgpSection = `bgp:
  asn: 65001
  router_id: 192.0.2.1
  peers:
    - { address: 192.0.2.254, asn: 65000, password: s3cret, hold_time: 3s }
    - { address: "2001:db8::fe", asn: 65000, port: 1179, multihop: 2 }
  communities: ["65001:100", no-export]
`

const anycastService = `services:
  - name: web
    vip: 198.51.100.10
    port: 80
    scheduler: mh
    forward: dr
    announce: bgp
    backends: [{ address: 10.0.1.10 }]
`

func TestBGP(t *testing.T) {
	c, err := Parse([]byte(bgpSection + "ipvs: { sync: { interface: eth1, sync_id: 51, refresh_period: 2s, retries: 1 } }\n" + anycastService))
	if err != nil {
		t.Fatal(err)
	}
	b := c.BGP
	if b.ASN != 65001 || b.Router != netip.MustParseAddr("192.0.2.1") || b.LoopTimeout != DefaultBGPLoopTimeout ||
		b.Drain || b.GracefulRestart || b.ListenPort != 0 {
		t.Errorf("bgp = %+v", b)
	}
	if diff := cmp.Diff([]uint32{65001<<16 | 100, 0xffffff01}, b.CommunityValues); diff != "" {
		t.Errorf("communities (-want +got):\n%s", diff)
	}
	p0, p1 := b.Peers[0], b.Peers[1]
	if p0.Addr != netip.MustParseAddr("192.0.2.254") || *p0.HoldTime != 3*time.Second || p0.Port != 179 ||
		p0.ConnectRetry != DefaultBGPConnectRetry || p0.Password != "s3cret" {
		t.Errorf("peer 0 = %+v", p0)
	}
	if p1.Addr != netip.MustParseAddr("2001:db8::fe") || *p1.HoldTime != DefaultBGPHoldTime || p1.Port != 1179 || p1.Multihop != 2 {
		t.Errorf("peer 1 = %+v", p1)
	}
	if s := c.Engine().Services[0]; !s.Announce {
		t.Error("announce: bgp did not reach the engine")
	}
	// Announced, the VIP reaches the node by routing: no warning that no
	// VRRP instance holds it, and mh with dr is what active-active needs.
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
	if c.IPVS.Sync.RefreshPeriod != 2*time.Second || c.IPVS.Sync.Retries != 1 {
		t.Errorf("sync = %+v", c.IPVS.Sync)
	}
	want := []ipvs.Daemon{{State: ipvs.Master, Interface: "eth1", SyncID: 51}, {State: ipvs.Backup, Interface: "eth1", SyncID: 51}}
	if diff := cmp.Diff(want, c.IPVS.Sync.Daemons(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("sync daemons (-want +got):\n%s", diff)
	}
}

func TestBGPHoldTimeZeroMeansNoKeepalives(t *testing.T) {
	c, err := Parse([]byte("bgp: { asn: 65001, peers: [{ address: 192.0.2.254, asn: 65000, hold_time: 0s }] }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h := c.BGP.Peers[0].HoldTime; h == nil || *h != 0 {
		t.Errorf("hold_time = %v, want 0", h)
	}
	if c.IPVS.Sync.Daemons() != nil {
		t.Error("sync daemons without ipvs.sync")
	}
}

func TestAnnounceWarnsOfWhatBreaksActiveActive(t *testing.T) {
	c, err := Parse([]byte(bgpSection + strings.Replace(strings.Replace(anycastService, "mh", "wlc", 1), "dr", "nat", 1)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range c.Warnings {
		got = append(got, w.Path)
	}
	if diff := cmp.Diff([]string{"services[0].forward", "services[0].scheduler"}, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s\n%v", diff, c.Warnings)
	}
}

func TestAnnounceWarnsOfAFamilyWithoutPeers(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(bgpSection, `    - { address: "2001:db8::fe", asn: 65000, port: 1179, multihop: 2 }
`, "", 1) + strings.NewReplacer("198.51.100.10", "2001:db8::10", "10.0.1.10", "\"2001:db8:1::10\"").Replace(anycastService)))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || c.Warnings[0].Path != "services[0].announce" || !strings.Contains(c.Warnings[0].Msg, "announced to nobody") {
		t.Errorf("warnings = %v", c.Warnings)
	}
}

func TestBGPErrors(t *testing.T) {
	peer := "  peers: [{ address: 192.0.2.254, asn: 65000 }]\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"asn zero", "bgp:\n  asn: 0\n" + peer, []string{"bgp.asn: 0 is not a usable AS number"}},
		{"as_trans", "bgp:\n  asn: 23456\n" + peer, []string{"bgp.asn: 23456 is not a usable AS number"}},
		{"asn too big", "bgp:\n  asn: 4294967296\n" + peer, []string{"bgp.asn: "}},
		{"router id v6", "bgp:\n  asn: 1\n  router_id: \"2001:db8::1\"\n" + peer, []string{`bgp.router_id: "2001:db8::1" is not an IPv4 address`}},
		{"no peers", "bgp:\n  asn: 1\n", []string{"bgp.peers: at least one peer required"}},
		{"peer address", "bgp:\n  asn: 1\n  peers: [{ address: router1, asn: 2 }]\n", []string{`bgp.peers[0].address: "router1" is not an IP address`}},
		{"duplicate peer", "bgp:\n  asn: 1\n  peers: [{ address: 192.0.2.254, asn: 2 }, { address: 192.0.2.254, asn: 3 }]\n",
			[]string{"bgp.peers[1].address: 192.0.2.254 is already bgp.peers[0]"}},
		{"peer asn", "bgp:\n  asn: 1\n  peers: [{ address: 192.0.2.254 }]\n", []string{"bgp.peers[0].asn: 0 is not a usable AS number"}},
		{"hold time below 3s", "bgp:\n  asn: 1\n  peers: [{ address: 192.0.2.254, asn: 2, hold_time: 2s }]\n",
			[]string{"bgp.peers[0].hold_time: 2s: 0 or whole seconds from 3s"}},
		{"hold time fraction", "bgp:\n  asn: 1\n  peers: [{ address: 192.0.2.254, asn: 2, hold_time: 3500ms }]\n",
			[]string{"bgp.peers[0].hold_time: 3.5s: 0 or whole seconds"}},
		{"hold time without unit", "bgp:\n  asn: 1\n  peers: [{ address: 192.0.2.254, asn: 2, hold_time: 9 }]\n",
			[]string{"bgp.peers[0].hold_time: 9 has no unit"}},
		{"password too long", "bgp:\n  asn: 1\n  peers: [{ address: 192.0.2.254, asn: 2, password: " + strings.Repeat("x", 81) + " }]\n",
			[]string{"bgp.peers[0].password: 81 bytes; a TCP MD5 key is at most 80"}},
		{"multihop ibgp", "bgp:\n  asn: 1\n  peers: [{ address: 192.0.2.254, asn: 1, multihop: 2 }]\n",
			[]string{"bgp.peers[0].multihop: applies to eBGP peers"}},
		{"community", "bgp:\n  asn: 1\n" + peer + "  communities: [\"65001:100\", \"65536:1\", nope]\n",
			[]string{`bgp.communities[1]: "65536:1" is not a community`, `bgp.communities[2]: "nope" is not a community`}},
		{"loop timeout", "bgp:\n  asn: 1\n" + peer + "  loop_timeout: 100ms\n", []string{"bgp.loop_timeout: 100ms is below 1s"}},
		{"unknown key", "bgp:\n  asn: 1\n" + peer + "  med: 5\n", []string{"bgp.med: unknown key"}},
		{"announce without bgp", anycastService, []string{"services[0].announce: bgp needs a bgp section"}},
		{"announce unknown", bgpSection + strings.Replace(anycastService, "announce: bgp", "announce: ospf", 1),
			[]string{`services[0].announce: "ospf" is not bgp`}},
		{"announce fwmark", bgpSection + "services:\n  - { name: a, fwmark: 3, announce: bgp, backends: [{address: 10.0.1.1, port: 80}] }\n",
			[]string{"services[0].announce: an fwmark service has no VIP to announce"}},
		{"sync without interface", "ipvs: { sync: { sync_id: 1 } }\n", []string{"ipvs.sync.interface: required"}},
		{"sync id", "ipvs: { sync: { interface: eth1, sync_id: 256 } }\n", []string{"ipvs.sync.sync_id: 256 out of range 0-255"}},
		{"sync group", "ipvs: { sync: { interface: eth1, group: 10.0.0.1 } }\n", []string{`ipvs.sync.group: "10.0.0.1" is not a multicast address`}},
		{"sync refresh", "ipvs: { sync: { interface: eth1, refresh_period: 1500ms } }\n", []string{"ipvs.sync.refresh_period: 1.5s is not a whole number of seconds"}},
		{"sync retries alone", "ipvs: { sync: { interface: eth1, retries: 2 } }\n", []string{"ipvs.sync.retries: needs refresh_period"}},
		{"sync with a cross-family tunnel", "ipvs: { sync: { interface: eth1 } }\n" + svcYAML("    forward: tunnel\n    backends: [{ address: \"2001:db8::1\" }]\n"),
			[]string{"services[0].backends[0].address: 2001:db8::1 is not of the service's family: the kernel refuses a sync daemon"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblems(t, tt.yaml, tt.want, func(Problem) bool { return true })
		})
	}
}
