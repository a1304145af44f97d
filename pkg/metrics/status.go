package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
)

// What the engine's published Status says.
var (
	backendUp = desc("seesawd_backend_up",
		"Whether the engine holds the backend healthy: 1 when its check is up (or it has none), 0 when down or not known yet.",
		healthLabels())
	serviceUp = desc("seesawd_service_up",
		"Whether the service has its quorum of healthy backends (1; also while the first results are awaited) or not (0).",
		[]string{"service"})
	lastSuccess = desc("seesawd_reconcile_last_success_timestamp_seconds",
		"When a reconcile last ended with the kernel holding the desired state.", nil)
	nodeDrained = desc("seesawd_node_drained",
		"Whether seesawctl drain-node is in effect (1): every BGP route withdrawn, IPVS serving.", nil)
)

// statusCollector reports from the engine's Status snapshot.
type statusCollector struct{ m *Metrics }

func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backendUp
	ch <- serviceUp
	ch <- lastSuccess
	ch <- nodeDrained
}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.sources()
	if src.Engine == nil {
		return
	}
	st := src.Engine.Status()
	if st == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(nodeDrained, prometheus.GaugeValue, b2f(st.NodeDrained))
	if !st.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastSuccess, prometheus.GaugeValue, float64(st.LastSuccess.UnixNano())/1e9)
	}
	for i := range st.Services {
		s := &st.Services[i]
		ch <- prometheus.MustNewConstMetric(serviceUp, prometheus.GaugeValue, b2f(s.State != engine.ServiceDown), s.Name)
		for j := range s.Backends {
			b := &s.Backends[j]
			if b.Leaving {
				continue
			}
			up := !b.HasCheck || b.Health == healthcheck.StateUp
			ch <- prometheus.MustNewConstMetric(backendUp, prometheus.GaugeValue, b2f(up),
				s.Name, b.Addr.Addr().String(), strconv.Itoa(int(b.Addr.Port())))
		}
	}
}
