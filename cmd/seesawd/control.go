package main

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/control"
	"github.com/seesawd/seesawd/pkg/engine"
)

// controller serves seesawctl on the control socket: it answers from
// snapshots the daemon's parts publish, and sends drains to the engine and
// reloads to the daemon's loop.
type controller struct {
	d       *seesawd
	started time.Time
	srv     *control.Server
	running atomic.Pointer[runningConfig]

	mu   sync.Mutex
	ln   *control.Listener
	sock config.Control // the socket ln was opened with
}

// runningConfig is the configuration the daemon runs, for status requests
// (the daemon's own cfg belongs to its loop).
type runningConfig struct {
	cfg    *config.Config
	engine engine.Config
	loaded time.Time
}

func newController(d *seesawd, cfg *config.Config) *controller {
	c := &controller{d: d, started: time.Now()}
	c.srv = control.NewServer(c, &control.ServerConfig{Logger: d.log.Named("control")})
	c.store(cfg)
	return c
}

func (c *controller) store(cfg *config.Config) {
	c.running.Store(&runningConfig{cfg: cfg, engine: cfg.Engine(), loaded: time.Now()})
}

// start opens the control socket. Without one seesawd still serves
// traffic: the failure is logged and seesawctl cannot reach it.
func (c *controller) start() { c.open(c.running.Load().cfg.Control) }

// setConfig records a configuration the daemon now runs and moves the
// socket if control changed.
func (c *controller) setConfig(cfg *config.Config) {
	c.store(cfg)
	c.mu.Lock()
	same := c.ln != nil && c.sock == cfg.Control
	c.mu.Unlock()
	if !same {
		c.open(cfg.Control)
	}
}

func (c *controller) open(cc config.Control) {
	log := c.d.log.With(zap.String("socket", cc.Socket))
	group := cc.Group
	ln, err := control.Listen(cc.Socket, &control.ListenConfig{Group: group})
	if errors.Is(err, control.ErrNoGroup) {
		log.Error("control socket: no such group; only root may use seesawctl", zap.Error(err))
		group = ""
		ln, err = control.Listen(cc.Socket, nil)
	}
	if err != nil {
		log.Error("control socket not opened: seesawctl cannot reach this seesawd, which serves traffic as usual", zap.Error(err))
		return
	}
	c.mu.Lock()
	old := c.ln
	c.ln, c.sock = ln, cc
	c.mu.Unlock()
	go func() { _ = c.srv.Serve(ln) }() // ends when ln or the server closes
	if old != nil {
		_ = old.Close()
	}
	log.Info("control socket open", zap.String("group", group))
}

func (c *controller) close() { _ = c.srv.Close() }

// Status implements control.Daemon.
func (c *controller) Status(ctx context.Context) (*control.Status, error) {
	rc := c.running.Load()
	src := control.Sources{
		Node: rc.cfg.Node.Name, Version: version(), PID: os.Getpid(), Started: c.started, Now: time.Now(), Ready: true,
		ConfigPath: c.d.path, ConfigHash: rc.cfg.Hash, ConfigLoaded: rc.loaded, Config: &rc.engine,
		VRRP: c.d.node.States(), VRRPStats: c.d.node.Stats(),
	}
	if c.d.engine != nil {
		src.Engine, src.Ready = c.d.engine.Status(), c.ready()
	}
	if checks, err := c.d.checks.Snapshot(ctx); err == nil {
		src.Checks = checks
	}
	if b := c.d.bgpStatus(); b.Enabled || len(b.SyncDaemons) > 0 || b.NodeDrained {
		src.BGP = &b
	}
	return control.BuildStatus(src), nil
}

// ready reports whether the engine has programmed the kernel, after which
// the daemon's loop serves drains and reloads.
func (c *controller) ready() bool {
	if c.d.engine == nil {
		return true
	}
	select {
	case <-c.d.engine.Ready():
		return true
	default:
		return false
	}
}

var errStarting = control.Errorf(control.CodeUnavailable, "try again once seesawctl status no longer says starting",
	"seesawd is starting: it has not programmed the kernel's services yet")

// Drain implements control.Daemon.
func (c *controller) Drain(ctx context.Context, service string, backend netip.AddrPort, on bool) error {
	switch {
	case c.d.engine == nil:
		return control.Errorf(control.CodeUnavailable, "", "this node runs no services (VRRP only: the kernel has no IPVS)")
	case !c.ready():
		return errStarting
	}
	return c.d.engine.Drain(ctx, service, backend, on)
}

// DrainNode implements control.Daemon.
func (c *controller) DrainNode(ctx context.Context, on bool) (*control.NodeDrainResult, error) {
	switch {
	case c.d.engine == nil:
		return nil, control.Errorf(control.CodeUnavailable, "", "this node runs no services (VRRP only: the kernel has no IPVS), so it announces nothing")
	case !c.ready():
		return nil, errStarting
	}
	changed, err := c.d.drainNode(ctx, on)
	if err != nil {
		return nil, err
	}
	return &control.NodeDrainResult{Drained: on, Changed: changed, BGP: c.d.bgpStatus().Enabled}, nil
}

// Reload implements control.Daemon.
func (c *controller) Reload(ctx context.Context) (*control.ReloadResult, error) {
	if !c.ready() {
		return nil, errStarting
	}
	r, err := c.d.requestReload(ctx)
	if err != nil {
		return nil, control.Errorf(control.CodeFailed, "the reload may still finish: seesawd's log says how it ended",
			"no outcome from the daemon: %v", err)
	}
	return &control.ReloadResult{Outcome: r.Outcome, Problems: r.Problems, Warnings: r.Warnings, Hash: r.Hash,
		Took: control.Duration(r.Took)}, nil
}
