//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
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

// waitMaster waits until master alone holds the VIP and the client sends
// to it (its neighbour entry, if any, names master: a node that was master
// for a moment at start may have announced itself).
func (e *env) waitMaster(master, other *lab.LB) {
	e.t.Helper()
	mac := master.MAC(e.ctx)
	e.waitFor(master.Name+" alone holds the VIP", 10*time.Second, func() bool {
		return master.HoldsVIP(e.ctx) && !other.HoldsVIP(e.ctx)
	})
	e.waitFor("the client's neighbour entry for the VIP to name "+master.Name, 5*time.Second, func() bool {
		n := e.lab.ClientNeighbor(e.ctx)
		return n == "" || n == mac
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
