package engine

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

// svc builds a NAT TCP service at vip:80 with weight-1 backends at addr:8080.
func svc(name, vip string, backends ...string) Service {
	s := Service{
		Name:         name,
		IPVS:         ipvs.Service{Protocol: ipvs.TCP, Address: netip.MustParseAddr(vip), Port: 80, Scheduler: "wrr"},
		Quorum:       1,
		DrainTimeout: time.Minute,
	}
	for _, b := range backends {
		s.Backends = append(s.Backends, Backend{Dest: ipvs.Destination{
			Address: netip.MustParseAddr(b), Port: 8080, Forward: ipvs.Masquerade, Weight: 1}})
	}
	return s
}

// withChecks gives every backend of s a TCP check.
func withChecks(s Service) Service {
	s.Backends = slices.Clone(s.Backends)
	for i := range s.Backends {
		b := &s.Backends[i]
		b.Check = &healthcheck.Definition{Type: healthcheck.TypeTCP,
			Target: netip.AddrPortFrom(b.Dest.Address, b.Dest.Port), Interval: time.Second, Timeout: 500 * time.Millisecond,
			Rise: 2, Fall: 3}
	}
	return s
}

func cfgOf(services ...Service) *Config {
	return &Config{Services: services, ResyncInterval: 30 * time.Second, CheckMarks: MarkRange{1000, 1999}}
}

type harness struct {
	t      *testing.T
	k      *fakeKernel
	c      *fakeChecks
	v      *fakeVRRP
	e      *Engine
	state  string
	cancel context.CancelFunc
	errc   chan error
	infos  []ReconcileInfo
}

// start runs an engine on k with cfg inside the current synctest bubble and
// waits until it is ready and idle.
// startWith is start with extra options (callbacks).
func startWith(t *testing.T, k *fakeKernel, cfg *Config, extra Options) *harness {
	t.Helper()
	return startOpts(t, k, cfg, "", extra, k)
}

func start(t *testing.T, k *fakeKernel, cfg *Config, state string, kernel ...Kernel) *harness {
	t.Helper()
	var kk Kernel = k
	if len(kernel) > 0 {
		kk = kernel[0]
	}
	return startOpts(t, k, cfg, state, Options{}, kk)
}

func startOpts(t *testing.T, k *fakeKernel, cfg *Config, state string, extra Options, kk Kernel) *harness {
	t.Helper()
	h := &harness{t: t, k: k, c: newFakeChecks(), v: newFakeVRRP(), state: state, errc: make(chan error, 1)}
	if h.state == "" {
		h.state = filepath.Join(t.TempDir(), "state.json")
	}
	e, err := New(Options{Kernel: kk, Checks: h.c, VRRP: h.v, Logger: zaptest.NewLogger(t), StateFile: h.state,
		OnReconcile: func(i ReconcileInfo) { h.infos = append(h.infos, i) }, OnAnnounce: extra.OnAnnounce}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.errc <- e.Run(ctx) }()
	<-e.Ready()
	synctest.Wait()
	t.Cleanup(func() { h.stop() })
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.errc; err != nil {
		h.t.Errorf("Run: %v", err)
	}
}

// health sends transitions for backends of service name and waits for the engine.
func (h *harness) health(service string, to healthcheck.State, addrs ...string) {
	h.t.Helper()
	var batch []healthcheck.Transition
	for _, a := range addrs {
		id := BackendKey{Service: service, Addr: netip.MustParseAddrPort(a)}.String()
		if _, ok := h.c.get(id); !ok {
			h.t.Fatalf("no check %q registered", id)
		}
		batch = append(batch, healthcheck.Transition{ID: id, To: to, Time: time.Now()})
	}
	h.c.out <- batch
	synctest.Wait()
}

func kinds(ops []ipvs.Op) []string {
	var out []string
	for i := range ops {
		out = append(out, describe(&ops[i]))
	}
	return out
}

func wantOps(t *testing.T, got []ipvs.Op, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, kinds(got)); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
}

var web = svc("web", "192.0.2.1", "10.0.0.1", "10.0.0.2")

func TestStartCreatesAndRecordsOwnership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		h := start(t, k, cfgOf(web), "")
		wantOps(t, k.takeOps(),
			"create service tcp 192.0.2.1:80 scheduler wrr",
			"create destination tcp 192.0.2.1:80 -> 10.0.0.1:8080 weight 1",
			"create destination tcp 192.0.2.1:80 -> 10.0.0.2:8080 weight 1")
		sf, err := loadState(h.state)
		if err != nil {
			t.Fatal(err)
		}
		if len(sf.Owned) != 1 || sf.Owned[0] != web.IPVS.Key() {
			t.Errorf("owned = %v, want the web service", sf.Owned)
		}
	})
}

func TestRestartAdoptsWithoutOperations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		cfg := cfgOf(withChecks(web))
		// A previous run left the service and both backends serving.
		k.put(web.IPVS, web.Backends[0].Dest, web.Backends[1].Dest)
		h := start(t, k, cfg, "")
		wantOps(t, k.takeOps())
		if got := h.e.Status().Services[0].State; got != ServiceUp {
			t.Errorf("service state = %v, want up from the kernel's serving backends", got)
		}
		// The first results agree with the kernel: still nothing to do.
		h.health("web", healthcheck.StateUp, "10.0.0.1:8080", "10.0.0.2:8080")
		wantOps(t, k.takeOps())
	})
}

func TestBackendDownIsOneOperation(t *testing.T) {
	for _, tt := range []struct {
		on   OnFailure
		want string
	}{
		{FailRemove, "remove destination tcp 192.0.2.1:80 -> 10.0.0.1:8080"},
		{FailWeight0, "update destination tcp 192.0.2.1:80 -> 10.0.0.1:8080 weight 0"},
	} {
		t.Run(tt.on.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k := newFakeKernel()
				s := withChecks(web)
				s.OnFailure = tt.on
				h := start(t, k, cfgOf(s), "")
				h.health("web", healthcheck.StateUp, "10.0.0.1:8080", "10.0.0.2:8080")
				k.takeOps()
				h.health("web", healthcheck.StateDown, "10.0.0.1:8080")
				wantOps(t, k.takeOps(), tt.want)
				h.health("web", healthcheck.StateUp, "10.0.0.1:8080")
				if len(k.takeOps()) != 1 {
					t.Error("recovery is not one operation")
				}
			})
		})
	}
}

func TestFreshStartWaitsForFirstResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		h := start(t, k, cfgOf(withChecks(web)), "")
		wantOps(t, k.takeOps(), "create service tcp 192.0.2.1:80 scheduler wrr")
		if got := h.e.Status().Services[0].State; got != ServicePending {
			t.Errorf("state before any result = %v, want pending", got)
		}
		h.health("web", healthcheck.StateUp, "10.0.0.2:8080")
		wantOps(t, k.takeOps(), "create destination tcp 192.0.2.1:80 -> 10.0.0.2:8080 weight 1")
	})
}

func TestSorryServerBelowQuorum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		s := withChecks(web)
		s.Quorum = 2
		s.Sorry = &ipvs.Destination{Address: netip.MustParseAddr("10.0.9.9"), Port: 80, Forward: ipvs.Masquerade, Weight: 1}
		s.Track = &Track{Instance: "front", Instances: []string{"front", "back"}, Weight: 50}
		h := start(t, k, cfgOf(s), "")
		h.health("web", healthcheck.StateUp, "10.0.0.1:8080", "10.0.0.2:8080")
		k.takeOps()
		h.health("web", healthcheck.StateDown, "10.0.0.2:8080")
		// The healthy backend stays at weight 0 so its connections finish;
		// the sorry server takes new ones; the VRIP instance is lowered.
		wantOps(t, k.takeOps(),
			"remove destination tcp 192.0.2.1:80 -> 10.0.0.2:8080",
			"update destination tcp 192.0.2.1:80 -> 10.0.0.1:8080 weight 0",
			"create destination tcp 192.0.2.1:80 -> 10.0.9.9:80 weight 1")
		for _, inst := range []string{"front", "back"} { // the whole sync group
			if d := h.v.delta(inst); d != -50 {
				t.Errorf("vrrp delta of %s = %d, want -50", inst, d)
			}
		}
		h.health("web", healthcheck.StateUp, "10.0.0.2:8080")
		// Back at quorum: backends serve again, the sorry server drains.
		wantOps(t, k.takeOps(),
			"update destination tcp 192.0.2.1:80 -> 10.0.0.1:8080 weight 1",
			"create destination tcp 192.0.2.1:80 -> 10.0.0.2:8080 weight 1",
			"update destination tcp 192.0.2.1:80 -> 10.0.9.9:80 weight 0")
		if d := h.v.delta("front"); d != 0 {
			t.Errorf("vrrp delta = %d, want 0", d)
		}
		// Idle, the sorry server is deleted at the next drain poll.
		time.Sleep(2 * drainPoll)
		synctest.Wait()
		wantOps(t, k.takeOps(), "remove destination tcp 192.0.2.1:80 -> 10.0.9.9:80")
	})
}

func TestAnnounceWhileUpAndNotDrained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		s := withChecks(web)
		s.Announce = true
		other := svc("api", "192.0.2.1", "10.0.0.3") // same VIP, port 81, not checked
		other.IPVS.Port = 81
		other.Announce = true
		var got [][]netip.Addr
		h := startWith(t, k, cfgOf(s, other), Options{OnAnnounce: func(v []netip.Addr) { got = append(got, v) }})
		vip := []netip.Addr{netip.MustParseAddr("192.0.2.1")}
		// Pending is not up: nothing is announced before the checks say so.
		if len(got) != 1 || len(got[0]) != 0 {
			t.Fatalf("announced at start: %v, want once, nothing", got)
		}
		h.health("web", healthcheck.StateUp, "10.0.0.1:8080", "10.0.0.2:8080")
		h.health("web", healthcheck.StateDown, "10.0.0.1:8080", "10.0.0.2:8080")
		if changed, err := h.e.DrainNode(context.Background(), true); err != nil || !changed {
			t.Fatalf("drain-node: changed %v, %v; want a change", changed, err)
		}
		if changed, err := h.e.DrainNode(context.Background(), true); err != nil || changed {
			t.Fatalf("drain-node again: changed %v, %v; want none", changed, err)
		}
		h.health("web", healthcheck.StateUp, "10.0.0.1:8080")
		if changed, err := h.e.DrainNode(context.Background(), false); err != nil || !changed {
			t.Fatalf("undrain-node: changed %v, %v; want a change", changed, err)
		}
		want := [][]netip.Addr{{}, vip, {}, vip}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("announcements (-want +got):\n%s", diff)
		}
		time.Sleep(2 * publishEvery) // the snapshot is published at most this often
		synctest.Wait()
		if st := h.e.Status(); st.NodeDrained || len(st.Announced) != 1 {
			t.Errorf("status: drained %v, announced %v", st.NodeDrained, st.Announced)
		}
	})
}

func TestQuorumUpDelayStopsFlapping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		s := withChecks(svc("web", "192.0.2.1", "10.0.0.1"))
		s.UpDelay = 10 * time.Second
		s.Track = &Track{Instance: "front", Weight: 10}
		h := start(t, k, cfgOf(s), "")
		h.health("web", healthcheck.StateUp, "10.0.0.1:8080")
		for range 3 { // flaps faster than the up delay
			h.health("web", healthcheck.StateDown, "10.0.0.1:8080")
			time.Sleep(3 * time.Second)
			h.health("web", healthcheck.StateUp, "10.0.0.1:8080")
			time.Sleep(3 * time.Second)
			if st := h.e.Status().Services[0].State; st != ServiceDown {
				t.Fatalf("state %v while flapping, want down", st)
			}
		}
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if st := h.e.Status().Services[0].State; st != ServiceUp {
			t.Fatalf("state %v after holding quorum for the up delay, want up", st)
		}
		if d := h.v.delta("front"); d != 0 {
			t.Errorf("vrrp delta = %d after recovery", d)
		}
	})
}

func TestRuntimeDrainSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		h := start(t, k, cfgOf(web), "")
		k.takeOps()
		ap := netip.MustParseAddrPort("10.0.0.1:8080")
		if err := h.e.Drain(context.Background(), "web", ap, true); err != nil {
			t.Fatal(err)
		}
		wantOps(t, k.takeOps(), "update destination tcp 192.0.2.1:80 -> 10.0.0.1:8080 weight 0")
		if err := h.e.Drain(context.Background(), "web", netip.MustParseAddrPort("10.0.0.7:8080"), true); !errors.Is(err, ErrUnknownBackend) {
			t.Errorf("drain of an unknown backend: %v", err)
		}
		h.stop()
		h2 := start(t, k, cfgOf(web), h.state)
		wantOps(t, k.takeOps())
		if got := h2.e.Status().Services[0].Backends[0].Drained; got != "runtime" {
			t.Errorf("drained = %q after restart, want runtime", got)
		}
		if err := h2.e.Drain(context.Background(), "web", ap, false); err != nil {
			t.Fatal(err)
		}
		wantOps(t, k.takeOps(), "update destination tcp 192.0.2.1:80 -> 10.0.0.1:8080 weight 1")
	})
}

func TestReloadAppliesOnlyTheDifference(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		api := svc("api", "192.0.2.2", "10.0.1.1")
		h := start(t, k, cfgOf(web, api), "")
		k.takeOps()
		web2 := svc("web", "192.0.2.1", "10.0.0.1", "10.0.0.2")
		web2.Backends[1].Dest.Weight = 5
		if err := h.e.Reload(context.Background(), cfgOf(web2, api)); err != nil {
			t.Fatal(err)
		}
		wantOps(t, k.takeOps(), "update destination tcp 192.0.2.1:80 -> 10.0.0.2:8080 weight 5")
	})
}

// TestReloadKeepsUnchangedFingerprints: a reload that keeps a service's
// fingerprint keeps its checks as they were and issues nothing for it; the
// changed service is applied.
func TestReloadKeepsUnchangedFingerprints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		web1, api1 := withChecks(web), withChecks(svc("api", "192.0.2.2", "10.0.1.1", "10.0.1.2"))
		web1.Fingerprint, api1.Fingerprint = "w1", "a1"
		h := start(t, k, cfgOf(web1, api1), "")
		h.health("web", healthcheck.StateUp, "10.0.0.1:8080", "10.0.0.2:8080")
		h.health("api", healthcheck.StateUp, "10.0.1.1:8080", "10.0.1.2:8080")
		k.takeOps()
		web2, api2 := withChecks(web), withChecks(svc("api", "192.0.2.2", "10.0.1.1", "10.0.1.2"))
		web2.Fingerprint, api2.Fingerprint = "w1", "a2"
		api2.Backends[1].Dest.Weight = 5
		if err := h.e.Reload(context.Background(), cfgOf(web2, api2)); err != nil {
			t.Fatal(err)
		}
		wantOps(t, k.takeOps(), "update destination tcp 192.0.2.2:80 -> 10.0.1.2:8080 weight 5")
		for _, id := range []string{"web/10.0.0.1:8080", "web/10.0.0.2:8080", "api/10.0.1.1:8080"} {
			if _, ok := h.c.get(id); !ok {
				t.Errorf("check %s lost at the reload", id)
			}
		}
		// Health stays: a web backend going down is still one operation.
		h.health("web", healthcheck.StateDown, "10.0.0.2:8080")
		wantOps(t, k.takeOps(), "remove destination tcp 192.0.2.1:80 -> 10.0.0.2:8080")
	})
}

// TestReloadRebuildsChecksWhoseMarkMoved: a service with an unchanged
// fingerprint whose through_vip backends get new marks (the range moved)
// has its checks rebuilt with them.
func TestReloadRebuildsChecksWhoseMarkMoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		s := withChecks(svc("web", "192.0.2.1", "10.0.0.1"))
		s.Backends[0].Dest.Forward, s.Backends[0].ThroughVIP, s.Fingerprint = ipvs.DirectRoute, true, "w1"
		h := start(t, k, cfgOf(s), "")
		if ch, _ := h.c.get("web/10.0.0.1:8080"); ch.Definition.Mark != 1000 {
			t.Fatalf("mark = %d, want 1000", ch.Definition.Mark)
		}
		cfg := cfgOf(s)
		cfg.CheckMarks = MarkRange{2000, 2999}
		if err := h.e.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if ch, _ := h.c.get("web/10.0.0.1:8080"); ch.Definition.Mark != 2000 {
			t.Errorf("mark after the range moved = %d, want 2000", ch.Definition.Mark)
		}
		if !k.has(ipvs.Service{Family: ipvs.IPv4, FWMark: 2000}.Key()) {
			t.Error("no check service at the new mark")
		}
	})
}

func TestRemovedBackendDrainsUntilIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		h := start(t, k, cfgOf(web), "")
		k.takeOps()
		k.edit(func(k *fakeKernel) { k.svcs[web.IPVS.Key()].dests[1].ActiveConns = 3 })
		if err := h.e.Reload(context.Background(), cfgOf(svc("web", "192.0.2.1", "10.0.0.1"))); err != nil {
			t.Fatal(err)
		}
		wantOps(t, k.takeOps(), "update destination tcp 192.0.2.1:80 -> 10.0.0.2:8080 weight 0")
		time.Sleep(5 * drainPoll)
		synctest.Wait()
		wantOps(t, k.takeOps()) // still 3 connections
		k.edit(func(k *fakeKernel) { k.svcs[web.IPVS.Key()].dests[1].ActiveConns = 0 })
		time.Sleep(2 * drainPoll)
		synctest.Wait()
		wantOps(t, k.takeOps(), "remove destination tcp 192.0.2.1:80 -> 10.0.0.2:8080")
	})
}

func TestRemovedBackendGoesAtDrainTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		h := start(t, k, cfgOf(web), "")
		k.takeOps()
		k.edit(func(k *fakeKernel) { k.svcs[web.IPVS.Key()].dests[1].ActiveConns = 3 })
		if err := h.e.Reload(context.Background(), cfgOf(svc("web", "192.0.2.1", "10.0.0.1"))); err != nil {
			t.Fatal(err)
		}
		k.takeOps()
		time.Sleep(web.DrainTimeout - time.Second)
		synctest.Wait()
		wantOps(t, k.takeOps())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		wantOps(t, k.takeOps(), "remove destination tcp 192.0.2.1:80 -> 10.0.0.2:8080")
	})
}

func TestUDPBackendRemovedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		dns := svc("dns", "192.0.2.53", "10.0.0.1", "10.0.0.2")
		dns.IPVS.Protocol = ipvs.UDP
		h := start(t, k, cfgOf(dns), "")
		k.takeOps()
		dns1 := svc("dns", "192.0.2.53", "10.0.0.1")
		dns1.IPVS.Protocol = ipvs.UDP
		if err := h.e.Reload(context.Background(), cfgOf(dns1)); err != nil {
			t.Fatal(err)
		}
		wantOps(t, k.takeOps(), "remove destination udp 192.0.2.53:80 -> 10.0.0.2:8080")
	})
}

func TestIdentityChangeAddsNewThenDrainsOld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		h := start(t, k, cfgOf(web), "")
		k.takeOps()
		k.edit(func(k *fakeKernel) { k.svcs[web.IPVS.Key()].dests[0].ActiveConns = 1 })
		moved := svc("web", "192.0.2.9", "10.0.0.1", "10.0.0.2")
		if err := h.e.Reload(context.Background(), cfgOf(moved)); err != nil {
			t.Fatal(err)
		}
		wantOps(t, k.takeOps(),
			"update destination tcp 192.0.2.1:80 -> 10.0.0.1:8080 weight 0",
			"update destination tcp 192.0.2.1:80 -> 10.0.0.2:8080 weight 0",
			"create service tcp 192.0.2.9:80 scheduler wrr",
			"create destination tcp 192.0.2.9:80 -> 10.0.0.1:8080 weight 1",
			"create destination tcp 192.0.2.9:80 -> 10.0.0.2:8080 weight 1")
		// The next read finds 10.0.0.2 idle: it goes; 10.0.0.1 has a connection.
		time.Sleep(drainPoll + time.Millisecond)
		synctest.Wait()
		wantOps(t, k.takeOps(), "remove destination tcp 192.0.2.1:80 -> 10.0.0.2:8080")
		k.edit(func(k *fakeKernel) { k.svcs[web.IPVS.Key()].dests[0].ActiveConns = 0 })
		time.Sleep(2 * drainPoll)
		synctest.Wait()
		wantOps(t, k.takeOps(), "remove service tcp 192.0.2.1:80")
		if k.has(web.IPVS.Key()) {
			t.Error("old service still in the kernel")
		}
	})
}

func TestDriftRepairedAtResync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		start(t, k, cfgOf(web), "")
		k.takeOps()
		// ipvsadm -C, and someone's hand-made service, which is not ours.
		foreign := ipvs.Service{Protocol: ipvs.TCP, Address: netip.MustParseAddr("198.51.100.1"), Port: 443}
		k.edit(func(k *fakeKernel) { clear(k.svcs); k.order = nil })
		k.put(foreign)
		time.Sleep(31 * time.Second)
		synctest.Wait()
		wantOps(t, k.takeOps(),
			"create service tcp 192.0.2.1:80 scheduler wrr",
			"create destination tcp 192.0.2.1:80 -> 10.0.0.1:8080 weight 1",
			"create destination tcp 192.0.2.1:80 -> 10.0.0.2:8080 weight 1")
		if !k.has(foreign.Key()) {
			t.Error("a service the engine never created was removed")
		}
		// A weight edited by hand.
		k.edit(func(k *fakeKernel) { k.svcs[web.IPVS.Key()].dests[0].Weight = 9 })
		time.Sleep(31 * time.Second)
		synctest.Wait()
		wantOps(t, k.takeOps(), "update destination tcp 192.0.2.1:80 -> 10.0.0.1:8080 weight 1")
	})
}

func TestInconsistentDumpNeverCausesWrongDeletes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		api := svc("api", "192.0.2.2", "10.0.1.1")
		k.put(api.IPVS, api.Backends[0].Dest)
		start(t, k, cfgOf(web, api), "")
		k.takeOps()
		// The next dump misses the whole service and shows a phantom
		// destination in another: neither is true.
		phantom := ipvs.Destination{Address: netip.MustParseAddr("10.0.0.99"), Port: 8080, Weight: 1}
		k.edit(func(k *fakeKernel) {
			k.dumpHook = func(d []ipvs.ServiceDestinations) []ipvs.ServiceDestinations {
				var out []ipvs.ServiceDestinations
				for _, sd := range d {
					switch sd.Service.Key() {
					case web.IPVS.Key():
						continue
					case api.IPVS.Key():
						sd.Destinations = append(sd.Destinations, phantom)
					}
					out = append(out, sd)
				}
				return out
			}
		})
		time.Sleep(31 * time.Second)
		synctest.Wait()
		// Both disagreements are read on their own first, and found untrue.
		wantOps(t, k.takeOps())
		d, _ := k.dest(web.IPVS.Key(), "10.0.0.1:8080")
		if d.Weight != 1 {
			t.Errorf("web's backends were disturbed: %+v", d)
		}
	})
}

func TestOwnedServiceRemovedWhileDownIsRemovedAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		api := svc("api", "192.0.2.2", "10.0.1.1")
		h := start(t, k, cfgOf(web, api), "")
		h.stop()
		k.takeOps()
		foreign := ipvs.Service{Protocol: ipvs.TCP, Address: netip.MustParseAddr("198.51.100.1"), Port: 443}
		k.put(foreign)
		// Restart without api: it was ours, so it drains and goes.
		start(t, k, cfgOf(web), h.state)
		wantOps(t, k.takeOps(), "update destination tcp 192.0.2.2:80 -> 10.0.1.1:8080 weight 0")
		time.Sleep(drainPoll + time.Millisecond)
		synctest.Wait()
		wantOps(t, k.takeOps(), "remove service tcp 192.0.2.2:80")
		if !k.has(foreign.Key()) {
			t.Error("foreign service removed")
		}
	})
}

func TestReloadRefusedByChecksChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		h := start(t, k, cfgOf(web), "")
		k.takeOps()
		h.c.mu.Lock()
		h.c.err = errors.New("ca file unreadable")
		h.c.mu.Unlock()
		if err := h.e.Reload(context.Background(), cfgOf(svc("web", "192.0.2.1", "10.0.0.1"))); err == nil {
			t.Fatal("reload succeeded")
		}
		wantOps(t, k.takeOps())
		if n := len(h.e.Status().Services[0].Backends); n != 2 {
			t.Errorf("running config changed: %d backends", n)
		}
	})
}

func TestTransportFailureRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		k.fail = 2
		start(t, k, cfgOf(web), "")
		if k.has(web.IPVS.Key()) {
			t.Fatal("applied despite the failure")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !k.has(web.IPVS.Key()) {
			t.Fatal("not retried")
		}
	})
}

func TestRemoveOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		foreign := ipvs.Service{Protocol: ipvs.TCP, Address: netip.MustParseAddr("198.51.100.1"), Port: 443}
		k.put(foreign)
		cfg := cfgOf(web)
		cfg.RemoveOnStop = true
		h := start(t, k, cfg, "")
		h.stop()
		if k.has(web.IPVS.Key()) || !k.has(foreign.Key()) {
			t.Errorf("after stop: ours %v, foreign %v", k.has(web.IPVS.Key()), k.has(foreign.Key()))
		}
	})
}

func TestThroughVIPCheckServices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newFakeKernel()
		s := withChecks(svc("web", "192.0.2.1", "10.0.0.1", "10.0.0.2"))
		for i := range s.Backends {
			s.Backends[i].Dest.Forward = ipvs.DirectRoute
			s.Backends[i].Dest.Port = 80
			s.Backends[i].Check.Target = netip.AddrPortFrom(s.Backends[i].Dest.Address, 80)
			s.Backends[i].ThroughVIP = true
		}
		h := start(t, k, cfgOf(s), "")
		ch, ok := h.c.get("web/10.0.0.2:80")
		if !ok {
			t.Fatal("no check")
		}
		if ch.Definition.Target != netip.MustParseAddrPort("192.0.2.1:80") || ch.Definition.Mark != 1001 {
			t.Errorf("through_vip check = target %v mark %d, want the VIP and mark 1001", ch.Definition.Target, ch.Definition.Mark)
		}
		mk := ipvs.Service{Family: ipvs.IPv4, FWMark: 1001}.Key()
		if d, ok := k.dest(mk, "10.0.0.2:80"); !ok || d.Forward != ipvs.DirectRoute || d.Weight != 1 {
			t.Errorf("check service of 10.0.0.2: %+v %v", d, ok)
		}
		// The check service keeps the backend reachable while it is down.
		h.health("web", healthcheck.StateDown, "10.0.0.2:80")
		if _, ok := k.dest(mk, "10.0.0.2:80"); !ok {
			t.Error("check service lost its backend when it went down")
		}
		// Marks survive a restart.
		h.stop()
		k.takeOps()
		h2 := start(t, k, cfgOf(s), h.state)
		wantOps(t, k.takeOps())
		if ch, _ := h2.c.get("web/10.0.0.2:80"); ch.Definition.Mark != 1001 {
			t.Errorf("mark after restart = %d", ch.Definition.Mark)
		}
	})
}

func TestStateFileCorruptIsNotFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
			t.Fatal(err)
		}
		k := newFakeKernel()
		start(t, k, cfgOf(web), path)
		if !k.has(web.IPVS.Key()) {
			t.Fatal("did not start")
		}
		if _, err := loadState(path); err != nil {
			t.Errorf("state file not rewritten: %v", err)
		}
	})
}
