package metrics

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

// Kernel is what the collector reads IPVS through. It must be an
// *ipvs.Client of its own, not the engine's: a scrape then neither waits
// for the engine's socket nor holds it.
type Kernel interface {
	DumpAll(ctx context.Context) ([]ipvs.ServiceDestinations, error)
}

// Engine is the part of *engine.Engine the collector reads.
type Engine interface {
	Status() *engine.Status
}

// VRRP is the part of *vrrp.Node the collector reads.
type VRRP interface {
	States() []vrrp.InstanceStatus
	Stats() vrrp.Stats
}

// Checks is the part of *healthcheck.Manager the collector reads: which
// check IDs (backends) a definition key stands for.
type Checks interface {
	Snapshot(ctx context.Context) ([]healthcheck.Status, error)
}

// Sources are what a scrape reads; any may be nil (a node without IPVS has
// no Kernel and no Engine).
type Sources struct {
	Kernel Kernel
	Engine Engine
	VRRP   VRRP
	Checks Checks
	BGP    BGP
}

// Config configures New. The zero value (or nil) is usable.
type Config struct {
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// DumpTimeout bounds a scrape's kernel dump; default 10s.
	DumpTimeout time.Duration
}

const (
	defaultDumpTimeout = 10 * time.Second
	snapshotTimeout    = 2 * time.Second
)

// Metrics holds seesawd's metrics. Its methods are safe for concurrent use.
type Metrics struct {
	log         *zap.Logger
	reg         *prometheus.Registry
	handler     http.Handler
	dumpTimeout time.Duration

	mu   sync.Mutex // guards src and vips
	src  Sources
	vips map[vrrp.InstanceID][]string

	dump   dumper
	checks checkMap

	// Fed by OnReconcile.
	ops         *prometheus.CounterVec
	opsByKind   [ipvs.OpRemoveDestination + 1]prometheus.Counter
	opErrors    prometheus.Counter
	reconcile   *prometheus.HistogramVec
	byReason    map[string]prometheus.Observer
	programming prometheus.Histogram

	// Fed by OnResult.
	checkDuration *prometheus.HistogramVec
	checkResults  *prometheus.CounterVec

	// Fed by Loaded and Reloaded.
	reloads    *prometheus.CounterVec
	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
	configInfo *prometheus.GaugeVec
}

// Reload outcomes, as the daemon reports them.
var reloadOutcomes = []string{"applied", "unchanged", "refused", "partial"}

// Reconcile reasons the engine reports (engine.ReconcileInfo.Reason).
var reconcileReasons = []string{"start", "reload", "health", "resync", "drain", "retry", "quorum", "stop"}

// Buckets of the durations: checks and reconciles take from a fraction of
// a millisecond to their timeouts.
var (
	durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	latencyBuckets  = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

// New returns the metrics, registered with a registry of their own along
// with the Go runtime's and the process's. Nothing is read until SetSources.
func New(cfg *Config) *Metrics {
	if cfg == nil {
		cfg = &Config{}
	}
	m := &Metrics{log: cfg.Logger, reg: prometheus.NewRegistry(), dumpTimeout: cfg.DumpTimeout,
		vips: map[vrrp.InstanceID][]string{}}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if m.dumpTimeout <= 0 {
		m.dumpTimeout = defaultDumpTimeout
	}
	m.checks.init()

	m.ops = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seesawd_reconcile_operations_total",
		Help: "IPVS operations the kernel confirmed, by kind."}, []string{"kind"})
	for k := ipvs.OpCreateService; k <= ipvs.OpRemoveDestination; k++ {
		m.opsByKind[k] = m.ops.WithLabelValues(opLabel(k))
	}
	m.opErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "seesawd_reconcile_errors_total",
		Help: "IPVS operations the kernel refused or whose fate is unknown."})
	m.reconcile = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "seesawd_reconcile_duration_seconds",
		Help:    "Time of the reconciles that changed something or failed (and of every start and reload), by reason.",
		Buckets: durationBuckets}, []string{"reason"})
	m.byReason = map[string]prometheus.Observer{}
	for _, r := range reconcileReasons {
		m.byReason[r] = m.reconcile.WithLabelValues(r)
	}
	m.programming = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "seesawd_network_programming_duration_seconds",
		Help:    "Time from a backend's health transition to the kernel applying its consequence.",
		Buckets: latencyBuckets})

	m.checkDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "seesawd_healthcheck_duration_seconds",
		Help: "Time of health check runs, by service.", Buckets: durationBuckets}, []string{"service"})
	m.checkResults = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seesawd_healthcheck_results_total",
		Help: "Health check results by backend and outcome."}, healthLabels("outcome"))

	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seesawd_config_reloads_total",
		Help: "Configuration reloads by outcome (applied, unchanged, refused, partial)."}, []string{"outcome"})
	for _, o := range reloadOutcomes {
		m.reloads.WithLabelValues(o)
	}
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "seesawd_config_last_reload_successful",
		Help: "Whether the last reload attempt left the file's configuration running (1) or not (0)."})
	m.reloadOK.Set(1)
	m.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "seesawd_config_last_reload_success_timestamp_seconds",
		Help: "When the running configuration was loaded (at start or by a reload)."})
	m.configInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "seesawd_config_info",
		Help: "The running configuration: its file's SHA-256 in the hash label, value 1."}, []string{"hash"})

	m.reg.MustRegister(m.ops, m.opErrors, m.reconcile, m.programming, m.checkDuration, m.checkResults,
		m.reloads, m.reloadOK, m.reloadTime, m.configInfo,
		ipvsCollector{m}, statusCollector{m}, vrrpCollector{m}, bgpCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	m.handler = promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m, promhttp.HandlerOpts{
		ErrorLog:      errorLog{m.log},
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapes share a dump; more than a few at once is a misconfiguration.
		MaxRequestsInFlight: 8,
	}))
	return m
}

// SetSources sets what scrapes read.
func (m *Metrics) SetSources(s Sources) {
	m.mu.Lock()
	m.src = s
	m.mu.Unlock()
	m.checks.invalidate()
}

func (m *Metrics) sources() Sources {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.src
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Gather implements prometheus.Gatherer: it brings the check-to-backend
// map up to date (replaying the runs held meanwhile), then gathers.
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) {
	m.refreshChecks()
	return m.reg.Gather()
}

// OnReconcile records a reconcile; it is engine.Options.OnReconcile and
// runs on the engine's goroutine.
func (m *Metrics) OnReconcile(i engine.ReconcileInfo) {
	for k, n := range i.Ops {
		if k >= ipvs.OpCreateService && int(k) < len(m.opsByKind) {
			m.opsByKind[k].Add(float64(n))
		} else {
			m.ops.WithLabelValues(opLabel(k)).Add(float64(n))
		}
	}
	m.opErrors.Add(float64(i.Errors))
	o := m.byReason[i.Reason]
	if o == nil {
		o = m.reconcile.WithLabelValues(i.Reason)
	}
	o.Observe(i.Duration.Seconds())
	for _, l := range i.Latencies {
		m.programming.Observe(l.Seconds())
	}
}

// opLabel is k as a label value: "create_service".
func opLabel(k ipvs.OpKind) string { return strings.ReplaceAll(k.String(), " ", "_") }

// Loaded records the configuration now running: the SHA-256 of its file,
// when it was loaded, and its VRRP instances (for the ip_address label of
// seesawd_vrrp_state).
func (m *Metrics) Loaded(hash string, at time.Time, instances []vrrp.InstanceConfig) {
	vips := make(map[vrrp.InstanceID][]string, len(instances))
	for _, ic := range instances {
		id := vrrp.InstanceID{Name: ic.Name, Family: ic.Family}
		for _, p := range ic.VirtualIPs {
			vips[id] = append(vips[id], p.Addr().String())
		}
	}
	m.mu.Lock()
	m.vips = vips
	m.mu.Unlock()
	m.configInfo.Reset()
	m.configInfo.WithLabelValues(hash).Set(1)
	m.reloadTime.Set(float64(at.UnixNano()) / 1e9)
	// Checks may have come and gone with the configuration.
	m.checks.invalidate()
}

// Reloaded counts a reload attempt by its outcome: "applied", "unchanged",
// "refused" or "partial".
func (m *Metrics) Reloaded(outcome string) {
	m.reloads.WithLabelValues(outcome).Inc()
	ok := 0.0
	if outcome == "applied" || outcome == "unchanged" {
		ok = 1
	}
	m.reloadOK.Set(ok)
}

// errorLog passes promhttp's errors to the log.
type errorLog struct{ log *zap.Logger }

func (l errorLog) Println(v ...any) { l.log.Sugar().Warnln(append([]any{"metrics:"}, v...)...) }
