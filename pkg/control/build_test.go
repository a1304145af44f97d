package control

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

var (
	t0  = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	vip = netip.MustParseAddr("192.0.2.100")
	b1  = netip.MustParseAddrPort("10.0.1.11:8080")
	b2  = netip.MustParseAddrPort("10.0.1.12:8080")
	b3  = netip.MustParseAddrPort("10.0.1.13:8080")
	b4  = netip.MustParseAddrPort("10.0.1.14:8080")
)

// sources is a node with one service of three backends (one drained at run
// time, one down) and a fourth leaving, and two VRRP instances.
func sources() Sources {
	front := vrrp.InstanceID{Name: "front", Family: vrrp.IPv4}
	back := vrrp.InstanceID{Name: "back", Family: vrrp.IPv4}
	key := ipvs.ServiceKey{Family: ipvs.IPv4, Protocol: ipvs.TCP, Address: vip, Port: 80}
	cfgBackend := func(ap netip.AddrPort) engine.Backend {
		return engine.Backend{Dest: ipvs.Destination{Address: ap.Addr(), Port: ap.Port(), Forward: ipvs.Masquerade}}
	}
	return Sources{
		Node: "lb1", Version: "v1", PID: 42, Started: t0, Now: t0.Add(time.Hour), Ready: true,
		ConfigPath: "/etc/seesawd/seesawd.yaml", ConfigHash: "abc", ConfigLoaded: t0.Add(time.Minute),
		Config: &engine.Config{Services: []engine.Service{{Name: "web", IPVS: ipvs.Service{Scheduler: "wrr"},
			Backends: []engine.Backend{cfgBackend(b1), cfgBackend(b2), cfgBackend(b3)}}}},
		Engine: &engine.Status{
			Services: []engine.ServiceStatus{{Name: "web", Key: key, State: engine.ServiceUp, Since: t0, Healthy: 1, Quorum: 1,
				InKernel: true, Track: "front", Backends: []engine.BackendStatus{
					{Addr: b1, Health: healthcheck.StateUp, HasCheck: true, Weight: 3, InKernel: true, KernelWeight: 3, ActiveConns: 5, InactiveConns: 7},
					{Addr: b2, Health: healthcheck.StateUp, Weight: 2, Drained: "runtime", InKernel: true},
					{Addr: b3, Health: healthcheck.StateDown, HasCheck: true, Weight: 1},
					{Addr: b4, Leaving: true, InKernel: true, ActiveConns: 1},
				}}},
			Leaving: []ipvs.ServiceKey{{Family: ipvs.IPv4, Protocol: ipvs.UDP, Address: vip, Port: 53}},
			VRRP: []vrrp.Event{
				{Instance: back, Seq: 1, To: vrrp.Backup, Reason: vrrp.ReasonStartup, Time: t0},
				{Instance: front, Seq: 3, To: vrrp.Master, Reason: vrrp.ReasonMasterDown, Time: t0.Add(2 * time.Second)},
			},
			Last:        engine.ReconcileInfo{Reason: "health", Ops: map[ipvs.OpKind]int{ipvs.OpUpdateDestination: 2, ipvs.OpRemoveDestination: 1}, Duration: time.Millisecond},
			LastSuccess: t0.Add(30 * time.Minute),
		},
		VRRP: []vrrp.InstanceStatus{
			{ID: front, Interface: "eth0", VRID: 51, State: vrrp.Master, Priority: 150, Master: netip.MustParseAddr("192.0.2.1"), Seq: 3},
			// The engine saw only its first transition: no since.
			{ID: back, Interface: "eth1", VRID: 52, State: vrrp.Master, Priority: 150, Seq: 2, Faults: []string{"eth1 down"}},
		},
		VRRPStats: vrrp.Stats{Instances: map[vrrp.InstanceID]vrrp.InstanceStats{front: {Counters: vrrp.Counters{
			AdvertsSent: 10, AdvertsReceived: 4, Transitions: 3, SendErrors: 1,
			Drops: map[vrrp.DropReason]uint64{vrrp.DropTTL: 2, vrrp.DropLength: 3}}}}},
		Checks: []healthcheck.Status{
			{ID: "web/10.0.1.11:8080", Definition: healthcheck.Definition{Type: healthcheck.TypeHTTP}, State: healthcheck.StateUp, Since: t0,
				Last:          healthcheck.Result{Time: t0.Add(59 * time.Minute), Latency: 1200 * time.Microsecond, Detail: "200 OK"},
				ConsecutiveOK: 9, Runs: 10, Failures: 1},
			{ID: "web/10.0.1.13:8080", Definition: healthcheck.Definition{Type: healthcheck.TypeTCP}, State: healthcheck.StateDown,
				Last: healthcheck.Result{Time: t0.Add(59 * time.Minute), Latency: 300 * time.Microsecond,
					Err: fmt.Errorf("%w: dial tcp 10.0.1.13:8080", healthcheck.ErrRefused)},
				ConsecutiveFail: 4, Runs: 4, Failures: 4},
			{ID: "other/10.0.9.9:1", State: healthcheck.StateUp},
		},
	}
}

func TestBuildStatus(t *testing.T) {
	got := BuildStatus(sources())
	want := &Status{
		Node: "lb1", Version: "v1", PID: 42, Started: t0, Time: t0.Add(time.Hour), Ready: true,
		Config: ConfigInfo{Path: "/etc/seesawd/seesawd.yaml", Hash: "abc", Loaded: t0.Add(time.Minute)},
		IPVS:   true,
		VRRP: []Instance{
			{Name: "front", Family: "ipv4", Interface: "eth0", VRID: 51, State: "master", Priority: 150, Master: "192.0.2.1",
				Since: t0.Add(2 * time.Second), Reason: "master down timer", Transitions: 3, AdvertsSent: 10, AdvertsReceived: 4, Drops: 5, SendErrors: 1},
			{Name: "back", Family: "ipv4", Interface: "eth1", VRID: 52, State: "master", Priority: 150, Faults: []string{"eth1 down"}},
		},
		Services: []Service{{
			Name: "web", Key: "tcp 192.0.2.100:80", Protocol: "tcp", Address: "192.0.2.100", Port: 80, Scheduler: "wrr",
			State: "up", Since: t0, Healthy: 1, Total: 3, Quorum: 1, InKernel: true, Track: "front",
			Backends: []Backend{
				{Address: "10.0.1.11:8080", Forward: "masq", Health: "up", Weight: 3, InKernel: true, KernelWeight: 3, ActiveConns: 5, InactiveConns: 7,
					Check: &Check{Type: "http", State: "up", Since: t0, ConsecutiveOK: 9, Runs: 10, Failures: 1,
						Last: &CheckResult{Time: t0.Add(59 * time.Minute), OK: true, Outcome: "ok", Latency: Duration(1200 * time.Microsecond), Detail: "200 OK"}}},
				{Address: "10.0.1.12:8080", Forward: "masq", Health: "up", Weight: 2, InKernel: true, Drained: "runtime"},
				{Address: "10.0.1.13:8080", Forward: "masq", Health: "down", Weight: 1,
					Check: &Check{Type: "tcp", State: "down", ConsecutiveFail: 4, Runs: 4, Failures: 4,
						Last: &CheckResult{Time: t0.Add(59 * time.Minute), Outcome: "refused", Latency: Duration(300 * time.Microsecond),
							Error: "healthcheck: connection refused: dial tcp 10.0.1.13:8080"}}},
				{Address: "10.0.1.14:8080", InKernel: true, ActiveConns: 1, Leaving: true},
			},
		}},
		Leaving:   []string{"udp 192.0.2.100:53"},
		Reconcile: Reconcile{Reason: "health", Ops: 3, Took: Duration(time.Millisecond), LastSuccess: t0.Add(30 * time.Minute)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BuildStatus (-want +got):\n%s", diff)
	}
}

func TestBuildStatusWithoutIPVS(t *testing.T) {
	src := sources()
	src.Engine, src.Config = nil, nil
	got := BuildStatus(src)
	if got.IPVS || got.Services == nil || len(got.Services) != 0 || len(got.VRRP) != 2 {
		t.Errorf("BuildStatus without an engine = IPVS %v, services %v, %d VRRP instances; want false, [], 2", got.IPVS, got.Services, len(got.VRRP))
	}
	if !got.VRRP[0].Since.IsZero() {
		t.Errorf("since %v without the engine's events, want none", got.VRRP[0].Since)
	}
}

func TestResolveBackend(t *testing.T) {
	svc := &Service{Name: "web", Backends: []Backend{
		{Address: "10.0.1.11:8080"}, {Address: "10.0.1.11:8443"}, {Address: "10.0.1.12:8080"},
		{Address: "[2001:db8::12]:80"}, {Address: "10.0.1.14:8080", Leaving: true},
	}}
	tests := []struct {
		arg  string
		want string
		code Code
	}{
		{arg: "10.0.1.11:8080", want: "10.0.1.11:8080"},
		{arg: "10.0.1.12", want: "10.0.1.12:8080"},
		{arg: "2001:db8::12", want: "[2001:db8::12]:80"},
		{arg: "[2001:db8::12]", want: "[2001:db8::12]:80"},
		{arg: "[2001:db8::12]:80", want: "[2001:db8::12]:80"},
		{arg: "[::ffff:10.0.1.12]:8080", want: "10.0.1.12:8080"},
		{arg: "10.0.1.11", code: CodeAmbiguous},
		{arg: "10.0.1.12:9999", code: CodeNotFound},
		{arg: "10.0.1.99", code: CodeNotFound},
		{arg: "10.0.1.14:8080", code: CodeNotFound}, // leaving: no longer configured
		{arg: "b1", code: CodeBadRequest},
	}
	for _, tc := range tests {
		got, err := svc.ResolveBackend(tc.arg)
		if tc.code != "" {
			var ce *Error
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Errorf("ResolveBackend(%s) = %v, %v; want code %s", tc.arg, got, err, tc.code)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ResolveBackend(%s) = %v, %v; want %s", tc.arg, got, err, tc.want)
		}
	}
	// The errors say what there is.
	_, err := svc.ResolveBackend("10.0.1.99")
	if want := "control: service web has no backend 10.0.1.99 (its backends: 10.0.1.11:8080, 10.0.1.11:8443, 10.0.1.12:8080, [2001:db8::12]:80)"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	_, err = svc.ResolveBackend("10.0.1.11")
	if want := "control: 10.0.1.11 is ambiguous in service web: it has 10.0.1.11:8080, 10.0.1.11:8443"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestFindService(t *testing.T) {
	st := &Status{Services: []Service{{Name: "web"}, {Name: "dns"}}}
	if s, err := st.FindService("dns"); err != nil || s.Name != "dns" {
		t.Errorf("FindService(dns) = %v, %v", s, err)
	}
	_, err := st.FindService("webb")
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != CodeNotFound || ce.Message != `no service "webb" (services: web, dns)` {
		t.Errorf("FindService(webb) = %v", err)
	}
	many := &Status{}
	for i := range 12 {
		many.Services = append(many.Services, Service{Name: fmt.Sprint("s", i)})
	}
	if _, err := many.FindService("x"); err == nil || err.Error() != `control: no service "x" (services: s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, ... (2 more))` {
		t.Errorf("FindService among 12 = %v", err)
	}
}
