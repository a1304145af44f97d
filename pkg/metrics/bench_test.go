package metrics

import (
	"net/netip"
	"testing"

	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/ipvs/ipvstest"
)

// BenchmarkGather scrapes a table of 1,000 services of 10 backends from the
// fake kernel: the dump's decoding and the series' encoding, without the
// kernel's own time.
func BenchmarkGather(b *testing.B) {
	k := ipvstest.NewKernel()
	for i := range 1000 {
		svc := ipvs.Service{Protocol: ipvs.TCP, Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80}
		if err := k.AddService(svc); err != nil {
			b.Fatal(err)
		}
		for j := range 10 {
			d := ipvs.Destination{Address: netip.AddrFrom4([4]byte{10, 2, byte(j), 1}), Port: 8080, Weight: 1}
			if err := k.AddDestination(svc, d); err != nil {
				b.Fatal(err)
			}
		}
	}
	c, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	m := New(nil)
	m.SetSources(Sources{Kernel: c})
	for b.Loop() {
		if _, err := m.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOnResult is the cost a check run adds to the manager's loop.
func BenchmarkOnResult(b *testing.B) {
	m := New(nil)
	m.SetSources(Sources{Checks: &fakeChecks{snap: []healthcheck.Status{
		{ID: "web/10.0.0.1:80", Key: "k"}, {ID: "api/10.0.0.1:80", Key: "k"}}}})
	m.OnResult(run("k", nil))
	if _, err := m.Gather(); err != nil {
		b.Fatal(err)
	}
	r := run("k", nil)
	for b.Loop() {
		m.OnResult(r)
	}
}
