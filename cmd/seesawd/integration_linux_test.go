//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the daemon binary the integration tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// seesawdBinary builds the daemon once per test binary run.
func seesawdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "seesawd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "seesawd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

const (
	vip4 = "192.0.2.100"
	vip6 = "2001:db8::100"
)

// daemon is a process running in a namespace with its output captured.
type daemon struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (d *daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.Write(p)
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

func startDaemon(t *testing.T, ns *testenv.Netns, name string, args ...string) *daemon {
	t.Helper()
	return startDaemonEnv(t, ns, name, nil, args...)
}

// startDaemonEnv starts a process with env added to this one's environment.
func startDaemonEnv(t *testing.T, ns *testenv.Netns, name string, env []string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: name, done: make(chan struct{})}
	d.cmd = ns.Cmd(context.Background(), args[0], args[1:]...)
	if env != nil {
		d.cmd.Env = append(os.Environ(), env...)
	}
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.stop(t, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, d.output())
		}
	})
	return d
}

func (d *daemon) running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// stop signals the process (ip netns exec execs it, so the pid is the daemon's) and waits.
func (d *daemon) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if d.running() {
		_ = d.cmd.Process.Signal(sig)
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		t.Errorf("%s did not stop within 10s of %v", d.name, sig)
	}
	return d.err
}

func holds(t *testing.T, ns *testenv.Netns) bool {
	return ns.HasAddr(t, vip4) && ns.HasAddr(t, vip6)
}

func holdsNone(t *testing.T, ns *testenv.Netns) bool {
	return !ns.HasAddr(t, vip4) && !ns.HasAddr(t, vip6)
}

func neighMAC(t *testing.T, ns *testenv.Netns, addr string) string {
	t.Helper()
	ping := "ping -c1 -W1 "
	if strings.Contains(addr, ":") {
		ping = "ping -6 -c1 -W1 "
	}
	ns.Sh(t, ping+addr+" >/dev/null 2>&1 || true")
	f := strings.Fields(ns.Sh(t, "ip neigh show "+addr+" dev eth0"))
	for i, w := range f {
		if w == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

func neighborsAt(t *testing.T, client *testenv.Netns, mac string) bool {
	return neighMAC(t, client, vip4) == mac && neighMAC(t, client, vip6) == mac
}

func seesawConfig(t *testing.T, name string, prio int, interval string) string {
	t.Helper()
	return writeFile(t, name+".yaml", fmt.Sprintf(`
node: { name: %s }
control: { socket: %s }
log: { level: debug, format: json }
vrrp:
  - name: front
    interface: eth0
    vrid: 51
    priority: %d
    advert_interval: %s
    garp: { count: 4, interval: 500ms }
    virtual_ips: [%s/24, "%s/64"]
`, name, controlSocket(t, name), prio, interval, vip4, vip6))
}

// assertNeverHolds samples for d that ns never holds a virtual address.
func assertNeverHolds(t *testing.T, ns *testenv.Netns, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if ns.HasAddr(t, vip4) || ns.HasAddr(t, vip6) {
			t.Fatalf("%s holds a virtual address while the higher priority node is healthy", ns.Name)
		}
	}
}

// TestIntegrationDaemonFailover runs two seesawd processes and a client on a bridge,
// IPv4 and IPv6 together: the higher priority node holds the VIPs, the lower never
// does while it is healthy; link cut -> takeover; link back -> preemption; a bad
// SIGHUP reload changes nothing; SIGTERM -> priority 0 fast takeover, VIPs removed.
func TestIntegrationDaemonFailover(t *testing.T) {
	testenv.Integration(t, "ping", "go")
	bin := seesawdBinary(t)
	l := testenv.NewLAN(t)
	const macA, macB = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
	nsA, portA := l.Attach(t, "192.0.2.1/24", macA)
	nsB, _ := l.Attach(t, "192.0.2.2/24", macB)
	client, _ := l.Attach(t, "192.0.2.10/24", "02:00:00:00:00:0c")
	client.Sh(t, "ip addr add 2001:db8::10/64 dev eth0")

	cfgA := seesawConfig(t, "a", 200, "100ms")
	a := startDaemon(t, nsA, "seesawd-a", bin, "--config", cfgA)
	b := startDaemon(t, nsB, "seesawd-b", bin, "--config", seesawConfig(t, "b", 100, "100ms"))
	testenv.WaitFor(t, "A holds the VIPs", 3*time.Second, func() bool { return holds(t, nsA) })
	assertNeverHolds(t, nsB, time.Second)
	testenv.WaitFor(t, "client neighbours at A", 2*time.Second, func() bool { return neighborsAt(t, client, macA) })

	// A bad reload is refused and the daemon keeps running as master.
	good, err := os.ReadFile(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgA, []byte("vrrp: [{vrid: 999}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Process.Signal(syscall.SIGHUP)
	testenv.WaitFor(t, "reload rejected in the log", 2*time.Second, func() bool {
		return strings.Contains(a.output(), "reload refused") && strings.Contains(a.output(), "vrrp[0].vrid: 999 out of range")
	})
	if err := os.WriteFile(cfgA, good, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Process.Signal(syscall.SIGHUP)
	testenv.WaitFor(t, "valid reload logged", 2*time.Second, func() bool {
		return strings.Contains(a.output(), "reload: configuration unchanged")
	})
	if !a.running() || !holds(t, nsA) {
		t.Fatal("A stopped or lost the VIPs after SIGHUP")
	}
	assertNeverHolds(t, nsB, 300*time.Millisecond)

	// Cut A's link.
	l.Switch.Sh(t, "ip link set "+portA+" down")
	d := testenv.WaitFor(t, "B takes over after the link cut", 3*time.Second, func() bool { return holds(t, nsB) })
	t.Logf("link cut: B holds the VIPs after %v", d)
	testenv.WaitFor(t, "A drops the VIPs in fault", time.Second, func() bool { return holdsNone(t, nsA) })
	testenv.WaitFor(t, "client neighbours at B", 2*time.Second, func() bool { return neighborsAt(t, client, macB) })

	// Restore: A preempts.
	l.Switch.Sh(t, "ip link set "+portA+" up")
	d = testenv.WaitFor(t, "A preempts", 5*time.Second, func() bool { return holds(t, nsA) && holdsNone(t, nsB) })
	t.Logf("link restored: A holds the VIPs again after %v", d)
	testenv.WaitFor(t, "client neighbours back at A", 2*time.Second, func() bool { return neighborsAt(t, client, macA) })

	// SIGTERM A: priority 0, VIPs removed, B takes over within Skew_Time.
	start := time.Now()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	testenv.WaitFor(t, "B takes over after SIGTERM", time.Second, func() bool { return holds(t, nsB) })
	took := time.Since(start)
	if err := a.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("A exited with %v after SIGTERM, want status 0", err)
	}
	if !holdsNone(t, nsA) {
		t.Error("A left a virtual address behind after SIGTERM")
	}
	t.Logf("SIGTERM: B holds the VIPs %v after the signal", took)
	if took > 300*time.Millisecond {
		t.Errorf("takeover after SIGTERM took %v; priority 0 should make it ~Skew_Time (61ms), not Master_Down_Interval (361ms)", took)
	}
	testenv.WaitFor(t, "client neighbours at B after SIGTERM", 2*time.Second, func() bool { return neighborsAt(t, client, macB) })
	if !strings.Contains(a.output(), `"to":"initialize"`) || !strings.Contains(a.output(), "seesawd stopped") {
		t.Errorf("A's log lacks the shutdown transition:\n%s", a.output())
	}
	if err := b.stop(t, syscall.SIGINT); err != nil {
		t.Errorf("B exited with %v after SIGINT", err)
	}
	if !holdsNone(t, nsB) {
		t.Error("B left a virtual address behind after SIGINT")
	}
}

func keepalivedConfig(t *testing.T, prio int, interval string) string {
	t.Helper()
	return writeFile(t, "keepalived.conf", fmt.Sprintf(`
global_defs {
  vrrp_version 3
  script_user root
}
vrrp_instance V4 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority %[1]d
  advert_int %[2]s
  virtual_ipaddress {
    %[3]s/24
  }
}
vrrp_instance V6 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority %[1]d
  advert_int %[2]s
  virtual_ipaddress {
    %[4]s/64
  }
}
`, prio, interval, vip4, vip6))
}

func startKeepalived(t *testing.T, ns *testenv.Netns, conf string) *daemon {
	t.Helper()
	dir := t.TempDir()
	return startDaemon(t, ns, "keepalived", "keepalived", "-n", "-l", "-D", "-f", conf,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
}

// TestIntegrationKeepalivedInterop runs seesawd against keepalived 2.2.7 in both roles,
// IPv4 and IPv6 at once, with the RFC 5798 checksum (keepalived 2.2.7 has no
// v3_checksum_as_v2 option to test the other mode against).
func TestIntegrationKeepalivedInterop(t *testing.T) {
	testenv.Integration(t, "keepalived", "ping", "go")
	bin := seesawdBinary(t)
	for _, tt := range []struct {
		name       string
		seesawHigh bool
	}{
		{"keepalived master, seesawd backup", false},
		{"seesawd master, keepalived backup", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := testenv.NewLAN(t)
			const macS, macK = "02:00:00:00:00:05", "02:00:00:00:00:0e"
			nsS, _ := l.Attach(t, "192.0.2.1/24", macS)
			nsK, _ := l.Attach(t, "192.0.2.2/24", macK)
			client, _ := l.Attach(t, "192.0.2.10/24", "02:00:00:00:00:0c")
			client.Sh(t, "ip addr add 2001:db8::10/64 dev eth0")

			sPrio, kPrio := 100, 200
			if tt.seesawHigh {
				sPrio, kPrio = 200, 100
			}
			kconf := keepalivedConfig(t, kPrio, "0.1")
			high, low, highMAC, lowMAC := nsK, nsS, macK, macS
			if tt.seesawHigh {
				high, low, highMAC, lowMAC = nsS, nsK, macS, macK
			}
			// The master starts first and settles; then the backup joins and must
			// never take the addresses.
			var s, k *daemon
			if tt.seesawHigh {
				s = startDaemon(t, nsS, "seesawd", bin, "--config", seesawConfig(t, "s", sPrio, "100ms"))
			} else {
				k = startKeepalived(t, nsK, kconf)
			}
			testenv.WaitFor(t, "the higher priority node holds the VIPs", 5*time.Second, func() bool { return holds(t, high) })
			if tt.seesawHigh {
				k = startKeepalived(t, nsK, kconf)
				testenv.WaitFor(t, "keepalived in backup", 3*time.Second, func() bool {
					return strings.Count(k.output(), "Entering BACKUP STATE") >= 2
				})
			} else {
				s = startDaemon(t, nsS, "seesawd", bin, "--config", seesawConfig(t, "s", sPrio, "100ms"))
				testenv.WaitFor(t, "seesawd in backup", 3*time.Second, func() bool {
					return strings.Count(s.output(), `"to":"backup"`) >= 2
				})
			}
			assertNeverHolds(t, low, 1500*time.Millisecond)
			if !holds(t, high) {
				t.Fatal("the master lost the VIPs")
			}
			if !tt.seesawHigh && strings.Contains(s.output(), `"to":"master"`) {
				t.Fatalf("seesawd became master under a healthy keepalived master:\n%s", s.output())
			}
			if tt.seesawHigh && strings.Count(k.output(), "Entering MASTER STATE") > 0 {
				t.Fatalf("keepalived became master under a healthy seesawd master:\n%s", k.output())
			}
			testenv.WaitFor(t, "client neighbours at the master", 3*time.Second, func() bool { return neighborsAt(t, client, highMAC) })

			// Graceful stop of the master: the other takes over on priority 0.
			master := k
			if tt.seesawHigh {
				master = s
			}
			start := time.Now()
			_ = master.cmd.Process.Signal(syscall.SIGTERM)
			testenv.WaitFor(t, "the lower priority node takes over", 2*time.Second, func() bool { return holds(t, low) })
			took := time.Since(start)
			t.Logf("graceful stop of the master: takeover %v after the signal", took)
			if took > 300*time.Millisecond {
				t.Errorf("takeover after a graceful stop took %v, want about Skew_Time (61ms)", took)
			}
			if err := master.stop(t, syscall.SIGTERM); err != nil {
				t.Errorf("%s exit: %v", master.name, err)
			}
			testenv.WaitFor(t, "client neighbours at the new master", 3*time.Second, func() bool { return neighborsAt(t, client, lowMAC) })

			// The higher priority node comes back and preempts.
			if tt.seesawHigh {
				s = startDaemon(t, nsS, "seesawd-again", bin, "--config", seesawConfig(t, "s2", sPrio, "100ms"))
			} else {
				k = startKeepalived(t, nsK, kconf)
			}
			testenv.WaitFor(t, "the higher priority node preempts", 5*time.Second, func() bool {
				return holds(t, high) && holdsNone(t, low)
			})
			testenv.WaitFor(t, "client neighbours back at the master", 2*time.Second, func() bool { return neighborsAt(t, client, highMAC) })
			if strings.Contains(s.output(), `"reason":"checksum"`) || strings.Contains(k.output(), "checksum") {
				t.Errorf("checksum complaints:\nseesawd:\n%s\nkeepalived:\n%s", s.output(), k.output())
			}
		})
	}
}
