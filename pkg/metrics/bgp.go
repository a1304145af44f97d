package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seesawd/seesawd/pkg/bgp"
)

// BGP is what the collector reads of the daemon's BGP speaker: its status,
// or false when no speaker runs (no bgp section).
type BGP interface {
	BGPStatus() (bgp.Status, bool)
}

// The speaker's sessions and announcements, named after the BGP metrics of
// FRR's and GoBGP's exporters where they have them.
var (
	bgpSessionUp = desc("seesawd_bgp_session_up",
		"Whether the BGP session with the peer is established (1) or not (0).", []string{"peer", "peer_asn"})
	bgpSessionState = desc("seesawd_bgp_session_state",
		"The BGP session's state, value 1, as the state label: idle, connect, active, opensent, openconfirm, established.",
		[]string{"peer", "peer_asn", "state"})
	bgpFlaps = desc("seesawd_bgp_session_flaps_total",
		"BGP sessions with the peer that went down after being established.", []string{"peer", "peer_asn"})
	bgpSent = desc("seesawd_bgp_prefixes_sent",
		"Routes the peer has from this node.", []string{"peer", "peer_asn"})
	bgpReceived = desc("seesawd_bgp_prefixes_received_rejected",
		"Routes the peer sent, every one rejected by seesawd's import policy (a speaker, not a router).", []string{"peer", "peer_asn"})
	bgpAnnounced = desc("seesawd_bgp_announced_prefixes",
		"Prefixes in the speaker's table, sent to every established peer of their family.", nil)
	bgpRequested = desc("seesawd_bgp_requested_vips",
		"VIPs of the services at quorum that announce over BGP.", nil)
	bgpWithheld = desc("seesawd_bgp_withheld",
		"1 while the requested VIPs are withheld, with the reason: drained, engine loop stalled, stopping.", []string{"reason"})
)

type bgpCollector struct{ m *Metrics }

func (c bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bgpSessionUp, bgpSessionState, bgpFlaps, bgpSent, bgpReceived, bgpAnnounced, bgpRequested, bgpWithheld} {
		ch <- d
	}
}

func (c bgpCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.sources()
	if src.BGP == nil {
		return
	}
	st, ok := src.BGP.BGPStatus()
	if !ok {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, p := range st.Peers {
		l := []string{p.Address.String(), strconv.FormatUint(uint64(p.ASN), 10)}
		gauge(bgpSessionUp, b2f(p.State == "established"), l...)
		gauge(bgpSessionState, 1, append(l[:2:2], p.State)...)
		ch <- prometheus.MustNewConstMetric(bgpFlaps, prometheus.CounterValue, float64(p.Flaps), l...)
		gauge(bgpSent, float64(p.PrefixesSent), l...)
		gauge(bgpReceived, float64(p.PrefixesReceived), l...)
	}
	gauge(bgpAnnounced, float64(len(st.Announced)))
	gauge(bgpRequested, float64(len(st.Requested)))
	if st.Withheld != "" {
		gauge(bgpWithheld, 1, st.Withheld)
	}
}
