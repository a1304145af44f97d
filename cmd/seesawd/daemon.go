package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

// checkConfig validates a file as the daemon would at start, printing every
// problem and warning.
func checkConfig(path string, out io.Writer) int {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(out, err)
		return exitConfig
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(out, "warning: "+w.Located(path))
	}
	fmt.Fprintf(out, "%s: ok (%d VRRP instance(s), %d service(s))\n", path, len(cfg.VRRP), len(cfg.Services))
	return exitOK
}

// serve runs seesawd until SIGTERM or SIGINT.
func serve(path string, stderr io.Writer) int {
	// One loader for the daemon's life: a reload parses only the services
	// whose text changed since the file was last read.
	loader := new(config.Loader)
	cfg, err := loader.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("node", cfg.Node.Name))
	logWarnings(log, cfg, path)
	if err := preflight(cfg); err != nil {
		log.Error("cannot start", zap.Error(err))
		return exitFail
	}

	d, err := newDaemon(cfg, path, loader, log)
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		return exitFail
	}
	defer d.close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	context.AfterFunc(ctx, d.notify.stopping)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	log.Info("seesawd starting", zap.String("config", path), zap.String("version", version()),
		zap.Int("vrrp_instances", len(cfg.VRRP)), zap.Int("services", len(cfg.Services)))
	if err := d.run(ctx, hup); err != nil {
		log.Error("seesawd stopped on an error", zap.Error(err))
		return exitFail
	}
	log.Info("seesawd stopped")
	return exitOK
}

// preflight explains the two ways a node cannot run seesawd at all.
func preflight(cfg *config.Config) error {
	if missing := missingCaps(); len(missing) > 0 {
		return fmt.Errorf("seesawd needs %v (IPVS and addresses need CAP_NET_ADMIN; VRRP and ARP need CAP_NET_RAW): "+
			"run it as root or grant them (systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW)", missing)
	}
	return nil
}

// seesawd is the running daemon: the engine and its collaborators.
type seesawd struct {
	log    *zap.Logger
	path   string
	loader *config.Loader
	// cfg is the running configuration; the run loop owns it.
	cfg *config.Config
	// reloads are reload requests from the control socket.
	reloads chan chan reloadResult
	metrics *exporter
	ipvs    *ipvs.Client
	checks  *healthcheck.Manager
	node    *vrrp.Node
	engine  *engine.Engine
	ctl     *controller
	// scaleout is BGP and the IPVS sync daemons (bgp.go).
	scaleout *scaleout
	notify   *notifier
}

func newDaemon(cfg *config.Config, path string, loader *config.Loader, log *zap.Logger) (*seesawd, error) {
	d := &seesawd{log: log, cfg: cfg, path: path, loader: loader, reloads: make(chan chan reloadResult), notify: newNotifier(log)}
	d.ctl = newController(d, cfg)
	kernel, err := ipvs.New(nil)
	switch {
	case errors.Is(err, ipvs.ErrNoIPVS) && len(cfg.Services) > 0:
		return nil, fmt.Errorf("the configuration has services but the kernel has no IPVS: load the ip_vs module (modprobe ip_vs)")
	case errors.Is(err, ipvs.ErrNoIPVS):
		log.Info("no IPVS in the kernel; running VRRP only (no services configured)")
	case err != nil:
		return nil, fmt.Errorf("ipvs: %w", err)
	default:
		d.ipvs = kernel
	}
	if err := sysctls(cfg); err != nil {
		log.Warn("could not set the kernel settings the services need", zap.Error(err))
	}
	d.metrics = newExporter(log.Named("metrics"))
	d.checks = healthcheck.New(&healthcheck.Config{OnResult: d.metrics.OnResult})
	insts, groups := cfg.VRRPInstances()
	d.node, err = vrrp.New(&vrrp.Config{Instances: insts, SyncGroups: groups, Logger: log.Named("vrrp")})
	if err != nil {
		d.close()
		return nil, err
	}
	if d.ipvs != nil {
		ecfg := cfg.Engine()
		opts := engine.Options{
			Kernel:      d.ipvs,
			Checks:      d.checks,
			VRRP:        d.node,
			Logger:      log.Named("engine"),
			StateFile:   cfg.IPVS.StateFile,
			RouteSource: routeSource,
			OnReconcile: d.metrics.OnReconcile,
			OnLoop:      d.notify.ping,
			LoopPing:    d.notify.loopPing(),
		}
		err = d.wireScaleout(cfg, &opts)
		if err == nil {
			d.engine, err = engine.New(opts, &ecfg)
		}
		if err != nil {
			d.close()
			return nil, err
		}
	}
	d.startMetrics()
	return d, nil
}

func (d *seesawd) close() {
	start := time.Now()
	// A stop that hangs is a bug: say where, then let the caller exit.
	stuck := time.AfterFunc(5*time.Second, func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		d.log.Error("shutdown is taking more than 5s", zap.String("goroutines", string(buf[:n])))
	})
	defer stuck.Stop()
	d.ctl.close()
	if d.checks != nil {
		_ = d.checks.Close()
	}
	d.stopScaleout()
	if d.ipvs != nil {
		_ = d.ipvs.Close()
	}
	d.metrics.close()
	d.log.Debug("closed", zap.Duration("took", time.Since(start)))
}

// run starts the engine, then VRRP once IPVS holds the services (a node
// must not attract traffic for a VIP it cannot serve yet), and serves
// reloads until ctx ends.
func (d *seesawd) run(ctx context.Context, hup <-chan os.Signal) error {
	started := time.Now()
	d.ctl.start()
	ectx := d.startScaleout(ctx)
	var engineDone chan error
	if d.engine != nil {
		engineDone = make(chan error, 1)
		go func() { engineDone <- d.engine.Run(ectx) }()
		select {
		case <-d.engine.Ready():
			st := d.engine.Status()
			d.log.Info("services programmed", zap.Int("services", len(st.Services)), zap.Int("ops", opsOf(st.Last)),
				zap.Duration("since_start", time.Since(started)))
		case err := <-engineDone:
			return err
		}
	}
	vrrpDone := make(chan error, 1)
	go func() { vrrpDone <- d.node.Run(ctx) }()
	d.notify.ready(servingStatus(d.cfg))
	var watchdog <-chan time.Time
	if t := d.notify.ticker(d.engine == nil); t != nil {
		defer t.Stop()
		watchdog = t.C
	}
	var engineErr error
	for {
		select {
		case <-watchdog:
			d.notify.ping()
		case <-hup:
			d.reload(ctx)
		case res := <-d.reloads:
			res <- d.reload(ctx)
		case err := <-vrrpDone:
			if ctx.Err() == nil {
				return fmt.Errorf("vrrp: %w", err)
			}
			if engineDone != nil {
				engineErr = <-engineDone
			}
			return errors.Join(err, engineErr)
		case err := <-engineDone:
			engineDone = nil
			if ctx.Err() == nil {
				return fmt.Errorf("engine stopped: %w", err)
			}
			engineErr = err
		}
	}
}

// reloadResult is the outcome of a reload, for the log, seesawctl and
// systemd.
type reloadResult struct {
	// Outcome is "applied", "unchanged", "refused" or "partial" (VRRP
	// changes applied, services refused).
	Outcome  string        `json:"outcome"`
	Problems []string      `json:"problems,omitempty"`
	Warnings []string      `json:"warnings,omitempty"`
	Hash     string        `json:"hash,omitempty"`
	Took     time.Duration `json:"took"`
}

// requestReload runs a reload on the daemon's loop (where SIGHUP runs it
// too, so reloads never overlap) and returns its outcome.
func (d *seesawd) requestReload(ctx context.Context) (reloadResult, error) {
	res := make(chan reloadResult, 1)
	select {
	case d.reloads <- res:
	case <-ctx.Done():
		return reloadResult{}, ctx.Err()
	}
	select {
	case r := <-res:
		return r, nil
	case <-ctx.Done():
		return reloadResult{}, ctx.Err()
	}
}

// reload is SIGHUP: parse, validate, apply the difference. A bad file, or
// one a component refuses, changes nothing.
func (d *seesawd) reload(ctx context.Context) reloadResult {
	start := time.Now()
	d.notify.reloading()
	r := d.reloadOnce(ctx)
	r.Took = time.Since(start)
	d.metricsReloaded(r)
	d.notify.reloaded(r, servingStatus(d.cfg))
	switch r.Outcome {
	case "applied":
		d.log.Info("reload applied", zap.String("hash", r.Hash[:12]), zap.Int("services", len(d.cfg.Services)),
			zap.Int("vrrp_instances", len(d.cfg.VRRP)), zap.Duration("took", r.Took))
	case "unchanged":
		d.log.Info("reload: configuration unchanged")
	case "partial":
		d.log.Error("reload: VRRP changes applied, services refused", zap.Strings("problems", r.Problems))
	default:
		d.log.Error("reload refused: the running configuration stays", zap.Strings("problems", r.Problems))
	}
	return r
}

func (d *seesawd) reloadOnce(ctx context.Context) reloadResult {
	cfg, err := d.loader.Load(d.path)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return reloadResult{Outcome: "refused", Problems: ce.Strings()}
		}
		return reloadResult{Outcome: "refused", Problems: []string{err.Error()}}
	}
	r := reloadResult{Hash: cfg.Hash}
	for _, w := range cfg.Warnings {
		r.Warnings = append(r.Warnings, w.Located(d.path))
	}
	if cfg.Hash == d.cfg.Hash {
		r.Outcome = "unchanged"
		return r
	}
	logWarnings(d.log, cfg, d.path)
	if len(cfg.Services) > 0 && d.engine == nil {
		r.Outcome = "refused"
		r.Problems = []string{"the configuration now has services but the kernel has no IPVS: load the ip_vs module (modprobe ip_vs) and restart"}
		return r
	}
	if err := d.applyVRRP(ctx, cfg); err != nil {
		r.Outcome, r.Problems = "refused", []string{err.Error()}
		return r
	}
	if d.engine != nil {
		ecfg := cfg.Engine()
		if err := d.engine.Reload(ctx, &ecfg); err != nil {
			r.Outcome, r.Problems = "partial", []string{err.Error()}
			return r
		}
	}
	if err := sysctls(cfg); err != nil {
		d.log.Warn("could not set the kernel settings the services need", zap.Error(err))
	}
	d.reloadScaleout(ctx, d.cfg, cfg)
	d.cfg = cfg
	d.ctl.setConfig(cfg)
	r.Outcome = "applied"
	return r
}

// logWarnings logs the configuration's warnings in one line: a file of
// 1,000 anycast services has 1,000 of them.
func logWarnings(log *zap.Logger, cfg *config.Config, path string) {
	if len(cfg.Warnings) == 0 {
		return
	}
	const show = 10
	var ws []string
	for i, w := range cfg.Warnings {
		if i == show {
			ws = append(ws, fmt.Sprintf("... and %d more (seesawd --check-config lists them all)", len(cfg.Warnings)-show))
			break
		}
		ws = append(ws, w.Located(path))
	}
	log.Warn("configuration warnings", zap.Int("count", len(cfg.Warnings)), zap.Strings("warnings", ws))
}

// opsOf sums a reconcile's operations.
func opsOf(i engine.ReconcileInfo) int {
	n := 0
	for _, c := range i.Ops {
		n += c
	}
	return n
}

func newLogger(c config.Log, out io.Writer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("seesawd: log level: %w", err)
	}
	format := c.Format
	if format == "auto" {
		format = "json"
		if f, ok := out.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "console"
			}
		}
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if format == "console" {
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(out), lvl)), nil
}
