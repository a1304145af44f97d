package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/seesawd/seesawd/pkg/clock"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

// Kernel is the part of *ipvs.Client the engine uses; tests give it a fake.
type Kernel interface {
	DumpAll(ctx context.Context) ([]ipvs.ServiceDestinations, error)
	Service(ctx context.Context, s ipvs.Service) (ipvs.Service, error)
	Destinations(ctx context.Context, s ipvs.Service) ([]ipvs.Destination, error)
	Apply(ctx context.Context, ops []ipvs.Op) ([]error, error)
	Timeouts(ctx context.Context) (ipvs.Timeouts, error)
	SetTimeouts(ctx context.Context, t ipvs.Timeouts) error
}

// Checks is the part of *healthcheck.Manager the engine uses.
type Checks interface {
	Update(ctx context.Context, checks []healthcheck.Check) error
	Transitions() <-chan []healthcheck.Transition
}

// VRRP is the part of *vrrp.Node the engine uses.
type VRRP interface {
	AdjustPriority(ctx context.Context, instance string, delta int) error
	Events() <-chan vrrp.Event
}

// Options are the engine's collaborators. Kernel and Checks are required.
type Options struct {
	Kernel Kernel
	Checks Checks
	// VRRP, when set, receives vrrp_track priority adjustments and reports
	// mastership events.
	VRRP VRRP
	// Clock defaults to the system clock.
	Clock clock.Clock
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// StateFile is where ownership, check marks and run-time drains are
	// kept across restarts; empty keeps them in memory only.
	StateFile string
	// RouteSource, when set, returns the local address the kernel would
	// send from to reach a backend. A through_vip check without a
	// configured source leaves from it: its probe is addressed to the VIP,
	// which is local on the master, and the backend must answer the node.
	RouteSource func(backend netip.Addr) (netip.Addr, error)
	// OnAnnounce, when set, is called on the engine's goroutine with the
	// VIPs to announce (BGP) whenever that set changes: a VIP is in it
	// while every service with Announce on that VIP is up (known healthy at
	// its quorum, not merely pending), and the node is not drained.
	OnAnnounce func(vips []netip.Addr)
	// OnReconcile, when set, is called on the engine's goroutine after every
	// reconcile that did anything; it must be quick.
	OnReconcile func(ReconcileInfo)
	// OnLoop, when set, is called on the engine's goroutine at least every
	// LoopPing, so a watchdog can tell a hung loop from a live process.
	OnLoop   func()
	LoopPing time.Duration
}

// ReconcileInfo describes one reconcile.
type ReconcileInfo struct {
	// Reason is what started it: "start", "reload", "health", "resync",
	// "drain", "retry", "quorum", "stop".
	Reason string
	// Ops counts the operations by kind; Errors those the kernel refused.
	Ops      map[ipvs.OpKind]int
	Errors   int
	Duration time.Duration
	// Latencies are, for a reconcile caused by health transitions, the time
	// from each transition to the kernel applying its consequence.
	Latencies []time.Duration
}

// Errors the engine's methods return.
var (
	ErrStopped        = errors.New("engine: stopped")
	ErrUnknownBackend = errors.New("engine: no such service or backend")
)

const (
	opTimeout  = 10 * time.Second
	drainPoll  = time.Second
	maxBackoff = 30 * time.Second
	minBackoff = 100 * time.Millisecond
)

// Engine is seesawd's single owner of load-balancer state: one goroutine
// (Run) consumes health transitions, VRRP events, reloads, drains and its
// timers, and reconciles the kernel's IPVS table to the desired state
// computed from them.
type Engine struct {
	opts  Options
	log   *zap.Logger
	clock clock.Clock
	reqs  chan func(ctx context.Context)
	ready chan struct{}
	done  chan struct{}

	status  atomic.Pointer[Status]
	started atomic.Bool

	// Owned by the Run goroutine.
	st          *state
	view        view
	checkIDs    map[string]BackendKey
	checksOf    map[string]*svcChecks // by service, for the next reload
	checkWants  map[ipvs.ServiceKey]*want
	track       map[string]int // vrrp penalty applied, by instance
	vrrpStates  map[vrrp.InstanceID]vrrp.Event
	nextResync  time.Time
	retryAt     time.Time
	backoff     time.Duration
	rechecks    map[string]time.Time // quorum up-delay deadlines by service
	lastErr     error
	lastOK      time.Time
	lastInfo    ReconcileInfo
	pendingCfg  *Config
	stateDirty  bool
	pendingLate []time.Time // transition times waiting for their reconcile
	announced   []netip.Addr
	nodeDrained bool
	dirty       bool // the published Status is stale
	published   time.Time
}

// New returns an engine that will run cfg. Nothing is touched until Run.
func New(opts Options, cfg *Config) (*Engine, error) {
	if opts.Kernel == nil || opts.Checks == nil {
		return nil, errors.New("engine: Kernel and Checks are required")
	}
	if cfg == nil {
		return nil, errors.New("engine: no configuration")
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	e := &Engine{
		opts:       opts,
		log:        opts.Logger,
		clock:      opts.Clock,
		reqs:       make(chan func(context.Context)),
		ready:      make(chan struct{}),
		done:       make(chan struct{}),
		st:         newState(),
		checkIDs:   map[string]BackendKey{},
		track:      map[string]int{},
		vrrpStates: map[vrrp.InstanceID]vrrp.Event{},
		rechecks:   map[string]time.Time{},
		pendingCfg: cfg,
	}
	e.status.Store(&Status{})
	return e, nil
}

// Ready is closed once the first reconcile has run: the kernel holds the
// configured services (as far as health is known).
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Status returns the latest snapshot; it never blocks the engine.
func (e *Engine) Status() *Status { return e.status.Load() }

// do runs f on the engine's goroutine and waits for it.
func (e *Engine) do(ctx context.Context, f func(ctx context.Context) error) error {
	errc := make(chan error, 1)
	select {
	case e.reqs <- func(lctx context.Context) { errc <- f(lctx) }:
	case <-e.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-errc:
		return err
	case <-e.done:
		return ErrStopped
	}
}

// Reload swaps in a new configuration and applies only the difference:
// checks whose definition is unchanged keep their state, untouched
// services are not touched in the kernel. On error nothing changes.
func (e *Engine) Reload(ctx context.Context, cfg *Config) error {
	return e.do(ctx, func(lctx context.Context) error {
		kept, err := e.install(lctx, cfg)
		if err != nil {
			return err
		}
		// Every key but those of the services the reload kept as they were.
		keys := []ipvs.ServiceKey{}
		for _, k := range e.scope() {
			if s := e.st.byKey[k]; s == nil || !kept[s.Name] {
				keys = append(keys, k)
			}
		}
		e.reconcile(lctx, keys, "reload")
		return nil
	})
}

// Drain sets (on) or clears a run-time drain of one backend: weight 0, its
// established connections finish. It survives reloads and restarts.
func (e *Engine) Drain(ctx context.Context, service string, backend netip.AddrPort, on bool) error {
	return e.do(ctx, func(lctx context.Context) error {
		s := e.st.byName[service]
		if s == nil || backendOf(s, backend) == nil {
			return fmt.Errorf("%w: %s %v", ErrUnknownBackend, service, backend)
		}
		k := BackendKey{Service: service, Addr: backend}
		if e.st.drains[k] == on {
			return nil
		}
		if on {
			e.st.drains[k] = true
		} else {
			delete(e.st.drains, k)
		}
		e.stateDirty = true
		e.log.Info("drain", zap.String("service", service), zap.Stringer("backend", backend), zap.Bool("drained", on))
		e.reconcile(lctx, []ipvs.ServiceKey{s.IPVS.Key()}, "drain")
		return nil
	})
}

// Run starts the engine: it reads the state file and the kernel, adopts
// what is there without flushing, reconciles, and then serves its inputs
// until ctx ends. At the end it leaves the kernel as it is, or removes the
// owned services when the configuration says remove_on_stop.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("engine: Run called twice")
	}
	defer close(e.done)
	lctx := context.WithoutCancel(ctx)
	if err := e.start(ctx, lctx); err != nil {
		return err
	}
	e.publish()
	close(e.ready)

	timer := e.clock.NewTimer(time.Hour)
	defer timer.Stop()
	var vrrpEvents <-chan vrrp.Event
	if e.opts.VRRP != nil {
		vrrpEvents = e.opts.VRRP.Events()
	}
	transitions := e.opts.Checks.Transitions()
	for {
		e.armTimer(timer)
		select {
		case <-ctx.Done():
			e.stop(lctx)
			return nil
		case batch, ok := <-transitions:
			if !ok {
				transitions = nil
				continue
			}
			e.health(lctx, batch)
		case ev, ok := <-vrrpEvents:
			if !ok {
				vrrpEvents = nil
				continue
			}
			e.vrrpStates[ev.Instance] = ev
		case f := <-e.reqs:
			f(lctx)
		case <-timer.C():
		}
		e.timers(lctx)
		if e.opts.OnLoop != nil {
			e.opts.OnLoop()
		}
		e.saveState()
		e.dirty = true
		if !e.clock.Now().Before(e.published.Add(publishEvery)) {
			e.publish()
		}
	}
}

// start reads the state file and the kernel and runs the first reconcile.
func (e *Engine) start(ctx, lctx context.Context) error {
	sf, err := loadState(e.opts.StateFile)
	if err != nil {
		e.log.Warn("ignoring the state file: only configured services are adopted", zap.Error(err))
	}
	now := e.clock.Now()
	for _, k := range sf.Owned {
		e.st.owned[k] = true
	}
	for _, m := range sf.Marks {
		e.st.marks[BackendKey{Service: m.Service, Addr: m.Backend}] = m.Mark
	}
	for _, d := range sf.Drains {
		e.st.drains[BackendKey{Service: d.Service, Addr: d.Backend}] = true
	}
	e.nodeDrained = sf.NodeDrained
	// The kernel first: the desired state of a backend whose health is not
	// known yet is what the kernel has, so a restart changes nothing.
	for attempt := 0; ; attempt++ {
		if err = e.resyncView(lctx); err == nil {
			break
		}
		wait := backoffFor(attempt)
		e.log.Error("read the IPVS table", zap.Error(err), zap.Duration("retry_in", wait))
		t := e.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
	}
	for k := range e.st.owned {
		if e.view[k] == nil {
			delete(e.st.owned, k)
		}
	}
	cfg := e.pendingCfg
	e.pendingCfg = nil
	if _, err := e.install(lctx, cfg); err != nil {
		return err
	}
	e.setTimeouts(lctx)
	e.reconcile(lctx, nil, "start")
	e.nextResync = now.Add(e.st.cfg.ResyncInterval)
	e.saveState()
	return nil
}

// install validates what the kernel and the checks need from cfg and
// swaps it in, returning the names of the services kept as they were (same
// Fingerprint). On error nothing has changed.
func (e *Engine) install(ctx context.Context, cfg *Config) (map[string]bool, error) {
	now := e.clock.Now()
	marks, err := e.allocMarks(cfg)
	if err != nil {
		return nil, err
	}
	kept := map[string]bool{}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if o := e.st.byName[s.Name]; o != nil && s.Fingerprint != "" && o.Fingerprint == s.Fingerprint && sameMarks(s, marks, e.st.marks) {
			kept[s.Name] = true
		}
	}
	checks, ids, bySvc := buildChecks(cfg, marks, e.routeSource, func(s *Service) *svcChecks {
		if kept[s.Name] {
			return e.checksOf[s.Name]
		}
		return nil
	})
	if err := e.opts.Checks.Update(ctx, checks); err != nil {
		return nil, fmt.Errorf("engine: health checks: %w", err)
	}
	e.checksOf = bySvc
	old := e.st.cfg
	e.st.marks = marks
	e.st.setConfig(cfg, now)
	e.checkIDs = ids
	e.checkWants = map[ipvs.ServiceKey]*want{}
	for i := range cfg.Services {
		for k, w := range e.st.wantCheckServices(&cfg.Services[i]) {
			e.checkWants[k] = w
			e.st.owned[k] = true
		}
	}
	e.stateDirty = true
	if old != nil && old.Timeouts != cfg.Timeouts {
		e.setTimeouts(ctx)
	}
	if old != nil && old.ResyncInterval != cfg.ResyncInterval {
		e.nextResync = now.Add(cfg.ResyncInterval)
	}
	e.log.Info("configuration installed", zap.Int("services", len(cfg.Services)), zap.Int("checks", len(checks)),
		zap.Int("services_unchanged", len(kept)))
	return kept, nil
}

// allocMarks gives every through_vip backend of cfg a firewall mark,
// keeping the ones it already has.
func (e *Engine) allocMarks(cfg *Config) (map[BackendKey]uint32, error) {
	out := map[BackendKey]uint32{}
	used := map[uint32]bool{}
	for i := range cfg.Services {
		if m := cfg.Services[i].IPVS.FWMark; m != 0 {
			used[m] = true
		}
	}
	var need []BackendKey
	for i := range cfg.Services {
		s := &cfg.Services[i]
		for j := range s.Backends {
			b := &s.Backends[j]
			if !b.ThroughVIP {
				continue
			}
			k := b.Key(s.Name)
			if m, ok := e.st.marks[k]; ok && cfg.CheckMarks.Contains(m) && !used[m] {
				out[k] = m
				used[m] = true
				continue
			}
			need = append(need, k)
		}
	}
	next := cfg.CheckMarks.First
	for _, k := range need {
		for used[next] && next <= cfg.CheckMarks.Last && next != 0 {
			next++
		}
		if next > cfg.CheckMarks.Last || next < cfg.CheckMarks.First {
			return nil, fmt.Errorf("engine: check_marks %d-%d has no free mark for %v", cfg.CheckMarks.First, cfg.CheckMarks.Last, k)
		}
		out[k] = next
		used[next] = true
	}
	return out, nil
}

// sameMarks reports whether s's through_vip backends keep their marks
// (allocMarks gives a backend a new one when a service took its mark).
func sameMarks(s *Service, now, before map[BackendKey]uint32) bool {
	for i := range s.Backends {
		if k := s.Backends[i].Key(s.Name); s.Backends[i].ThroughVIP && now[k] != before[k] {
			return false
		}
	}
	return true
}

// svcChecks are one service's health checks and the backend of each.
type svcChecks struct {
	checks []healthcheck.Check
	keys   []BackendKey
}

// buildChecks returns the health checks of cfg, each under its backend's
// ID, the map back from ID to backend, and the checks by service. A
// service's checks are those reuse returns for it when not nil (an
// unchanged service's, from the configuration before).
func buildChecks(cfg *Config, marks map[BackendKey]uint32, source func(netip.Addr) netip.Addr,
	reuse func(*Service) *svcChecks) ([]healthcheck.Check, map[string]BackendKey, map[string]*svcChecks) {
	var out []healthcheck.Check
	ids := map[string]BackendKey{}
	bySvc := make(map[string]*svcChecks, len(cfg.Services))
	for i := range cfg.Services {
		s := &cfg.Services[i]
		sc := reuse(s)
		if sc == nil {
			sc = &svcChecks{}
			for j := range s.Backends {
				b := &s.Backends[j]
				if b.Check == nil {
					continue
				}
				k := b.Key(s.Name)
				d := *b.Check
				if b.ThroughVIP {
					d.Target = netip.AddrPortFrom(s.IPVS.Address, d.Target.Port())
					d.Mark = marks[k]
					if !d.Source.IsValid() {
						d.Source = source(b.Dest.Address)
					}
				}
				sc.checks = append(sc.checks, healthcheck.Check{ID: k.String(), Definition: d})
				sc.keys = append(sc.keys, k)
			}
		}
		for j, c := range sc.checks {
			ids[c.ID] = sc.keys[j]
		}
		out = append(out, sc.checks...)
		bySvc[s.Name] = sc
	}
	return out, ids, bySvc
}

// routeSource is Options.RouteSource, logging failures (the probe then
// leaves from whatever address the kernel picks).
func (e *Engine) routeSource(a netip.Addr) netip.Addr {
	if e.opts.RouteSource == nil {
		return netip.Addr{}
	}
	src, err := e.opts.RouteSource(a)
	if err != nil {
		e.log.Warn("no route source for a through_vip check", zap.Stringer("backend", a), zap.Error(err))
	}
	return src
}

// health applies a batch of check transitions and reconciles the services
// they touch.
func (e *Engine) health(ctx context.Context, batch []healthcheck.Transition) {
	var keys []ipvs.ServiceKey
	seen := map[string]bool{}
	for _, t := range batch {
		k, ok := e.checkIDs[t.ID]
		if !ok {
			continue // a check of an older configuration
		}
		e.st.health[k] = t.To
		s := e.st.byName[k.Service]
		if s == nil {
			continue
		}
		fields := []zap.Field{zap.String("service", k.Service), zap.Stringer("backend", k.Addr),
			zap.Stringer("from", t.From), zap.Stringer("to", t.To)}
		if t.Result.Err != nil {
			fields = append(fields, zap.NamedError("result", t.Result.Err))
		} else if t.Result.Detail != "" {
			fields = append(fields, zap.String("result", t.Result.Detail))
		}
		e.log.Info("backend health", fields...)
		if !t.Time.IsZero() {
			e.pendingLate = append(e.pendingLate, t.Time)
		}
		if !seen[k.Service] {
			seen[k.Service] = true
			keys = append(keys, s.IPVS.Key())
		}
	}
	if len(keys) > 0 {
		e.reconcile(ctx, keys, "health")
	}
}

// scope returns every key the engine plans: configured services, check
// services and owned services still in the kernel.
func (e *Engine) scope() []ipvs.ServiceKey {
	set := map[ipvs.ServiceKey]bool{}
	for k := range e.st.byKey {
		set[k] = true
	}
	for k := range e.checkWants {
		set[k] = true
	}
	for k := range e.st.owned {
		if e.view[k] != nil {
			set[k] = true
		}
	}
	return sortedServiceKeys(set)
}

// wantFor computes the desired state of k, or nil when k is not ours.
func (e *Engine) wantFor(k ipvs.ServiceKey, now time.Time) *want {
	ks := e.view[k]
	if s := e.st.byKey[k]; s != nil {
		return e.st.wantService(s, ks, now)
	}
	if w := e.checkWants[k]; w != nil {
		return w
	}
	if e.st.owned[k] && ks != nil {
		return e.st.wantLeaving(ks, now)
	}
	return nil
}

// reconcile brings the services keys (nil: all) to their desired state.
func (e *Engine) reconcile(ctx context.Context, keys []ipvs.ServiceKey, reason string) {
	start := e.clock.Now()
	if keys == nil {
		keys = e.scope()
	}
	e.quorums(ctx, keys, start)
	info := ReconcileInfo{Reason: reason, Ops: map[ipvs.OpKind]int{}}
	reread := map[ipvs.ServiceKey]bool{}
	failed := false
	for round := 0; round < 3 && len(keys) > 0; round++ {
		var ops []ipvs.Op
		for _, k := range keys {
			w := e.wantFor(k, start)
			if w == nil {
				continue
			}
			o := diff(w, e.view[k])
			if len(o) > 0 && hasRemoval(o) && e.view[k] != nil && e.view[k].fromDump {
				// A dump is not a consistent snapshot: confirm before deleting.
				if e.reread(ctx, k) {
					if w = e.wantFor(k, start); w == nil {
						continue
					}
					o = diff(w, e.view[k])
				}
			}
			ops = append(ops, o...)
		}
		if len(ops) == 0 {
			break
		}
		if reason == "resync" && round == 0 {
			for i := range ops {
				e.log.Warn("repairing drift", zap.String("op", describe(&ops[i])))
			}
		}
		actx, cancel := bounded(ctx)
		errs, terr := e.opts.Kernel.Apply(actx, ops)
		cancel()
		clear(reread)
		for i := range ops {
			op := &ops[i]
			var err error
			if i < len(errs) {
				err = errs[i]
			}
			if err == nil && terr == nil {
				e.view.applied(op)
				info.Ops[op.Kind]++
				e.owning(op)
				continue
			}
			if err == nil {
				err = terr
			}
			info.Errors++
			if needsReread(err) {
				reread[op.Service.Key()] = true
				continue
			}
			failed = true
			e.lastErr = err
			e.log.Error("kernel refused an operation", zap.String("op", describe(op)), zap.Error(err))
		}
		if terr != nil {
			failed = true
			e.lastErr = terr
			e.log.Error("apply", zap.Error(terr))
			break
		}
		if len(reread) == 0 {
			break
		}
		keys = keys[:0]
		for k := range reread {
			e.reread(ctx, k)
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareServiceKeys)
	}
	e.st.forget(e.view)
	now := e.clock.Now()
	info.Duration = now.Sub(start)
	if reason == "health" {
		for _, t := range e.pendingLate {
			info.Latencies = append(info.Latencies, now.Sub(t))
		}
	}
	e.pendingLate = e.pendingLate[:0]
	e.scheduleRetry(failed, now)
	if !failed {
		e.lastOK = now
	}
	n := 0
	for _, c := range info.Ops {
		n += c
	}
	if n > 0 || info.Errors > 0 || reason == "start" || reason == "reload" {
		e.log.Info("reconciled", zap.String("reason", reason), zap.Int("ops", n), zap.Int("errors", info.Errors),
			zap.Duration("took", info.Duration))
		e.lastInfo = info
		if e.opts.OnReconcile != nil {
			e.opts.OnReconcile(info)
		}
	}
}

// owning keeps the owned set in step with confirmed operations.
func (e *Engine) owning(op *ipvs.Op) {
	k := op.Service.Key()
	switch op.Kind {
	case ipvs.OpCreateService:
		if !e.st.owned[k] {
			e.st.owned[k] = true
			e.stateDirty = true
		}
	case ipvs.OpRemoveService:
		if e.st.owned[k] && e.st.byKey[k] == nil && e.checkWants[k] == nil {
			delete(e.st.owned, k)
			e.stateDirty = true
		}
	}
}

// reread replaces the view's entry of k with a fresh single-service read.
// It reports whether the read succeeded.
func (e *Engine) reread(ctx context.Context, k ipvs.ServiceKey) bool {
	probe := ipvs.Service{Family: k.Family, Protocol: k.Protocol, Address: k.Address, Port: k.Port, FWMark: k.FWMark}
	now := e.clock.Now()
	ctx, cancel := bounded(ctx)
	defer cancel()
	svc, err := e.opts.Kernel.Service(ctx, probe)
	if errors.Is(err, os.ErrNotExist) {
		delete(e.view, k)
		return true
	}
	if err != nil {
		e.log.Error("read service", zap.Stringer("service", k), zap.Error(err))
		return false
	}
	dests, err := e.opts.Kernel.Destinations(ctx, svc)
	if errors.Is(err, os.ErrNotExist) {
		delete(e.view, k)
		return true
	}
	if err != nil {
		e.log.Error("read destinations", zap.Stringer("service", k), zap.Error(err))
		return false
	}
	e.view.set(svc, dests, false, now)
	return true
}

// resyncView replaces the whole view with a fresh dump.
func (e *Engine) resyncView(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	dump, err := e.opts.Kernel.DumpAll(ctx)
	if errors.Is(err, ipvs.ErrDumpInconsistent) {
		// Repeats were removed; what the dump got wrong is read on its own
		// before anything is deleted or created on its word (see timers).
		e.log.Info("the IPVS dump saw concurrent changes; confirming what differs", zap.Error(err))
		err = nil
	}
	if err != nil {
		return fmt.Errorf("engine: dump: %w", err)
	}
	e.view = viewFromDump(dump, e.clock.Now())
	return nil
}

// quorums re-evaluates the quorum of the configured services among keys
// and adjusts VRRP priorities for the ones that track an instance.
func (e *Engine) quorums(ctx context.Context, keys []ipvs.ServiceKey, now time.Time) {
	for _, k := range keys {
		s := e.st.byKey[k]
		if s == nil {
			continue
		}
		changed, recheck := e.st.updateQuorum(s, e.view, now)
		if recheck.IsZero() {
			delete(e.rechecks, s.Name)
		} else {
			e.rechecks[s.Name] = recheck
		}
		if changed {
			lo, hi := e.st.counts(s, e.view[k])
			e.log.Info("service state", zap.String("service", s.Name), zap.Stringer("state", e.st.quorums[s.Name].state),
				zap.Int("healthy", lo), zap.Int("healthy_or_unknown", hi), zap.Int("quorum", s.Quorum),
				zap.Int("backends", len(s.Backends)))
		}
	}
	e.adjustVRRP(ctx)
	e.announce()
}

// announce reports the set of VIPs to announce when it changed.
func (e *Engine) announce() {
	if e.opts.OnAnnounce == nil || e.st.cfg == nil {
		return
	}
	up := map[netip.Addr]bool{}
	for i := range e.st.cfg.Services {
		s := &e.st.cfg.Services[i]
		if !s.Announce || s.IPVS.FWMark != 0 {
			continue
		}
		a := s.IPVS.Address
		ok, seen := up[a]
		up[a] = (ok || !seen) && e.st.quorums[s.Name].state == ServiceUp && !e.nodeDrained
	}
	var vips []netip.Addr
	for a, ok := range up {
		if ok {
			vips = append(vips, a)
		}
	}
	slices.SortFunc(vips, netip.Addr.Compare)
	if e.announced != nil && slices.Equal(vips, e.announced) {
		return
	}
	if vips == nil {
		vips = []netip.Addr{}
	}
	e.announced = vips
	e.log.Info("announced VIPs", zap.Int("count", len(vips)), zap.Stringers("vips", vips))
	e.opts.OnAnnounce(slices.Clone(vips))
}

// DrainNode withdraws (on) or restores every announcement, leaving IPVS
// serving the connections already there.
func (e *Engine) DrainNode(ctx context.Context, on bool) (changed bool, err error) {
	err = e.do(ctx, func(context.Context) error {
		changed = e.nodeDrained != on
		if changed {
			e.nodeDrained = on
			e.stateDirty = true
			e.log.Info("node drain", zap.Bool("drained", on))
			e.announce()
		}
		return nil
	})
	return changed, err
}

// adjustVRRP lowers each tracked VRRP instance's priority by the weights of
// its services that are down.
func (e *Engine) adjustVRRP(ctx context.Context) {
	if e.opts.VRRP == nil {
		return
	}
	want := map[string]int{}
	for name := range e.track {
		want[name] = 0
	}
	for i := range e.st.cfg.Services {
		s := &e.st.cfg.Services[i]
		if s.Track == nil {
			continue
		}
		instances := s.Track.Instances
		if len(instances) == 0 {
			instances = []string{s.Track.Instance}
		}
		for _, name := range instances {
			if _, ok := want[name]; !ok {
				want[name] = 0
			}
			if !e.st.quorums[s.Name].serving() {
				want[name] += s.Track.Weight
			}
		}
	}
	for name, w := range want {
		if e.track[name] == w {
			continue
		}
		if err := e.opts.VRRP.AdjustPriority(ctx, name, -w); err != nil {
			e.log.Error("adjust vrrp priority", zap.String("instance", name), zap.Int("penalty", w), zap.Error(err))
			e.scheduleRetry(true, e.clock.Now())
			continue
		}
		e.log.Info("vrrp priority adjusted for services below quorum", zap.String("instance", name), zap.Int("penalty", w))
		if w == 0 {
			delete(e.track, name)
		} else {
			e.track[name] = w
		}
	}
}

// timers runs what is due: quorum up-delays, drain polls, retries, resyncs.
func (e *Engine) timers(ctx context.Context) {
	now := e.clock.Now()
	var due []ipvs.ServiceKey
	for name, t := range e.rechecks {
		if !now.Before(t) {
			if s := e.st.byName[name]; s != nil {
				due = append(due, s.IPVS.Key())
			}
		}
	}
	if len(due) > 0 {
		slices.SortFunc(due, compareServiceKeys)
		e.reconcile(ctx, due, "quorum")
	}
	if !e.retryAt.IsZero() && !now.Before(e.retryAt) {
		e.retryAt = time.Time{}
		e.reconcile(ctx, nil, "retry")
	}
	if !now.Before(e.nextResync) {
		e.nextResync = now.Add(e.st.cfg.ResyncInterval)
		old := e.view
		defer func() {
			e.log.Debug("resync", zap.Int("services", len(e.view)), zap.Duration("took", e.clock.Now().Sub(now)))
		}()
		if err := e.resyncView(ctx); err != nil {
			e.log.Error("resync", zap.Error(err))
			e.scheduleRetry(true, now)
			return
		}
		// Where the dump disagrees with what the engine knew, read the
		// service on its own before acting: a dump taken while something
		// else edits IPVS can miss, repeat or invent entries.
		keys := e.scope()
		for k := range old {
			if e.st.owned[k] && e.view[k] == nil {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			if !sameEntry(old[k], e.view[k]) {
				e.reread(ctx, k)
			}
		}
		e.reconcile(ctx, nil, "resync")
		return
	}
	if keys := e.draining(); len(keys) > 0 && !now.Before(e.nextDrainPoll()) {
		for _, k := range keys {
			e.reread(ctx, k)
		}
		e.reconcile(ctx, keys, "drain")
	}
}

// draining returns the services with something draining away.
func (e *Engine) draining() []ipvs.ServiceKey {
	set := map[ipvs.ServiceKey]bool{}
	for k := range e.st.leaving {
		set[k] = true
	}
	for k := range e.st.leavingDests {
		set[k] = true
	}
	return sortedServiceKeys(set)
}

// nextDrainPoll is when draining services are read again.
func (e *Engine) nextDrainPoll() time.Time {
	var last time.Time
	for _, k := range e.draining() {
		if ks := e.view[k]; ks != nil && (last.IsZero() || ks.readAt.Before(last)) {
			last = ks.readAt
		}
	}
	return last.Add(drainPoll)
}

func (e *Engine) scheduleRetry(failed bool, now time.Time) {
	if !failed {
		e.backoff = 0
		return
	}
	if e.backoff == 0 {
		e.backoff = minBackoff
	} else {
		e.backoff = min(2*e.backoff, maxBackoff)
	}
	if e.retryAt.IsZero() {
		e.retryAt = now.Add(e.backoff)
	}
}

func backoffFor(attempt int) time.Duration {
	d := minBackoff << min(attempt, 8)
	return min(d, maxBackoff)
}

// armTimer sets the timer to the earliest deadline.
func (e *Engine) armTimer(t clock.Timer) {
	next := e.nextResync
	consider := func(at time.Time) {
		if !at.IsZero() && at.Before(next) {
			next = at
		}
	}
	consider(e.retryAt)
	for _, at := range e.rechecks {
		consider(at)
	}
	if len(e.draining()) > 0 {
		consider(e.nextDrainPoll())
		for _, l := range e.st.leaving {
			consider(l.deadline)
		}
		for _, m := range e.st.leavingDests {
			for _, l := range m {
				consider(l.deadline)
			}
		}
	}
	if e.dirty {
		consider(e.published.Add(publishEvery))
	}
	if e.opts.OnLoop != nil && e.opts.LoopPing > 0 {
		consider(e.clock.Now().Add(e.opts.LoopPing))
	}
	t.Reset(max(next.Sub(e.clock.Now()), 0))
}

// setTimeouts applies the configured connection timeouts the kernel does not have.
func (e *Engine) setTimeouts(ctx context.Context) {
	want := e.st.cfg.Timeouts
	if want == (ipvs.Timeouts{}) {
		return
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	cur, err := e.opts.Kernel.Timeouts(ctx)
	if err == nil && (want.TCP == 0 || want.TCP == cur.TCP) && (want.TCPFin == 0 || want.TCPFin == cur.TCPFin) &&
		(want.UDP == 0 || want.UDP == cur.UDP) {
		return
	}
	if err := e.opts.Kernel.SetTimeouts(ctx, want); err != nil {
		e.log.Error("set ipvs timeouts", zap.Error(err))
		return
	}
	e.log.Info("ipvs timeouts set", zap.Duration("tcp", want.TCP), zap.Duration("tcp_fin", want.TCPFin), zap.Duration("udp", want.UDP))
}

// stop leaves the kernel serving, or removes every owned service when
// configured to.
func (e *Engine) stop(ctx context.Context) {
	if e.st.cfg != nil && e.st.cfg.RemoveOnStop {
		var ops []ipvs.Op
		for _, k := range sortedServiceKeys(e.st.owned) {
			if ks := e.view[k]; ks != nil {
				ops = append(ops, ipvs.Op{Kind: ipvs.OpRemoveService, Service: ks.svc})
			}
		}
		actx, cancel := bounded(ctx)
		errs, terr := e.opts.Kernel.Apply(actx, ops)
		cancel()
		n := 0
		for i := range ops {
			if terr == nil && (i >= len(errs) || errs[i] == nil || errors.Is(errs[i], os.ErrNotExist)) {
				delete(e.st.owned, ops[i].Service.Key())
				n++
			}
		}
		e.log.Info("removed our services (remove_on_stop)", zap.Int("removed", n), zap.Int("of", len(ops)))
		e.stateDirty = true
	}
	e.saveState()
}

func (e *Engine) saveState() {
	if !e.stateDirty {
		return
	}
	sf := snapshotState(e.st)
	sf.NodeDrained = e.nodeDrained
	if err := saveState(e.opts.StateFile, sf); err != nil {
		e.log.Error("save state", zap.Error(err))
		return
	}
	e.stateDirty = false
}

// bounded bounds one kernel call: the ipvs client has its own timeout too,
// this keeps a fake or a stuck kernel from holding the loop longer.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, opTimeout)
}

// describe renders an operation for logs: "update destination tcp 10.0.0.1:80 -> 10.0.1.10:80 weight 0".
func describe(op *ipvs.Op) string {
	s := op.Kind.String() + " " + op.Service.String()
	switch op.Kind {
	case ipvs.OpCreateDestination, ipvs.OpUpdateDestination:
		s += fmt.Sprintf(" -> %v weight %d", op.Destination, op.Destination.Weight)
	case ipvs.OpRemoveDestination:
		s += " -> " + op.Destination.String()
	case ipvs.OpCreateService, ipvs.OpUpdateService:
		s += " scheduler " + op.Service.Scheduler
	}
	return s
}
