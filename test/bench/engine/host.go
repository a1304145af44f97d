package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
)

// hostCheck keeps the in-process engine's checks quiet: they start up and
// would need three failures an hour apart to go down, so the reload
// measures the work of the reload alone, the health checks' Update included.
const hostCheck = "{ type: tcp, interval: 1h, timeout: 2s, initial: up }"

// reloadResult is one configuration's reload measurement.
type reloadResult struct {
	Ops   []int
	Times []time.Duration
	// Parse is the file's part of each reload (read, parse, validate),
	// Engine the engine's (the checks' Update and the reconcile).
	Parse, Engine []time.Duration
}

// measureReload runs the engine on kernel k with a real health-check
// manager, then reloads rounds times with one backend's weight changed
// each time: file read, parse, validation, the checks' Update and the
// reconcile, as SIGHUP does in the daemon.
func measureReload(ctx context.Context, l layout, k engine.Kernel, rounds int, dir string) (reloadResult, error) {
	var res reloadResult
	path := filepath.Join(dir, "reload.yaml")
	state := filepath.Join(dir, "reload-state.json")
	bump := map[[2]int]int{}
	if err := os.WriteFile(path, []byte(l.seesawd(hostCheck, bump, state)), 0o644); err != nil {
		return res, err
	}
	// The daemon's loader, kept from its start.
	loader := new(config.Loader)
	cfg, err := loader.Load(path)
	if err != nil {
		return res, err
	}
	checks := healthcheck.New(nil)
	defer checks.Close()
	var last engine.ReconcileInfo
	ecfg := cfg.Engine()
	e, err := engine.New(engine.Options{Kernel: k, Checks: checks, StateFile: state,
		OnReconcile: func(i engine.ReconcileInfo) { last = i }}, &ecfg)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	select {
	case <-e.Ready():
	case err := <-done:
		return res, err
	}
	// A daemon reloads in its steady state: wait for the first run of every
	// check (all due within seconds of the start), so the reloads do not
	// share the CPU with 10,000 first probes.
	if err := firstRunsDone(ctx, checks); err != nil {
		return res, err
	}
	for r := range rounds {
		bump[[2]int{(r * 37) % l.services, r % l.backends}]++
		if err := os.WriteFile(path, []byte(l.seesawd(hostCheck, bump, state)), 0o644); err != nil {
			return res, err
		}
		start := time.Now()
		cfg, err := loader.Load(path)
		if err != nil {
			return res, err
		}
		ecfg := cfg.Engine()
		parsed := time.Now()
		if err := e.Reload(ctx, &ecfg); err != nil {
			return res, err
		}
		res.Times = append(res.Times, time.Since(start))
		res.Parse = append(res.Parse, parsed.Sub(start))
		res.Engine = append(res.Engine, time.Since(parsed))
		res.Ops = append(res.Ops, opsOf(last))
	}
	cancel()
	return res, <-done
}

// firstRunsDone waits until every check of m has run once.
func firstRunsDone(ctx context.Context, m *healthcheck.Manager) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := m.Snapshot(ctx)
		if err != nil {
			return fmt.Errorf("checks' first runs: %w", err)
		}
		if !slices.ContainsFunc(st, func(s healthcheck.Status) bool { return s.Runs == 0 }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("checks' first runs: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func opsOf(i engine.ReconcileInfo) int {
	n := 0
	for _, c := range i.Ops {
		n += c
	}
	return n
}

// flipChecks is the engine's Checks with transitions sent by the benchmark.
type flipChecks struct{ out chan []healthcheck.Transition }

func (f *flipChecks) Update(context.Context, []healthcheck.Check) error { return nil }
func (f *flipChecks) Transitions() <-chan []healthcheck.Transition      { return f.out }

// measureFlips runs the engine on kernel k with services×backends and sends
// n single health transitions (a random backend down, then up again),
// returning for each the time from the transition to the kernel having
// applied its consequence (the engine's own measure, Latencies).
func measureFlips(ctx context.Context, l layout, k engine.Kernel, n int) ([]time.Duration, error) {
	ecfg := engine.Config{ResyncInterval: time.Hour, CheckMarks: engine.MarkRange{First: 1 << 30, Last: 1<<30 + 100}}
	for i := range l.services {
		s := engine.Service{Name: fmt.Sprintf("s%d", i), Quorum: 1, DrainTimeout: time.Minute}
		s.IPVS.Protocol, s.IPVS.Address, s.IPVS.Port, s.IPVS.Scheduler = 6, l.vip(i), 80, "wrr"
		for j := range l.backends {
			b := engine.Backend{Check: &healthcheck.Definition{Type: healthcheck.TypeTCP,
				Target: netip.AddrPortFrom(l.backend(j), uint16(l.port(i))), Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 1}}
			b.Dest.Address, b.Dest.Port, b.Dest.Weight = l.backend(j), uint16(l.port(i)), uint32(1+j)
			s.Backends = append(s.Backends, b)
		}
		ecfg.Services = append(ecfg.Services, s)
	}
	fc := &flipChecks{out: make(chan []healthcheck.Transition)}
	applied := make(chan []time.Duration, 1)
	e, err := engine.New(engine.Options{Kernel: k, Checks: fc, OnReconcile: func(i engine.ReconcileInfo) {
		if i.Reason == "health" {
			applied <- i.Latencies
		}
	}}, &ecfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	<-e.Ready()
	send := func(id string, to healthcheck.State) error {
		select {
		case fc.out <- []healthcheck.Transition{{ID: id, From: healthcheck.StateUnknown, To: to, Time: time.Now()}}:
			return nil
		case err := <-done:
			return err
		}
	}
	// Every backend up first, so each later flip is one operation.
	for i := range l.services {
		for j := range l.backends {
			if err := send(fmt.Sprintf("s%d/%v:%d", i, l.backend(j), l.port(i)), healthcheck.StateUp); err != nil {
				return nil, err
			}
			<-applied
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var out []time.Duration
	for range n / 2 {
		i, j := rng.IntN(l.services), rng.IntN(l.backends)
		id := fmt.Sprintf("s%d/%v:%d", i, l.backend(j), l.port(i))
		for _, to := range []healthcheck.State{healthcheck.StateDown, healthcheck.StateUp} {
			if err := send(id, to); err != nil {
				return nil, err
			}
			out = append(out, <-applied...)
		}
	}
	cancel()
	return out, <-done
}

// quantile returns the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
