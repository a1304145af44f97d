//go:build linux

package packaging

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/sdnotifytest"
	"github.com/seesawd/seesawd/internal/testenv"
)

// nobody is the user the daemon runs as here: the guest's root is
// read-only, so the package's seesawd user cannot be created.
const nobody = "65534"

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const runConfig = `
node: { name: lb1 }
log: { level: info, format: json }
metrics: { listen: "127.0.0.1:19712" }
control: { socket: %[1]s/seesawd.sock }
ipvs: { state_file: %[1]s/ipvs-state.json }
vrrp:
  - { name: front, interface: eth0, vrid: 51, priority: 150, advert_interval: 100ms, virtual_ips: [192.0.2.100/24] }
services:
  - name: web
    vip: 192.0.2.100
    port: 80
    backends: [{ address: 10.0.1.10 }, { address: 10.0.1.11 }%[2]s]
  - name: dns
    vip: 192.0.2.100
    port: 53
    protocol: udp
    backends: [{ address: 10.0.2.10 }]
`

// TestIntegrationPackageRun runs the daemon extracted from the package,
// from its installed path, the way the unit runs it: a user of its own
// with CAP_NET_ADMIN and CAP_NET_RAW as its only capabilities (ambient and
// bounding set) and no new privileges, NOTIFY_SOCKET and WATCHDOG_USEC set,
// programming the VM lab's real IPVS. It checks the notify protocol against
// the kernel (READY=1 only once ipvsadm shows the services), reloads, the
// sysctl a UDP service needs set without root, SIGTERM leaving IPVS serving,
// and a restart adopting the kernel's table with no operation.
func TestIntegrationPackageRun(t *testing.T) {
	testenv.Integration(t, "ipvsadm", "setpriv", "dpkg-deb")
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		testenv.Skip(t, "no IPVS in this kernel (the VM lab has it): %v", err)
	}
	root := extract(t)
	seesawd := filepath.Join(root, "usr/sbin/seesawd")

	l := testenv.NewLAN(t)
	ns, _ := l.Attach(t, "192.0.2.1/24", "02:00:00:00:00:0a")
	ns.Sh(t, "ip route add 10.0.0.0/8 via 192.0.2.254 dev eth0 onlink")

	run := t.TempDir()
	if err := os.Chmod(filepath.Dir(run), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "chown", nobody+":"+nobody, run)
	cfg := filepath.Join(root, "etc/seesawd/seesawd.yaml")
	write := func(extra string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(runConfig, run, extra)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	if out, err := exec.Command(seesawd, "--check-config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("check-config: %v\n%s", err, out)
	}

	sd := sdnotifytest.Listen(t)
	mustRun(t, "chmod", "0755", filepath.Dir(sd.Path))
	mustRun(t, "chmod", "0777", sd.Path)
	const watchdog = 4 * time.Second

	// start runs the daemon; wait returns its exit error, any number of times.
	start := func() (cmd *exec.Cmd, out *lockedBuffer, wait func() error) {
		t.Helper()
		cmd = ns.Cmd(context.Background(), "setpriv", "--reuid="+nobody, "--regid="+nobody, "--clear-groups",
			"--inh-caps=-all,+net_admin,+net_raw", "--ambient-caps=-all,+net_admin,+net_raw",
			"--bounding-set=-all,+net_admin,+net_raw", "--no-new-privs",
			seesawd, "--config", cfg)
		cmd.Env = append(os.Environ(), sd.Env(watchdog)...)
		out = &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var err error
		go func() { err = cmd.Wait(); close(done) }()
		wait = func() error { <-done; return err }
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = wait()
			if t.Failed() {
				t.Logf("seesawd output:\n%s", out.String())
			}
		})
		return cmd, out, wait
	}
	ipvs := func() string { return ns.Sh(t, "ipvsadm -Sn") }

	cmd, _, wait := start()
	m, _ := sd.Await(t, "READY=1 at start", time.Minute)
	// At READY=1 the kernel already holds every configured service.
	table := ipvs()
	if !m.Has("READY", "1") || !m.Has("STATUS", "serving 2 service(s), 1 VRRP instance(s)") {
		t.Fatalf("first notification %v, want READY=1 and the serving status", m)
	}
	for _, want := range []string{"-A -t 192.0.2.100:80", "-a -t 192.0.2.100:80 -r 10.0.1.10:80", "-a -t 192.0.2.100:80 -r 10.0.1.11:80",
		"-A -u 192.0.2.100:53", "-a -u 192.0.2.100:53 -r 10.0.2.10:53"} {
		if !strings.Contains(table, want) {
			t.Errorf("at READY=1 the kernel lacks %q:\n%s", want, table)
		}
	}

	// The credentials the unit gives: user, two capabilities, no more.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Uid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000003000", "CapPrm:\t0000000000003000",
		"CapBnd:\t0000000000003000", "CapAmb:\t0000000000003000", "NoNewPrivs:\t1",
	} {
		if !strings.Contains(string(status), want+"\n") {
			t.Errorf("/proc/PID/status lacks %q:\n%s", want, status)
		}
	}
	// A UDP service needs net.ipv4.vs.expire_nodest_conn: CAP_NET_ADMIN
	// gives a non-root daemon root's access to its network's sysctls.
	if got := strings.TrimSpace(ns.Sh(t, "cat /proc/sys/net/ipv4/vs/expire_nodest_conn")); got != "1" {
		t.Errorf("net.ipv4.vs.expire_nodest_conn = %s, want 1", got)
	}

	for i := range 2 {
		if m, ok := sd.Next(t, watchdog); !ok || !m.IsPing() {
			t.Fatalf("ping %d: %v (ok %v) within the watchdog interval %v, want WATCHDOG=1", i, m, ok, watchdog)
		}
	}

	reload := func(what string) sdnotifytest.Message {
		t.Helper()
		signalled := sdnotifytest.MonotonicUsec(t)
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		m, _ := sd.Await(t, what+": RELOADING=1", time.Minute)
		sdnotifytest.CheckReloading(t, m, signalled)
		m, _ = sd.Await(t, what+": READY=1", time.Minute)
		if !m.Has("READY", "1") {
			t.Fatalf("%s: %v after RELOADING=1, want READY=1", what, m)
		}
		return m
	}
	if err := os.WriteFile(cfg, []byte("services: [{ name: web }]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st := reload("refused reload").Fields["STATUS"]; !strings.HasPrefix(st, "reload refused, running configuration kept: ") {
		t.Errorf("refused reload: STATUS=%q", st)
	}
	if got := ipvs(); got != table {
		t.Errorf("a refused reload changed the kernel:\n%s\nwas\n%s", got, table)
	}
	write(", { address: 10.0.1.12 }")
	if st := reload("applied reload").Fields["STATUS"]; !strings.HasPrefix(st, "reload applied (config ") {
		t.Errorf("applied reload: STATUS=%q", st)
	}
	if table = ipvs(); !strings.Contains(table, "-a -t 192.0.2.100:80 -r 10.0.1.12:80") {
		t.Errorf("after the reload the kernel lacks the new backend:\n%s", table)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if m, _ := sd.Await(t, "STOPPING=1 at SIGTERM", time.Minute); !m.Has("STOPPING", "1") {
		t.Fatalf("%v at SIGTERM, want STOPPING=1", m)
	}
	if err := wait(); err != nil {
		t.Errorf("seesawd exited with %v after SIGTERM", err)
	}
	if late := sd.Queued(t); len(late) > 0 {
		t.Errorf("sent after STOPPING=1: %v", late)
	}
	if got := ipvs(); got != table {
		t.Errorf("IPVS changed at stop (it should keep serving):\n%s\nwas\n%s", got, table)
	}

	// A restart (an upgrade) adopts the kernel's table: no operation.
	cmd, out, wait := start()
	if m, _ := sd.Await(t, "READY=1 after the restart", time.Minute); !m.Has("READY", "1") {
		t.Fatalf("%v after the restart, want READY=1", m)
	}
	if !regexp.MustCompile(`"msg":"services programmed".*"ops":0[,}]`).MatchString(out.String()) {
		t.Errorf("the restart's first reconcile did something; log:\n%s", out.String())
	}
	if got := ipvs(); got != table {
		t.Errorf("the restart changed IPVS:\n%s\nwas\n%s", got, table)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := wait(); err != nil {
		t.Errorf("seesawd exited with %v after SIGTERM", err)
	}
	t.Logf("packaged seesawd ran as uid %s with CAP_NET_ADMIN+CAP_NET_RAW: READY, %s, reloads, STOPPING, restart with 0 ops", nobody, "watchdog pings")
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
