package engine

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"

	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

// fakeKernel is an in-memory IPVS table with the kernel's error semantics
// (EEXIST, ENOENT/ESRCH as os.ErrExist/os.ErrNotExist) and knobs to make
// its dumps lie the way the real kernel's can under concurrent changes.
type fakeKernel struct {
	mu    sync.Mutex
	svcs  map[ipvs.ServiceKey]*fakeSvc
	order []ipvs.ServiceKey
	// ops records every operation Apply received, in order.
	ops []ipvs.Op
	// applies counts Apply calls; dumps, reads count DumpAll and Service calls.
	applies, dumps, reads int
	// dumpHook rewrites what a dump returns (drop or invent entries).
	dumpHook func([]ipvs.ServiceDestinations) []ipvs.ServiceDestinations
	// fail makes Apply's transport fail this many more times.
	fail     int
	timeouts ipvs.Timeouts
}

type fakeSvc struct {
	svc   ipvs.Service
	dests []ipvs.Destination
}

func newFakeKernel() *fakeKernel { return &fakeKernel{svcs: map[ipvs.ServiceKey]*fakeSvc{}} }

func opErr(errno syscall.Errno) error { return &ipvs.OpError{Op: "fake", Err: errno} }

func (k *fakeKernel) DumpAll(ctx context.Context) ([]ipvs.ServiceDestinations, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dumps++
	var out []ipvs.ServiceDestinations
	for _, key := range k.order {
		s := k.svcs[key]
		out = append(out, ipvs.ServiceDestinations{Service: s.svc, Destinations: slices.Clone(s.dests)})
	}
	if k.dumpHook != nil {
		out = k.dumpHook(out)
	}
	return out, nil
}

func (k *fakeKernel) Service(ctx context.Context, s ipvs.Service) (ipvs.Service, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads++
	fs := k.svcs[s.Key()]
	if fs == nil {
		return ipvs.Service{}, opErr(syscall.ESRCH)
	}
	return fs.svc, nil
}

func (k *fakeKernel) Destinations(ctx context.Context, s ipvs.Service) ([]ipvs.Destination, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fs := k.svcs[s.Key()]
	if fs == nil {
		return nil, opErr(syscall.ESRCH)
	}
	return slices.Clone(fs.dests), nil
}

func (k *fakeKernel) Timeouts(ctx context.Context) (ipvs.Timeouts, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.timeouts, nil
}

func (k *fakeKernel) SetTimeouts(ctx context.Context, t ipvs.Timeouts) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if t.TCP != 0 {
		k.timeouts.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		k.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		k.timeouts.UDP = t.UDP
	}
	return nil
}

func (k *fakeKernel) Apply(ctx context.Context, ops []ipvs.Op) ([]error, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.applies++
	errs := make([]error, len(ops))
	if k.fail > 0 {
		k.fail--
		for i := range errs {
			errs[i] = ipvs.ErrNotApplied
		}
		return errs, fmt.Errorf("fake: transport failed")
	}
	for i, op := range ops {
		k.ops = append(k.ops, op)
		errs[i] = k.apply(op)
	}
	return errs, nil
}

func (k *fakeKernel) apply(op ipvs.Op) error {
	key := op.Service.Key()
	fs := k.svcs[key]
	switch op.Kind {
	case ipvs.OpCreateService:
		if fs != nil {
			return opErr(syscall.EEXIST)
		}
		svc := op.Service
		if svc.Scheduler == "" {
			svc.Scheduler = "wlc"
		}
		k.svcs[key] = &fakeSvc{svc: svc}
		k.order = append(k.order, key)
		return nil
	}
	if fs == nil {
		return opErr(syscall.ESRCH)
	}
	switch op.Kind {
	case ipvs.OpUpdateService:
		st := fs.svc.Stats
		fs.svc = op.Service
		fs.svc.Stats = st
	case ipvs.OpRemoveService:
		delete(k.svcs, key)
		k.order = slices.DeleteFunc(k.order, func(x ipvs.ServiceKey) bool { return x == key })
	case ipvs.OpCreateDestination:
		if i := fs.find(op.Destination); i >= 0 {
			return opErr(syscall.EEXIST)
		}
		fs.dests = append(fs.dests, op.Destination)
	case ipvs.OpUpdateDestination:
		i := fs.find(op.Destination)
		if i < 0 {
			return opErr(syscall.ENOENT)
		}
		d := op.Destination
		d.ActiveConns, d.InactiveConns, d.Stats = fs.dests[i].ActiveConns, fs.dests[i].InactiveConns, fs.dests[i].Stats
		fs.dests[i] = d
	case ipvs.OpRemoveDestination:
		i := fs.find(op.Destination)
		if i < 0 {
			return opErr(syscall.ENOENT)
		}
		fs.dests = slices.Delete(fs.dests, i, i+1)
	}
	return nil
}

func (fs *fakeSvc) find(d ipvs.Destination) int {
	return slices.IndexFunc(fs.dests, func(x ipvs.Destination) bool { return x.Key() == d.Key() })
}

// put installs a service directly, as another tool (or an earlier run) would.
func (k *fakeKernel) put(s ipvs.Service, dests ...ipvs.Destination) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s.Scheduler == "" {
		s.Scheduler = "wlc"
	}
	if k.svcs[s.Key()] == nil {
		k.order = append(k.order, s.Key())
	}
	k.svcs[s.Key()] = &fakeSvc{svc: s, dests: dests}
}

// edit changes the kernel behind the engine's back.
func (k *fakeKernel) edit(f func(k *fakeKernel)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f(k)
}

// dest returns the destination of service key with address ap.
func (k *fakeKernel) dest(key ipvs.ServiceKey, ap string) (ipvs.Destination, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fs := k.svcs[key]
	if fs == nil {
		return ipvs.Destination{}, false
	}
	want := netip.MustParseAddrPort(ap)
	for _, d := range fs.dests {
		if d.Address == want.Addr() && d.Port == want.Port() {
			return d, true
		}
	}
	return ipvs.Destination{}, false
}

func (k *fakeKernel) has(key ipvs.ServiceKey) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.svcs[key] != nil
}

// takeOps returns and forgets the operations applied so far.
func (k *fakeKernel) takeOps() []ipvs.Op {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := k.ops
	k.ops = nil
	return out
}

// fakeChecks stands in for the health-check manager: it records the checks
// it is given, and the test sends transitions.
type fakeChecks struct {
	mu      sync.Mutex
	checks  []healthcheck.Check
	updates int
	err     error
	out     chan []healthcheck.Transition
}

func newFakeChecks() *fakeChecks { return &fakeChecks{out: make(chan []healthcheck.Transition, 16)} }

func (c *fakeChecks) Update(ctx context.Context, checks []healthcheck.Check) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.checks = slices.Clone(checks)
	c.updates++
	return nil
}

func (c *fakeChecks) Transitions() <-chan []healthcheck.Transition { return c.out }

func (c *fakeChecks) get(id string) (healthcheck.Check, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.checks {
		if ch.ID == id {
			return ch, true
		}
	}
	return healthcheck.Check{}, false
}

// fakeVRRP records priority adjustments.
type fakeVRRP struct {
	mu     sync.Mutex
	deltas map[string]int
	events chan vrrp.Event
}

func newFakeVRRP() *fakeVRRP {
	return &fakeVRRP{deltas: map[string]int{}, events: make(chan vrrp.Event, 16)}
}

func (v *fakeVRRP) AdjustPriority(ctx context.Context, instance string, delta int) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.deltas[instance] = delta
	return nil
}

func (v *fakeVRRP) Events() <-chan vrrp.Event { return v.events }

func (v *fakeVRRP) delta(instance string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.deltas[instance]
}

var _ = os.ErrExist
