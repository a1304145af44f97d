package nettopo

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLongestGap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	tests := []struct {
		name      string
		replies   []time.Time
		from, to  int
		wantGap   time.Duration
		wantStart int
	}{
		{name: "steady", replies: at(0, 10, 20, 30, 40), from: 0, to: 40, wantGap: 10 * time.Millisecond, wantStart: 0},
		{name: "straddles from", replies: at(0, 10, 20, 400, 410), from: 100, to: 410, wantGap: 380 * time.Millisecond, wantStart: 20},
		{name: "unsorted", replies: at(0, 20, 10, 300, 310), from: 0, to: 310, wantGap: 280 * time.Millisecond, wantStart: 20},
		{name: "never resumes", replies: at(0, 10), from: 5, to: 1000, wantGap: 990 * time.Millisecond, wantStart: 10},
		{name: "no replies", replies: nil, from: 0, to: 500, wantGap: 500 * time.Millisecond, wantStart: 0},
		{name: "ignores after to", replies: at(0, 10, 900), from: 0, to: 20, wantGap: 10 * time.Millisecond, wantStart: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := PingResult{Replies: tt.replies}
			gap, start := r.LongestGap(t0.Add(time.Duration(tt.from)*time.Millisecond), t0.Add(time.Duration(tt.to)*time.Millisecond))
			if gap != tt.wantGap {
				t.Errorf("gap = %v, want %v", gap, tt.wantGap)
			}
			if want := t0.Add(time.Duration(tt.wantStart) * time.Millisecond); !start.Equal(want) {
				t.Errorf("start = %v, want %v", start.Sub(t0), want.Sub(t0))
			}
		})
	}
}

func TestKeepalivedConfig(t *testing.T) {
	insts := []Instance{
		{Name: "v4", VRID: 51, Priority: 150, Advert: 100 * time.Millisecond, VIPs: []netip.Prefix{VIPv4}},
		{Name: "v6", VRID: 52, Priority: 100, Advert: time.Second, NoPreempt: true, VIPs: []netip.Prefix{VIPv6}},
	}
	got, err := Keepalived{}.Config("lb1", "eth0", insts)
	if err != nil {
		t.Fatal(err)
	}
	want := `global_defs {
  router_id lb1
  vrrp_version 3
  vrrp_garp_master_delay 0
}
vrrp_instance v4 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 0.1
  garp_master_delay 0
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance v6 {
  state BACKUP
  interface eth0
  virtual_router_id 52
  priority 100
  advert_int 1
  native_ipv6
  nopreempt
  garp_master_delay 0
  virtual_ipaddress {
    2001:db8::100/64
  }
}
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Config() mismatch (-want +got):\n%s", diff)
	}
	insts[0].Checksum = ChecksumIPv4NoPseudoHeader
	if _, err := (Keepalived{}).Config("lb1", "eth0", insts); err == nil || !strings.HasPrefix(err.Error(), "nettopo: ") {
		t.Errorf("Config(no pseudo-header) error = %v, want a nettopo error", err)
	}
}

func TestSeesawdConfig(t *testing.T) {
	insts := []Instance{{Name: "front", VRID: 51, Priority: 150, Advert: 100 * time.Millisecond,
		VIPs: []netip.Prefix{VIPv4}, Checksum: ChecksumIPv4NoPseudoHeader}}
	got, err := Seesawd{}.Config("lb1", "eth0", insts)
	if err != nil {
		t.Fatal(err)
	}
	want := `node: { name: lb1 }
log: { level: debug, format: json }
vrrp:
  - name: front
    interface: eth0
    vrid: 51
    priority: 150
    advert_interval: 100ms
    preempt: true
    preempt_delay: 0s
    accept: true
    unicast_peers: []
    checksum: ipv4-no-pseudo-header
    garp: { count: 3, interval: 100ms, refresh: 0s }
    track_interfaces: []
    virtual_ips: ["192.0.2.100/24"]
sync_groups: []
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Config() mismatch (-want +got):\n%s", diff)
	}
}
