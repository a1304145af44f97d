package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seesawd/seesawd/pkg/clock"
)

// fakeChecker passes or fails as the test says and counts its runs.
type fakeChecker struct {
	ok    atomic.Bool
	calls atomic.Int64
	hang  atomic.Bool // block until the context ends
	mu    sync.Mutex
	times []time.Time
}

var errFake = errors.New("fake failure")

func (f *fakeChecker) Check(ctx context.Context) Result {
	f.calls.Add(1)
	now := time.Now()
	f.mu.Lock()
	f.times = append(f.times, now)
	f.mu.Unlock()
	if f.hang.Load() {
		<-ctx.Done()
		return Result{Time: now, Latency: time.Since(now), Err: fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())}
	}
	if f.ok.Load() {
		return Result{Time: now, Detail: "fine"}
	}
	return Result{Time: now, Err: errFake}
}

// fakes maps a definition key to its fake; the factory creates them on demand.
type fakes struct {
	mu     sync.Mutex
	m      map[string]*fakeChecker
	builds int
}

func (f *fakes) factory(d Definition) (Checker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.builds++
	if f.m == nil {
		f.m = make(map[string]*fakeChecker)
	}
	c := f.m[d.Key()]
	if c == nil {
		c = &fakeChecker{}
		f.m[d.Key()] = c
	}
	return c, nil
}

func (f *fakes) get(d Definition) *fakeChecker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[d.Normalize().Key()]
}

func mdef(target string, rise, fall int) Definition {
	return Definition{Type: TypeTCP, Target: netip.MustParseAddrPort(target), Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: rise, Fall: fall}
}

func newTestManager(t *testing.T, f *fakes) *Manager {
	t.Helper()
	m := New(&Config{NewChecker: f.factory, Rand: rand.New(rand.NewPCG(1, 2)), Coalesce: -1})
	t.Cleanup(func() { m.Close() })
	return m
}

// drain collects the transitions available now (call after synctest.Wait).
func drain(m *Manager) (out []Transition, batches int) {
	for {
		select {
		case b := <-m.Transitions():
			out = append(out, b...)
			batches++
		default:
			return out, batches
		}
	}
}

type tr struct {
	ID       string
	From, To State
}

func simplify(ts []Transition) []tr {
	var out []tr
	for _, t := range ts {
		out = append(out, tr{t.ID, t.From, t.To})
	}
	return out
}

// manyChecks returns n checks c0, c1... of distinct targets, each with
// interval and timeout.
func manyChecks(n int, interval, timeout time.Duration) []Check {
	checks := make([]Check, n)
	for i := range checks {
		d := mdef(fmt.Sprintf("10.0.%d.%d:80", i/250, i%250+1), 1, 1)
		d.Interval, d.Timeout = interval, timeout
		checks[i] = Check{fmt.Sprintf("c%d", i), d}
	}
	return checks
}

// step advances fake time by one interval and lets everything settle.
func step(m *Manager) []tr {
	time.Sleep(time.Second)
	synctest.Wait()
	ts, _ := drain(m)
	return simplify(ts)
}

func TestManagerRiseFall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := newTestManager(t, &f)
		d := mdef("10.0.0.1:80", 2, 3)
		d.Initial = StateDown
		if err := m.Update(t.Context(), []Check{{"web", d}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got, _ := drain(m); len(got) != 1 || got[0].To != StateDown {
			t.Fatalf("start-down check: transitions %v, want one unknown->down", got)
		}
		fc := f.get(d)
		// Each step is one run; the state must only move on rise/fall streaks.
		script := []struct {
			ok   bool
			want []tr
		}{
			{true, nil},  // 1 success: still down (rise 2)
			{false, nil}, // streak broken
			{true, nil},  // 1
			{true, []tr{{"web", StateDown, StateUp}}}, // 2: up
			{false, nil}, // flap
			{true, nil},  //
			{false, nil}, // 1 failure
			{false, nil}, // 2
			{true, nil},  // reset
			{false, nil}, // 1
			{false, nil}, // 2
			{false, []tr{{"web", StateUp, StateDown}}}, // 3: down
			{false, nil}, // stays down
			{true, nil},  //
			{true, []tr{{"web", StateDown, StateUp}}}, // up again
		}
		for i, s := range script {
			fc.ok.Store(s.ok)
			if diff := cmp.Diff(s.want, step(m)); diff != "" {
				t.Fatalf("step %d (ok=%v) transitions (-want +got):\n%s", i, s.ok, diff)
			}
		}
		if got := fc.calls.Load(); got != int64(len(script)) {
			t.Errorf("%d runs in %d intervals", got, len(script))
		}
		st, err := m.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := []Status{{ID: "web", State: StateUp, ConsecutiveOK: 2, Runs: uint64(len(script)), Failures: 8}}
		if diff := cmp.Diff(want, st, cmpopts.IgnoreFields(Status{}, "Key", "Definition", "Since", "Last")); diff != "" {
			t.Errorf("snapshot (-want +got):\n%s", diff)
		}
		if st[0].Last.Detail != "fine" {
			t.Errorf("last result %+v", st[0].Last)
		}
	})
}

func TestManagerUnknownFirstResultDecides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := newTestManager(t, &f)
		up, down := mdef("10.0.0.1:80", 3, 3), mdef("10.0.0.2:80", 3, 3)
		if err := m.Update(t.Context(), []Check{{"a", up}, {"b", down}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		f.get(up).ok.Store(true)
		got := step(m)
		want := []tr{{"a", StateUnknown, StateUp}, {"b", StateUnknown, StateDown}}
		if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b tr) bool { return a.ID < b.ID })); diff != "" {
			t.Errorf("first results (-want +got):\n%s", diff)
		}
	})
}

func TestManagerSharedDefinitionRunsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := newTestManager(t, &f)
		d := mdef("10.0.0.1:80", 1, 1)
		if err := m.Update(t.Context(), []Check{{"svc-a/b1", d}, {"svc-b/b1", d}, {"svc-c/b1", d}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		f.get(d).ok.Store(true)
		got := step(m)
		for range 9 {
			step(m)
		}
		if n := f.get(d).calls.Load(); n != 10 {
			t.Errorf("shared check ran %d times in 10 intervals, want 10", n)
		}
		if len(f.m) != 1 {
			t.Errorf("%d checkers built for one definition", len(f.m))
		}
		want := []tr{{"svc-a/b1", StateUnknown, StateUp}, {"svc-b/b1", StateUnknown, StateUp}, {"svc-c/b1", StateUnknown, StateUp}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}

func TestManagerReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := newTestManager(t, &f)
		a, b, gone := mdef("10.0.0.1:80", 1, 2), mdef("10.0.0.2:80", 1, 2), mdef("10.0.0.3:80", 1, 2)
		if err := m.Update(t.Context(), []Check{{"a", a}, {"b", b}, {"gone", gone}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for _, d := range []Definition{a, b, gone} {
			f.get(d).ok.Store(true)
		}
		for range 5 {
			step(m)
		}
		// a unchanged, b's fall changes (a new check), gone removed,
		// "a2" joins a's definition, c is new.
		b2 := b
		b2.Fall = 5
		c := mdef("10.0.0.4:80", 1, 1)
		builds := f.builds
		if err := m.Update(t.Context(), []Check{{"a", a}, {"a2", a}, {"b", b2}, {"c", c}}); err != nil {
			t.Fatal(err)
		}
		if n := f.builds - builds; n != 2 {
			t.Errorf("reload built %d checkers, want 2 (only the new definitions)", n)
		}
		synctest.Wait()
		got, _ := drain(m)
		// a2 learns a's state; b restarts from unknown.
		want := []tr{{"a2", StateUnknown, StateUp}, {"b", StateUp, StateUnknown}}
		if diff := cmp.Diff(want, simplify(got), cmpopts.SortSlices(func(a, b tr) bool { return a.ID < b.ID })); diff != "" {
			t.Errorf("reload transitions (-want +got):\n%s", diff)
		}
		goneCalls := f.get(gone).calls.Load()
		f.get(b2).ok.Store(true)
		f.get(c).ok.Store(true)
		step(m)
		st, err := m.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		runs := map[string]uint64{}
		for _, s := range st {
			runs[s.ID] = s.Runs
		}
		if diff := cmp.Diff(map[string]uint64{"a": 6, "a2": 6, "b": 1, "c": 1}, runs); diff != "" {
			t.Errorf("runs after reload (-want +got):\n%s", diff)
		}
		if n := f.get(gone).calls.Load(); n != goneCalls {
			t.Errorf("removed check ran %d more times", n-goneCalls)
		}
		// A rejected update changes nothing.
		bad := c
		bad.Timeout = 2 * time.Second
		err = m.Update(t.Context(), []Check{{"a", a}, {"c", bad}})
		if err == nil || !strings.Contains(err.Error(), `check "c": healthcheck: timeout: 2s must be below interval 1s`) {
			t.Errorf("bad update error = %v", err)
		}
		if err := m.Update(t.Context(), []Check{{"a", a}, {"a", b}}); err == nil || !strings.Contains(err.Error(), `"a": duplicate id`) {
			t.Errorf("duplicate id error = %v", err)
		}
		st2, _ := m.Snapshot(t.Context())
		if len(st2) != 4 {
			t.Errorf("after rejected updates %d checks, want 4", len(st2))
		}
	})
}

// TestManagerFirstRunsSoonThenSpread: with a long interval, new checks run
// within FirstRunSpread (a daemon knows its backends in seconds, not a
// minute), then take phases spread over the interval.
func TestManagerFirstRunsSoonThenSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := newTestManager(t, &f)
		const n = 2000
		checks := manyChecks(n, time.Minute, time.Second)
		t0 := time.Now()
		if err := m.Update(t.Context(), checks); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*time.Minute + 10*time.Second)
		synctest.Wait()
		var buckets [60]int
		for _, c := range checks {
			fc := f.get(c.Definition)
			if len(fc.times) < 3 {
				t.Fatalf("%s ran %d times in 2m10s", c.ID, len(fc.times))
			}
			if off := fc.times[0].Sub(t0); off < 0 || off >= 2*time.Second {
				t.Fatalf("%s first ran at +%v, want within the 2s first-run spread", c.ID, off)
			}
			gap := fc.times[1].Sub(fc.times[0])
			if gap < 6*time.Second || gap > time.Minute {
				t.Fatalf("%s second run %v after the first, want 6s-60s", c.ID, gap)
			}
			buckets[int(fc.times[1].Sub(t0)/time.Second)%60]++
			if d := fc.times[2].Sub(fc.times[1]); d != time.Minute {
				t.Fatalf("%s third run %v after the second, want the interval", c.ID, d)
			}
		}
		for i, b := range buckets {
			if b > 3*n/54 { // ~37 a second when spread over 54 s
				t.Errorf("burst: %d of %d second runs in second %d", b, n, i)
			}
		}
	})
}

func TestManagerSpreadsStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := newTestManager(t, &f)
		const n = 2000
		checks := manyChecks(n, time.Second, 500*time.Millisecond)
		t0 := time.Now()
		if err := m.Update(t.Context(), checks); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			step(m)
		}
		// Bucket first runs by 10ms: a uniform spread puts ~20 in each.
		var buckets [100]int
		for _, c := range checks {
			fc := f.get(c.Definition)
			if got := fc.calls.Load(); got != 3 {
				t.Fatalf("%s ran %d times in 3 intervals", c.ID, got)
			}
			off := fc.times[0].Sub(t0)
			if off < 0 || off >= time.Second {
				t.Fatalf("%s first ran at +%v, outside the first interval", c.ID, off)
			}
			buckets[off/(10*time.Millisecond)]++
			// Later runs keep the phase: exactly one interval apart.
			if d := fc.times[1].Sub(fc.times[0]); d != time.Second {
				t.Fatalf("%s runs %v apart", c.ID, d)
			}
		}
		for i, b := range buckets {
			if b > 60 {
				t.Errorf("burst: %d of %d checks started in [%dms,%dms)", b, n, i*10, i*10+10)
			}
		}
	})
}

// By default the Manager starts checks in passes: each wake-up starts
// every check due within a fiftieth of its interval (at most 100ms), early,
// never late, so 2,000 checks at 1s need at most 50 wake-ups a second, and
// 1,000 checks at 10s at most 10.
func TestManagerCoalescesIntoPasses(t *testing.T) {
	for _, tc := range []struct {
		n        int
		interval time.Duration
		window   time.Duration
	}{
		{2000, time.Second, 20 * time.Millisecond},
		{1000, 10 * time.Second, 100 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%dx%v", tc.n, tc.interval), func(t *testing.T) {
			testCoalescesIntoPasses(t, tc.n, tc.interval, tc.window)
		})
	}
}

func testCoalescesIntoPasses(t *testing.T, n int, interval, window time.Duration) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		var runs []RunInfo
		var measuring atomic.Bool
		m := New(&Config{NewChecker: f.factory, Rand: rand.New(rand.NewPCG(1, 2)), OnResult: func(ri RunInfo) {
			if measuring.Load() {
				runs = append(runs, ri)
			}
		}})
		defer m.Close()
		checks := manyChecks(n, interval, 500*time.Millisecond)
		if err := m.Update(t.Context(), checks); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * interval) // every check has its phase
		synctest.Wait()
		t0 := time.Now()
		measuring.Store(true)
		time.Sleep(3 * interval)
		synctest.Wait()
		measuring.Store(false)
		if len(runs) < 3*n-n/100 {
			t.Fatalf("%d runs in 3 intervals of %d checks", len(runs), n)
		}
		starts := map[time.Time]bool{}
		byKey := map[string][]time.Time{}
		for _, ri := range runs {
			starts[ri.Result.Time] = true
			byKey[ri.Key] = append(byKey[ri.Key], ri.Result.Time)
			if early := ri.Scheduled.Sub(ri.Result.Time); early < 0 || early > window {
				t.Fatalf("%s due at +%v ran at +%v: want at most %v early, never late", ri.Key, ri.Scheduled.Sub(t0), ri.Result.Time.Sub(t0), window)
			}
		}
		secs := int(3 * interval / time.Second)
		if perSec := int(time.Second / window); len(starts) > secs*perSec {
			t.Errorf("%d checks every %v started at %d instants in %ds, want at most %d a second", n, interval, len(starts), secs, perSec)
		}
		// The passes keep their shape: a check moves by no more than the
		// window from one run to the next.
		for k, ts := range byKey {
			for i := 1; i < len(ts); i++ {
				if gap := ts[i].Sub(ts[i-1]); gap < interval-window || gap > interval+window {
					t.Fatalf("%s: runs %v apart, want the interval within %v", k, gap, window)
				}
			}
		}
	})
}

func TestManagerTimeoutAndBatching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := newTestManager(t, &f)
		const n = 300
		checks := make([]Check, n)
		for i := range checks {
			checks[i] = Check{fmt.Sprintf("c%03d", i), mdef(fmt.Sprintf("10.1.%d.%d:80", i/200, i%200+1), 1, 1)}
		}
		if err := m.Update(t.Context(), checks); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for _, c := range checks {
			f.get(c.Definition).hang.Store(true)
		}
		// Nobody reads transitions until every first run (jitter < 1s) timed
		// out (500ms): they pile up in batches.
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		got, batches := drain(m)
		if len(got) != n {
			t.Fatalf("%d transitions, want %d", len(got), n)
		}
		if batches >= n/2 {
			t.Errorf("%d transitions came in %d batches; want batching", n, batches)
		}
		for _, tr := range got {
			if tr.To != StateDown || !errors.Is(tr.Result.Err, ErrTimeout) {
				t.Fatalf("transition %+v, want down by timeout", tr)
			}
			if tr.Result.Latency != 500*time.Millisecond {
				t.Fatalf("hung check took %v, want the 500ms timeout", tr.Result.Latency)
			}
		}
	})
}

func TestManagerClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := New(&Config{NewChecker: f.factory})
		if err := m.Update(t.Context(), []Check{{"a", mdef("10.0.0.1:80", 1, 1)}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		for range m.Transitions() {
		}
		if err := m.Update(t.Context(), nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Update after Close = %v, want ErrClosed", err)
		}
	})
}

// TestManagerInjectedClock drives scheduling and dampening from an injected
// clock, outside synctest: nothing runs until the clock moves, and
// transitions carry the clock's time.
func TestManagerInjectedClock(t *testing.T) {
	var f fakes
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := New(&Config{Clock: clk, NewChecker: f.factory, Coalesce: -1, FirstRunSpread: time.Hour})
	defer m.Close()
	d := mdef("10.0.0.1:80", 2, 2)
	d.Interval, d.Timeout = time.Hour, time.Minute
	d.Initial = StateDown
	if err := m.Update(context.Background(), []Check{{"web", d}}); err != nil {
		t.Fatal(err)
	}
	fc := f.get(d)
	fc.ok.Store(true)
	// armed waits until the scheduler's timer is set for the check's next
	// run: the first within the first hour, each later one an hour on.
	armed := func(after time.Time) time.Time {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			if at := clk.NextDeadline(); at.After(after) && !at.After(after.Add(time.Hour)) {
				return at
			}
			if time.Now().After(deadline) {
				t.Fatalf("scheduler timer at %v, want within an hour after %v", clk.NextDeadline(), after)
			}
			time.Sleep(time.Millisecond)
		}
	}
	runs := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for fc.calls.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d runs, want %d", fc.calls.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
		if got := fc.calls.Load(); got != want {
			t.Fatalf("%d runs, want %d", got, want)
		}
	}
	at := armed(clk.Now())
	if n := fc.calls.Load(); n != 0 {
		t.Fatalf("%d runs before the clock moved", n)
	}
	first := at
	for i := range 2 {
		clk.Set(at)
		runs(int64(i + 1))
		at = armed(at)
	}
	if want := first.Add(2 * time.Hour); !at.Equal(want) {
		t.Errorf("third run due at %v, want %v (the phase kept)", at, want)
	}
	var got []Transition
	for len(got) < 2 {
		select {
		case b := <-m.Transitions():
			got = append(got, b...)
		case <-time.After(5 * time.Second):
			t.Fatalf("transitions %+v, want unknown->down then down->up", got)
		}
	}
	want := []tr{{"web", StateUnknown, StateDown}, {"web", StateDown, StateUp}}
	if diff := cmp.Diff(want, simplify(got)); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	if want := first.Add(time.Hour); !got[1].Time.Equal(want) {
		t.Errorf("transition at %v, want the injected clock's %v", got[1].Time, want)
	}
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// slowStarter is a socket probe whose system calls take a millisecond of
// its fake clock each and decide it at once, as a loaded guest's do. Its
// first start runs first (a hook) before it returns.
type slowStarter struct {
	clk    *clock.Fake
	first  func()
	starts atomic.Int64
}

func (s *slowStarter) Check(context.Context) Result { return Result{Time: s.clk.Now()} }

func (s *slowStarter) start(_ *connector, now time.Time, _ time.Duration, _ func(Result)) (Result, bool) {
	if s.starts.Add(1) == 1 {
		s.first()
	}
	s.clk.Advance(time.Millisecond)
	return Result{Time: now, Latency: s.clk.Now().Sub(now)}, true
}

// A Manager that is behind, with thousands of checks due at once, starts
// them in bounded passes and answers Close (and Update and Snapshot)
// between them, not after all of them: a daemon stopping on a loaded
// machine does not wait for its whole backlog of checks.
func TestManagerClosesBetweenPasses(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := &slowStarter{clk: clk}
	// Without coalescing no check is due before the clock moves.
	m := New(&Config{Clock: clk, NewChecker: func(Definition) (Checker, error) { return s, nil }, Coalesce: -1, Rand: rand.New(rand.NewPCG(1, 2))})
	closed := make(chan struct{})
	s.first = func() {
		// Close from elsewhere while the first pass runs, and go on once
		// it has asked the Manager to stop.
		go func() {
			m.Close()
			close(closed)
		}()
		<-m.quit
	}
	const n = 2000
	if err := m.Update(context.Background(), manyChecks(n, time.Hour, time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Every first run comes due at once: 2s of their system calls.
	clk.Advance(3 * time.Second)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if got := s.starts.Load(); got >= n {
		t.Errorf("Close returned after all %d due checks had started, not between passes", got)
	}
}

// slowChecker ignores its context and takes longer than the interval.
type slowChecker struct {
	d          time.Duration
	running    atomic.Int32
	overlapped atomic.Bool
	calls      atomic.Int32
}

func (s *slowChecker) Check(context.Context) Result {
	if s.running.Add(1) > 1 {
		s.overlapped.Store(true)
	}
	s.calls.Add(1)
	time.Sleep(s.d)
	s.running.Add(-1)
	return Result{}
}

// A run that outlives its interval never overlaps the next one; the next
// one starts as soon as it ends instead of being skipped.
func TestManagerOverrunningCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := &slowChecker{d: 1200 * time.Millisecond}
		m := New(&Config{NewChecker: func(Definition) (Checker, error) { return sc, nil }, Coalesce: -1})
		defer m.Close()
		if err := m.Update(t.Context(), []Check{{"slow", mdef("10.0.0.1:80", 1, 1)}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1 * time.Second) // the first run starts within this
		synctest.Wait()
		start := sc.calls.Load()
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if sc.overlapped.Load() {
			t.Error("runs of one check overlapped")
		}
		if n := sc.calls.Load() - start; n != 5 {
			t.Errorf("%d runs in 6s of 1.2s runs, want 5 back to back", n)
		}
	})
}

// A check starts in its Initial state: one that starts up needs Fall
// failures to go down, one that starts down Rise successes to go up.
func TestManagerInitialState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := newTestManager(t, &f)
		up, down := mdef("10.0.0.1:80", 2, 3), mdef("10.0.0.2:80", 2, 3)
		up.Initial, down.Initial = StateUp, StateDown
		if err := m.Update(t.Context(), []Check{{"up", up}, {"down", down}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got, _ := drain(m)
		want := []tr{{"up", StateUnknown, StateUp}, {"down", StateUnknown, StateDown}}
		if diff := cmp.Diff(want, simplify(got), cmpopts.SortSlices(func(a, b tr) bool { return a.ID < b.ID })); diff != "" {
			t.Fatalf("transitions on add (-want +got):\n%s", diff)
		}
		f.get(down).ok.Store(true) // up fails, down succeeds
		for i, want := range [][]tr{
			nil,
			{{"down", StateDown, StateUp}},
			{{"up", StateUp, StateDown}},
		} {
			if diff := cmp.Diff(want, step(m)); diff != "" {
				t.Fatalf("run %d (-want +got):\n%s", i+1, diff)
			}
		}
	})
}

// An Update with the set already running changes nothing: no transition,
// no checker built, no run moved; the state, counters and phase carry on.
func TestManagerSameUpdateIsNoOp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := newTestManager(t, &f)
		a, b := mdef("10.0.0.1:80", 1, 1), mdef("10.0.0.2:80", 1, 1)
		b.Initial = StateDown
		set := []Check{{"a", a}, {"b", b}, {"b2", b}}
		if err := m.Update(t.Context(), set); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		f.get(a).ok.Store(true)
		step(m)
		step(m)
		before, err := m.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		builds := f.builds
		time.Sleep(300 * time.Millisecond) // mid-interval
		// The same set, in another order and with the defaults spelled out.
		a2 := a.Normalize()
		if err := m.Update(t.Context(), []Check{{"b2", b}, {"a", a2}, {"b", b}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got, _ := drain(m); len(got) != 0 {
			t.Errorf("the same set caused transitions %+v", got)
		}
		if f.builds != builds {
			t.Errorf("the same set built %d checkers", f.builds-builds)
		}
		after, err := m.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, after, cmpopts.EquateComparable(netip.AddrPort{}, netip.Addr{}), cmpopts.EquateErrors()); diff != "" {
			t.Errorf("status changed (-before +after):\n%s", diff)
		}
		step(m)
		step(m)
		for _, d := range []Definition{a, b} {
			fc := f.get(d)
			fc.mu.Lock()
			times := slices.Clone(fc.times)
			fc.mu.Unlock()
			for i := 1; i < len(times); i++ {
				if gap := times[i].Sub(times[i-1]); gap != time.Second {
					t.Errorf("%s: runs %d and %d %v apart, want the interval", d.Target, i-1, i, gap)
				}
			}
		}
	})
}

// A changed definition for an ID moves the ID to the state of its new
// check, and says so only when that differs.
func TestManagerChangedDefinition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakes
		m := newTestManager(t, &f)
		up, down := mdef("10.0.0.1:80", 1, 1), mdef("10.0.0.2:80", 1, 1)
		checks := []Check{{"shared", up}, {"x", up}, {"y", up}, {"z", down}, {"w", up}}
		if err := m.Update(t.Context(), checks); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		f.get(up).ok.Store(true)
		step(m)
		drain(m)
		fresh := func(port int, initial State) Definition {
			d := mdef(fmt.Sprintf("10.0.0.9:%d", port), 1, 1)
			d.Initial = initial
			return d
		}
		checks = []Check{
			{"shared", up},
			{"x", fresh(1, StateUnknown)}, // up -> a new check, unknown
			{"y", fresh(2, StateDown)},    // up -> a new check that starts down
			{"z", up},                     // down -> a running check that is up
			{"w", fresh(3, StateUp)},      // up -> a new check that starts up: no change
		}
		if err := m.Update(t.Context(), checks); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got, _ := drain(m)
		want := []tr{{"x", StateUp, StateUnknown}, {"y", StateUp, StateDown}, {"z", StateDown, StateUp}}
		if diff := cmp.Diff(want, simplify(got), cmpopts.SortSlices(func(a, b tr) bool { return a.ID < b.ID })); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		for _, tr := range got {
			if !tr.Result.Time.IsZero() || tr.Result.Err != nil {
				t.Errorf("%s: a configuration change carries result %+v", tr.ID, tr.Result)
			}
		}
	})
}

// stepClock moves forward by step at every reading: a scheduler pass that
// reads it sees time go by as it works.
type stepClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func (c *stepClock) NewTimer(d time.Duration) clock.Timer { return clock.System{}.NewTimer(d) }

// stepStarter is a socket probe decided inline, whose system calls take
// one reading of a stepClock.
type stepStarter struct {
	clk *stepClock
}

func (s *stepStarter) Check(context.Context) Result { return Result{} }

func (s *stepStarter) start(_ *connector, now time.Time, _ time.Duration, _ func(Result)) (Result, bool) {
	return Result{Time: now, Latency: s.clk.Now().Sub(now)}, true
}

// TestRunDueIsBounded: a scheduler 1,000 checks behind starts them in
// passes of at most passMax, earliest due first, so the run loop serves
// verdicts, transitions, Update and Snapshot between passes; every check is
// started once. Blocking checks are queued for workers, which takes no
// system call; socket probes are decided inline, one clock read each.
func TestRunDueIsBounded(t *testing.T) {
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			var f fakes
			var started []time.Time // due times, in the order runs started or were queued
			m := New(&Config{NewChecker: f.factory, Coalesce: -1})
			m.Close() // the test drives the scheduler's state from here on
			// A 1s interval: the inline passes, one reading each, take
			// 100ms in all, so no check comes due twice.
			clk := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), step: time.Millisecond}
			if inline {
				clk.step = 100 * time.Microsecond
			}
			m.clock = clk
			m.onResult = func(ri RunInfo) { started = append(started, ri.Scheduled) }
			s := &stepStarter{clk: clk}
			start := clk.Now()
			const n = 1000
			for i := range n {
				d := mdef(fmt.Sprintf("10.0.%d.%d:80", i/250, 1+i%250), 1, 1)
				ch, _ := f.factory(d)
				if inline {
					ch = s
				}
				r := m.newRunner(d.Key(), d, ch, start)
				r.next, r.first = start.Add(-time.Duration(n-i)*time.Microsecond), false
				m.heap.push(r, m.dueKey(r.next))
			}
			launched := func() int {
				if inline {
					return len(started)
				}
				return len(m.queue)
			}
			passes, done := 0, 0
			// An inline start reads the clock once; queuing reads it every
			// passCheckEvery.
			perRead := 1
			if !inline {
				perRead = passCheckEvery
			}
			for {
				passes++
				if passes > n {
					t.Fatal("runDue never finished")
				}
				m.runDue(clk.Now())
				this := launched() - done
				done = launched()
				if limit := perRead * int(passMax/clk.step+1); this > limit {
					t.Fatalf("pass %d started %d checks, more than passMax allows (%d)", passes, this, limit)
				}
				if !m.cut {
					break
				}
				if this == 0 {
					t.Fatalf("pass %d was cut without starting anything", passes)
				}
			}
			if passes < 2 || done != n {
				t.Fatalf("%d passes started %d checks, want several passes and all %d", passes, done, n)
			}
			if !inline {
				for _, r := range m.queue {
					started = append(started, r.sched)
				}
			}
			for i := 1; i < len(started); i++ {
				if started[i].Before(started[i-1]) {
					t.Fatalf("start %d was due at %v, before start %d (%v): not earliest first", i, started[i], i-1, started[i-1])
				}
			}
			m.runDue(clk.Now())
			if m.cut {
				t.Error("a pass with nothing due says it was cut")
			}
		})
	}
}
