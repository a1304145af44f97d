package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/metrics"
)

// exporter is the daemon's metrics and the HTTP server that serves them on
// metrics.listen.
type exporter struct {
	*metrics.Metrics
	log *zap.Logger
	// kernel is the collector's own IPVS socket: a scrape never uses, nor
	// waits for, the engine's.
	kernel *ipvs.Client

	addr string // being served, "" when nothing is
	srv  *http.Server
	done chan struct{}
}

func newExporter(log *zap.Logger) *exporter {
	return &exporter{Metrics: metrics.New(&metrics.Config{Logger: log}), log: log}
}

// startMetrics points the metrics at the daemon's components and serves
// them. A failure costs the metrics, never the daemon.
func (d *seesawd) startMetrics() {
	x := d.metrics
	src := metrics.Sources{VRRP: d.node, Checks: d.checks}
	if d.scaleout != nil {
		src.BGP = d.scaleout
	}
	if d.engine != nil {
		src.Engine = d.engine
		k, err := ipvs.New(nil)
		if err != nil {
			x.log.Error("no IPVS metrics: cannot open a netlink socket of their own", zap.Error(err))
		} else {
			x.kernel, src.Kernel = k, k
		}
	}
	x.SetSources(src)
	insts, _ := d.cfg.VRRPInstances()
	x.Loaded(d.cfg.Hash, time.Now(), insts)
	x.listen(d.cfg.MetricsListen())
}

// metricsReloaded records a reload's outcome. An applied reload's
// metrics.listen takes effect at once; any reload that leaves the file's
// configuration running retries a listen that failed.
func (d *seesawd) metricsReloaded(r reloadResult) {
	x := d.metrics
	x.Reloaded(r.Outcome)
	switch r.Outcome {
	case "applied":
		insts, _ := d.cfg.VRRPInstances()
		x.Loaded(d.cfg.Hash, time.Now(), insts)
		x.listen(d.cfg.MetricsListen())
	case "unchanged":
		x.listen(d.cfg.MetricsListen())
	}
}

// listen serves the metrics on addr ("" for none), closing the server of a
// previous address first (the new one may need its port).
func (x *exporter) listen(addr string) {
	if x.srv != nil && addr == x.addr {
		return
	}
	x.stop()
	if addr == "" {
		x.log.Info("metrics off (metrics.listen is \"\")")
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		x.log.Error("running without metrics: cannot listen on metrics.listen; a reload or restart tries again",
			zap.String("listen", addr), zap.Error(err))
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", x.Handler())
	x.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// A scrape of a large table takes a while to write; a stuck
		// client must not hold a connection for ever.
		WriteTimeout: 2 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     zap.NewStdLog(x.log),
	}
	x.addr = addr
	x.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			x.log.Error("metrics server stopped", zap.Error(err))
		}
	}(x.srv, x.done)
	x.log.Info("serving metrics", zap.String("listen", ln.Addr().String()))
}

// stop closes the server, letting scrapes in flight finish for a moment.
func (x *exporter) stop() {
	if x.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := x.srv.Shutdown(ctx); err != nil {
		_ = x.srv.Close()
	}
	<-x.done
	x.srv, x.addr, x.done = nil, "", nil
}

func (x *exporter) close() {
	if x == nil {
		return // the daemon failed before it had metrics
	}
	x.stop()
	if x.kernel != nil {
		_ = x.kernel.Close()
	}
}
