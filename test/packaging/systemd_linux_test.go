//go:build linux

package packaging

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/test/vm"
)

const systemdConfig = `
log: { format: json }
vrrp:
  - { name: front, interface: eth0, vrid: 51, priority: 150, advert_interval: 100ms, virtual_ips: [192.0.2.100/24] }
services:
  - name: web
    vip: 192.0.2.100
    port: 80
    backends: [{ address: 10.0.1.10 }, { address: 10.0.1.11 }]
  - name: dns
    vip: 192.0.2.100
    port: 53
    protocol: udp
    backends: [{ address: 10.0.2.10 }]
`

// TestIntegrationPackageSystemd runs the packaged unit under systemd
// itself: systemd as PID 1 of a PID and mount namespace in the VM lab, with
// the package installed on overlays of the guest's root. Once with Debian
// 12's systemd 252, where the generator's drop-in makes it Type=notify, and
// once with a systemd from bookworm-backports, which runs Type=notify-reload
// as shipped. Each checks what only systemd can show: the unit starts (its
// ExecStartPre, user, capabilities, seccomp filter and mount sandbox let
// the daemon program IPVS and VRRP), the sandbox is what the unit says
// (/proc/sys read-only but for the two sysctls, /etc read-only), `systemctl
// reload` returns with the daemon's outcome for an unchanged, an applied and
// a refused file, a daemon that stops answering is aborted by the watchdog
// and restarted with IPVS untouched, and `systemctl stop` removes the VIP.
func TestIntegrationPackageSystemd(t *testing.T) {
	testenv.Integration(t, "ipvsadm", "unshare", "nsenter", "dpkg-deb")
	if !vm.InGuest() {
		testenv.Skip(t, "runs systemd as PID 1 of a namespace, which only the VM lab's disposable guest should host")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		testenv.Skip(t, "no IPVS in this kernel: %v", err)
	}
	kver, err := os.ReadFile(filepath.Join(vm.CacheDir(), "kernel-version"))
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, "modprobe", "-d", filepath.Join(vm.CacheDir(), "root"), "-S", strings.TrimSpace(string(kver)), "overlay")
	pkg := extract(t)
	cfg := filepath.Join(t.TempDir(), "seesawd.yaml")
	if err := os.WriteFile(cfg, []byte(systemdConfig), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("host", func(t *testing.T) {
		v := systemdVersion(t, "/bin/systemctl")
		typ := "notify-reload"
		if v < 253 {
			typ = "notify"
		}
		underSystemd(t, pkg, cfg, "/lib/systemd/systemd", "/bin/systemctl", "", true, typ)
	})
	t.Run("backports", func(t *testing.T) {
		dir := os.Getenv(newerEnv)
		if dir == "" {
			testenv.Skip(t, "no newer systemd unpacked (%s unset: newer-systemd.sh failed on the host?)", newerEnv)
		}
		libs, _ := filepath.Glob(filepath.Join(dir, "root/usr/lib/*/systemd/libsystemd-shared-*.so"))
		if len(libs) == 0 {
			t.Fatalf("no libsystemd-shared under %s", dir)
		}
		underSystemd(t, pkg, cfg, filepath.Join(dir, "root/lib/systemd/systemd"), filepath.Join(dir, "root/bin/systemctl"),
			filepath.Dir(libs[0]), false, "notify-reload")
	})
}

func underSystemd(t *testing.T, pkg, cfg, systemd, systemctl, lib string, generator bool, wantType string) {
	ns := testenv.NewNetns(t)
	ns.Sh(t, "ip link add eth0 type dummy && ip link set eth0 up && ip addr add 192.0.2.1/24 dev eth0")
	cmd := ns.Cmd(context.Background(), "unshare", "--pid", "--fork", "--mount", "--propagation", "private",
		"sh", filepath.Join(repoRoot(), "test/packaging/systemd-guest.sh"), pkg, systemd, cfg)
	cmd.Env = append(os.Environ(), "SYSTEMD_LIB="+lib, "GENERATOR="+map[bool]string{true: "1", false: "0"}[generator])
	console := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = console, console
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var pid1 string // systemd's pid, seen from here
	nsx := func(args ...string) (string, error) {
		full := append([]string{"-t", pid1, "-m", "-p", "-r", "-w", "env", "SYSTEMD_PAGER=cat", "SYSTEMD_COLORS=0",
			"LD_LIBRARY_PATH=" + lib}, args...)
		out, err := exec.Command("nsenter", full...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	t.Cleanup(func() {
		if t.Failed() && pid1 != "" {
			log, _ := nsx("cat", "/run/seesawd.log")
			t.Logf("systemd's console:\n%s\nseesawd's output:\n%s", console.String(), log)
		}
		_ = exec.Command("kill", "-9", pid1).Run()
		_ = cmd.Process.Kill()
		<-exited
	})
	// Polls: each look is a process started in the namespace, slow under TCG.
	poll := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(d); !cond(); time.Sleep(500 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("timed out after %v waiting for %s", d, what)
			}
		}
	}
	poll("systemd to start", time.Minute, func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task/" + strconv.Itoa(cmd.Process.Pid) + "/children")
		pid1 = strings.TrimSpace(string(b))
		return pid1 != ""
	})
	show := func(prop string) string {
		out, _ := nsx(systemctl, "show", "seesawd.service", "-p", prop, "--value")
		return out
	}
	poll("seesawd.service active", 3*time.Minute, func() bool { return show("ActiveState") == "active" })
	version, _ := nsx(systemctl, "--version")
	t.Logf("%s", strings.SplitN(version, "\n", 2)[0])

	// The test's drop-in shortens the watchdog to 5s; the unit ships 30s.
	lineOf(t, pkg, "WatchdogSec=30s")
	for prop, want := range map[string]string{"Type": wantType, "WatchdogUSec": "5s", "User": "seesawd",
		"StatusText": "serving 2 service(s), 1 VRRP instance(s)"} {
		if got := show(prop); got != want {
			t.Errorf("%s=%q, want %q", prop, got, want)
		}
	}
	if dropIns := show("DropInPaths"); strings.Contains(dropIns, "50-systemd-before-253.conf") != (wantType == "notify") {
		t.Errorf("DropInPaths=%q: the generator's drop-in belongs exactly where systemd predates notify-reload", dropIns)
	}
	table := ns.Sh(t, "ipvsadm -Sn")
	for _, want := range []string{"-a -t 192.0.2.100:80 -r 10.0.1.11:80", "-a -u 192.0.2.100:53 -r 10.0.2.10:53"} {
		if !strings.Contains(table, want) {
			t.Errorf("the kernel lacks %q:\n%s", want, table)
		}
	}
	if got := strings.TrimSpace(ns.Sh(t, "cat /proc/sys/net/ipv4/vs/expire_nodest_conn")); got != "1" {
		t.Errorf("net.ipv4.vs.expire_nodest_conn = %s: the daemon could not set it through the sandbox", got)
	}

	// The daemon's credentials, and the sandbox seen from inside it.
	mainPID := show("MainPID")
	status, err := nsx("cat", "/proc/"+mainPID+"/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t990\t990\t990\t990", "CapEff:\t0000000000003000", "CapPrm:\t0000000000003000",
		"CapBnd:\t0000000000003000", "CapAmb:\t0000000000003000", "NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(status, want+"\n") {
			t.Errorf("the daemon's /proc/PID/status lacks %q:\n%s", want, status)
		}
	}
	writable, err := nsx("nsenter", "-t", mainPID, "-m", "-n", "-r", "-w", "sh", "-c",
		`for f in /proc/sys/net/ipv4/vs/expire_nodest_conn /proc/sys/net/ipv4/conf/all/accept_local /proc/sys/net/ipv4/ip_forward /etc/seesawd/seesawd.yaml /usr/sbin/seesawd /run/seesawd; do
			if [ -d "$f" ]; then p=$f/.probe; else p=$f; fi
			if ( : >>"$p" ) 2>/dev/null; then echo "$f rw"; else echo "$f ro"; fi
		done`)
	if err != nil {
		t.Fatal(err)
	}
	want := "/proc/sys/net/ipv4/vs/expire_nodest_conn rw\n/proc/sys/net/ipv4/conf/all/accept_local rw\n" +
		"/proc/sys/net/ipv4/ip_forward ro\n/etc/seesawd/seesawd.yaml ro\n/usr/sbin/seesawd ro\n/run/seesawd rw"
	if writable != want {
		t.Errorf("in the daemon's mount namespace:\n%s\nwant\n%s", writable, want)
	}

	reload := func(what, wantStatus string) {
		t.Helper()
		start := time.Now()
		if out, err := nsx(systemctl, "reload", "seesawd.service"); err != nil {
			t.Fatalf("%s: systemctl reload: %v\n%s", what, err, out)
		}
		st := show("StatusText")
		t.Logf("%s: systemctl reload returned after %v: %s", what, time.Since(start).Round(time.Millisecond), st)
		if !strings.HasPrefix(st, wantStatus) {
			t.Errorf("%s: StatusText=%q, want %q...", what, st, wantStatus)
		}
	}
	reload("unchanged file", "reload: configuration unchanged")
	if out, err := nsx("sed", "-i", "s/priority: 150/priority: 140/", "/etc/seesawd/seesawd.yaml"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	reload("changed file", "reload applied (config ")
	if out, err := nsx("sh", "-c", "cp /etc/seesawd/seesawd.yaml /run/good.yaml && echo 'services: [{ name: x }]' >/etc/seesawd/seesawd.yaml"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	reload("bad file", "reload refused, running configuration kept: ")
	if out, err := nsx("cp", "/run/good.yaml", "/etc/seesawd/seesawd.yaml"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got := ns.Sh(t, "ipvsadm -Sn"); got != table {
		t.Errorf("the reloads changed IPVS:\n%s\nwas\n%s", got, table)
	}

	// A daemon that stops answering: the watchdog aborts and restarts it.
	if out, err := nsx("kill", "-STOP", mainPID); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	stopped := time.Now()
	poll("the watchdog's restart", 2*time.Minute, func() bool { return show("NRestarts") == "1" })
	poll("seesawd.service active again", 2*time.Minute, func() bool { return show("ActiveState") == "active" })
	t.Logf("watchdog: restarted %v after the daemon stopped answering", time.Since(stopped).Round(time.Second))
	// systemd logs to /dev/console; the daemon's output (appended across
	// restarts) shows the SIGABRT it got, with every goroutine's stack.
	if log, _ := nsx("cat", "/run/seesawd.log"); !strings.Contains(log, "SIGABRT: abort") || !strings.Contains(log, "goroutine ") {
		t.Errorf("the daemon's output shows no SIGABRT and stack dump")
	}
	if show("MainPID") == mainPID {
		t.Error("the main PID did not change")
	}
	if got := ns.Sh(t, "ipvsadm -Sn"); got != table {
		t.Errorf("the restart changed IPVS:\n%s\nwas\n%s", got, table)
	}

	if out, err := nsx(systemctl, "stop", "seesawd.service"); err != nil {
		t.Fatalf("systemctl stop: %v\n%s", err, out)
	}
	if got := show("ActiveState") + " " + show("Result"); got != "inactive success" {
		t.Errorf("after stop: %s, want inactive success", got)
	}
	if ns.HasAddr(t, "192.0.2.100") {
		t.Error("the VIP stayed after systemctl stop")
	}
}
