package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seesawd/seesawd/pkg/vrrp"
)

// keepalived-exporter's labels, plus family: a configured instance with
// IPv4 and IPv6 addresses runs one protocol instance per family.
var (
	instanceLabelNames = []string{"iname", "intf", "vrid", "family"}
	stateLabelNames    = append(append([]string(nil), instanceLabelNames...), "ip_address")
	dropLabelNames     = append(append([]string(nil), instanceLabelNames...), "reason")
)

var (
	vrrpState = desc("seesawd_vrrp_state",
		"VRRP state of the instance, per virtual address: 0 init, 1 backup, 2 master, 3 fault (as keepalived numbers them).",
		stateLabelNames)
	vrrpPriority = desc("seesawd_vrrp_priority",
		"The instance's effective priority: configured, less tracked interfaces and services below quorum.", instanceLabelNames)
	vrrpSent = desc("seesawd_advertisements_sent_total",
		"VRRP advertisements sent (one per destination).", instanceLabelNames)
	vrrpReceived = desc("seesawd_advertisements_received_total",
		"Valid VRRP advertisements received.", instanceLabelNames)
	vrrpSendErrors = desc("seesawd_advertisements_send_errors_total",
		"VRRP advertisements that could not be sent.", instanceLabelNames)
	vrrpTransitions = desc("seesawd_vrrp_transitions_total",
		"State transitions of the instance.", instanceLabelNames)
	vrrpDrops = desc("seesawd_vrrp_drops_total",
		"Received VRRP packets the instance discarded, by reason.", dropLabelNames)
	vrrpNodeDrops = desc("seesawd_vrrp_node_drops_total",
		"Received VRRP packets discarded, by reason, for the whole node: with those dropped before their "+
			"instance was known (bad TTL, malformed, unknown VRID).", []string{"reason"})
	vrrpMasterLatency = desc("seesawd_vrrp_last_master_latency_seconds",
		"Time from the instance's last transition to master until its addresses were up and announced.",
		instanceLabelNames)
)

// vrrpCollector reports the VRRP node's States and Stats.
type vrrpCollector struct{ m *Metrics }

func (c vrrpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{vrrpState, vrrpPriority, vrrpSent, vrrpReceived, vrrpSendErrors,
		vrrpTransitions, vrrpDrops, vrrpNodeDrops, vrrpMasterLatency} {
		ch <- d
	}
}

func (c vrrpCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	src := m.sources()
	if src.VRRP == nil {
		return
	}
	states := src.VRRP.States()
	stats := src.VRRP.Stats()
	m.mu.Lock()
	vips := m.vips
	m.mu.Unlock()
	reasons := vrrp.DropReasons()
	for _, is := range states {
		il := []string{is.ID.Name, is.Interface, strconv.Itoa(int(is.VRID)), familyLabel(is.ID.Family)}
		addrs := vips[is.ID]
		if len(addrs) == 0 {
			addrs = []string{""}
		}
		for _, a := range addrs {
			ch <- prometheus.MustNewConstMetric(vrrpState, prometheus.GaugeValue, float64(is.State), append(il[:4:4], a)...)
		}
		ch <- prometheus.MustNewConstMetric(vrrpPriority, prometheus.GaugeValue, float64(is.Priority), il...)
		s, ok := stats.Instances[is.ID]
		if !ok {
			continue
		}
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
		}
		counter(vrrpSent, s.AdvertsSent, il...)
		counter(vrrpReceived, s.AdvertsReceived, il...)
		counter(vrrpSendErrors, s.SendErrors, il...)
		counter(vrrpTransitions, s.Transitions, il...)
		for _, r := range reasons {
			counter(vrrpDrops, s.Drops[r], append(il[:4:4], r.String())...)
		}
		if s.LastMasterLatency > 0 {
			ch <- prometheus.MustNewConstMetric(vrrpMasterLatency, prometheus.GaugeValue, s.LastMasterLatency.Seconds(), il...)
		}
	}
	for _, r := range reasons {
		ch <- prometheus.MustNewConstMetric(vrrpNodeDrops, prometheus.CounterValue, float64(stats.Drops[r]), r.String())
	}
}

// familyLabel spells a VRRP family as the ipvs labels do.
func familyLabel(f vrrp.Family) string {
	switch f {
	case vrrp.IPv4:
		return "inet"
	case vrrp.IPv6:
		return "inet6"
	}
	return f.String()
}
