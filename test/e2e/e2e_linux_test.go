//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/lab"
	"github.com/seesawd/seesawd/internal/testenv"
)

// env is one test's lab with seesawd running on both LBs.
type env struct {
	t   *testing.T
	ctx context.Context
	lab *lab.Lab
	lb1 *lab.LB
	lb2 *lab.LB
}

// setup builds the lab, serves HTTP on ports of every backend, writes both
// LBs' configuration (ipvs settings and services as YAML fragments) and
// starts seesawd on both, waiting until lb1 holds the VIP.
func setup(t *testing.T, ipvsYAML, services string, ports ...uint16) *env {
	t.Helper()
	testenv.Integration(t, "ipvsadm", "nft")
	bin := os.Getenv(binEnv)
	if bin == "" {
		testenv.Skip(t, "no seesawd binary (%s): the host builds it before booting the VM", binEnv)
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		testenv.Skip(t, "no IPVS in this kernel (the VM lab has it)")
	}
	ctx := context.Background()
	l, err := lab.New(ctx, lab.Config{Seesawd: bin, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, lab: l, lb1: l.LBs[0], lb2: l.LBs[1]}
	t.Cleanup(func() {
		if t.Failed() {
			for _, lb := range l.LBs {
				t.Logf("%s log:\n%s", lb.Name, tail(lb.Log(), 60))
				if out, err := lb.IPVS(ctx); err == nil {
					t.Logf("%s ipvsadm -Sn:\n%s", lb.Name, out)
				}
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	for _, b := range l.Backends {
		for _, p := range ports {
			if err := b.Serve(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, lb := range l.LBs {
		if err := lb.WriteConfig(ipvsYAML, services); err != nil {
			t.Fatal(err)
		}
		if err := lb.Start(); err != nil {
			t.Fatal(err)
		}
	}
	e.waitMaster(e.lb1, e.lb2)
	return e
}

// waitMaster waits until master alone holds the VIP and traffic goes
// through it (a node that was master for a moment may have announced
// itself to the client and the backends).
func (e *env) waitMaster(master, other *lab.LB) {
	e.t.Helper()
	e.waitFor(master.Name+" alone holds the VIP", 10*time.Second, func() bool {
		return master.HoldsVIP(e.ctx) && !other.HoldsVIP(e.ctx)
	})
	e.waitFor("the client and the backends to send through "+master.Name, 10*time.Second, func() bool {
		return e.lab.SendsTo(e.ctx, master)
	})
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (e *env) waitFor(what string, timeout time.Duration, cond func() bool) time.Duration {
	e.t.Helper()
	return testenv.WaitFor(e.t, what, timeout, cond)
}

// ipvs returns `ipvsadm -Sn` on lb, failing the test on error.
func (e *env) ipvs(lb *lab.LB) string {
	e.t.Helper()
	out, err := lb.IPVS(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// waitIPVS waits until `ipvsadm -Sn` on lb contains every line of want and
// none of notWant.
func (e *env) waitIPVS(lb *lab.LB, timeout time.Duration, want []string, notWant []string) time.Duration {
	e.t.Helper()
	return e.waitFor(fmt.Sprintf("%s: ipvsadm -Sn has %q and not %q", lb.Name, want, notWant), timeout, func() bool {
		out, err := lb.IPVS(e.ctx)
		if err != nil {
			return false
		}
		for _, w := range want {
			if !strings.Contains(out, w+"\n") {
				return false
			}
		}
		for _, w := range notWant {
			if strings.Contains(out, w) {
				return false
			}
		}
		return true
	})
}

const natWeighted = `  - name: web
    vip: 192.0.2.100
    port: 80
    scheduler: wrr
    healthcheck: { type: http, path: /healthz, interval: 1s, timeout: 500ms, rise: 1, fall: 2 }
    backends:
      - { address: 10.0.1.11, port: 8080, weight: 3 }
      - { address: 10.0.1.12, port: 8080, weight: 2 }
      - { address: 10.0.1.13, port: 8080, weight: 1 }
`

var natLines = []string{
	"-A -t 192.0.2.100:80 -s wrr",
	"-a -t 192.0.2.100:80 -r 10.0.1.11:8080 -m -w 3",
	"-a -t 192.0.2.100:80 -r 10.0.1.12:8080 -m -w 2",
	"-a -t 192.0.2.100:80 -r 10.0.1.13:8080 -m -w 1",
}

func TestIntegrationNATSpreadByWeight(t *testing.T) {
	e := setup(t, "resync_interval: 5s\n", natWeighted, 8080)
	// Every node programs IPVS, master and backup alike.
	for _, lb := range []*lab.LB{e.lb1, e.lb2} {
		e.waitIPVS(lb, 5*time.Second, natLines, nil)
	}
	got := e.lab.Spread(e.ctx, "http://192.0.2.100/", 60)
	want := map[string]int{"b1": 30, "b2": 20, "b3": 10}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("requests by backend = %v, want %v (wrr 3:2:1 over 10 rounds)", got, want)
			break
		}
	}
	// The kernel folds its per-CPU counters every 2 s.
	want64 := map[string]uint64{"10.0.1.11:8080": 30, "10.0.1.12:8080": 20, "10.0.1.13:8080": 10}
	var stats map[string]lab.Stats
	e.waitFor("the kernel's counters to show the 60 connections", 10*time.Second, func() bool {
		stats = e.stats(e.lb1)
		for addr, n := range want64 {
			if stats["TCP 192.0.2.100:80 -> "+addr].Conns != n {
				return false
			}
		}
		return true
	})
}

// stats returns ipvsadm's counters on lb, failing the test on error.
func (e *env) stats(lb *lab.LB) map[string]lab.Stats {
	e.t.Helper()
	s, err := lb.Stats(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// logCount counts lines of lb's log containing s.
func logCount(lb *lab.LB, s string) int { return strings.Count(lb.Log(), s) }

// reload rewrites lb's configuration, sends SIGHUP and waits for the
// outcome line want ("reload applied", "reload refused").
func (e *env) reload(lb *lab.LB, ipvsYAML, services, want string) {
	e.t.Helper()
	n := logCount(lb, want)
	if err := lb.WriteConfig(ipvsYAML, services); err != nil {
		e.t.Fatal(err)
	}
	if err := lb.Signal(syscall.SIGHUP); err != nil {
		e.t.Fatal(err)
	}
	e.waitFor(lb.Name+": "+want, 5*time.Second, func() bool { return logCount(lb, want) > n })
}

// lastReconcile returns the ops count of lb's last "reconciled" log line
// with the given reason.
func lastReconcile(t *testing.T, lb *lab.LB, reason string) int {
	t.Helper()
	ops := -1
	for _, line := range strings.Split(lb.Log(), "\n") {
		if !strings.Contains(line, `"msg":"reconciled"`) || !strings.Contains(line, `"reason":"`+reason+`"`) {
			continue
		}
		var rec struct{ Ops int }
		if err := json.Unmarshal([]byte(line), &rec); err == nil {
			ops = rec.Ops
		}
	}
	return ops
}

// assertServes sends n requests and fails on any error or on an answer
// from a backend in not.
func (e *env) assertServes(url string, n int, not ...string) map[string]int {
	e.t.Helper()
	got := e.lab.Spread(e.ctx, url, n)
	if got["error"] > 0 {
		e.t.Errorf("%d of %d requests to %s failed: %v", got["error"], n, url, got)
	}
	for _, b := range not {
		if got[b] > 0 {
			e.t.Errorf("%s answered %d requests: %v", b, got[b], got)
		}
	}
	return got
}

const natIPVS = "resync_interval: 3s\n"

// webAPI is natWeighted plus the api service, with b2 at weight 5 and b3
// removed from web (draining within 3 s).
const webAPI = `  - name: web
    vip: 192.0.2.100
    port: 80
    scheduler: wrr
    drain_timeout: 3s
    healthcheck: { type: http, path: /healthz, interval: 1s, timeout: 500ms, rise: 1, fall: 2 }
    backends:
      - { address: 10.0.1.11, port: 8080, weight: 3 }
      - { address: 10.0.1.12, port: 8080, weight: 5 }
  - name: api
    vip: 192.0.2.100
    port: 8081
    scheduler: rr
    healthcheck: { type: tcp, interval: 1s, timeout: 500ms, rise: 1, fall: 2 }
    backends:
      - { address: 10.0.1.13, port: 8080 }
`

// TestIntegrationNATLifecycle runs one NAT service through what an SRE does
// to it, on one lab: a backend dying, reloads (good and bad), a drain,
// ipvsadm -C, kill -9 and restart of the master, and a link cut.
func TestIntegrationNATLifecycle(t *testing.T) {
	e := setup(t, natIPVS, natWeighted, 8080)
	lb1, lb2 := e.lb1, e.lb2
	e.waitIPVS(lb1, 5*time.Second, natLines, nil)

	t.Run("backend stopped", func(t *testing.T) {
		start := time.Now()
		e.lab.Backends[2].Halt(8080)
		took := e.waitIPVS(lb1, 10*time.Second, natLines[:3], []string{"10.0.1.13:8080"})
		// fall x interval + timeout, plus the check's phase and a reconcile.
		bound := 2*time.Second + 500*time.Millisecond
		t.Logf("backend out of the kernel %v after it stopped (bound fall×interval+timeout = %v)", took, bound)
		if took > bound+time.Second {
			t.Errorf("took %v, want within %v", time.Since(start), bound)
		}
		e.assertServes("http://192.0.2.100/", 20, "b3")
		if err := e.lab.Backends[2].Serve(8080); err != nil {
			t.Fatal(err)
		}
		e.waitIPVS(lb1, 10*time.Second, natLines, nil)
	})

	t.Run("reload applies the difference", func(t *testing.T) {
		var before lab.Stats
		e.waitFor("web's counters to show its traffic (the kernel folds them every 2 s)", 10*time.Second, func() bool {
			before = e.stats(lb1)["TCP 192.0.2.100:80"]
			return before.Conns > 0
		})
		e.reload(lb1, natIPVS, webAPI, "reload applied")
		// api created; b2's weight edited; b3 leaves web at weight 0 first.
		if ops := lastReconcile(t, lb1, "reload"); ops != 3 {
			t.Errorf("reload issued %d operations, want 3 (create api, edit b2, b3 to weight 0)", ops)
		}
		e.waitIPVS(lb1, 10*time.Second, []string{
			"-A -t 192.0.2.100:80 -s wrr",
			"-a -t 192.0.2.100:80 -r 10.0.1.11:8080 -m -w 3",
			"-a -t 192.0.2.100:80 -r 10.0.1.12:8080 -m -w 5",
			"-A -t 192.0.2.100:8081 -s rr",
			"-a -t 192.0.2.100:8081 -r 10.0.1.13:8080 -m -w 1",
		}, []string{"-r 10.0.1.13:8080 -m -w 1\n-A", "192.0.2.100:80 -r 10.0.1.13"})
		after := e.stats(lb1)["TCP 192.0.2.100:80"]
		if after.Conns < before.Conns || before.Conns == 0 {
			t.Errorf("web's counters went from %+v to %+v: the untouched service was recreated", before, after)
		}
		e.assertServes("http://192.0.2.100:8081/", 3)
	})

	t.Run("invalid reload changes nothing", func(t *testing.T) {
		before := e.ipvs(lb1)
		n := logCount(lb1, "reload refused")
		if err := os.WriteFile(lb1.ConfigPath, []byte("services: [{ name: web, vip: 192.0.2.100, port: 99999 }]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := lb1.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		e.waitFor("reload refused", 5*time.Second, func() bool { return logCount(lb1, "reload refused") > n })
		if !strings.Contains(lb1.Log(), "services[0].port: 99999 out of range") {
			t.Error("the refusal does not name the problem")
		}
		time.Sleep(time.Second) // nothing may change meanwhile: compare after a while
		if after := e.ipvs(lb1); after != before {
			t.Errorf("kernel changed after a refused reload:\n%s\nwas:\n%s", after, before)
		}
		if err := lb1.WriteConfig(natIPVS, webAPI); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("removed backend drains then goes", func(t *testing.T) {
		// Hold a connection to api's only backend, then remove it.
		e.waitMaster(lb1, lb2)
		c, err := e.lab.Dial(e.ctx, "192.0.2.100:8081")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		withoutB3 := strings.Replace(webAPI, "      - { address: 10.0.1.13, port: 8080 }\n", "      - { address: 10.0.1.12, port: 8080 }\n", 1)
		start := time.Now()
		e.reload(lb1, natIPVS, strings.Replace(withoutB3, "scheduler: rr\n", "scheduler: rr\n    drain_timeout: 4s\n", 1), "reload applied")
		e.waitIPVS(lb1, 5*time.Second, []string{"-a -t 192.0.2.100:8081 -r 10.0.1.13:8080 -m -w 0",
			"-a -t 192.0.2.100:8081 -r 10.0.1.12:8080 -m -w 1"}, nil)
		took := e.waitIPVS(lb1, 10*time.Second, nil, []string{"8081 -r 10.0.1.13"})
		took += time.Since(start) - took
		if took < 3500*time.Millisecond {
			t.Errorf("a backend with an open connection went after %v, before its 4s drain_timeout", took)
		}
	})

	t.Run("ipvsadm -C is repaired within resync_interval", func(t *testing.T) {
		want := e.ipvs(lb1)
		if _, err := lb1.Ipvsadm(e.ctx, "-C"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		e.waitFor("the table restored", 10*time.Second, func() bool { return e.ipvs(lb1) == want })
		took := time.Since(start)
		t.Logf("restored %v after ipvsadm -C (resync_interval 3s)", took)
		if took > 4*time.Second {
			t.Errorf("restored after %v, want within resync_interval (3s)", took)
		}
		if !strings.Contains(lb1.Log(), "repairing drift") {
			t.Error("the repair is not logged")
		}
	})

	t.Run("kill -9 and restart: no flush, counters continue, one VIP holder", func(t *testing.T) {
		e.assertServes("http://192.0.2.100/", 8)
		before := e.stats(lb1)["TCP 192.0.2.100:80"]
		lb1.Kill()
		e.waitFor("lb2 takes the VIP", 5*time.Second, func() bool { return lb2.HoldsVIP(e.ctx) })
		if err := lb1.Start(); err != nil {
			t.Fatal(err)
		}
		// Both hold the VIP only while lb1 preempts (an advert or two).
		both := 0
		deadline := time.Now().Add(4 * time.Second)
		for time.Now().Before(deadline) {
			if lb1.HoldsVIP(e.ctx) && lb2.HoldsVIP(e.ctx) {
				both++
			}
			time.Sleep(20 * time.Millisecond)
		}
		if both > 5 {
			t.Errorf("both LBs held the VIP in %d samples (20 ms apart) after the restart", both)
		}
		e.waitMaster(lb1, lb2)
		if ops := lastReconcile(t, lb1, "start"); ops != 0 {
			t.Errorf("the restart issued %d operations, want 0 (adopt the kernel as it is)", ops)
		}
		after := e.stats(lb1)["TCP 192.0.2.100:80"]
		if after.Conns < before.Conns {
			t.Errorf("counters reset by the restart: %+v then %+v", before, after)
		}
		e.assertServes("http://192.0.2.100/", 8)
	})

	t.Run("master link cut: the backup serves", func(t *testing.T) {
		if err := lb1.Cut(e.ctx); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		e.waitFor("the client recovers through lb2", 10*time.Second, func() bool {
			_, err := e.lab.Get(e.ctx, "http://192.0.2.100/")
			return err == nil && lb2.HoldsVIP(e.ctx)
		})
		t.Logf("client served again %v after the link cut", time.Since(start))
		e.assertServes("http://192.0.2.100/", 10)
		if err := lb1.Restore(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.waitMaster(lb1, lb2)
		e.assertServes("http://192.0.2.100/", 5)
	})

	t.Run("a VRRP priority reloaded applies live", func(t *testing.T) {
		lb1.Priority = 90 // below lb2's 100: lb2 preempts
		e.reload(lb1, natIPVS, webAPI, "reload applied")
		e.waitMaster(lb2, lb1)
		e.assertServes("http://192.0.2.100/", 5)
		lb1.Priority = 150
		e.reload(lb1, natIPVS, webAPI, "reload applied")
		e.waitMaster(lb1, lb2)
	})

	// SIGTERM: priority-0 adverts, VIPs removed, IPVS left, a clean exit
	// within a second.
	for _, lb := range []*lab.LB{lb1, lb2} {
		start := time.Now()
		if err := lb.Stop(5 * time.Second); err != nil {
			t.Errorf("%s: %v", lb.Name, err)
		}
		took := time.Since(start)
		t.Logf("%s exited %v after SIGTERM", lb.Name, took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("%s took %v to exit after SIGTERM, want under a second", lb.Name, took)
		}
	}
	if lb1.HoldsVIP(e.ctx) || lb2.HoldsVIP(e.ctx) {
		t.Error("a VIP stayed after SIGTERM")
	}
	if out := e.ipvs(lb1); !strings.Contains(out, "-A -t 192.0.2.100:80") {
		t.Errorf("SIGTERM removed the services (remove_on_stop is off):\n%s", out)
	}
}

const drThroughVIP = `  - name: dr
    vip: 192.0.2.100
    port: 80
    forward: dr
    scheduler: rr
    healthcheck: { type: http, path: /healthz, interval: 1s, timeout: 500ms, rise: 1, fall: 1, through_vip: true }
    backends:
      - { address: 10.0.1.11 }
      - { address: 10.0.1.12 }
      - { address: 10.0.1.13 }
`

// TestIntegrationDirectRoutingThroughVIP serves a VIP by direct routing and
// checks each backend through IPVS addressed to the VIP (Seesaw's method): a
// backend that answers on its own address but lacks the VIP on its loopback
// would black-hole clients, and its check catches it.
func TestIntegrationDirectRoutingThroughVIP(t *testing.T) {
	testenv.Integration(t, "ipvsadm")
	ctx := context.Background()
	// b1 and b2 carry the VIP; b3 is misconfigured (added before setup
	// waits, so the lab is built by setup first).
	e := setup(t, "resync_interval: 5s\n", drThroughVIP, 80)
	for _, b := range e.lab.Backends[:2] {
		if err := b.AddVIP(ctx, lab.VIP); err != nil {
			t.Fatal(err)
		}
	}
	ok := []string{
		"-a -t 192.0.2.100:80 -r 10.0.1.11:80 -g -w 1",
		"-a -t 192.0.2.100:80 -r 10.0.1.12:80 -g -w 1",
	}
	for _, lb := range []*lab.LB{e.lb1, e.lb2} {
		e.waitIPVS(lb, 10*time.Second, ok, []string{"192.0.2.100:80 -r 10.0.1.13"})
		// Each backend has its fwmark check service, b3's included: the
		// check keeps probing it so it comes back once fixed.
		out := e.ipvs(lb)
		if n := strings.Count(out, "-A -f "); n != 3 {
			t.Errorf("%s has %d fwmark check services, want 3:\n%s", lb.Name, n, out)
		}
	}
	time.Sleep(2 * time.Second) // b3 must stay out: several failed checks
	if strings.Contains(e.ipvs(e.lb1), "192.0.2.100:80 -r 10.0.1.13") {
		t.Fatal("a DR backend without the VIP was put in service")
	}
	got := e.assertServes("http://192.0.2.100/", 20, "b3")
	if got["b1"] != 10 || got["b2"] != 10 {
		t.Errorf("rr over b1 and b2: %v", got)
	}
	// Fixing b3 brings it in.
	if err := e.lab.Backends[2].AddVIP(ctx, lab.VIP); err != nil {
		t.Fatal(err)
	}
	e.waitIPVS(e.lb1, 10*time.Second, append(ok, "-a -t 192.0.2.100:80 -r 10.0.1.13:80 -g -w 1"), nil)
	e.assertServes("http://192.0.2.100/", 9)
}

// quorumSvc needs two healthy backends; below that the sorry server (b3 on
// 8081, answering "sorry") takes new connections. Checks go to port 9000,
// so a firewall rule on one LB can fail its checks without touching the
// traffic it forwards. Below quorum, lb1's VRRP priority drops by 60: 150
// becomes 90, under lb2's 100.
const quorumSvc = `  - name: web
    vip: 192.0.2.100
    port: 80
    quorum: 2
    sorry_server: 10.0.1.13:8081
    drain_timeout: 2s
    vrrp_track: { instance: front, weight: 60 }
    healthcheck: { type: http, port: 9000, path: /healthz, interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
    backends:
      - { address: 10.0.1.11, port: 8080 }
      - { address: 10.0.1.12, port: 8080 }
`

func TestIntegrationQuorumSorryServerAndVRRPTrack(t *testing.T) {
	e := setup(t, "resync_interval: 5s\n", quorumSvc, 8080, 9000)
	if err := e.lab.Backends[2].ServeText(8081, "sorry"); err != nil {
		t.Fatal(err)
	}
	lb1, lb2 := e.lb1, e.lb2
	up := []string{"-a -t 192.0.2.100:80 -r 10.0.1.11:8080 -m -w 1", "-a -t 192.0.2.100:80 -r 10.0.1.12:8080 -m -w 1"}
	e.waitIPVS(lb1, 10*time.Second, up, []string{"10.0.1.13:8081"})

	t.Run("below quorum the sorry server serves", func(t *testing.T) {
		e.lab.Backends[1].Halt(9000) // b2's health endpoint fails on both LBs
		// b1 is healthy but the service is below quorum: b1 stays at weight
		// 0 so its connections finish, the sorry server takes new ones.
		e.waitIPVS(lb1, 10*time.Second, []string{
			"-a -t 192.0.2.100:80 -r 10.0.1.11:8080 -m -w 0",
			"-a -t 192.0.2.100:80 -r 10.0.1.13:8081 -m -w 1",
		}, []string{"10.0.1.12:8080"})
		got := e.assertServes("http://192.0.2.100/", 5)
		if got["sorry"] != 5 {
			t.Errorf("answers below quorum: %v, want the sorry server's", got)
		}
		if err := e.lab.Backends[1].Serve(9000); err != nil {
			t.Fatal(err)
		}
		e.waitIPVS(lb1, 10*time.Second, append(up, "-a -t 192.0.2.100:80 -r 10.0.1.13:8081 -m -w 0"), nil)
		got = e.assertServes("http://192.0.2.100/", 6, "sorry")
		// The sorry server leaves once idle or after its 2s drain.
		e.waitIPVS(lb1, 10*time.Second, up, []string{"10.0.1.13:8081"})
		_ = got
	})

	t.Run("vrrp_track moves the VIP to the healthier node", func(t *testing.T) {
		// lb1 alone loses its checks (packets to port 9000 from lb1 dropped).
		if _, err := lb1.NS.Sh(e.ctx, "nft add table inet t && nft add chain inet t out '{ type filter hook output priority 0; }' && "+
			"nft add rule inet t out tcp dport 9000 drop"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		e.waitMaster(lb2, lb1)
		t.Logf("VIP moved to lb2 %v after lb1 lost its checks", time.Since(start))
		if !strings.Contains(lb1.Log(), `"penalty":60`) {
			t.Error("lb1 did not log its priority penalty")
		}
		e.assertServes("http://192.0.2.100/", 6, "sorry")
		if _, err := lb1.NS.Sh(e.ctx, "nft delete table inet t"); err != nil {
			t.Fatal(err)
		}
		e.waitMaster(lb1, lb2)
		e.assertServes("http://192.0.2.100/", 6, "sorry")
	})
}
