package metrics

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seesawd/seesawd/pkg/bgp"
)

type fakeBGP struct {
	st bgp.Status
	ok bool
}

func (f *fakeBGP) BGPStatus() (bgp.Status, bool) { return f.st, f.ok }

func TestBGPMetrics(t *testing.T) {
	m := New(nil)
	f := &fakeBGP{}
	m.SetSources(Sources{BGP: f})
	names := []string{"seesawd_bgp_session_up", "seesawd_bgp_session_state", "seesawd_bgp_session_flaps_total",
		"seesawd_bgp_prefixes_sent", "seesawd_bgp_prefixes_received_rejected", "seesawd_bgp_announced_prefixes",
		"seesawd_bgp_requested_vips", "seesawd_bgp_withheld"}
	// No speaker (no bgp section): no BGP series at all.
	if n, err := testutil.GatherAndCount(m, names...); err != nil || n != 0 {
		t.Errorf("without a speaker: %d series, %v; want none", n, err)
	}
	vip := netip.MustParseAddr("198.51.100.10")
	f.ok = true
	f.st = bgp.Status{ASN: 65001, Peers: []bgp.PeerStatus{
		{Address: netip.MustParseAddr("192.0.2.254"), ASN: 65000, State: "established", PrefixesSent: 1, Flaps: 2},
		{Address: netip.MustParseAddr("2001:db8::fe"), ASN: 65000, State: "active", PrefixesReceived: 3},
	}, Announced: nil, Requested: []netip.Addr{vip}, Withheld: "engine loop stalled"}
	want := `
# HELP seesawd_bgp_session_up Whether the BGP session with the peer is established (1) or not (0).
# TYPE seesawd_bgp_session_up gauge
seesawd_bgp_session_up{peer="192.0.2.254",peer_asn="65000"} 1
seesawd_bgp_session_up{peer="2001:db8::fe",peer_asn="65000"} 0
# HELP seesawd_bgp_session_flaps_total BGP sessions with the peer that went down after being established.
# TYPE seesawd_bgp_session_flaps_total counter
seesawd_bgp_session_flaps_total{peer="192.0.2.254",peer_asn="65000"} 2
seesawd_bgp_session_flaps_total{peer="2001:db8::fe",peer_asn="65000"} 0
# HELP seesawd_bgp_session_state The BGP session's state, value 1, as the state label: idle, connect, active, opensent, openconfirm, established.
# TYPE seesawd_bgp_session_state gauge
seesawd_bgp_session_state{peer="192.0.2.254",peer_asn="65000",state="established"} 1
seesawd_bgp_session_state{peer="2001:db8::fe",peer_asn="65000",state="active"} 1
# HELP seesawd_bgp_prefixes_sent Routes the peer has from this node.
# TYPE seesawd_bgp_prefixes_sent gauge
seesawd_bgp_prefixes_sent{peer="192.0.2.254",peer_asn="65000"} 1
seesawd_bgp_prefixes_sent{peer="2001:db8::fe",peer_asn="65000"} 0
# HELP seesawd_bgp_prefixes_received_rejected Routes the peer sent, every one rejected by seesawd's import policy (a speaker, not a router).
# TYPE seesawd_bgp_prefixes_received_rejected gauge
seesawd_bgp_prefixes_received_rejected{peer="192.0.2.254",peer_asn="65000"} 0
seesawd_bgp_prefixes_received_rejected{peer="2001:db8::fe",peer_asn="65000"} 3
# HELP seesawd_bgp_announced_prefixes Prefixes in the speaker's table, sent to every established peer of their family.
# TYPE seesawd_bgp_announced_prefixes gauge
seesawd_bgp_announced_prefixes 0
# HELP seesawd_bgp_requested_vips VIPs of the services at quorum that announce over BGP.
# TYPE seesawd_bgp_requested_vips gauge
seesawd_bgp_requested_vips 1
# HELP seesawd_bgp_withheld 1 while the requested VIPs are withheld, with the reason: drained, engine loop stalled, stopping.
# TYPE seesawd_bgp_withheld gauge
seesawd_bgp_withheld{reason="engine loop stalled"} 1
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	f.st.Withheld, f.st.Announced = "", []netip.Prefix{netip.PrefixFrom(vip, 32)}
	if n, err := testutil.GatherAndCount(m, "seesawd_bgp_withheld"); err != nil || n != 0 {
		t.Errorf("announced: %d withheld series, %v; want none", n, err)
	}
}
