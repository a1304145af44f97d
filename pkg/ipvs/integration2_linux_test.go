//go:build linux

package ipvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
)

// TestIntegrationTraffic sends real TCP connections from a client namespace
// through a NAT service in the lab namespace (the director) to a backend
// namespace, and checks the counters pkg/ipvs and ipvsadm report; then
// Zero and Flush.
func TestIntegrationTraffic(t *testing.T) {
	l := newLab(t)
	ctx := l.ctx()
	cl, be := testenv.NewNetns(t), testenv.NewNetns(t)
	testenv.Veth(t, cl, "c0", l.ns, "dc")
	testenv.Veth(t, be, "b0", l.ns, "db")
	cl.Sh(t, "ip addr add 10.10.1.2/24 dev c0 && ip route add default via 10.10.1.1")
	be.Sh(t, "ip addr add 10.10.2.2/24 dev b0 && ip route add default via 10.10.2.1")
	l.sh("ip addr add 10.10.1.1/24 dev dc && ip addr add 10.10.1.100/32 dev dc && ip addr add 10.10.2.1/24 dev db && sysctl -qw net.ipv4.ip_forward=1")

	var ln net.Listener
	if err := be.Do(func() (err error) { ln, err = net.Listen("tcp", "10.10.2.2:8080"); return err }); err != nil {
		t.Fatalf("backend listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()

	svc := Service{Protocol: TCP, Address: mustAddr("10.10.1.100"), Port: 80, Scheduler: "rr"}
	dst := Destination{Address: mustAddr("10.10.2.2"), Port: 8080, Forward: Masquerade, Weight: 1}
	if err := l.c.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := l.c.CreateDestination(ctx, svc, dst); err != nil {
		t.Fatal(err)
	}

	const conns = 5
	msg := []byte("hello through ipvs\n")
	err := cl.Do(func() error {
		for i := 0; i < conns; i++ {
			c, err := net.DialTimeout("tcp", "10.10.1.100:80", 5*time.Second)
			if err != nil {
				return err
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(msg); err != nil {
				c.Close()
				return err
			}
			buf := make([]byte, len(msg))
			if _, err := io.ReadFull(c, buf); err != nil {
				c.Close()
				return fmt.Errorf("echo %d: %w", i, err)
			}
			if string(buf) != string(msg) {
				c.Close()
				return fmt.Errorf("echo %d: got %q", i, buf)
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("client through the VIP: %v", err)
	}

	// Read both views until they show the connections and agree: the kernel
	// folds its per-CPU counters into what it reports from the rate
	// estimator's timer, every 2 seconds, and the last FIN/ACKs may still be
	// in flight.
	var got Service
	var ds []Destination
	var row, drow []string
	for try := 0; try < 40; try++ {
		time.Sleep(200 * time.Millisecond)
		if got, err = l.c.Service(ctx, svc); err != nil {
			t.Fatal(err)
		}
		if ds, err = l.c.Destinations(ctx, svc); err != nil || len(ds) != 1 {
			t.Fatalf("Destinations = %v, %v", ds, err)
		}
		st := parseIpvsadmList(t, l.sh("ipvsadm -Ln --stats --exact"))
		row, drow = st.Services["TCP 10.10.1.100:80"], st.Dests["TCP 10.10.1.100:80"]["10.10.2.2:8080"]
		if got.Stats.Connections == conns && statsRow(got.Stats) == strings.Join(row, " ") && statsRow(ds[0].Stats) == strings.Join(drow, " ") {
			break
		}
	}
	t.Logf("service stats %+v; ipvsadm %q", got.Stats, row)
	s := got.Stats
	if s.Connections != conns || s.PacketsIn < 3*conns || s.PacketsOut < 2*conns ||
		s.BytesIn < uint64(conns*len(msg)) || s.BytesOut < uint64(conns*len(msg)) {
		t.Errorf("service stats %+v do not show %d connections of %d bytes each way", s, conns, len(msg))
	}
	if ds[0].Stats != s {
		t.Errorf("the only destination's stats %+v differ from the service's %+v", ds[0].Stats, s)
	}
	if statsRow(s) != strings.Join(row, " ") {
		t.Errorf("ipvsadm --stats row %q, pkg/ipvs %q", row, statsRow(s))
	}
	if statsRow(ds[0].Stats) != strings.Join(drow, " ") {
		t.Errorf("ipvsadm --stats destination row %q, pkg/ipvs %q", drow, statsRow(ds[0].Stats))
	}

	// Connection counts agree with ipvsadm's ActiveConn and InActConn
	// columns (closed connections linger as inactive).
	list := parseIpvsadmList(t, l.sh("ipvsadm -Ln"))
	lrow := list.Dests["TCP 10.10.1.100:80"]["10.10.2.2:8080"]
	ds, err = l.c.Destinations(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Masq", "1", strconv.Itoa(int(ds[0].ActiveConns)), strconv.Itoa(int(ds[0].InactiveConns))}; strings.Join(lrow, " ") != strings.Join(want, " ") {
		t.Errorf("ipvsadm -Ln row %q, pkg/ipvs %q", lrow, want)
	}
	if ds[0].ActiveConns+ds[0].InactiveConns == 0 {
		t.Errorf("no connections counted on the destination: %+v", ds[0])
	}

	// Make it persistent: one more connection leaves a persistence
	// template, counted on the destination as a persistent connection.
	psvc := svc
	psvc.Flags, psvc.Timeout = Persistent, 300
	if err := l.c.UpdateService(ctx, psvc); err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	if err := cl.Do(func() error {
		c, err := net.DialTimeout("tcp", "10.10.1.100:80", 5*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		t.Fatalf("persistent connection: %v", err)
	}
	if ds, err = l.c.Destinations(ctx, svc); err != nil {
		t.Fatal(err)
	}
	prow := parseIpvsadmList(t, l.sh("ipvsadm -Ln --persistent-conn")).Dests["TCP 10.10.1.100:80"]["10.10.2.2:8080"]
	if ds[0].PersistentConns != 1 || len(prow) < 2 || prow[1] != "1" {
		t.Errorf("persistent connections: pkg/ipvs %d, ipvsadm row %q; want 1", ds[0].PersistentConns, prow)
	}

	// Zero this service: counters read back zero both ways. Zero takes the
	// counters as folded so far, so first let the estimator fold the last
	// connection's packets: wait for a full 2 s period in which the
	// counters (not the rates, which decay) do not change.
	var last string
	var since time.Time
	testenv.WaitFor(t, "the counters to settle", 10*time.Second, func() bool {
		s, err := l.c.Service(ctx, svc)
		if err != nil {
			t.Fatal(err)
		}
		if row := statsRow(s.Stats); row != last || since.IsZero() {
			last, since = row, time.Now()
		}
		return time.Since(since) > 2100*time.Millisecond
	})
	if err := l.c.Zero(ctx, &svc); err != nil {
		t.Fatalf("Zero: %v", err)
	}
	if got, err = l.c.Service(ctx, svc); err != nil {
		t.Fatal(err)
	}
	st := parseIpvsadmList(t, l.sh("ipvsadm -Ln --stats --exact"))
	if statsRow(got.Stats) != "0 0 0 0 0" || strings.Join(st.Services["TCP 10.10.1.100:80"], " ") != "0 0 0 0 0" {
		t.Errorf("after Zero: pkg/ipvs %q, ipvsadm %q", statsRow(got.Stats), st.Services["TCP 10.10.1.100:80"])
	}
	if err := l.c.Zero(ctx, nil); err != nil {
		t.Fatalf("Zero(nil): %v", err)
	}
	if err := l.c.Zero(ctx, &Service{Protocol: TCP, Address: mustAddr("10.10.1.101"), Port: 80}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Zero of a missing service: %v, want os.ErrNotExist", err)
	}

	if err := l.c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if all, err := l.c.Services(ctx); err != nil || len(all) != 0 {
		t.Errorf("Services after Flush = %v, %v", all, err)
	}
	if s := l.save(); len(s) != 0 {
		t.Errorf("ipvsadm after Flush: %+v", s)
	}
}

// statsRow renders counters as ipvsadm --stats --exact prints them.
func statsRow(s Stats) string {
	return fmt.Sprintf("%d %d %d %d %d", s.Connections, s.PacketsIn, s.PacketsOut, s.BytesIn, s.BytesOut)
}

// TestIntegrationApply batches creates, updates and removes, some of them
// failing, in small chunks, and checks the per-op results and the state.
func TestIntegrationApply(t *testing.T) {
	l := newLab(t)
	ctx := l.ctx()
	conn, err := dial(&Config{NetNSPath: "/run/netns/" + l.ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(&Config{Conn: conn, BatchOps: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const nsvc, ndst = 150, 4
	svcs := make([]Service, nsvc)
	var ops []Op
	for i := range svcs {
		svcs[i] = Service{Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Scheduler: "wrr"}
		ops = append(ops, Op{Kind: OpCreateService, Service: svcs[i]})
		for j := 0; j < ndst; j++ {
			ops = append(ops, Op{Kind: OpCreateDestination, Service: svcs[i],
				Destination: Destination{Address: netip.AddrFrom4([4]byte{10, 2, byte(i), byte(j + 1)}), Port: 8080, Weight: uint32(j + 1)}})
		}
	}
	// Failures in the middle, and one at the very end of the list.
	bad := map[int]error{}
	insert := func(at int, op Op, want error) {
		ops = append(ops[:at], append([]Op{op}, ops[at:]...)...)
		shifted := map[int]error{}
		for k, v := range bad {
			if k >= at {
				k++
			}
			shifted[k] = v
		}
		shifted[at] = want
		bad = shifted
	}
	insert(100, Op{Kind: OpCreateService, Service: svcs[3]}, os.ErrExist)
	insert(300, Op{Kind: OpCreateDestination, Service: Service{Protocol: TCP, Address: mustAddr("10.9.9.9"), Port: 1},
		Destination: Destination{Address: mustAddr("10.3.0.1"), Port: 1}}, os.ErrNotExist)
	insert(301, Op{Kind: OpCreateService, Service: Service{Family: 99, FWMark: 1}}, os.ErrInvalid)
	insert(len(ops), Op{Kind: OpCreateService, Service: svcs[0]}, os.ErrExist)

	errs, err := c.Apply(ctx, ops)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	checkErrs := func(errs []error, bad map[int]error) {
		t.Helper()
		for i, e := range errs {
			want, isBad := bad[i]
			switch {
			case isBad && !errors.Is(e, want):
				t.Errorf("op %d (%v %v): %v, want %v", i, ops[i].Kind, ops[i].Service, e, want)
			case !isBad && e != nil:
				t.Errorf("op %d (%v %v): unexpected %v", i, ops[i].Kind, ops[i].Service, e)
			}
		}
	}
	checkErrs(errs, bad)

	count := func(wantSvc, wantDst int) {
		t.Helper()
		all, err := c.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		nd := 0
		for _, s := range all {
			ds, err := c.Destinations(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			nd += len(ds)
		}
		adm := l.save()
		admd := 0
		for _, s := range adm {
			admd += len(s.Dests)
		}
		if len(all) != wantSvc || nd != wantDst || len(adm) != wantSvc || admd != wantDst {
			t.Errorf("pkg/ipvs sees %d services, %d destinations; ipvsadm %d, %d; want %d, %d",
				len(all), nd, len(adm), admd, wantSvc, wantDst)
		}
	}
	count(nsvc, nsvc*ndst)

	// DumpAll sees the same as Services + Destinations.
	all, err := c.DumpAll(ctx)
	if err != nil {
		t.Fatalf("DumpAll: %v", err)
	}
	svcsNow, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(svcsNow) {
		t.Fatalf("DumpAll has %d services, Services %d", len(all), len(svcsNow))
	}
	for i, sd := range all {
		ds, err := c.Destinations(ctx, svcsNow[i])
		if err != nil {
			t.Fatal(err)
		}
		if d := cmpDiff(svcsNow[i], sd.Service, ignoreStats); d != "" {
			t.Fatalf("DumpAll service %d (-want +got):\n%s", i, d)
		}
		if d := cmpDiff(ds, sd.Destinations, ignoreDestCounters); d != "" {
			t.Fatalf("DumpAll destinations of %v (-want +got):\n%s", sd.Service, d)
		}
	}

	// Update every weight to 42 and check one service both ways.
	ops = ops[:0]
	for i := range svcs {
		for j := 0; j < ndst; j++ {
			ops = append(ops, Op{Kind: OpUpdateDestination, Service: svcs[i],
				Destination: Destination{Address: netip.AddrFrom4([4]byte{10, 2, byte(i), byte(j + 1)}), Port: 8080, Weight: 42}})
		}
	}
	if errs, err := c.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	} else {
		checkErrs(errs, nil)
	}
	ds, err := c.Destinations(ctx, svcs[77])
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Weight != 42 {
			t.Errorf("after batched update: %v weight %d", d, d.Weight)
		}
	}
	for _, s := range l.save() {
		for _, d := range s.Dests {
			if d.Weight != "42" {
				t.Errorf("ipvsadm after batched update: %s -> %s weight %s", s.Addr, d.Addr, d.Weight)
			}
		}
	}

	// Remove one destination of each service, then half the services.
	ops = ops[:0]
	for i := range svcs {
		ops = append(ops, Op{Kind: OpRemoveDestination, Service: svcs[i],
			Destination: Destination{Address: netip.AddrFrom4([4]byte{10, 2, byte(i), 1}), Port: 8080}})
	}
	for i := 0; i < nsvc/2; i++ {
		ops = append(ops, Op{Kind: OpRemoveService, Service: svcs[i]})
	}
	if errs, err := c.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	} else {
		checkErrs(errs, nil)
	}
	count(nsvc-nsvc/2, (nsvc-nsvc/2)*(ndst-1))
}

// TestIntegrationNetNS checks that a Client bound to a namespace (by path
// and by descriptor) changes that namespace only.
func TestIntegrationNetNS(t *testing.T) {
	l := newLab(t)
	ctx := l.ctx()
	svc := Service{Protocol: UDP, Address: mustAddr("10.55.0.1"), Port: 53}
	if err := l.c.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if out := testenv.Run(t, "ipvsadm", "-Sn"); strings.Contains(out, "10.55.0.1") {
		t.Errorf("service leaked into the initial namespace:\n%s", out)
	}
	if s := l.save(); len(s) != 1 || s[0].Addr != "10.55.0.1:53" {
		t.Errorf("ipvsadm in the namespace: %+v", s)
	}

	other := testenv.NewNetns(t)
	f, err := os.Open("/run/netns/" + other.Name)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := New(&Config{NetNS: int(f.Fd())})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if all, err := c2.Services(ctx); err != nil || len(all) != 0 {
		t.Errorf("fresh namespace by fd: Services = %v, %v", all, err)
	}
	if err := c2.CreateService(ctx, svc); err != nil {
		t.Errorf("same service in another namespace: %v", err)
	}
	if out := other.Sh(t, "ipvsadm -Sn"); !strings.Contains(out, "10.55.0.1:53") {
		t.Errorf("ipvsadm in the second namespace:\n%s", out)
	}
}

// TestIntegrationScale creates 1000 services x 10 destinations, dumps and
// removes them, batched and one by one, and logs the time and allocations
// of each phase (numbers to read, not to assert; the benchmark is
// make bench-ipvs).
func TestIntegrationScale(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test skipped in -short mode")
	}
	l := newLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const nsvc, ndst = 1000, 10
	svcs := make([]Service, nsvc)
	var creates, removes []Op
	for i := range svcs {
		svcs[i] = Service{Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 100, byte(i >> 8), byte(i)}), Port: 80, Scheduler: "rr"}
		creates = append(creates, Op{Kind: OpCreateService, Service: svcs[i]})
		for j := 0; j < ndst; j++ {
			creates = append(creates, Op{Kind: OpCreateDestination, Service: svcs[i],
				Destination: Destination{Address: netip.AddrFrom4([4]byte{10, 200, byte(i >> 2), byte(j + (i&3)*10 + 1)}), Port: 8080, Weight: 1}})
		}
		removes = append(removes, Op{Kind: OpRemoveService, Service: svcs[i]})
	}
	measure := func(name string, f func() error) {
		t.Helper()
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		start := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		el := time.Since(start)
		runtime.ReadMemStats(&m1)
		t.Logf("%-22s %8.3f s %10d allocs %12d bytes", name, el.Seconds(), m1.Mallocs-m0.Mallocs, m1.TotalAlloc-m0.TotalAlloc)
	}
	applyAll := func(ops []Op) error {
		errs, err := l.c.Apply(ctx, ops)
		if err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	dumpAll := func() error {
		all, err := l.c.Services(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, s := range all {
			ds, err := l.c.Destinations(ctx, s)
			if err != nil {
				return err
			}
			n += len(ds)
		}
		if len(all) != nsvc || n != nsvc*ndst {
			return fmt.Errorf("dumped %d services, %d destinations", len(all), n)
		}
		return nil
	}
	measure("create (Apply)", func() error { return applyAll(creates) })
	if n := len(l.save()); n != nsvc {
		t.Errorf("ipvsadm sees %d services", n)
	}
	measure("dump", dumpAll)
	measure("dump (DumpAll)", func() error {
		all, err := l.c.DumpAll(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, sd := range all {
			n += len(sd.Destinations)
		}
		if len(all) != nsvc || n != nsvc*ndst {
			return fmt.Errorf("DumpAll: %d services, %d destinations", len(all), n)
		}
		return nil
	})
	measure("remove (Apply)", func() error { return applyAll(removes) })
	measure("create (one by one)", func() error {
		for _, op := range creates {
			var err error
			if op.Kind == OpCreateService {
				err = l.c.CreateService(ctx, op.Service)
			} else {
				err = l.c.CreateDestination(ctx, op.Service, op.Destination)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	measure("dump", dumpAll)
	measure("remove (one by one)", func() error {
		for _, s := range svcs {
			if err := l.c.RemoveService(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if n := len(l.save()); n != 0 {
		t.Errorf("ipvsadm sees %d services after removing all", n)
	}
}

// failingConn fails the Nth Receive with a timeout, as if the reply had
// been too slow, leaving the rest of the kernel's reply unread.
type failingConn struct {
	Conn
	failAt, n int
}

func (f *failingConn) Receive(b []byte) (int, error) {
	f.n++
	if f.n == f.failAt {
		return 0, os.ErrDeadlineExceeded
	}
	return f.Conn.Receive(b)
}

// TestIntegrationAbandonedDump abandons a multi-part dump half-way, as a
// timeout would, and checks the next dump is whole: the kernel runs one
// dump per socket and refuses another (EBUSY) until the first is read out.
func TestIntegrationAbandonedDump(t *testing.T) {
	l := newLab(t)
	ctx := l.ctx()
	raw, err := dial(&Config{NetNSPath: "/run/netns/" + l.ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	fc := &failingConn{Conn: raw}
	c, err := New(&Config{Conn: fc})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ops []Op
	for i := 0; i < 600; i++ { // several datagrams' worth
		ops = append(ops, Op{Kind: OpCreateService, Service: Service{Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80}})
	}
	if errs, err := c.Apply(ctx, ops); err != nil || errors.Join(errs...) != nil {
		t.Fatalf("Apply: %v %v", err, errors.Join(errs...))
	}
	fc.n, fc.failAt = 0, 2
	if _, err := c.Services(ctx); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dump with a failed read: %v", err)
	}
	all, err := c.Services(ctx)
	if err != nil || len(all) != 600 {
		t.Fatalf("next dump: %d services, %v; want 600", len(all), err)
	}
}
