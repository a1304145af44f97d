package healthcheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seesawd/seesawd/pkg/clock"
)

// Check is a definition registered under an ID. Several IDs may share one
// definition; it then runs once and its transitions are reported for each.
type Check struct {
	ID         string
	Definition Definition
}

// Status is the state of one check ID, for status output and metrics
// (Last.Outcome() and Last.Latency label and time the latest run).
type Status struct {
	ID         string
	Key        string
	Definition Definition
	State      State
	// Since is when the state last changed (or the check was added).
	Since time.Time
	// Last is the most recent result (zero before the first).
	Last Result
	// ConsecutiveOK and ConsecutiveFail count the current streak.
	ConsecutiveOK, ConsecutiveFail int
	// Runs and Failures count results since the definition was added.
	Runs, Failures uint64
}

// RunInfo describes one completed run, for Config.OnResult: metrics take
// Result.Outcome() and Result.Latency from it.
type RunInfo struct {
	Key string
	// Scheduled is when the run was due, on the manager's clock.
	Scheduled time.Time
	Result    Result
}

// Config configures a Manager. The zero value (or nil) is usable.
type Config struct {
	// Clock drives scheduling and dampening; default the system clock.
	Clock clock.Clock
	// Pinger is shared by ICMP checks; default one owned (and closed) by
	// the Manager, on its Clock. Close leaves a given Pinger open, with
	// the Manager's pings still pending in it until their timeouts.
	Pinger *Pinger
	// NewChecker builds checkers; default NewChecker with the Pinger. Tests
	// use it to inject fakes.
	NewChecker func(Definition) (Checker, error)
	// MaxConcurrent bounds the worker pool that runs blocking checks
	// (HTTPS, UDP, DNS); default 1024. TCP and plain HTTP checks run on
	// the Manager's epoll connector (off Linux, on a goroutine each) and
	// ICMP checks on the Pinger, without workers.
	MaxConcurrent int
	// TransitionBuffer is the capacity, in batches, of the transition channel; default 64.
	TransitionBuffer int
	// OnResult, when set, is called on the manager goroutine for every
	// result; it must be quick.
	OnResult func(RunInfo)
	// Rand provides start jitter; default a randomly seeded generator.
	Rand *rand.Rand
	// Coalesce lets one scheduler wake-up start every check due within
	// this window, up to that much early, so that checks run in passes of
	// tens rather than one wake-up each: every wake-up of an idle process
	// costs context switches (the Go runtime's threads wake each other)
	// that can outweigh a TCP check. The default window is a fiftieth of
	// each check's interval, at most 100ms: 20ms at a 1s interval (at most
	// 50 wake-ups a second however many checks run), 100ms from a 5s
	// interval (at most 10). Positive sets one window for every check;
	// negative disables coalescing.
	Coalesce time.Duration
	// FirstRunSpread bounds when a new check first runs: at a random time
	// within it (or within the interval, if shorter). Default 2s.
	FirstRunSpread time.Duration
}

// Manager schedules checks from a single goroutine and emits their
// dampened state transitions. It owns the goroutines and sockets that run
// the checks (workers, an epoll connector, a Pinger unless given one), and
// Close ends them all.
type Manager struct {
	clock       clock.Clock
	conn        *connector // runs the socket probes of asyncCheckers
	pinger      *Pinger
	ownPinger   bool
	newChecker  func(Definition) (Checker, error)
	maxWorkers  int
	onResult    func(RunInfo)
	rnd         *rand.Rand
	coalesce    time.Duration
	firstSpread time.Duration

	out     chan []Transition
	updates chan updateReq
	snaps   chan chan []Status
	jobs    chan *runner
	notify  chan struct{}
	quit    chan struct{}
	stopped chan struct{}
	closing sync.Once
	// updateMu serializes Update; live is the set of keys it applied last.
	updateMu sync.Mutex
	live     map[string]bool
	ctx      context.Context // cancelled by Close, ends in-flight blocking checks
	cancel   context.CancelFunc
	wg       sync.WaitGroup // workers

	inboxMu sync.Mutex
	inbox   []completion

	idle atomic.Int32

	// Owned by the run goroutine.
	runners map[string]*runner // by key
	ids     map[string]*runner // by check ID
	heap    dueHeap[*runner]   // by next, as nanoseconds since epoch
	epoch   time.Time
	queue   []*runner
	workers int
	pend    []Transition
	// maxWindow is the largest coalescing window of the runners.
	maxWindow time.Duration
	// settled holds the verdicts reached while a pass started checks;
	// later holds runners a pass passed over (due within the largest
	// window, not their own).
	settled []completion
	later   []*runner
	// owed holds runners whose run came due while one was in flight,
	// ended since: they run at the start of the next pass.
	owed []*runner
	// cut says the last pass stopped at passMax with checks still due.
	cut bool
}

// keyedCheck is a validated Check with its definition's key.
type keyedCheck struct {
	id  string
	def Definition
	key string
}

type updateReq struct {
	checks   []keyedCheck
	checkers map[string]Checker
	done     chan struct{}
}

type completion struct {
	r   *runner
	res Result
}

// runner is one distinct definition and its dampened state.
type runner struct {
	key     string
	def     Definition
	checker Checker
	async   asyncChecker
	doneFn  func(Result)
	owners  []string

	state          State
	since          time.Time
	okRun, failRun int
	last           Result
	runs, failures uint64
	next, sched    time.Time
	owedAt         time.Time // due time of a run owed (see Manager.owed)
	window         time.Duration
	heapIdx        int
	inflight, owed bool
	removed        bool
	// first says the next run is the check's first, squeezed into
	// FirstRunSpread: its phase in the interval is not set yet.
	first bool
}

func (r *runner) setHeapIndex(i int) { r.heapIdx = i }

// New starts a Manager with no checks; give it some with Update.
func New(cfg *Config) *Manager {
	if cfg == nil {
		cfg = &Config{}
	}
	m := &Manager{
		clock:       cfg.Clock,
		pinger:      cfg.Pinger,
		newChecker:  cfg.NewChecker,
		maxWorkers:  cfg.MaxConcurrent,
		onResult:    cfg.OnResult,
		rnd:         cfg.Rand,
		coalesce:    cfg.Coalesce,
		firstSpread: cfg.FirstRunSpread,
		updates:     make(chan updateReq),
		snaps:       make(chan chan []Status),
		jobs:        make(chan *runner),
		notify:      make(chan struct{}, 1),
		quit:        make(chan struct{}),
		stopped:     make(chan struct{}),
		runners:     make(map[string]*runner),
		ids:         make(map[string]*runner),
	}
	if m.clock == nil {
		m.clock = clock.System{}
	}
	m.conn = newConnector(m.clock)
	m.conn.flush = m.kick
	if m.pinger == nil {
		m.pinger, m.ownPinger = NewPinger(&PingerConfig{Clock: m.clock}), true
	}
	if m.newChecker == nil {
		m.newChecker = func(d Definition) (Checker, error) { return NewChecker(d, m.pinger) }
	}
	if m.firstSpread <= 0 {
		m.firstSpread = 2 * time.Second
	}
	if m.maxWorkers <= 0 {
		m.maxWorkers = 1024
	}
	if m.rnd == nil {
		m.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	tb := cfg.TransitionBuffer
	if tb <= 0 {
		tb = 64
	}
	m.out = make(chan []Transition, tb)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.epoch = m.clock.Now()
	go m.run()
	return m
}

// Transitions returns the channel of state transitions, in batches. It is
// closed by Close. A consumer that falls behind gets larger batches; no
// transition is dropped.
func (m *Manager) Transitions() <-chan []Transition { return m.out }

// Update replaces the whole set of checks. Definitions are normalized and
// validated first; on any error nothing changes. Checks whose definition
// is unchanged keep their state, counters and schedule.
func (m *Manager) Update(ctx context.Context, checks []Check) error {
	// Updates are serialized, so the keys applied last are the keys live
	// now: only new definitions need a checker built (an HTTPS check reads
	// its CA and key files), unchanged ones keep theirs.
	m.updateMu.Lock()
	defer m.updateMu.Unlock()
	seen := make(map[string]bool, len(checks))
	norm := make([]keyedCheck, len(checks))
	checkers := make(map[string]Checker)
	for i, c := range checks {
		if c.ID == "" {
			return fmt.Errorf("healthcheck: check %d: empty id", i)
		}
		if seen[c.ID] {
			return fmt.Errorf("healthcheck: check %q: duplicate id", c.ID)
		}
		seen[c.ID] = true
		d := c.Definition.Normalize()
		if err := d.Validate(); err != nil {
			return fmt.Errorf("healthcheck: check %q: %w", c.ID, err)
		}
		k := d.Key()
		norm[i] = keyedCheck{id: c.ID, def: d, key: k}
		if _, ok := checkers[k]; ok || m.live[k] {
			continue
		}
		ch, err := m.newChecker(d)
		if err != nil {
			return fmt.Errorf("healthcheck: check %q: %w", c.ID, err)
		}
		checkers[k] = ch
	}
	req := updateReq{checks: norm, checkers: checkers, done: make(chan struct{})}
	select {
	case m.updates <- req:
	case <-m.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-req.done:
	case <-m.stopped:
		return ErrClosed
	}
	live := make(map[string]bool, len(norm))
	for _, c := range norm {
		live[c.key] = true
	}
	m.live = live
	return nil
}

// Snapshot returns the status of every check ID, sorted by ID.
func (m *Manager) Snapshot(ctx context.Context) ([]Status, error) {
	ch := make(chan []Status, 1)
	select {
	case m.snaps <- ch:
	case <-m.stopped:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case s := <-ch:
		return s, nil
	case <-m.stopped:
		return nil, ErrClosed
	}
}

// Close stops scheduling, ends the checks in flight and closes the
// transition channel (after delivering what it can without blocking). When
// it returns, every goroutine and socket the Manager started is gone (but
// for those of a Pinger given in Config).
func (m *Manager) Close() error {
	var err error
	m.closing.Do(func() {
		close(m.quit)
		m.cancel()
		<-m.stopped
		m.wg.Wait()
		m.conn.close()
		if m.ownPinger {
			err = m.pinger.Close()
		}
	})
	return err
}

func (m *Manager) deliver(r *runner, res Result) {
	m.inboxMu.Lock()
	m.inbox = append(m.inbox, completion{r, res})
	first := len(m.inbox) == 1
	m.inboxMu.Unlock()
	// The connector kicks once after a batch of verdicts.
	if first && !m.conn.inBatch() {
		m.kick()
	}
}

// kick wakes the run goroutine to take the inbox.
func (m *Manager) kick() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

func (m *Manager) worker() {
	defer m.wg.Done()
	for {
		m.idle.Add(1)
		select {
		case r := <-m.jobs:
			m.idle.Add(-1)
			ctx, cancel := context.WithTimeout(m.ctx, r.def.Timeout)
			res := r.checker.Check(ctx)
			cancel()
			m.deliver(r, res)
		case <-m.quit:
			m.idle.Add(-1)
			return
		}
	}
}

func (m *Manager) run() {
	defer close(m.stopped)
	defer func() {
		// Hand over what is pending without blocking, then close.
		if len(m.pend) > 0 {
			select {
			case m.out <- m.pend:
			default:
			}
		}
		close(m.out)
	}()
	timer := m.clock.NewTimer(time.Hour)
	defer timer.Stop()
	var timerAt time.Time
	var inbox []completion
	drain := false
	// ranFrom is when this goroutine last blocked or yielded, as far as it
	// knows (zero: unknown, the next reading).
	var ranFrom time.Time
	for {
		now := m.clock.Now()
		if ranFrom.IsZero() {
			ranFrom = now
		}
		if drain {
			drain = false
			m.inboxMu.Lock()
			inbox, m.inbox = m.inbox, inbox[:0]
			m.inboxMu.Unlock()
			for i, c := range inbox {
				m.complete(c.r, c.res, now)
				inbox[i] = completion{}
			}
		}
		now = m.runDue(now)
		m.dispatch()
		if m.heap.len() > 0 {
			if at := m.heap.peek().next; !at.Equal(timerAt) {
				timerAt = at
				timer.Reset(at.Sub(now))
			}
		}
		var jobs chan *runner
		var head *runner
		if len(m.queue) > 0 {
			jobs, head = m.jobs, m.queue[0]
		}
		var out chan []Transition
		if len(m.pend) > 0 {
			out = m.out
		}
		var again <-chan struct{}
		if m.cut {
			// The next pass follows at once, so the select below must
			// not block. Yield when this goroutine may have run for
			// yieldAfter on end, so that the Go runtime does not preempt
			// it at 10ms (a signal, and its sysmon thread retaking the
			// P and polling every 20µs for a while); not at every cut,
			// as each yield wakes an idle thread to look for work (a
			// futex call and two context switches).
			m.cut = false
			again = closedChan
			if now.Sub(ranFrom) >= yieldAfter {
				runtime.Gosched()
				ranFrom = time.Time{}
			}
		} else {
			// The select below may block.
			ranFrom = time.Time{}
		}
		select {
		case <-again:
		case <-timer.C():
			timerAt = time.Time{}
		case <-m.notify:
			drain = true
		case req := <-m.updates:
			m.apply(req)
			close(req.done)
		case ch := <-m.snaps:
			ch <- m.snapshot()
		case jobs <- head:
			m.queue[0] = nil
			m.queue = m.queue[1:]
		case out <- m.pend:
			m.pend = nil
		case <-m.quit:
			return
		}
	}
}

// passMax bounds a scheduler pass. A Manager behind by thousands of checks
// (a start with 10,000 of them on a slow machine, an overloaded one) still
// hands over transitions and completes verdicts between passes, answers
// Update, Snapshot and Close, and yields before the Go runtime would
// preempt it. Before the bound, at a fresh start of 10,000 checks under
// QEMU emulation, the engine received the first verdicts in 2 batches over
// 27 s (61 batches with it).
const passMax = 5 * time.Millisecond

// passCheckEvery is how many blocking checks a pass queues between two
// clock reads: queuing one makes no system call to read the time after.
const passCheckEvery = 32

// runDue is one scheduler pass: it starts every check due by now, the
// clock's reading at the pass's start, or within its coalescing window
// after now, for up to passMax, and completes those decided at once. It
// returns the clock's latest reading. The clock is read once per check
// (see after): the reading that ends one check's inline verdict starts the
// next, so a check's start, and its lateness, is when its own system calls
// began.
func (m *Manager) runDue(now time.Time) time.Time {
	start, cut := now, false
	for len(m.owed) > 0 {
		if now.Sub(start) >= passMax {
			cut = true
			break
		}
		r := m.owed[0]
		m.owed[0] = nil
		m.owed = m.owed[1:]
		if r.owed && !r.removed {
			r.owed = false
			now = m.launch(r, r.owedAt, now)
		}
	}
	for m.heap.len() > 0 {
		r := m.heap.peek()
		if r.next.After(start.Add(m.maxWindow)) {
			break
		}
		if now.Sub(start) >= passMax {
			cut = true
			break
		}
		horizon := start.Add(r.window)
		if r.next.After(horizon) {
			// Due within another check's window, not its own.
			m.heap.pop()
			m.later = append(m.later, r)
			continue
		}
		due := r.next
		// Keep the phase; skip whole periods the scheduler missed. A
		// check whose first run was squeezed into FirstRunSpread takes a
		// random phase in the interval after it, so checks started
		// together do not stay bunched.
		next := r.next.Add(r.def.Interval)
		if r.first {
			r.first = false
			next = r.next.Add(r.def.Interval/10 + time.Duration(m.rnd.Int64N(int64(r.def.Interval-r.def.Interval/10)+1)))
		}
		if behind := horizon.Sub(next); behind >= 0 {
			next = next.Add((behind/r.def.Interval + 1) * r.def.Interval)
		}
		r.next = next
		m.heap.fix(0, m.dueKey(next))
		if r.inflight || r.owed {
			// Still running (a late verdict), or its run owed since not
			// started: run as soon as it can, as due now.
			r.owed, r.owedAt = true, due
			continue
		}
		now = m.launch(r, due, now)
	}
	for i, r := range m.later {
		m.heap.push(r, m.dueKey(r.next))
		m.later[i] = nil
	}
	m.later = m.later[:0]
	// Verdicts are handled after the pass, so that no check waits for
	// another's bookkeeping (or Config.OnResult) to start.
	for i, c := range m.settled {
		m.complete(c.r, c.res, now)
		m.settled[i] = completion{}
	}
	m.settled = m.settled[:0]
	m.cut = cut || len(m.owed) > 0
	if len(m.owed) == 0 && cap(m.owed) > 1024 {
		m.owed = nil
	}
	return now
}

// yieldAfter is how long the run goroutine works through cut passes
// before it yields: under the 10ms after which the Go runtime preempts a
// goroutine, so that with passes of passMax it yields at every other cut.
const yieldAfter = 8 * time.Millisecond

// closedChan is always ready to receive from.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// launch starts r's run that was due at due, at now, a reading of the
// clock, and returns the clock's reading after it.
func (m *Manager) launch(r *runner, due, now time.Time) time.Time {
	r.inflight, r.sched = true, due
	if r.async == nil {
		m.queue = append(m.queue, r)
		if len(m.queue)%passCheckEvery == 0 {
			return m.clock.Now()
		}
		return now
	}
	res, decided := r.async.start(m.conn, now, r.def.Timeout, r.doneFn)
	if !decided {
		// The next check starts after this one's system calls.
		return after(m.clock, now)
	}
	m.settled = append(m.settled, completion{r, res})
	return res.Time.Add(res.Latency)
}

// dispatch hands queued blocking checks to idle workers and grows the pool
// while work waits and the bound allows.
func (m *Manager) dispatch() {
	for len(m.queue) > 0 {
		select {
		case m.jobs <- m.queue[0]:
			m.queue[0] = nil
			m.queue = m.queue[1:]
			continue
		default:
		}
		if m.idle.Load() == 0 && m.workers < m.maxWorkers {
			m.workers++
			m.wg.Add(1)
			go m.worker()
		}
		return
	}
	if cap(m.queue) > 1024 && len(m.queue) == 0 {
		m.queue = nil
	}
}

// complete handles r's result at now, a reading of the clock.
func (m *Manager) complete(r *runner, res Result, now time.Time) {
	if r.removed {
		return
	}
	r.inflight = false
	if m.onResult != nil {
		m.onResult(RunInfo{Key: r.key, Scheduled: r.sched, Result: res})
	}
	r.last = res
	r.runs++
	from := r.state
	if res.OK() {
		r.okRun++
		r.failRun = 0
		if r.state == StateUnknown || r.state == StateDown && r.okRun >= r.def.Rise {
			r.state = StateUp
		}
	} else {
		r.failures++
		r.failRun++
		r.okRun = 0
		if r.state == StateUnknown || r.state == StateUp && r.failRun >= r.def.Fall {
			r.state = StateDown
		}
	}
	if r.state != from {
		r.since = now
		for _, id := range r.owners {
			m.pend = append(m.pend, Transition{ID: id, From: from, To: r.state, Result: res, Time: now})
		}
	}
	if r.owed {
		m.owed = append(m.owed, r)
	}
}

func (m *Manager) apply(req updateReq) {
	now := m.clock.Now()
	newIDs := make(map[string]*runner, len(req.checks))
	keep := make(map[string]*runner, len(req.checkers))
	for _, c := range req.checks {
		k := c.key
		r := keep[k]
		if r == nil {
			r = m.runners[k]
			if r == nil {
				ch := req.checkers[k]
				if ch == nil {
					// Update skips keys it believes live; should that ever
					// be wrong, build here rather than run without a checker.
					var err error
					if ch, err = m.newChecker(c.def); err != nil {
						ch = failingChecker{err}
					}
				}
				r = m.newRunner(k, c.def, ch, now)
			}
			r.owners = r.owners[:0]
			keep[k] = r
		}
		r.owners = append(r.owners, c.id)
		newIDs[c.id] = r
		// Tell the consumer when what it knows of this ID changes owner runner.
		from := StateUnknown
		if old := m.ids[c.id]; old != nil {
			if old == r {
				continue
			}
			from = old.state
		}
		if r.state != from {
			m.pend = append(m.pend, Transition{ID: c.id, From: from, To: r.state, Time: now})
		}
	}
	for k, r := range m.runners {
		if keep[k] == nil {
			r.removed = true
			m.heap.remove(r.heapIdx)
		}
	}
	m.maxWindow = 0
	for _, r := range keep {
		slices.Sort(r.owners)
		if r.heapIdx < 0 && !r.removed {
			m.heap.push(r, m.dueKey(r.next))
		}
		m.maxWindow = max(m.maxWindow, r.window)
	}
	m.runners, m.ids = keep, newIDs
}

func (m *Manager) newRunner(k string, d Definition, ch Checker, now time.Time) *runner {
	r := &runner{key: k, def: d, checker: ch, heapIdx: -1, since: now, state: d.Initial, window: m.window(d.Interval)}
	if a, ok := ch.(asyncChecker); ok {
		r.async = a
		r.doneFn = func(res Result) { m.deliver(r, res) }
	}
	// A new check runs soon, so a daemon that starts knows its backends
	// within seconds whatever the interval, spread over FirstRunSpread so
	// thousands of checks do not start at once. Its second run picks the
	// check's phase in the interval (see run).
	r.next = now.Add(time.Duration(m.rnd.Int64N(int64(min(d.Interval, m.firstSpread)))))
	r.first = d.Interval > m.firstSpread
	return r
}

// Without Config.Coalesce, a check's coalescing window is a fiftieth of its
// interval, at most 100ms: 20ms early on a 1s interval moves a check's run
// by 2 % of the interval (the same each time, while the passes keep their
// shape), and at 1,000 checks a second makes passes of about 20. Long
// intervals are where the cap matters: 10,000 checks every 60s (keepalived's
// default delay_loop) are 167 a second, in passes of about 3 with a 20ms
// window and about 17 with 100ms. In the VM lab at that rate, in one boot,
// a check cost 0.80x keepalived's checker CPU with 100ms against 0.99x with
// 20ms (docs/benchmarks-healthcheck.md); 100ms early is a sixth of a percent
// of a 60s interval.
const (
	coalesceShare = 50
	coalesceMax   = 100 * time.Millisecond
)

// window is the coalescing window of a check with this interval.
func (m *Manager) window(interval time.Duration) time.Duration {
	switch {
	case m.coalesce > 0:
		return m.coalesce
	case m.coalesce < 0:
		return 0
	}
	return min(interval/coalesceShare, coalesceMax)
}

// dueKey is t as the scheduler heap's key.
func (m *Manager) dueKey(t time.Time) int64 { return int64(t.Sub(m.epoch)) }

func (m *Manager) snapshot() []Status {
	out := make([]Status, 0, len(m.ids))
	for id, r := range m.ids {
		out = append(out, Status{
			ID: id, Key: r.key, Definition: r.def, State: r.state, Since: r.since, Last: r.last,
			ConsecutiveOK: r.okRun, ConsecutiveFail: r.failRun, Runs: r.runs, Failures: r.failures,
		})
	}
	slices.SortFunc(out, func(a, b Status) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// failingChecker fails every run with its error.
type failingChecker struct{ err error }

func (f failingChecker) Check(context.Context) Result { return Result{Time: time.Now(), Err: f.err} }
