package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

func reconcileInfo() engine.ReconcileInfo {
	return engine.ReconcileInfo{Reason: "health", Errors: 1, Duration: 3 * time.Millisecond,
		Ops:       map[ipvs.OpKind]int{ipvs.OpUpdateDestination: 2, ipvs.OpRemoveDestination: 1},
		Latencies: []time.Duration{40 * time.Millisecond, 2 * time.Second}}
}

func TestReconcileMetrics(t *testing.T) {
	m := New(nil)
	m.OnReconcile(engine.ReconcileInfo{Reason: "start", Duration: 20 * time.Millisecond,
		Ops: map[ipvs.OpKind]int{ipvs.OpCreateService: 1, ipvs.OpCreateDestination: 3}})
	m.OnReconcile(reconcileInfo())
	m.OnReconcile(engine.ReconcileInfo{Reason: "someday", Ops: map[ipvs.OpKind]int{ipvs.OpKind(9): 1}})
	want := `
# HELP seesawd_reconcile_operations_total IPVS operations the kernel confirmed, by kind.
# TYPE seesawd_reconcile_operations_total counter
seesawd_reconcile_operations_total{kind="create_destination"} 3
seesawd_reconcile_operations_total{kind="create_service"} 1
seesawd_reconcile_operations_total{kind="op(9)"} 1
seesawd_reconcile_operations_total{kind="remove_destination"} 1
seesawd_reconcile_operations_total{kind="remove_service"} 0
seesawd_reconcile_operations_total{kind="update_destination"} 2
seesawd_reconcile_operations_total{kind="update_service"} 0
# HELP seesawd_reconcile_errors_total IPVS operations the kernel refused or whose fate is unknown.
# TYPE seesawd_reconcile_errors_total counter
seesawd_reconcile_errors_total 1
# HELP seesawd_network_programming_duration_seconds Time from a backend's health transition to the kernel applying its consequence.
# TYPE seesawd_network_programming_duration_seconds histogram
seesawd_network_programming_duration_seconds_bucket{le="0.001"} 0
seesawd_network_programming_duration_seconds_bucket{le="0.0025"} 0
seesawd_network_programming_duration_seconds_bucket{le="0.005"} 0
seesawd_network_programming_duration_seconds_bucket{le="0.01"} 0
seesawd_network_programming_duration_seconds_bucket{le="0.025"} 0
seesawd_network_programming_duration_seconds_bucket{le="0.05"} 1
seesawd_network_programming_duration_seconds_bucket{le="0.1"} 1
seesawd_network_programming_duration_seconds_bucket{le="0.25"} 1
seesawd_network_programming_duration_seconds_bucket{le="0.5"} 1
seesawd_network_programming_duration_seconds_bucket{le="1"} 1
seesawd_network_programming_duration_seconds_bucket{le="2.5"} 2
seesawd_network_programming_duration_seconds_bucket{le="5"} 2
seesawd_network_programming_duration_seconds_bucket{le="10"} 2
seesawd_network_programming_duration_seconds_bucket{le="30"} 2
seesawd_network_programming_duration_seconds_bucket{le="+Inf"} 2
seesawd_network_programming_duration_seconds_sum 2.04
seesawd_network_programming_duration_seconds_count 2
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_reconcile_operations_total",
		"seesawd_reconcile_errors_total", "seesawd_network_programming_duration_seconds"); err != nil {
		t.Error(err)
	}
	h := histograms(t, m, "seesawd_reconcile_duration_seconds")
	for reason, w := range map[string][2]float64{"start": {1, 0.02}, "health": {1, 0.003}, "someday": {1, 0}, "resync": {}} {
		if got := h[reason]; got != w {
			t.Errorf("reconcile duration %s: count, sum = %v, want %v", reason, got, w)
		}
	}
}

func TestConfigMetrics(t *testing.T) {
	m := New(nil)
	at := time.Date(2026, 5, 1, 12, 0, 0, 500e6, time.UTC)
	m.Loaded("abc", at, nil)
	m.Reloaded("refused")
	m.Reloaded("unchanged")
	m.Reloaded("refused")
	m.Loaded("def", at.Add(time.Minute), nil)
	m.Reloaded("applied")
	m.Reloaded("partial")
	want := `
# HELP seesawd_config_info The running configuration: its file's SHA-256 in the hash label, value 1.
# TYPE seesawd_config_info gauge
seesawd_config_info{hash="def"} 1
# HELP seesawd_config_last_reload_success_timestamp_seconds When the running configuration was loaded (at start or by a reload).
# TYPE seesawd_config_last_reload_success_timestamp_seconds gauge
seesawd_config_last_reload_success_timestamp_seconds 1.7776368605e+09
# HELP seesawd_config_last_reload_successful Whether the last reload attempt left the file's configuration running (1) or not (0).
# TYPE seesawd_config_last_reload_successful gauge
seesawd_config_last_reload_successful 0
# HELP seesawd_config_reloads_total Configuration reloads by outcome (applied, unchanged, refused, partial).
# TYPE seesawd_config_reloads_total counter
seesawd_config_reloads_total{outcome="applied"} 1
seesawd_config_reloads_total{outcome="partial"} 1
seesawd_config_reloads_total{outcome="refused"} 2
seesawd_config_reloads_total{outcome="unchanged"} 1
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_config_info", "seesawd_config_reloads_total",
		"seesawd_config_last_reload_successful", "seesawd_config_last_reload_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

func TestStatusMetrics(t *testing.T) {
	m := New(nil)
	ok := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	m.SetSources(Sources{Engine: fakeEngine{&engine.Status{LastSuccess: ok, Services: []engine.ServiceStatus{
		{Name: "web", State: engine.ServiceUp, Backends: []engine.BackendStatus{
			{Addr: netip.MustParseAddrPort("10.0.0.1:80"), HasCheck: true, Health: healthcheck.StateUp},
			{Addr: netip.MustParseAddrPort("10.0.0.2:80"), HasCheck: true, Health: healthcheck.StateDown},
			{Addr: netip.MustParseAddrPort("10.0.0.3:80"), HasCheck: true, Health: healthcheck.StateUnknown},
			{Addr: netip.MustParseAddrPort("10.0.0.4:80"), Health: healthcheck.StateUp},
			{Addr: netip.MustParseAddrPort("10.0.0.5:80"), Leaving: true},
		}},
		{Name: "api", State: engine.ServiceDown, Backends: []engine.BackendStatus{
			{Addr: netip.MustParseAddrPort("[2001:db8::1]:443"), HasCheck: true, Health: healthcheck.StateDown},
		}},
		{Name: "new", State: engine.ServicePending},
	}}}})
	want := `
# HELP seesawd_backend_up Whether the engine holds the backend healthy: 1 when its check is up (or it has none), 0 when down or not known yet.
# TYPE seesawd_backend_up gauge
seesawd_backend_up{remote_address="10.0.0.1",remote_port="80",service="web"} 1
seesawd_backend_up{remote_address="10.0.0.2",remote_port="80",service="web"} 0
seesawd_backend_up{remote_address="10.0.0.3",remote_port="80",service="web"} 0
seesawd_backend_up{remote_address="10.0.0.4",remote_port="80",service="web"} 1
seesawd_backend_up{remote_address="2001:db8::1",remote_port="443",service="api"} 0
# HELP seesawd_service_up Whether the service has its quorum of healthy backends (1; also while the first results are awaited) or not (0).
# TYPE seesawd_service_up gauge
seesawd_service_up{service="api"} 0
seesawd_service_up{service="new"} 1
seesawd_service_up{service="web"} 1
# HELP seesawd_reconcile_last_success_timestamp_seconds When a reconcile last ended with the kernel holding the desired state.
# TYPE seesawd_reconcile_last_success_timestamp_seconds gauge
seesawd_reconcile_last_success_timestamp_seconds 1.77763680e+09
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_backend_up", "seesawd_service_up",
		"seesawd_reconcile_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

// fakeVRRP serves fixed states and counters.
type fakeVRRP struct {
	states []vrrp.InstanceStatus
	stats  vrrp.Stats
}

func (f fakeVRRP) States() []vrrp.InstanceStatus { return f.states }
func (f fakeVRRP) Stats() vrrp.Stats             { return f.stats }

func TestVRRPMetrics(t *testing.T) {
	m := New(nil)
	front4 := vrrp.InstanceID{Name: "front", Family: vrrp.IPv4}
	front6 := vrrp.InstanceID{Name: "front", Family: vrrp.IPv6}
	back := vrrp.InstanceID{Name: "back", Family: vrrp.IPv4}
	m.Loaded("h", time.Now(), []vrrp.InstanceConfig{
		{Name: "front", Family: vrrp.IPv4, VirtualIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24"), netip.MustParsePrefix("192.0.2.101/32")}},
		{Name: "front", Family: vrrp.IPv6, VirtualIPs: []netip.Prefix{netip.MustParsePrefix("2001:db8::100/64")}},
	})
	drops := func(r vrrp.DropReason, n uint64) vrrp.Counters {
		return vrrp.Counters{Drops: map[vrrp.DropReason]uint64{r: n}}
	}
	c := drops(vrrp.DropAddresses, 2)
	c.AdvertsSent, c.AdvertsReceived, c.SendErrors, c.Transitions = 100, 7, 1, 3
	stats := vrrp.Stats{Counters: drops(vrrp.DropTTL, 5), Instances: map[vrrp.InstanceID]vrrp.InstanceStats{
		front4: {Counters: c, LastMasterLatency: 12 * time.Millisecond},
		front6: {Counters: drops(vrrp.DropInterval, 4)},
		back:   {Counters: vrrp.Counters{}},
	}}
	stats.Drops[vrrp.DropAddresses] = 2
	stats.Drops[vrrp.DropInterval] = 4
	m.SetSources(Sources{VRRP: fakeVRRP{stats: stats, states: []vrrp.InstanceStatus{
		{ID: front4, Interface: "eth0", VRID: 51, State: vrrp.Master, Priority: 150},
		{ID: front6, Interface: "eth0", VRID: 51, State: vrrp.Master, Priority: 150},
		{ID: back, Interface: "eth1", VRID: 52, State: vrrp.Fault, Priority: 90},
	}}})
	want := `
# HELP seesawd_vrrp_state VRRP state of the instance, per virtual address: 0 init, 1 backup, 2 master, 3 fault (as keepalived numbers them).
# TYPE seesawd_vrrp_state gauge
seesawd_vrrp_state{family="inet",iname="back",intf="eth1",ip_address="",vrid="52"} 3
seesawd_vrrp_state{family="inet",iname="front",intf="eth0",ip_address="192.0.2.100",vrid="51"} 2
seesawd_vrrp_state{family="inet",iname="front",intf="eth0",ip_address="192.0.2.101",vrid="51"} 2
seesawd_vrrp_state{family="inet6",iname="front",intf="eth0",ip_address="2001:db8::100",vrid="51"} 2
# HELP seesawd_vrrp_priority The instance's effective priority: configured, less tracked interfaces and services below quorum.
# TYPE seesawd_vrrp_priority gauge
seesawd_vrrp_priority{family="inet",iname="back",intf="eth1",vrid="52"} 90
seesawd_vrrp_priority{family="inet",iname="front",intf="eth0",vrid="51"} 150
seesawd_vrrp_priority{family="inet6",iname="front",intf="eth0",vrid="51"} 150
# HELP seesawd_advertisements_sent_total VRRP advertisements sent (one per destination).
# TYPE seesawd_advertisements_sent_total counter
seesawd_advertisements_sent_total{family="inet",iname="back",intf="eth1",vrid="52"} 0
seesawd_advertisements_sent_total{family="inet",iname="front",intf="eth0",vrid="51"} 100
seesawd_advertisements_sent_total{family="inet6",iname="front",intf="eth0",vrid="51"} 0
# HELP seesawd_advertisements_received_total Valid VRRP advertisements received.
# TYPE seesawd_advertisements_received_total counter
seesawd_advertisements_received_total{family="inet",iname="back",intf="eth1",vrid="52"} 0
seesawd_advertisements_received_total{family="inet",iname="front",intf="eth0",vrid="51"} 7
seesawd_advertisements_received_total{family="inet6",iname="front",intf="eth0",vrid="51"} 0
# HELP seesawd_advertisements_send_errors_total VRRP advertisements that could not be sent.
# TYPE seesawd_advertisements_send_errors_total counter
seesawd_advertisements_send_errors_total{family="inet",iname="back",intf="eth1",vrid="52"} 0
seesawd_advertisements_send_errors_total{family="inet",iname="front",intf="eth0",vrid="51"} 1
seesawd_advertisements_send_errors_total{family="inet6",iname="front",intf="eth0",vrid="51"} 0
# HELP seesawd_vrrp_transitions_total State transitions of the instance.
# TYPE seesawd_vrrp_transitions_total counter
seesawd_vrrp_transitions_total{family="inet",iname="back",intf="eth1",vrid="52"} 0
seesawd_vrrp_transitions_total{family="inet",iname="front",intf="eth0",vrid="51"} 3
seesawd_vrrp_transitions_total{family="inet6",iname="front",intf="eth0",vrid="51"} 0
# HELP seesawd_vrrp_last_master_latency_seconds Time from the instance's last transition to master until its addresses were up and announced.
# TYPE seesawd_vrrp_last_master_latency_seconds gauge
seesawd_vrrp_last_master_latency_seconds{family="inet",iname="front",intf="eth0",vrid="51"} 0.012
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_vrrp_state", "seesawd_vrrp_priority",
		"seesawd_advertisements_sent_total", "seesawd_advertisements_received_total",
		"seesawd_advertisements_send_errors_total", "seesawd_vrrp_transitions_total",
		"seesawd_vrrp_last_master_latency_seconds"); err != nil {
		t.Error(err)
	}
	// Every reason of every instance and of the node, zeros included, so
	// that the first drop shows in increase().
	mf := family(t, m, "seesawd_vrrp_drops_total")
	if n := len(mf.GetMetric()); n != 3*len(vrrp.DropReasons()) {
		t.Errorf("%d drop series, want %d", n, 3*len(vrrp.DropReasons()))
	}
	got := map[string]float64{}
	for _, mt := range mf.GetMetric() {
		if v := mt.GetCounter().GetValue(); v != 0 {
			var l []string
			for _, lp := range mt.GetLabel() {
				l = append(l, lp.GetValue())
			}
			got[strings.Join(l, ",")] = v
		}
	}
	if len(got) != 2 || got["inet,front,eth0,addresses,51"] != 2 || got["inet6,front,eth0,interval,51"] != 4 {
		t.Errorf("non-zero drops %v", got)
	}
	node := family(t, m, "seesawd_vrrp_node_drops_total")
	if n := len(node.GetMetric()); n != len(vrrp.DropReasons()) {
		t.Errorf("%d node drop series, want %d", n, len(vrrp.DropReasons()))
	}
	for _, mt := range node.GetMetric() {
		want := map[string]float64{"ttl": 5, "addresses": 2, "interval": 4}[mt.GetLabel()[0].GetValue()]
		if mt.GetCounter().GetValue() != want {
			t.Errorf("node drops %s = %v, want %v", mt.GetLabel()[0].GetValue(), mt.GetCounter().GetValue(), want)
		}
	}
}

// The handler serves the text format with every family, the Go runtime's
// and the process's included.
func TestHandler(t *testing.T) {
	k := lab(t)
	m := newKernelMetrics(t, k)
	m.Loaded("abc", time.Now(), nil)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	for _, s := range []string{
		`seesawd_ipvs_backend_weight{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service="web"} 3`,
		`seesawd_config_info{hash="abc"} 1`,
		"go_goroutines ", "go_build_info{", "promhttp_metric_handler_requests_total{code=\"200\"} 0",
	} {
		if !strings.Contains(string(body), s) {
			t.Errorf("the scrape lacks %q", s)
		}
	}
}
