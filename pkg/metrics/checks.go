package metrics

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/seesawd/seesawd/pkg/healthcheck"
)

// numOutcomes bounds the outcomes kept per backend; a later one counts as other.
const numOutcomes = int(healthcheck.OutcomeOther) + 1

// Bounds on the runs held for keys not yet mapped to backends: they cover
// the runs of every new check between a reload and the next scrape.
const (
	maxPendingKeys = 4096
	maxPendingRuns = 1024 // latencies kept per key; outcomes are counted beyond
)

// checkMap maps a check definition's key to the series of the backends it
// checks. OnResult reads it on the manager's goroutine; refreshChecks
// rebuilds it before a gather.
type checkMap struct {
	mu      sync.Mutex
	byKey   map[string]*checkTargets
	byID    map[string]*backendSeries
	hists   map[string]prometheus.Observer // by service
	pending map[string]*pendingRuns
	// stale says a refresh is due: a key was not known, or the
	// configuration changed.
	stale bool
	// gen numbers refreshes; a held run remembers the one it came after.
	gen uint64
}

// checkTargets are the series a run of one definition feeds.
type checkTargets struct {
	backends []*backendSeries
	hists    []prometheus.Observer // one per distinct service
}

// backendSeries is one check ID's results counters, created on first use.
type backendSeries struct {
	labels   [3]string // service, remote_address, remote_port
	outcomes [numOutcomes]prometheus.Counter
}

// pendingRuns are the runs of a key seen before the map knew it.
type pendingRuns struct {
	gen       uint64
	outcomes  [numOutcomes]uint64
	latencies []float64
}

func (c *checkMap) init() {
	c.byKey = map[string]*checkTargets{}
	c.byID = map[string]*backendSeries{}
	c.hists = map[string]prometheus.Observer{}
	c.pending = map[string]*pendingRuns{}
}

func (c *checkMap) invalidate() {
	c.mu.Lock()
	c.stale = true
	c.mu.Unlock()
}

func outcomeIndex(o healthcheck.Outcome) int {
	if int(o) >= numOutcomes {
		return int(healthcheck.OutcomeOther)
	}
	return int(o)
}

// OnResult records a check run; it is healthcheck.Config.OnResult and runs
// on the manager's goroutine.
func (m *Metrics) OnResult(r healthcheck.RunInfo) {
	o := outcomeIndex(r.Result.Outcome())
	secs := r.Result.Latency.Seconds()
	c := &m.checks
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.byKey[r.Key]; t != nil {
		for _, h := range t.hists {
			h.Observe(secs)
		}
		for _, b := range t.backends {
			m.outcome(b, o).Inc()
		}
		return
	}
	c.stale = true
	p := c.pending[r.Key]
	if p == nil {
		if len(c.pending) >= maxPendingKeys {
			return
		}
		p = &pendingRuns{gen: c.gen}
		c.pending[r.Key] = p
	}
	p.outcomes[o]++
	if len(p.latencies) < maxPendingRuns {
		p.latencies = append(p.latencies, secs)
	}
}

// outcome returns b's counter for outcome o. The caller holds m.checks.mu.
func (m *Metrics) outcome(b *backendSeries, o int) prometheus.Counter {
	if b.outcomes[o] == nil {
		b.outcomes[o] = m.checkResults.WithLabelValues(b.labels[0], b.labels[1], b.labels[2],
			healthcheck.Outcome(o).String())
	}
	return b.outcomes[o]
}

// refreshChecks rebuilds the map from the manager's Snapshot when it is
// stale, replays the runs held meanwhile and removes the series of checks
// that are gone.
func (m *Metrics) refreshChecks() {
	c := &m.checks
	c.mu.Lock()
	if !c.stale {
		c.mu.Unlock()
		return
	}
	c.stale = false
	c.gen++
	gen := c.gen
	c.mu.Unlock()

	src := m.sources().Checks
	if src == nil {
		return
	}
	// Never with c.mu held: the manager may be waiting for it in OnResult.
	ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
	snap, err := src.Snapshot(ctx)
	cancel()
	if err != nil {
		m.log.Debug("metrics: health check snapshot", zap.Error(err))
		c.invalidate()
		return
	}
	idsByKey := map[string][]string{}
	for i := range snap {
		idsByKey[snap[i].Key] = append(idsByKey[snap[i].Key], snap[i].ID)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	byKey := make(map[string]*checkTargets, len(idsByKey))
	byID := make(map[string]*backendSeries, len(snap))
	hists := map[string]prometheus.Observer{}
	for key, ids := range idsByKey {
		t := &checkTargets{}
		seen := map[string]bool{}
		for _, id := range ids {
			b := c.byID[id]
			if b == nil {
				labels, ok := parseCheckID(id)
				if !ok {
					continue
				}
				b = &backendSeries{labels: labels}
			}
			byID[id] = b
			t.backends = append(t.backends, b)
			svc := b.labels[0]
			if seen[svc] {
				continue
			}
			seen[svc] = true
			h := hists[svc]
			if h == nil {
				if h = c.hists[svc]; h == nil {
					h = m.checkDuration.WithLabelValues(svc)
				}
				hists[svc] = h
			}
			t.hists = append(t.hists, h)
		}
		if len(t.backends) > 0 {
			byKey[key] = t
		}
	}
	for id, b := range c.byID {
		if byID[id] == nil {
			m.checkResults.DeletePartialMatch(prometheus.Labels{
				"service": b.labels[0], "remote_address": b.labels[1], "remote_port": b.labels[2]})
		}
	}
	for svc := range c.hists {
		if hists[svc] == nil {
			m.checkDuration.DeleteLabelValues(svc)
		}
	}
	c.byKey, c.byID, c.hists = byKey, byID, hists

	for key, p := range c.pending {
		t := byKey[key]
		if t == nil {
			// A key the snapshot should have had is gone (its check was
			// removed); one that came after the snapshot waits for the next.
			if p.gen < gen {
				delete(c.pending, key)
			}
			continue
		}
		for _, h := range t.hists {
			for _, l := range p.latencies {
				h.Observe(l)
			}
		}
		for _, b := range t.backends {
			for o, n := range p.outcomes {
				if n > 0 {
					m.outcome(b, o).Add(float64(n))
				}
			}
		}
		delete(c.pending, key)
	}
}

// parseCheckID splits the engine's check ID, its engine.BackendKey
// ("service/address:port"), into the labels service, remote_address and
// remote_port.
func parseCheckID(id string) ([3]string, bool) {
	i := strings.LastIndexByte(id, '/')
	if i < 0 {
		return [3]string{}, false
	}
	ap, err := netip.ParseAddrPort(id[i+1:])
	if err != nil {
		return [3]string{}, false
	}
	return [3]string{id[:i], ap.Addr().String(), strconv.Itoa(int(ap.Port()))}, true
}
