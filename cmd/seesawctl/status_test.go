package main

import (
	"bytes"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/control"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// exampleStatus is a node one hour up: two VRRP instances, a service with
// a backend drained at run time and one down, another service down.
func exampleStatus() *control.Status {
	now := t0.Add(time.Hour)
	return &control.Status{
		Node: "lb1", Version: "v1.2.0", PID: 4242, Started: t0, Time: now, Ready: true, IPVS: true,
		Config: control.ConfigInfo{Path: "/etc/seesawd/seesawd.yaml", Hash: "0123456789abcdef0123", Loaded: now.Add(-2 * time.Minute)},
		VRRP: []control.Instance{
			{Name: "front", Family: "ipv4", Interface: "eth0", VRID: 51, State: "master", Priority: 150, Master: "192.0.2.1",
				Since: now.Add(-192 * time.Second), Reason: "master down timer", Transitions: 2, AdvertsSent: 640, AdvertsReceived: 3},
			{Name: "back", Family: "ipv4", Interface: "eth1", VRID: 52, State: "fault", Priority: 150, Faults: []string{"eth1 down"}},
		},
		Services: []control.Service{
			{Name: "web", Key: "tcp 192.0.2.100:80", Scheduler: "wrr", State: "up", Since: now.Add(-time.Hour), Healthy: 1, Total: 3,
				Quorum: 1, InKernel: true, Track: "front", Backends: []control.Backend{
					{Address: "10.0.1.11:8080", Forward: "masq", Health: "up", Weight: 3, InKernel: true, KernelWeight: 3, ActiveConns: 12, InactiveConns: 40,
						Check: &control.Check{Type: "http", State: "up", Last: &control.CheckResult{Time: now.Add(-time.Second), OK: true, Outcome: "ok",
							Latency: control.Duration(1200 * time.Microsecond), Detail: "HTTP/1.1 200 OK"}}},
					{Address: "10.0.1.12:8080", Forward: "masq", Health: "up", Weight: 2, InKernel: true, KernelWeight: 0, Drained: "runtime", InactiveConns: 3},
					{Address: "10.0.1.13:8080", Forward: "masq", Health: "down", Weight: 1,
						Check: &control.Check{Type: "http", State: "down", Last: &control.CheckResult{Time: now.Add(-2 * time.Second), Outcome: "refused",
							Latency: control.Duration(310 * time.Microsecond), Error: "healthcheck: connection refused: dial tcp 10.0.1.13:8080"}}},
				}},
			{Name: "dns", Key: "udp 192.0.2.100:53", Scheduler: "rr", State: "down", Since: now.Add(-5 * time.Second), Healthy: 0, Total: 1,
				Quorum: 1, InKernel: true, SorryActive: true, Backends: []control.Backend{
					{Address: "10.0.1.21:53", Forward: "masq", Health: "down", Weight: 1, InKernel: true, KernelWeight: 0}}},
		},
	}
}

func render(f func(w *bytes.Buffer)) string {
	var b bytes.Buffer
	f(&b)
	return b.String()
}

func TestWriteStatus(t *testing.T) {
	got := render(func(w *bytes.Buffer) { writeStatus(w, exampleStatus(), false) })
	want := `node lb1: seesawd v1.2.0, pid 4242, up 1h00m
config /etc/seesawd/seesawd.yaml (0123456789ab), loaded 2m00s ago

VRRP        STATE   PRIO  VRID  INTERFACE  MASTER     SINCE
front/ipv4  master  150   51    eth0       192.0.2.1  3m12s
back/ipv4   fault   150   52    eth1       -          -

SERVICE  ADDRESS             STATE  HEALTHY  KERNEL  SINCE
web      tcp 192.0.2.100:80  up     1/3      yes     1h00m
dns      udp 192.0.2.100:53  down   0/1      yes     5s
`
	if got != want {
		t.Errorf("status:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteBackends(t *testing.T) {
	st := exampleStatus()
	got := render(func(w *bytes.Buffer) { writeBackends(w, st.Time, &st.Services[0], false) })
	want := `web  tcp 192.0.2.100:80  wrr  up for 1h00m, 1/3 healthy (quorum 1)

BACKEND         FWD   HEALTH  WEIGHT  KERNEL  DRAINED  ACTIVE  INACTIVE  LAST CHECK
10.0.1.11:8080  masq  up      3       3       -        12      40        http ok 1.2ms, 1s ago: HTTP/1.1 200 OK
10.0.1.12:8080  masq  up      2       0       runtime  0       3         no check
10.0.1.13:8080  masq  down    1       absent  -        0       0         http refused 310µs, 2s ago: connection refused: dial tcp 10.0.1.13:8080
`
	if got != want {
		t.Errorf("backends:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteServicesAndVRRP(t *testing.T) {
	st := exampleStatus()
	got := render(func(w *bytes.Buffer) { writeServices(w, st, false) })
	want := `SERVICE  ADDRESS             SCHED  STATE  SINCE  HEALTHY  QUORUM  KERNEL  SORRY   TRACK
web      tcp 192.0.2.100:80  wrr    up     1h00m  1/3      1       yes     -       front
dns      udp 192.0.2.100:53  rr     down   5s     0/1      1       yes     active  -
`
	if got != want {
		t.Errorf("services:\n%s\nwant:\n%s", got, want)
	}
	got = render(func(w *bytes.Buffer) { writeVRRP(w, st, false) })
	want = `INSTANCE    STATE   PRIO  VRID  INTERFACE  MASTER     SINCE  TRANSITIONS  ADVERTS OUT/IN  DROPS  REASON
front/ipv4  master  150   51    eth0       192.0.2.1  3m12s  2            640/3           0      master down timer
back/ipv4   fault   150   52    eth1       -          -      0            0/0             0      faults: eth1 down
`
	if got != want {
		t.Errorf("vrrp:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteStatusNotes(t *testing.T) {
	st := exampleStatus()
	st.Ready = false
	st.Reconcile = control.Reconcile{Reason: "resync", LastError: "ipvs: netlink: no buffer space", LastSuccess: st.Time.Add(-time.Minute)}
	st.Leaving = []string{"tcp 192.0.2.100:8080"}
	got := render(func(w *bytes.Buffer) { writeStatus(w, st, false) })
	for _, want := range []string{
		"starting  the kernel's services are not programmed yet\n",
		"failing   last reconcile (resync): ipvs: netlink: no buffer space; last success 1m00s ago\n",
		"leaving (removed from the configuration, draining): tcp 192.0.2.100:8080\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
	st.Services = nil
	if got := render(func(w *bytes.Buffer) { writeStatus(w, st, false) }); !strings.Contains(got, "services: not programmed yet (seesawd is starting)") {
		t.Errorf("status of a starting node:\n%s", got)
	}
	st.IPVS = false
	if got := render(func(w *bytes.Buffer) { writeStatus(w, st, false) }); !strings.Contains(got, "no services: the kernel has no IPVS") {
		t.Errorf("status of a VRRP-only node:\n%s", got)
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// Colours must not move a column: a coloured table, escapes removed, is the
// plain table.
func TestColorKeepsAlignment(t *testing.T) {
	st := exampleStatus()
	plain := render(func(w *bytes.Buffer) { writeStatus(w, st, false); writeBackends(w, st.Time, &st.Services[0], false) })
	colored := render(func(w *bytes.Buffer) { writeStatus(w, st, true); writeBackends(w, st.Time, &st.Services[0], true) })
	if !strings.Contains(colored, green+"master"+reset) || !strings.Contains(colored, red+"down"+reset) ||
		!strings.Contains(colored, yellow+"runtime"+reset) {
		t.Errorf("states are not coloured:\n%q", colored)
	}
	if stripped := ansi.ReplaceAllString(colored, ""); stripped != plain {
		t.Errorf("coloured output, escapes removed:\n%s\nplain:\n%s", stripped, plain)
	}
}

func TestWriteReload(t *testing.T) {
	r := &control.ReloadResult{Outcome: control.ReloadRefused, Took: control.Duration(3 * time.Millisecond),
		Problems: []string{"/etc/seesawd/seesawd.yaml:7: services[0].port: 99999 out of range", "/etc/seesawd/seesawd.yaml:9: services[0].backends: empty"},
		Warnings: []string{"/etc/seesawd/seesawd.yaml:2: vrrp[0]: no virtual IPs"}}
	got := render(func(w *bytes.Buffer) { writeReload(w, r) })
	want := `reload refused: the running configuration stays (took 3.0ms):
  /etc/seesawd/seesawd.yaml:7: services[0].port: 99999 out of range
  /etc/seesawd/seesawd.yaml:9: services[0].backends: empty
warning: /etc/seesawd/seesawd.yaml:2: vrrp[0]: no virtual IPs
`
	if got != want {
		t.Errorf("reload:\n%s\nwant:\n%s", got, want)
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                     "0s",
		850 * time.Microsecond:           "850µs",
		1234 * time.Microsecond:          "1.2ms",
		120 * time.Millisecond:           "120ms",
		1500 * time.Millisecond:          "1.5s",
		42 * time.Second:                 "42s",
		3*time.Minute + 12*time.Second:   "3m12s",
		2*time.Hour + 5*time.Minute:      "2h05m",
		76*time.Hour + 59*time.Minute:    "3d04h",
		time.Hour + 59*time.Second + 999: "1h00m",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%v) = %q, want %q", d, got, want)
		}
	}
	if got := since(t0.Add(3*time.Second+900*time.Millisecond), t0); got != "3s" {
		t.Errorf("since 3.9s = %q, want 3s", got)
	}
}

// seesawctl and seesawd must agree on where the socket is.
func TestDefaultSocket(t *testing.T) {
	if control.DefaultSocket != config.DefaultControlSocket {
		t.Errorf("control.DefaultSocket %q, config.DefaultControlSocket %q", control.DefaultSocket, config.DefaultControlSocket)
	}
}

func TestWriteBGP(t *testing.T) {
	st := exampleStatus()
	if got := render(func(w *bytes.Buffer) { writeBGP(w, st, false) }); got != "BGP is not configured on this node (no bgp section)\n" {
		t.Errorf("without BGP:\n%s", got)
	}
	vip := netip.MustParseAddr("198.51.100.10")
	st.BGP = &control.BGP{Enabled: true, ASN: 65001, RouterID: netip.MustParseAddr("192.0.2.1"),
		Peers: []control.BGPPeer{
			{Address: netip.MustParseAddr("192.0.2.254"), ASN: 65000, State: "established", Uptime: control.Duration(90 * time.Second), PrefixesSent: 1},
			{Address: netip.MustParseAddr("2001:db8::fe"), ASN: 65000, State: "active", Flaps: 3, LastError: "hold timer expired"},
		},
		Announced: []netip.Prefix{netip.PrefixFrom(vip, 32)}, Requested: []netip.Addr{vip, netip.MustParseAddr("198.51.100.11")},
		SyncDaemons: []string{"master on eth1, sync_id 51", "backup on eth1, sync_id 51"}}
	want := `BGP AS 65001, router-id 192.0.2.1

PEER          AS     STATE        SINCE  SENT  FLAPS  LAST ERROR
192.0.2.254   65000  established  1m30s  1     0      -
2001:db8::fe  65000  active       -      0     3      hold timer expired

announced: 198.51.100.10/32
services up: 198.51.100.10, 198.51.100.11
connection sync: master on eth1, sync_id 51; backup on eth1, sync_id 51
`
	if got := render(func(w *bytes.Buffer) { writeBGP(w, st, false) }); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	st.BGP.NodeDrained, st.BGP.Announced = true, nil
	if got := render(func(w *bytes.Buffer) { writeBGP(w, st, false) }); !strings.Contains(got, "node drained (seesawctl drain-node): every route withdrawn") ||
		!strings.Contains(got, "announced: none") {
		t.Errorf("drained:\n%s", got)
	}
}
