package main

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/seesawd/seesawd/pkg/clock"
	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/ipvs/ipvstest"
)

// fakeSystemd is the receiving end of NOTIFY_SOCKET: a unixgram socket, as
// systemd's /run/systemd/notify is.
type fakeSystemd struct {
	conn *net.UnixConn
}

// listenNotify points NOTIFY_SOCKET at a fresh socket; watchdog, when
// non-zero, is announced as systemd does (WATCHDOG_USEC, WATCHDOG_PID).
func listenNotify(t *testing.T, watchdog time.Duration) *fakeSystemd {
	t.Helper()
	// Short: a socket path has at most 107 bytes, and t.TempDir's carry the test's name.
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	if watchdog > 0 {
		t.Setenv("WATCHDOG_USEC", strconv.FormatInt(watchdog.Microseconds(), 10))
		t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	}
	return &fakeSystemd{conn: conn}
}

// next returns the next datagram, waiting at most d; ok is false when none came.
func (f *fakeSystemd) next(t *testing.T, d time.Duration) (msg string, ok bool) {
	t.Helper()
	if err := f.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64*1024)
	n, err := f.conn.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n]), true
}

// queued returns the datagrams already sent. The notifier writes before it
// returns, so after a call they are all in the socket's buffer.
func (f *fakeSystemd) queued(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		m, ok := f.next(t, time.Millisecond)
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

// fields parses a datagram as systemd does: KEY=value lines.
func fields(t *testing.T, msg string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(msg, "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("datagram line %q is not KEY=value (datagram %q)", line, msg)
		}
		if _, dup := out[k]; dup {
			t.Fatalf("datagram sets %s twice: %q", k, msg)
		}
		out[k] = v
	}
	return out
}

func monotonicUsec(t *testing.T) uint64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano() / 1000)
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
	before := monotonicUsec(t)
	n.reloading()
	after := monotonicUsec(t)
	n.reloaded(reloadResult{Outcome: "refused", Problems: []string{"seesawd.yaml:3: services[0].port: 0 out of range 1-65535"}},
		"serving 1 service(s), 0 VRRP instance(s)")
	n.ping()
	n.stopping()

	got := sd.queued(t)
	if len(got) != 5 {
		t.Fatalf("%d datagrams, want 5 (READY, RELOADING, READY, WATCHDOG, STOPPING): %q", len(got), got)
	}
	msgs := make([]map[string]string, len(got))
	for i, m := range got {
		msgs[i] = fields(t, m)
	}
	// RELOADING=1 and its timestamp in one datagram, or systemd ignores it
	// and `systemctl reload` hangs until its timeout.
	usec, err := strconv.ParseUint(msgs[1]["MONOTONIC_USEC"], 10, 64)
	if err != nil {
		t.Fatalf("the RELOADING=1 datagram %q has no MONOTONIC_USEC: %v", got[1], err)
	}
	if usec < before || usec > after {
		t.Errorf("MONOTONIC_USEC=%d is not CLOCK_MONOTONIC at the reload (between %d and %d)", usec, before, after)
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
	if late := sd.queued(t); len(late) > 0 {
		t.Errorf("sent after STOPPING=1: %q", late)
	}
}

// TestNotifyStatusCannotInjectAssignments: a problem text is configuration
// input; its newlines must not become assignments of their own.
func TestNotifyStatusCannotInjectAssignments(t *testing.T) {
	sd := listenNotify(t, 0)
	n := newNotifier(zaptest.NewLogger(t))
	n.reloaded(reloadResult{Outcome: "refused", Problems: []string{"bad\nSTOPPING=1\nMAINPID=1", "second"}}, "serving")
	got := sd.queued(t)
	if len(got) != 1 {
		t.Fatalf("%d datagrams, want 1: %q", len(got), got)
	}
	f := fields(t, got[0])
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
			pings := len(sd.queued(t))
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
	if got := len(sd.queued(t)); got != 1 {
		t.Fatalf("%d pings for a burst, want 1", got)
	}
	fake.Advance(n.loopPing()/4 - time.Millisecond)
	n.ping()
	if got := len(sd.queued(t)); got != 0 {
		t.Fatalf("%d pings before a quarter of loopPing passed, want 0", got)
	}
	fake.Advance(time.Millisecond)
	n.ping()
	if got := len(sd.queued(t)); got != 1 {
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
			m, ok := sd.next(t, 10*time.Second)
			if !ok {
				t.Fatalf("%s: no WATCHDOG=1 within 10s (got %d of %d)", what, i, count)
			}
			if m != "WATCHDOG=1" {
				t.Fatalf("%s: datagram %q, want WATCHDOG=1", what, m)
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
	sd.queued(t)
	if m, ok := sd.next(t, 10*loopPing); ok {
		t.Fatalf("%q sent while the engine loop was stuck for 10 ping intervals", m)
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
