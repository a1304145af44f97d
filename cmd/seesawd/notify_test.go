package main

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	"github.com/seesawd/seesawd/internal/sdnotifytest"
	"github.com/seesawd/seesawd/pkg/clock"
	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/ipvs/ipvstest"
)

// listenNotify points this process's NOTIFY_SOCKET at a fresh socket;
// watchdog, when non-zero, is announced as systemd does (WATCHDOG_USEC,
// WATCHDOG_PID).
func listenNotify(t *testing.T, watchdog time.Duration) *sdnotifytest.Socket {
	t.Helper()
	sd := sdnotifytest.Listen(t)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	for _, kv := range sd.Env(watchdog) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if watchdog > 0 {
		t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	}
	return sd
}

// TestNotifyProtocol drives the notifier through a start, a refused reload,
// a watchdog ping and a stop, and reads what systemd would.
func TestNotifyProtocol(t *testing.T) {
	sd := listenNotify(t, 2*time.Second)
	n := newNotifier(zaptest.NewLogger(t))
	if got := n.loopPing(); got != time.Second {
		t.Fatalf("loopPing = %v, want 1s (half of WATCHDOG_USEC)", got)
	}

	n.ready("serving 1 service(s), 0 VRRP instance(s)")
	before := sdnotifytest.MonotonicUsec(t)
	n.reloading()
	n.reloaded(reloadResult{Outcome: "refused", Problems: []string{"seesawd.yaml:3: services[0].port: 0 out of range 1-65535"}},
		"serving 1 service(s), 0 VRRP instance(s)")
	n.ping()
	n.stopping()

	got := sd.Queued(t)
	if len(got) != 5 {
		t.Fatalf("%d datagrams, want 5 (READY, RELOADING, READY, WATCHDOG, STOPPING): %v", len(got), got)
	}
	// RELOADING=1 and its timestamp in one datagram, or systemd ignores it
	// and `systemctl reload` hangs until its timeout.
	sdnotifytest.CheckReloading(t, got[1], before)
	msgs := make([]map[string]string, len(got))
	for i, m := range got {
		msgs[i] = m.Fields
	}
	delete(msgs[1], "MONOTONIC_USEC")
	want := []map[string]string{
		{"READY": "1", "STATUS": "serving 1 service(s), 0 VRRP instance(s)"},
		{"RELOADING": "1", "STATUS": "reloading the configuration"},
		{"READY": "1", "STATUS": "reload refused, running configuration kept: " +
			"seesawd.yaml:3: services[0].port: 0 out of range 1-65535; serving 1 service(s), 0 VRRP instance(s)"},
		{"WATCHDOG": "1"},
		{"STOPPING": "1", "STATUS": "stopping"},
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("datagrams (-want +got):\n%s", diff)
	}

	// Nothing after STOPPING=1: systemd would not let a READY=1 revive
	// the unit anyway, and a ping would only be noise.
	n.ready("serving")
	n.reloading()
	n.reloaded(reloadResult{Outcome: "applied", Hash: strings.Repeat("ab", 32)}, "serving")
	n.ping()
	n.stopping()
	if late := sd.Queued(t); len(late) > 0 {
		t.Errorf("sent after STOPPING=1: %v", late)
	}
}

// TestNotifyStatusCannotInjectAssignments: a problem text is configuration
// input; its newlines must not become assignments of their own.
func TestNotifyStatusCannotInjectAssignments(t *testing.T) {
	sd := listenNotify(t, 0)
	n := newNotifier(zaptest.NewLogger(t))
	n.reloaded(reloadResult{Outcome: "refused", Problems: []string{"bad\nSTOPPING=1\nMAINPID=1", "second"}}, "serving")
	got := sd.Queued(t)
	if len(got) != 1 {
		t.Fatalf("%d datagrams, want 1: %v", len(got), got)
	}
	f := got[0].Fields
	want := map[string]string{"READY": "1",
		"STATUS": "reload refused, running configuration kept: bad STOPPING=1 MAINPID=1 (and 1 more; seesawd --check-config lists them); serving"}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("datagram (-want +got):\n%s", diff)
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "1000000")
	n := newNotifier(zaptest.NewLogger(t))
	if n.loopPing() != 0 || n.ticker(true) != nil {
		t.Errorf("a watchdog without NOTIFY_SOCKET: loopPing %v", n.loopPing())
	}
	// Nothing to send to: these must simply return.
	n.ready("x")
	n.reloading()
	n.reloaded(reloadResult{Outcome: "unchanged"}, "x")
	n.ping()
	n.stopping()
}

// TestNotifyWatchdogSettings: the watchdog is ours only when WATCHDOG_PID
// names this process (systemd's rule); a malformed WATCHDOG_USEC is ignored.
func TestNotifyWatchdogSettings(t *testing.T) {
	for _, tc := range []struct {
		name, usec, pid string
		want            time.Duration
	}{
		{"ours", "3000000", strconv.Itoa(os.Getpid()), 1500 * time.Millisecond},
		{"no pid given", "3000000", "", 1500 * time.Millisecond},
		{"another process's", "3000000", strconv.Itoa(os.Getpid() + 1), 0},
		{"malformed", "soon", strconv.Itoa(os.Getpid()), 0},
		{"zero", "0", strconv.Itoa(os.Getpid()), 0},
		{"off", "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd := listenNotify(t, 0)
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			n := newNotifier(zaptest.NewLogger(t))
			if got := n.loopPing(); got != tc.want {
				t.Errorf("loopPing = %v, want %v", got, tc.want)
			}
			n.ping()
			pings := len(sd.Queued(t))
			if want := map[bool]int{true: 1, false: 0}[tc.want > 0]; pings != want {
				t.Errorf("%d pings sent, want %d", pings, want)
			}
		})
	}
}

// TestNotifyPingThrottle: a burst of engine events is not a burst of
// datagrams, and pings resume a quarter of loopPing later.
func TestNotifyPingThrottle(t *testing.T) {
	sd := listenNotify(t, 4*time.Second)
	n := newNotifier(zaptest.NewLogger(t))
	fake := clock.NewFake(time.Unix(1000, 0))
	n.clock = fake
	for range 100 {
		n.ping()
	}
	if got := len(sd.Queued(t)); got != 1 {
		t.Fatalf("%d pings for a burst, want 1", got)
	}
	fake.Advance(n.loopPing()/4 - time.Millisecond)
	n.ping()
	if got := len(sd.Queued(t)); got != 0 {
		t.Fatalf("%d pings before a quarter of loopPing passed, want 0", got)
	}
	fake.Advance(time.Millisecond)
	n.ping()
	if got := len(sd.Queued(t)); got != 1 {
		t.Fatalf("%d pings a quarter of loopPing later, want 1", got)
	}
}

// TestWatchdogStopsWhenEngineLoopIsStuck runs the engine with the
// notifier's ping as its OnLoop, as the daemon does, on a fake kernel: the
// pings come while the loop runs, stop while a kernel call holds the loop,
// and resume when it returns. A ping from any other goroutine (a ticker)
// would keep a hung engine alive in systemd's eyes.
func TestWatchdogStopsWhenEngineLoopIsStuck(t *testing.T) {
	const loopPing = 50 * time.Millisecond
	sd := listenNotify(t, 2*loopPing)
	n := newNotifier(zaptest.NewLogger(t))

	cfg, err := config.Parse([]byte(`
services:
  - name: web
    vip: 192.0.2.10
    port: 80
    backends: [{ address: 10.0.1.10 }, { address: 10.0.1.11 }]
`))
	if err != nil {
		t.Fatal(err)
	}
	k := ipvstest.NewKernel()
	client, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	checks := healthcheck.New(nil)
	t.Cleanup(func() { checks.Close() })
	ecfg := cfg.Engine()
	e, err := engine.New(engine.Options{Kernel: client, Checks: checks, Logger: zaptest.NewLogger(t),
		OnLoop: n.ping, LoopPing: n.loopPing()}, &ecfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		k.Unblock()
		cancel()
		<-done
	})
	select {
	case <-e.Ready():
	case err := <-done:
		t.Fatalf("engine stopped: %v", err)
	}

	waitPings := func(what string, count int) {
		t.Helper()
		for i := 0; i < count; i++ {
			m, ok := sd.Next(t, 10*time.Second)
			if !ok {
				t.Fatalf("%s: no WATCHDOG=1 within 10s (got %d of %d)", what, i, count)
			}
			if !m.IsPing() {
				t.Fatalf("%s: datagram %v, want WATCHDOG=1", what, m)
			}
		}
	}
	waitPings("idle engine", 3)

	// Hold the loop in a kernel call: a drain is applied on the engine's
	// goroutine, and the fake kernel holds its reply back.
	select {
	case <-k.Waiting():
	default:
	}
	k.Block()
	drained := make(chan error, 1)
	go func() { drained <- e.Drain(ctx, "web", netip.MustParseAddrPort("10.0.1.10:80"), true) }()
	select {
	case <-k.Waiting():
	case err := <-drained:
		t.Fatalf("drain returned before the kernel answered: %v", err)
	}
	// Every ping sent before the loop got stuck is queued by now: the loop
	// pings only between events, on the goroutine that is now waiting.
	sd.Queued(t)
	if m, ok := sd.Next(t, 10*loopPing); ok {
		t.Fatalf("%v sent while the engine loop was stuck for 10 ping intervals", m)
	}

	k.Unblock()
	if err := <-drained; err != nil {
		t.Fatalf("drain: %v", err)
	}
	waitPings("engine unstuck", 2)
	for _, s := range k.State() {
		for _, d := range s.Destinations {
			if d.Address == netip.MustParseAddr("10.0.1.10") && d.Weight != 0 {
				t.Errorf("drained backend has weight %d after the stuck call returned", d.Weight)
			}
		}
	}
	if !slices.ContainsFunc(k.State(), func(s ipvs.ServiceDestinations) bool { return s.Service.Port == 80 }) {
		t.Error("the service is not in the kernel")
	}
}
