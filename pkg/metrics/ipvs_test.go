package metrics

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/ipvs/ipvstest"
)

// fakeEngine serves a fixed Status.
type fakeEngine struct{ st *engine.Status }

func (f fakeEngine) Status() *engine.Status { return f.st }

var (
	webSvc = ipvs.Service{Protocol: ipvs.TCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "wrr"}
	dnsSvc = ipvs.Service{Protocol: ipvs.UDP, Address: netip.MustParseAddr("2001:db8::1"), Port: 53}
	fwmSvc = ipvs.Service{FWMark: 7}
	web1   = ipvs.Destination{Address: netip.MustParseAddr("10.0.0.1"), Port: 8080, Forward: ipvs.Masquerade, Weight: 3}
	web2   = ipvs.Destination{Address: netip.MustParseAddr("10.0.0.2"), Port: 8080, Forward: ipvs.Masquerade}
	dns1   = ipvs.Destination{Address: netip.MustParseAddr("2001:db8::10"), Port: 53, Forward: ipvs.DirectRoute, Weight: 1}
	fwm1   = ipvs.Destination{Address: netip.MustParseAddr("10.0.0.3"), Port: 0, Forward: ipvs.DirectRoute, Weight: 1}
)

// lab fills a fake kernel with three services: web (configured, with
// counters past 32 bits), dns over IPv6 (configured) and a fwmark service
// seesawd does not configure.
func lab(t *testing.T) *ipvstest.Kernel {
	t.Helper()
	k := ipvstest.NewKernel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		svc   ipvs.Service
		dests []ipvs.Destination
	}{{webSvc, []ipvs.Destination{web1, web2}}, {dnsSvc, []ipvs.Destination{dns1}}, {fwmSvc, []ipvs.Destination{fwm1}}} {
		must(k.AddService(s.svc))
		for _, d := range s.dests {
			must(k.AddDestination(s.svc, d))
		}
	}
	must(k.SetStats(webSvc.Key(), web1.Key(), ipvs.Stats{Connections: 5_000_000_123, PacketsIn: 1 << 40, PacketsOut: 7,
		BytesIn: 1<<50 + 1, BytesOut: 9, CPS: 99}))
	must(k.SetStats(webSvc.Key(), web2.Key(), ipvs.Stats{Connections: 2, PacketsIn: 3, PacketsOut: 4, BytesIn: 5, BytesOut: 6}))
	must(k.SetConnections(webSvc.Key(), web1.Key(), 12, 34, 0))
	must(k.SetStats(dnsSvc.Key(), dns1.Key(), ipvs.Stats{Connections: 10, PacketsIn: 20, PacketsOut: 30, BytesIn: 40, BytesOut: 50}))
	return k
}

func newKernelMetrics(t *testing.T, k *ipvstest.Kernel) *Metrics {
	t.Helper()
	c, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m := New(nil)
	m.SetSources(Sources{Kernel: c, Engine: fakeEngine{&engine.Status{Services: []engine.ServiceStatus{
		{Name: "web", Key: webSvc.Key()}, {Name: "dns", Key: dnsSvc.Key()}}}}})
	return m
}

var ipvsNames = []string{
	"seesawd_ipvs_up", "seesawd_ipvs_connections_total", "seesawd_ipvs_incoming_packets_total",
	"seesawd_ipvs_outgoing_packets_total", "seesawd_ipvs_incoming_bytes_total", "seesawd_ipvs_outgoing_bytes_total",
	"seesawd_ipvs_backend_connections_total", "seesawd_ipvs_backend_incoming_packets_total",
	"seesawd_ipvs_backend_outgoing_packets_total", "seesawd_ipvs_backend_incoming_bytes_total",
	"seesawd_ipvs_backend_outgoing_bytes_total", "seesawd_ipvs_backend_connections_active",
	"seesawd_ipvs_backend_connections_inactive", "seesawd_ipvs_backend_weight",
}

const ipvsWant = `
# HELP seesawd_ipvs_up Whether the last scrape's dump of the kernel's IPVS table succeeded.
# TYPE seesawd_ipvs_up gauge
seesawd_ipvs_up 1
# HELP seesawd_ipvs_connections_total Connections the service scheduled.
# TYPE seesawd_ipvs_connections_total counter
seesawd_ipvs_connections_total{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",service=""} 0
seesawd_ipvs_connections_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",service="web"} 5.000000125e+09
seesawd_ipvs_connections_total{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",service="dns"} 10
# HELP seesawd_ipvs_incoming_packets_total Packets into the service.
# TYPE seesawd_ipvs_incoming_packets_total counter
seesawd_ipvs_incoming_packets_total{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",service=""} 0
seesawd_ipvs_incoming_packets_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",service="web"} 1.099511627779e+12
seesawd_ipvs_incoming_packets_total{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",service="dns"} 20
# HELP seesawd_ipvs_outgoing_packets_total Packets out of the service.
# TYPE seesawd_ipvs_outgoing_packets_total counter
seesawd_ipvs_outgoing_packets_total{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",service=""} 0
seesawd_ipvs_outgoing_packets_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",service="web"} 11
seesawd_ipvs_outgoing_packets_total{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",service="dns"} 30
# HELP seesawd_ipvs_incoming_bytes_total Bytes into the service.
# TYPE seesawd_ipvs_incoming_bytes_total counter
seesawd_ipvs_incoming_bytes_total{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",service=""} 0
seesawd_ipvs_incoming_bytes_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",service="web"} 1.125899906842630e+15
seesawd_ipvs_incoming_bytes_total{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",service="dns"} 40
# HELP seesawd_ipvs_outgoing_bytes_total Bytes out of the service.
# TYPE seesawd_ipvs_outgoing_bytes_total counter
seesawd_ipvs_outgoing_bytes_total{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",service=""} 0
seesawd_ipvs_outgoing_bytes_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",service="web"} 15
seesawd_ipvs_outgoing_bytes_total{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",service="dns"} 50
# HELP seesawd_ipvs_backend_connections_total Connections scheduled to the backend.
# TYPE seesawd_ipvs_backend_connections_total counter
seesawd_ipvs_backend_connections_total{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="10.0.0.3",remote_port="0",service=""} 0
seesawd_ipvs_backend_connections_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service="web"} 5.000000123e+09
seesawd_ipvs_backend_connections_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="8080",service="web"} 2
seesawd_ipvs_backend_connections_total{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::10",remote_port="53",service="dns"} 10
# HELP seesawd_ipvs_backend_incoming_packets_total Packets to the backend.
# TYPE seesawd_ipvs_backend_incoming_packets_total counter
seesawd_ipvs_backend_incoming_packets_total{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="10.0.0.3",remote_port="0",service=""} 0
seesawd_ipvs_backend_incoming_packets_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service="web"} 1.099511627776e+12
seesawd_ipvs_backend_incoming_packets_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="8080",service="web"} 3
seesawd_ipvs_backend_incoming_packets_total{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::10",remote_port="53",service="dns"} 20
# HELP seesawd_ipvs_backend_outgoing_packets_total Packets from the backend.
# TYPE seesawd_ipvs_backend_outgoing_packets_total counter
seesawd_ipvs_backend_outgoing_packets_total{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="10.0.0.3",remote_port="0",service=""} 0
seesawd_ipvs_backend_outgoing_packets_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service="web"} 7
seesawd_ipvs_backend_outgoing_packets_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="8080",service="web"} 4
seesawd_ipvs_backend_outgoing_packets_total{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::10",remote_port="53",service="dns"} 30
# HELP seesawd_ipvs_backend_incoming_bytes_total Bytes to the backend.
# TYPE seesawd_ipvs_backend_incoming_bytes_total counter
seesawd_ipvs_backend_incoming_bytes_total{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="10.0.0.3",remote_port="0",service=""} 0
seesawd_ipvs_backend_incoming_bytes_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service="web"} 1.125899906842625e+15
seesawd_ipvs_backend_incoming_bytes_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="8080",service="web"} 5
seesawd_ipvs_backend_incoming_bytes_total{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::10",remote_port="53",service="dns"} 40
# HELP seesawd_ipvs_backend_outgoing_bytes_total Bytes from the backend.
# TYPE seesawd_ipvs_backend_outgoing_bytes_total counter
seesawd_ipvs_backend_outgoing_bytes_total{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="10.0.0.3",remote_port="0",service=""} 0
seesawd_ipvs_backend_outgoing_bytes_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service="web"} 9
seesawd_ipvs_backend_outgoing_bytes_total{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="8080",service="web"} 6
seesawd_ipvs_backend_outgoing_bytes_total{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::10",remote_port="53",service="dns"} 50
# HELP seesawd_ipvs_backend_connections_active The backend's active connections.
# TYPE seesawd_ipvs_backend_connections_active gauge
seesawd_ipvs_backend_connections_active{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="10.0.0.3",remote_port="0",service=""} 0
seesawd_ipvs_backend_connections_active{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service="web"} 12
seesawd_ipvs_backend_connections_active{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="8080",service="web"} 0
seesawd_ipvs_backend_connections_active{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::10",remote_port="53",service="dns"} 0
# HELP seesawd_ipvs_backend_connections_inactive The backend's inactive connections.
# TYPE seesawd_ipvs_backend_connections_inactive gauge
seesawd_ipvs_backend_connections_inactive{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="10.0.0.3",remote_port="0",service=""} 0
seesawd_ipvs_backend_connections_inactive{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service="web"} 34
seesawd_ipvs_backend_connections_inactive{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="8080",service="web"} 0
seesawd_ipvs_backend_connections_inactive{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::10",remote_port="53",service="dns"} 0
# HELP seesawd_ipvs_backend_weight The backend's weight in the kernel.
# TYPE seesawd_ipvs_backend_weight gauge
seesawd_ipvs_backend_weight{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="10.0.0.3",remote_port="0",service=""} 1
seesawd_ipvs_backend_weight{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service="web"} 3
seesawd_ipvs_backend_weight{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="8080",service="web"} 0
seesawd_ipvs_backend_weight{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::10",remote_port="53",service="dns"} 1
`

func TestIPVSMetricsAreTheKernelsCounters(t *testing.T) {
	k := lab(t)
	m := newKernelMetrics(t, k)
	if err := testutil.GatherAndCompare(m, strings.NewReader(ipvsWant), ipvsNames...); err != nil {
		t.Error(err)
	}
	if n := k.Count(ipvstest.CmdGetService); n != 1 {
		t.Errorf("one scrape sent %d service dumps, want 1", n)
	}
}

func TestIPVSMetricsFollowTheKernel(t *testing.T) {
	k := lab(t)
	m := newKernelMetrics(t, k)
	if _, err := m.Gather(); err != nil {
		t.Fatal(err)
	}
	// Someone removes web's second backend and edits the first.
	if err := k.RemoveDestination(webSvc, web2); err != nil {
		t.Fatal(err)
	}
	if err := k.SetWeight(webSvc.Key(), web1.Key(), 0); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP seesawd_ipvs_backend_weight The backend's weight in the kernel.
# TYPE seesawd_ipvs_backend_weight gauge
seesawd_ipvs_backend_weight{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="10.0.0.3",remote_port="0",service=""} 1
seesawd_ipvs_backend_weight{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service="web"} 0
seesawd_ipvs_backend_weight{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::10",remote_port="53",service="dns"} 1
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_ipvs_backend_weight"); err != nil {
		t.Error(err)
	}
}

func TestIPVSDumpFailureIsUpZeroAndNoSeries(t *testing.T) {
	k := lab(t)
	m := newKernelMetrics(t, k)
	k.FailNext(ipvstest.CmdGetService, 1, syscall.EPERM)
	want := `
# HELP seesawd_ipvs_up Whether the last scrape's dump of the kernel's IPVS table succeeded.
# TYPE seesawd_ipvs_up gauge
seesawd_ipvs_up 0
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), ipvsNames...); err != nil {
		t.Error(err)
	}
	// The next scrape reads again.
	if err := testutil.GatherAndCompare(m, strings.NewReader(ipvsWant), ipvsNames...); err != nil {
		t.Error(err)
	}
}

func TestIPVSWithoutEngineNamesNoService(t *testing.T) {
	k := lab(t)
	c, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := New(nil)
	m.SetSources(Sources{Kernel: c})
	want := `
# HELP seesawd_ipvs_backend_weight The backend's weight in the kernel.
# TYPE seesawd_ipvs_backend_weight gauge
seesawd_ipvs_backend_weight{family="inet",local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="10.0.0.3",remote_port="0",service=""} 1
seesawd_ipvs_backend_weight{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.1",remote_port="8080",service=""} 3
seesawd_ipvs_backend_weight{family="inet",local_address="192.0.2.1",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="8080",service=""} 0
seesawd_ipvs_backend_weight{family="inet6",local_address="2001:db8::1",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::10",remote_port="53",service=""} 1
`
	if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_ipvs_backend_weight"); err != nil {
		t.Error(err)
	}
}

// gatedKernel holds every DumpAll until its gate opens, counting them.
type gatedKernel struct {
	Kernel
	calls atomic.Int32
	gate  chan struct{}
}

func (g *gatedKernel) DumpAll(ctx context.Context) ([]ipvs.ServiceDestinations, error) {
	g.calls.Add(1)
	<-g.gate
	return g.Kernel.DumpAll(ctx)
}

// Scrapes that overlap share one dump: however many scrapes wait, the
// kernel is dumped once, and each gets the whole table.
func TestConcurrentScrapesShareOneDump(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := lab(t)
		m := newKernelMetrics(t, k)
		g := &gatedKernel{Kernel: m.sources().Kernel, gate: make(chan struct{})}
		src := m.sources()
		src.Kernel = g
		m.SetSources(src)
		const scrapes = 4
		var wg sync.WaitGroup
		errs := make([]error, scrapes)
		for i := range scrapes {
			wg.Go(func() { errs[i] = testutil.GatherAndCompare(m, strings.NewReader(ipvsWant), ipvsNames...) })
		}
		synctest.Wait() // every scrape is blocked: one in the dump, the others on it
		if n := g.calls.Load(); n != 1 {
			t.Errorf("%d scrapes in flight started %d dumps, want 1", scrapes, n)
		}
		close(g.gate)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("scrape %d: %v", i, err)
			}
		}
		if n := k.Count(ipvstest.CmdGetService); n != 1 {
			t.Errorf("the kernel got %d service dumps, want 1", n)
		}
		// The next scrape dumps anew.
		if _, err := m.Gather(); err != nil {
			t.Fatal(err)
		}
		if n := g.calls.Load(); n != 2 {
			t.Errorf("a later scrape: %d dumps in all, want 2", n)
		}
	})
}

// A scrape stuck on the kernel gives up at DumpTimeout and reports it.
func TestDumpTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := lab(t)
		c, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		m := New(&Config{DumpTimeout: 3e9})
		m.SetSources(Sources{Kernel: c})
		k.Block()
		defer k.Unblock()
		want := `
# HELP seesawd_ipvs_dump_duration_seconds Time the last scrape's dump of the kernel's IPVS table took.
# TYPE seesawd_ipvs_dump_duration_seconds gauge
seesawd_ipvs_dump_duration_seconds 3
# HELP seesawd_ipvs_up Whether the last scrape's dump of the kernel's IPVS table succeeded.
# TYPE seesawd_ipvs_up gauge
seesawd_ipvs_up 0
`
		if err := testutil.GatherAndCompare(m, strings.NewReader(want), "seesawd_ipvs_up", "seesawd_ipvs_dump_duration_seconds"); err != nil {
			t.Error(err)
		}
	})
}

func TestServiceLabelsAsNodeExporter(t *testing.T) {
	for _, tc := range []struct {
		k    ipvs.ServiceKey
		want string
	}{
		{webSvc.Key(), "family=inet local_address=192.0.2.1 local_mark= local_port=80 proto=TCP service=n"},
		{ipvs.Service{Protocol: ipvs.SCTP, Address: netip.MustParseAddr("::ffff:192.0.2.9"), Port: 9}.Key(),
			"family=inet local_address=192.0.2.9 local_mark= local_port=9 proto=SCTP service=n"},
		{ipvs.Service{FWMark: 0xabc, Family: ipvs.IPv6}.Key(),
			"family=inet6 local_address= local_mark=00000ABC local_port=0 proto=FWM service=n"},
	} {
		var got []string
		for _, p := range servicePairs("n", tc.k) {
			got = append(got, p.GetName()+"="+p.GetValue())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("servicePairs(%v) = %q, want %q", tc.k, got, tc.want)
		}
	}
	// In the order the registry wants, or it copies and sorts each metric's.
	names := append([]string(nil), backendLabelNames...)
	sort.Strings(names)
	if got := []string{lFamily, lLocalAddress, lLocalMark, lLocalPort, lProto, lRemoteAddress, lRemotePort, lService}; !slices.Equal(got, names) {
		t.Errorf("backend label order %q, want %q", got, names)
	}
}
