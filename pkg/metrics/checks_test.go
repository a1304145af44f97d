package metrics

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/seesawd/seesawd/pkg/healthcheck"
)

// fixedChecker answers every run with the same result.
type fixedChecker struct{ res healthcheck.Result }

func (f fixedChecker) Check(context.Context) healthcheck.Result { return f.res }

// checkerFor fails 10.0.0.2 (refused, 20ms) and passes the others (5ms).
func checkerFor(d healthcheck.Definition) (healthcheck.Checker, error) {
	if d.Target.Addr() == netip.MustParseAddr("10.0.0.2") {
		return fixedChecker{healthcheck.Result{Latency: 20 * time.Millisecond,
			Err: fmt.Errorf("%w: 10.0.0.2:80", healthcheck.ErrRefused)}}, nil
	}
	return fixedChecker{healthcheck.Result{Latency: 5 * time.Millisecond}}, nil
}

func tcpCheck(target string) healthcheck.Definition {
	return healthcheck.Definition{Type: healthcheck.TypeTCP, Target: netip.MustParseAddrPort(target),
		Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 1, Fall: 1}
}

// runLog is the ground truth: the runs the manager reported, by key.
type runLog struct {
	mu   sync.Mutex
	runs map[string]int
}

func (l *runLog) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[key]
}

func family(t *testing.T, m *Metrics, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// histograms returns count and sum of each series of a histogram family, by its first label's value.
func histograms(t *testing.T, m *Metrics, name string) map[string][2]float64 {
	t.Helper()
	out := map[string][2]float64{}
	if mf := family(t, m, name); mf != nil {
		for _, mt := range mf.GetMetric() {
			h := mt.GetHistogram()
			out[mt.GetLabel()[0].GetValue()] = [2]float64{float64(h.GetSampleCount()), h.GetSampleSum()}
		}
	}
	return out
}

func resultsText(lines ...string) string {
	sort.Strings(lines)
	return "# HELP seesawd_healthcheck_results_total Health check results by backend and outcome.\n" +
		"# TYPE seesawd_healthcheck_results_total counter\n" + strings.Join(lines, "\n") + "\n"
}

func result(service, addr, port, outcome string, n int) string {
	return fmt.Sprintf(`seesawd_healthcheck_results_total{outcome=%q,remote_address=%q,remote_port=%q,service=%q} %d`,
		outcome, addr, port, service, n)
}

// A real manager runs four checks, two of which share a definition (so it
// runs once for both backends); every run it reports is counted for every
// backend it stands for, runs before the first scrape included.
func TestCheckResultsByBackend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(nil)
		truth := &runLog{runs: map[string]int{}}
		mgr := healthcheck.New(&healthcheck.Config{NewChecker: checkerFor, Coalesce: -1, Rand: rand.New(rand.NewPCG(1, 2)),
			OnResult: func(ri healthcheck.RunInfo) {
				truth.mu.Lock()
				truth.runs[ri.Key]++
				truth.mu.Unlock()
				m.OnResult(ri)
			}})
		defer mgr.Close()
		m.SetSources(Sources{Checks: mgr})
		shared, failing, v6 := tcpCheck("10.0.0.1:80"), tcpCheck("10.0.0.2:80"), tcpCheck("[2001:db8::5]:443")
		if err := mgr.Update(t.Context(), []healthcheck.Check{
			{ID: "web/10.0.0.1:80", Definition: shared},
			{ID: "api/10.0.0.1:80", Definition: shared},
			{ID: "web/10.0.0.2:80", Definition: failing},
			{ID: "web/[2001:db8::5]:443", Definition: v6},
		}); err != nil {
			t.Fatal(err)
		}
		key := func(d healthcheck.Definition) string { return d.Normalize().Key() }
		check := func(phase string) {
			t.Helper()
			nShared, nFail, nV6 := truth.count(key(shared)), truth.count(key(failing)), truth.count(key(v6))
			if nShared == 0 || nFail == 0 || nV6 == 0 {
				t.Fatalf("%s: runs %d %d %d: every check should have run", phase, nShared, nFail, nV6)
			}
			want := resultsText(
				result("web", "10.0.0.1", "80", "ok", nShared),
				result("api", "10.0.0.1", "80", "ok", nShared),
				result("web", "10.0.0.2", "80", "refused", nFail),
				result("web", "2001:db8::5", "443", "ok", nV6))
			if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_healthcheck_results_total"); err != nil {
				t.Errorf("%s: %v", phase, err)
			}
			h := histograms(t, m, "seesawd_healthcheck_duration_seconds")
			wantH := map[string][2]float64{
				"web": {float64(nShared + nFail + nV6), float64(nShared+nV6)*0.005 + float64(nFail)*0.020},
				"api": {float64(nShared), float64(nShared) * 0.005},
			}
			for svc, w := range wantH {
				if got := h[svc]; got[0] != w[0] || fmt.Sprintf("%.6f", got[1]) != fmt.Sprintf("%.6f", w[1]) {
					t.Errorf("%s: duration of %s: count, sum = %v, want %v", phase, svc, got, w)
				}
			}
			if len(h) != len(wantH) {
				t.Errorf("%s: duration series %v, want %v", phase, h, wantH)
			}
		}
		// No scrape yet: every run so far was held, and is replayed now.
		time.Sleep(3500 * time.Millisecond)
		synctest.Wait()
		check("first scrape")
		// Known keys now count as they run.
		time.Sleep(4 * time.Second)
		synctest.Wait()
		check("second scrape")

		// A reload drops api and the failing backend: their series go.
		if err := mgr.Update(t.Context(), []healthcheck.Check{
			{ID: "web/10.0.0.1:80", Definition: shared},
			{ID: "web/[2001:db8::5]:443", Definition: v6},
		}); err != nil {
			t.Fatal(err)
		}
		m.Loaded("h", time.Now(), nil)
		synctest.Wait()
		want := resultsText(
			result("web", "10.0.0.1", "80", "ok", truth.count(key(shared))),
			result("web", "2001:db8::5", "443", "ok", truth.count(key(v6))))
		if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_healthcheck_results_total"); err != nil {
			t.Errorf("after the reload: %v", err)
		}
		if h := histograms(t, m, "seesawd_healthcheck_duration_seconds"); len(h) != 1 || h["api"] != [2]float64{} {
			t.Errorf("duration series after the reload: %v, want web's only", h)
		}
	})
}

// fakeChecks serves a fixed snapshot; during sends runs into the metrics
// while the snapshot is taken, as the manager can.
type fakeChecks struct {
	snap   []healthcheck.Status
	during func()
	calls  int
}

func (f *fakeChecks) Snapshot(context.Context) ([]healthcheck.Status, error) {
	f.calls++
	if f.during != nil {
		f.during()
	}
	return f.snap, nil
}

func run(key string, err error) healthcheck.RunInfo {
	return healthcheck.RunInfo{Key: key, Result: healthcheck.Result{Latency: time.Millisecond, Err: err}}
}

func TestHeldRuns(t *testing.T) {
	m := New(nil)
	fc := &fakeChecks{snap: []healthcheck.Status{{ID: "web/10.0.0.1:80", Key: "k1"}}}
	m.SetSources(Sources{Checks: fc})
	// A run of a key whose check is gone by the scrape is dropped; one that
	// comes while the snapshot is taken waits for the next scrape.
	m.OnResult(run("gone", nil))
	m.OnResult(run("k1", nil))
	fc.during = func() { m.OnResult(run("k2", healthcheck.ErrTimeout)) }
	want := resultsText(result("web", "10.0.0.1", "80", "ok", 1))
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_healthcheck_results_total"); err != nil {
		t.Error(err)
	}
	m.checks.mu.Lock()
	if _, ok := m.checks.pending["gone"]; ok {
		t.Error("the run of a removed check is still held")
	}
	if _, ok := m.checks.pending["k2"]; !ok {
		t.Error("the run that came during the snapshot was dropped")
	}
	m.checks.mu.Unlock()

	fc.during = nil
	fc.snap = append(fc.snap, healthcheck.Status{ID: "api/10.0.0.9:81", Key: "k2"})
	want = resultsText(result("web", "10.0.0.1", "80", "ok", 1), result("api", "10.0.0.9", "81", "timeout", 1))
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_healthcheck_results_total"); err != nil {
		t.Error(err)
	}
	// Nothing unknown since: no snapshot.
	calls := fc.calls
	if _, err := m.Gather(); err != nil {
		t.Fatal(err)
	}
	if fc.calls != calls {
		t.Errorf("a scrape with nothing new took a snapshot (%d, was %d)", fc.calls, calls)
	}
}

func TestHeldRunsAreBounded(t *testing.T) {
	m := New(nil)
	for i := range maxPendingKeys + 10 {
		m.OnResult(run(fmt.Sprint(i), nil))
	}
	for range maxPendingRuns + 10 {
		m.OnResult(run("0", nil))
	}
	m.checks.mu.Lock()
	defer m.checks.mu.Unlock()
	if n := len(m.checks.pending); n != maxPendingKeys {
		t.Errorf("%d keys held, want %d", n, maxPendingKeys)
	}
	p := m.checks.pending["0"]
	if len(p.latencies) != maxPendingRuns || p.outcomes[healthcheck.OutcomeOK] != maxPendingRuns+11 {
		t.Errorf("key 0 holds %d latencies and %d outcomes, want %d and %d",
			len(p.latencies), p.outcomes[healthcheck.OutcomeOK], maxPendingRuns, maxPendingRuns+11)
	}
}

// The callbacks run on the manager's and the engine's loops: once a
// backend's series exist, recording costs no allocation.
func TestCallbacksDoNotAllocate(t *testing.T) {
	m := New(nil)
	m.SetSources(Sources{Checks: &fakeChecks{snap: []healthcheck.Status{{ID: "web/10.0.0.1:80", Key: "k1"}}}})
	m.OnResult(run("k1", nil))
	m.OnResult(run("k1", healthcheck.ErrRefused))
	if _, err := m.Gather(); err != nil {
		t.Fatal(err)
	}
	ok, refused := run("k1", nil), run("k1", fmt.Errorf("x: %w", healthcheck.ErrRefused))
	if n := testing.AllocsPerRun(100, func() { m.OnResult(ok); m.OnResult(refused) }); n != 0 {
		t.Errorf("OnResult allocates %v times a call", n)
	}
	info := reconcileInfo()
	if n := testing.AllocsPerRun(100, func() { m.OnReconcile(info) }); n != 0 {
		t.Errorf("OnReconcile allocates %v times a call", n)
	}
}

func TestParseCheckID(t *testing.T) {
	for id, want := range map[string][3]string{
		"web/10.0.0.1:80":         {"web", "10.0.0.1", "80"},
		"a/b/[2001:db8::1]:443":   {"a/b", "2001:db8::1", "443"},
		"web/[::ffff:1.2.3.4]:80": {"web", "::ffff:1.2.3.4", "80"},
	} {
		if got, ok := parseCheckID(id); !ok || got != want {
			t.Errorf("parseCheckID(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
	for _, id := range []string{"", "web", "web/10.0.0.1", "web/x:80"} {
		if _, ok := parseCheckID(id); ok {
			t.Errorf("parseCheckID(%q) accepted", id)
		}
	}
}
