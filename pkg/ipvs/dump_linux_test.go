//go:build linux

package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

// kernelLab is a fresh namespace with IPVS and a Client in it.
type kernelLab struct {
	ns   *testenv.Netns
	path string
	c    *ipvs.Client
}

func newKernelLab(t *testing.T, cfg ipvs.Config) *kernelLab {
	t.Helper()
	testenv.Integration(t, "ipvsadm")
	ns := testenv.NewNetns(t)
	l := &kernelLab{ns: ns, path: "/run/netns/" + ns.Name}
	l.c = l.client(t, cfg)
	return l
}

// client opens another Client in the lab's namespace.
func (l *kernelLab) client(t *testing.T, cfg ipvs.Config) *ipvs.Client {
	t.Helper()
	if cfg.Conn == nil {
		cfg.NetNSPath = l.path
	}
	c, err := ipvs.New(&cfg)
	if errors.Is(err, ipvs.ErrNoIPVS) {
		testenv.Skip(t, "kernel without IPVS: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// admCount counts services and destinations in `ipvsadm -Sn`.
func (l *kernelLab) admCount(t *testing.T) (svcs, dests int) {
	t.Helper()
	for _, line := range strings.Split(l.ns.Sh(t, "ipvsadm -Sn"), "\n") {
		switch {
		case strings.HasPrefix(line, "-A "):
			svcs++
		case strings.HasPrefix(line, "-a "):
			dests++
		}
	}
	return svcs, dests
}

func bigSvc(i int) ipvs.Service {
	return ipvs.Service{Protocol: ipvs.TCP, Address: netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i)}), Port: 80, Scheduler: "rr"}
}

func createServices(t *testing.T, c *ipvs.Client, from, n int) {
	t.Helper()
	mustApply(t, c, serviceOps(ipvs.OpCreateService, bigSvc, from, n))
}

// spreadSvc(k), for k < 100, are services whose last address bytes cover
// all 256 values: the kernel hashes a service by its address's last byte
// XOR a per-namespace constant, so consecutive addresses can all land
// ahead of a dump's position, or all behind it; these land on both sides.
func spreadSvc(k int) ipvs.Service { return bigSvc(6000 + 3*k) }

// TestIntegrationDeadlines gives a 5,000-service dump and a 6,000-op Apply
// deadlines far shorter than they take: each stops with
// context.DeadlineExceeded where they used to run to the end (the dump's
// parts are always queued, so the socket deadline alone never fired).
func TestIntegrationDeadlines(t *testing.T) {
	l := newKernelLab(t, ipvs.Config{})
	createServices(t, l.c, 0, 5000)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	start := time.Now()
	all, err := l.c.Services(ctx)
	took := time.Since(start)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || all != nil {
		t.Errorf("5,000-service dump with a 5 ms deadline: %d services, %v; want context.DeadlineExceeded", len(all), err)
	}
	t.Logf("dump with a 5 ms deadline returned after %v", took)
	full, err := l.c.Services(context.Background())
	if err != nil || len(full) != 5000 {
		t.Fatalf("next dump: %d services, %v", len(full), err)
	}

	ops := serviceOps(ipvs.OpCreateService, bigSvc, 5000, 6000)
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Millisecond)
	start = time.Now()
	errs, err := l.c.Apply(ctx, ops)
	took = time.Since(start)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("6,000-op Apply with a 2 ms deadline: %v, want context.DeadlineExceeded", err)
	}
	applied := 0
	for i, e := range errs {
		switch {
		case e == nil:
			applied++
		case !errors.Is(e, ipvs.ErrNotApplied) || !errors.Is(e, context.DeadlineExceeded):
			t.Errorf("op %d: %v, want ErrNotApplied and context.DeadlineExceeded", i, e)
		}
	}
	t.Logf("Apply with a 2 ms deadline returned after %v with %d of 6000 ops applied", took, applied)
	if applied == len(ops) {
		t.Errorf("every op applied despite the deadline")
	}
	// What Apply reports applied is exactly what the kernel has.
	if n, _ := l.admCount(t); n != 5000+applied {
		t.Errorf("ipvsadm sees %d services, want 5000 + %d applied", n, applied)
	}
}

// TestIntegrationDumpUnderChange changes the services while a dump of
// 2,000 is half read, from another socket: services created behind the
// dump's position make the kernel repeat entries (reported as
// ErrDumpInconsistent, and taken out of the list); services removed behind
// it make it skip others, silently. The kernel's service table is shared by
// every network namespace, so changes in another namespace do the same.
func TestIntegrationDumpUnderChange(t *testing.T) {
	l := newKernelLab(t, ipvs.Config{})
	createServices(t, l.c, 0, 2000)
	other := newKernelLab(t, ipvs.Config{})

	// How many reads a whole dump takes, to change things half way.
	raw, err := ipvs.DialNetNS(l.path)
	if err != nil {
		t.Fatal(err)
	}
	h := &hookConn{Conn: raw, hook: func() {}}
	c := l.client(t, ipvs.Config{Conn: h})
	if all, err := c.Services(context.Background()); err != nil || len(all) != 2000 {
		t.Fatalf("dump: %d, %v", len(all), err)
	}
	reads := h.n
	t.Logf("a 2,000-service dump takes %d reads", reads)

	for _, tc := range []struct {
		name   string
		change func(t *testing.T)
		repeat bool // an ErrDumpInconsistent is expected
	}{
		{"create here", func(t *testing.T) { mustApply(t, l.c, serviceOps(ipvs.OpCreateService, spreadSvc, 0, 100)) }, true},
		{"remove here", func(t *testing.T) { mustApply(t, l.c, serviceOps(ipvs.OpRemoveService, spreadSvc, 0, 100)) }, false},
		{"create in another namespace", func(t *testing.T) { mustApply(t, other.c, serviceOps(ipvs.OpCreateService, spreadSvc, 0, 100)) }, true},
		{"remove in another namespace", func(t *testing.T) { mustApply(t, other.c, serviceOps(ipvs.OpRemoveService, spreadSvc, 0, 100)) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.mu.Lock()
			h.n, h.after, h.hook = 0, reads/2, func() { tc.change(t) }
			h.mu.Unlock()
			all, err := c.Services(context.Background())
			if tc.repeat && !errors.Is(err, ipvs.ErrDumpInconsistent) {
				t.Errorf("dump: %d services, %v; want ErrDumpInconsistent", len(all), err)
			}
			if !tc.repeat && err != nil {
				t.Errorf("dump: %v", err)
			}
			seen := map[ipvs.ServiceKey]bool{}
			for _, s := range all {
				if seen[s.Key()] {
					t.Errorf("%v listed twice", s)
				}
				seen[s.Key()] = true
			}
			missing := 0
			for i := 0; i < 2000; i++ {
				if !seen[bigSvc(i).Key()] {
					missing++
				}
			}
			t.Logf("%v; of the 2,000 services there throughout, %d missing", err, missing)
			if !tc.repeat && missing == 0 {
				t.Errorf("no service missing after 100 were removed behind the dump's position")
			}
		})
	}
}

// TestIntegrationEqual checks Equal against the kernel for what the other
// integration tests do not create: a /0 mask, a netmask and a timeout on a
// service that is not persistent, a tunnel port on IPIP, masquerade to a
// local address; and that an edit by ipvsadm is seen.
func TestIntegrationEqual(t *testing.T) {
	l := newKernelLab(t, ipvs.Config{})
	ctx := context.Background()
	l.ns.Sh(t, "ip link add d0 type dummy && ip link set d0 up && ip addr add 10.40.1.254/24 dev d0")
	svcs := []ipvs.Service{
		{Protocol: ipvs.TCP, Address: addr("10.40.0.1"), Port: 80, Flags: ipvs.Persistent, Timeout: 30, Netmask: ipvs.ZeroNetmask},
		{Protocol: ipvs.TCP, Address: addr("10.40.0.2"), Port: 80, Timeout: 30, Netmask: 16},
		{Protocol: ipvs.UDP, Address: addr("2001:db8::40"), Port: 53, Scheduler: "none"},
	}
	for _, s := range svcs {
		if err := l.c.CreateService(ctx, s); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		back, err := l.c.Service(ctx, s)
		if err != nil || !s.Equal(back) {
			t.Errorf("%+v read back %+v (%v): not Equal", s, back, err)
		}
	}
	if out := l.ns.Sh(t, "ipvsadm -Sn"); !strings.Contains(out, "-M 0.0.0.0") {
		t.Errorf("ipvsadm does not see the /0 mask:\n%s", out)
	}
	dests := []ipvs.Destination{
		{Address: addr("10.40.1.254"), Port: 80, Forward: ipvs.Masquerade, Weight: 1},
		{Address: addr("10.40.1.2"), Port: 80, Forward: ipvs.Tunnel, TunnelType: ipvs.IPIP, TunnelPort: 6080, Weight: 1},
		{Address: addr("10.40.1.3"), Port: 80, Forward: ipvs.DirectRoute, Weight: 3, UpperThreshold: 7},
	}
	for _, d := range dests {
		if err := l.c.CreateDestination(ctx, svcs[1], d); err != nil {
			t.Fatalf("%v: %v", d, err)
		}
	}
	back, err := l.c.Destinations(ctx, svcs[1])
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[ipvs.DestinationKey]ipvs.Destination{}
	for _, d := range back {
		byKey[d.Key()] = d
	}
	for _, d := range dests {
		if !d.Equal(byKey[d.Key()]) {
			t.Errorf("%+v read back %+v: not Equal", d, byKey[d.Key()])
		}
	}
	// A weight and a scheduler edited by hand are seen.
	l.ns.Sh(t, "ipvsadm -e -t 10.40.0.2:80 -r 10.40.1.3:80 -g -w 9 -x 7 && ipvsadm -E -t 10.40.0.1:80 -s wrr -p 30 -M 0.0.0.0")
	back, _ = l.c.Destinations(ctx, svcs[1])
	for _, d := range back {
		if d.Key() == dests[2].Key() && dests[2].Equal(d) {
			t.Errorf("a weight edited by ipvsadm went unseen: %+v", d)
		}
	}
	if s, _ := l.c.Service(ctx, svcs[0]); svcs[0].Equal(s) {
		t.Errorf("a scheduler edited by ipvsadm went unseen: %+v", s)
	}
}

// TestIntegrationKernelFacts checks what doc.go says of the kernel beyond
// the other tests: destinations are listed newest first, 8 of them come
// in one part of a dump (read with the dump's end in one system call) and
// 40 do not, and a new namespace whose lo has never been up refuses every
// IPv4 destination with a bare EINVAL, which the error's hint explains.
func TestIntegrationKernelFacts(t *testing.T) {
	l := newKernelLab(t, ipvs.Config{})
	ctx := context.Background()
	raw, err := ipvs.DialNetNS(l.path)
	if err != nil {
		t.Fatal(err)
	}
	h := &hookConn{Conn: raw, hook: func() {}}
	c := l.client(t, ipvs.Config{Conn: h})
	s, s40 := bigSvc(1), bigSvc(2)
	for _, x := range []ipvs.Service{s, s40} {
		if err := c.CreateService(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	var want []netip.Addr
	for i := 1; i <= 40; i++ {
		d := ipvs.Destination{Address: netip.AddrFrom4([4]byte{10, 50, 0, byte(i)}), Port: 80, Weight: 1}
		if err := c.CreateDestination(ctx, s40, d); err != nil {
			t.Fatal(err)
		}
		if i <= 8 {
			if err := c.CreateDestination(ctx, s, d); err != nil {
				t.Fatal(err)
			}
			want = append([]netip.Addr{d.Address}, want...)
		}
	}
	h.n = 0
	ds, err := c.Destinations(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if h.n != 1 {
		t.Errorf("8 destinations took %d reads, want 1: one part and the dump's end", h.n)
	}
	var got []netip.Addr
	for _, d := range ds {
		got = append(got, d.Address)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("destination order (-newest first +got):\n%s", d)
	}
	h.n = 0
	if ds, err := c.Destinations(ctx, s40); err != nil || len(ds) != 40 || h.n < 2 {
		t.Errorf("40 destinations: %d in %d reads, %v; want more than one part", len(ds), h.n, err)
	}

	name := fmt.Sprintf("ipvs-lo-down-%d", os.Getpid())
	testenv.Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	down, err := ipvs.New(&ipvs.Config{NetNSPath: "/run/netns/" + name})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if err := down.CreateService(ctx, s); err != nil {
		t.Fatal(err)
	}
	err = down.CreateDestination(ctx, s, ipvs.Destination{Address: addr("10.50.0.9"), Port: 80, Weight: 1})
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "lo") {
		t.Errorf("destination in a namespace whose lo was never up: %v; want EINVAL and the hint", err)
	}
}
