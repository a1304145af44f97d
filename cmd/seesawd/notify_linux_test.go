//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/sdnotifytest"
	"github.com/seesawd/seesawd/internal/testenv"
)

// TestIntegrationDaemonNotify runs the seesawd binary as systemd runs its
// unit: as a user of its own (nobody here) with CAP_NET_ADMIN and
// CAP_NET_RAW only, with NOTIFY_SOCKET and WATCHDOG_USEC, on a node with no
// IPVS (VRRP only, so the daemon's own loop feeds the watchdog). VRRP must
// work so: no setns, which needs CAP_SYS_ADMIN. READY=1 once serving, pings within the watchdog interval,
// RELOADING=1+MONOTONIC_USEC then READY=1 for a refused and an applied
// reload, STOPPING=1 at SIGTERM and nothing after. The VM lab's package
// test (test/packaging) checks the same with the engine and IPVS.
func TestIntegrationDaemonNotify(t *testing.T) {
	testenv.Integration(t, "go", "setpriv", "nft")
	bin := seesawdBinary(t)
	l := testenv.NewLAN(t)
	ns, _ := l.Attach(t, "192.0.2.1/24", "02:00:00:00:00:0a")
	cfg := seesawConfig(t, "a", 200, "100ms")
	// Readable by nobody, with the paths the daemon writes in a directory of its own.
	dir := filepath.Dir(cfg)
	for _, d := range []string{dir, filepath.Dir(dir), bin, filepath.Dir(bin)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o755); err != nil || os.Chown(run, 65534, 65534) != nil {
		t.Fatalf("run directory: %v", err)
	}
	// accept: false makes VRRP build its nftables table, over netlink too.
	// The control socket moves to the directory the unprivileged user
	// may write, replacing the one seesawConfig gives.
	base := strings.Replace(mustRead(t, cfg), "    priority: 200\n", "    priority: 200\n    accept: false\n", 1)
	base = regexp.MustCompile(`(?m)^control: .*\n`).ReplaceAllString(base, "")
	good := fmt.Sprintf("%scontrol: { socket: %s/seesawd.sock }\nmetrics: { listen: \"\" }\nipvs: { state_file: %s/state.json }\n",
		base, run, run)
	if err := os.WriteFile(cfg, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	sd := sdnotifytest.Listen(t)
	for _, p := range []string{filepath.Dir(sd.Path), sd.Path} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	const watchdog = 2 * time.Second
	d := startDaemonEnv(t, ns, "seesawd", sd.Env(watchdog), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all,+net_admin,+net_raw", "--ambient-caps=-all,+net_admin,+net_raw",
		"--bounding-set=-all,+net_admin,+net_raw", "--no-new-privs", bin, "--config", cfg)

	m, _ := sd.Await(t, "READY=1 at start", 10*time.Second)
	if !m.Has("READY", "1") || !m.Has("STATUS", "serving 0 service(s), 1 VRRP instance(s)") {
		t.Fatalf("first notification %v, want READY=1 with the serving status", m)
	}
	if out := ns.Sh(t, "nft list table inet seesawd"); !strings.Contains(out, "vrrp-noaccept") {
		t.Errorf("no accept filter in nftables:\n%s", out)
	}
	for i := range 3 {
		m, ok := sd.Next(t, watchdog)
		if !ok || !m.IsPing() {
			t.Fatalf("ping %d: got %v (ok %v) within the watchdog interval %v, want WATCHDOG=1", i, m, ok, watchdog)
		}
	}

	reload := func(what string) sdnotifytest.Message {
		t.Helper()
		signalled := sdnotifytest.MonotonicUsec(t)
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		m, _ := sd.Await(t, what+": RELOADING=1", 10*time.Second)
		sdnotifytest.CheckReloading(t, m, signalled)
		m, _ = sd.Await(t, what+": READY=1", 10*time.Second)
		if !m.Has("READY", "1") {
			t.Fatalf("%s: %v after RELOADING=1, want READY=1", what, m)
		}
		return m
	}
	if err := os.WriteFile(cfg, []byte("vrrp: [{vrid: 999}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m = reload("refused reload")
	if st := m.Fields["STATUS"]; !strings.HasPrefix(st, "reload refused, running configuration kept: ") || !strings.Contains(st, "vrrp[0].interface: required (and 3 more") {
		t.Errorf("refused reload: STATUS=%q", st)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(good, "priority: 200", "priority: 150", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	m = reload("applied reload")
	if st := m.Fields["STATUS"]; !strings.HasPrefix(st, "reload applied (config ") || !strings.HasSuffix(st, "; serving 0 service(s), 1 VRRP instance(s)") {
		t.Errorf("applied reload: STATUS=%q", st)
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	m, _ = sd.Await(t, "STOPPING=1 at SIGTERM", 10*time.Second)
	if !m.Has("STOPPING", "1") {
		t.Fatalf("%v at SIGTERM, want STOPPING=1", m)
	}
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("seesawd exited with %v after SIGTERM", err)
	}
	if late := sd.Queued(t); len(late) > 0 {
		t.Errorf("sent after STOPPING=1: %v", late)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
