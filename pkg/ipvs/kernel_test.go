package ipvs_test

// Tests of the client against ipvstest's fake kernel: batching, sequence
// matching, multi-part dumps, error mapping, refusals, deadlines and
// timeouts, without root.

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/ipvs/ipvstest"
)

// newClient returns a Client on a new Conn of k (on cfg.Conn if set).
func newClient(t *testing.T, k *ipvstest.Kernel, cfg ipvs.Config) *ipvs.Client {
	t.Helper()
	if cfg.Conn == nil {
		cfg.Conn = k.Conn()
	}
	c, err := ipvs.New(&cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func svc(i int) ipvs.Service {
	return ipvs.Service{Protocol: ipvs.TCP, Address: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 80, Scheduler: "rr"}
}

func dst(i, j int) ipvs.Destination {
	return ipvs.Destination{Address: netip.AddrFrom4([4]byte{10, 1, byte(i), byte(j + 1)}), Port: 80, Weight: 1}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func diff(want, got any, opts ...cmp.Option) string {
	opts = append(opts, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }))
	return cmp.Diff(want, got, opts...)
}

var noStats = cmpopts.IgnoreFields(ipvs.Service{}, "Stats")

// serviceOps returns ops of kind for the services of(from) to of(from+n-1).
func serviceOps(kind ipvs.OpKind, of func(int) ipvs.Service, from, n int) []ipvs.Op {
	ops := make([]ipvs.Op, 0, n)
	for i := from; i < from+n; i++ {
		ops = append(ops, ipvs.Op{Kind: kind, Service: of(i)})
	}
	return ops
}

func mustApply(t *testing.T, c *ipvs.Client, ops []ipvs.Op) {
	t.Helper()
	errs, err := c.Apply(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestNoIPVSFamily(t *testing.T) {
	k := ipvstest.NewKernel()
	k.Unload()
	conn := k.Conn()
	_, err := ipvs.New(&ipvs.Config{Conn: conn})
	if !errors.Is(err, ipvs.ErrNoIPVS) || !strings.Contains(err.Error(), "modprobe ip_vs") {
		t.Fatalf("New without the family: %v, want ErrNoIPVS naming modprobe ip_vs", err)
	}
	if !conn.Closed() {
		t.Errorf("New did not close the conn it failed with")
	}
}

func TestErrorMapping(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, ipvstest.NewKernel(), ipvs.Config{})
	s := svc(1)
	if err := c.CreateService(ctx, s); err != nil {
		t.Fatal(err)
	}
	nosuch := ipvs.Service{Protocol: ipvs.TCP, Address: addr("10.9.0.1"), Port: 1, Scheduler: "nosuch"}
	tests := []struct {
		name  string
		err   error
		is    error
		errno syscall.Errno
	}{
		{"EEXIST", c.CreateService(ctx, s), os.ErrExist, syscall.EEXIST},
		{"ESRCH", c.RemoveService(ctx, svc(2)), os.ErrNotExist, syscall.ESRCH},
		{"ENOENT", c.CreateService(ctx, nosuch), os.ErrNotExist, syscall.ENOENT},
		{"dests of missing service", func() error { _, err := c.Destinations(ctx, svc(3)); return err }(), os.ErrNotExist, syscall.ESRCH},
		{"get missing", func() error { _, err := c.Service(ctx, svc(3)); return err }(), os.ErrNotExist, syscall.ESRCH},
		{"missing destination", c.RemoveDestination(ctx, s, dst(1, 1)), os.ErrNotExist, syscall.ENOENT},
	}
	for _, tc := range tests {
		var oe *ipvs.OpError
		if !errors.As(tc.err, &oe) || !errors.Is(tc.err, tc.is) || !errors.Is(tc.err, tc.errno) {
			t.Errorf("%s: %v: want an *OpError that is %v and %v", tc.name, tc.err, tc.is, tc.errno)
		}
	}
	if err := c.CreateService(ctx, nosuch); !strings.Contains(err.Error(), "unknown scheduler") {
		t.Errorf("ENOENT on create lacks the scheduler hint: %v", err)
	}
}

// TestKernelRefusalsMatch checks that the bare EINVAL and ERANGE the kernel
// answers match os.ErrInvalid and their errno, and name a likely cause.
func TestKernelRefusalsMatch(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k, ipvs.Config{})
	s6 := ipvs.Service{Protocol: ipvs.TCP, Address: addr("2001:db8::1"), Port: 80}
	if err := c.CreateService(ctx, s6); err != nil {
		t.Fatal(err)
	}
	if err := c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.Master, Interface: "eth0"}); err != nil {
		t.Fatal(err)
	}
	tun4 := ipvs.Destination{Address: addr("10.0.1.9"), Port: 80, Forward: ipvs.Tunnel, Weight: 1}
	err := c.CreateDestination(ctx, s6, tun4)
	if !errors.Is(err, os.ErrInvalid) || !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "sync daemon") {
		t.Errorf("mixed family with a daemon running: %v; want os.ErrInvalid, EINVAL and the daemon named", err)
	}
	if err := c.StopDaemon(ctx, ipvs.Master); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDestination(ctx, s6, tun4); err != nil {
		t.Fatalf("mixed family tunnel without a daemon: %v", err)
	}
	k.FailNext(ipvstest.CmdNewDest, 1, syscall.ERANGE)
	err = c.CreateDestination(ctx, s6, ipvs.Destination{Address: addr("2001:db8::2"), Port: 80})
	if !errors.Is(err, os.ErrInvalid) || !errors.Is(err, syscall.ERANGE) || !strings.Contains(err.Error(), "threshold") {
		t.Errorf("kernel ERANGE: %v; want os.ErrInvalid, ERANGE and a hint", err)
	}
	k.FailNext(ipvstest.CmdNewDest, 1, syscall.EINVAL)
	err = c.CreateDestination(ctx, s6, ipvs.Destination{Address: addr("2001:db8::2"), Port: 80})
	if !errors.Is(err, os.ErrInvalid) || !strings.Contains(err.Error(), "unicast") {
		t.Errorf("kernel EINVAL: %v; want os.ErrInvalid and a hint", err)
	}
}

// TestRefusedBeforeSending checks that values the kernel would store as
// they come (or cut, or answer with a bare errno) are refused before a
// request is sent, alone and in Apply, where the others go through.
func TestRefusedBeforeSending(t *testing.T) {
	ctx := context.Background()
	base := ipvs.Service{Protocol: ipvs.TCP, Address: addr("10.0.0.1"), Port: 80}
	d := ipvs.Destination{Address: addr("10.0.1.1"), Port: 80, Weight: 1}
	svcWith := func(f func(*ipvs.Service)) ipvs.Service { s := base; f(&s); return s }
	dstWith := func(f func(*ipvs.Destination)) ipvs.Destination { x := d; f(&x); return x }
	tun := func(f func(*ipvs.Destination)) ipvs.Destination {
		return dstWith(func(x *ipvs.Destination) { x.Forward, x.TunnelType, x.TunnelPort = ipvs.Tunnel, ipvs.GUE, 6080; f(x) })
	}
	svcCases := []struct {
		name string
		s    ipvs.Service
		text string
	}{
		{"protocol 99", svcWith(func(s *ipvs.Service) { s.Protocol = 99 }), "protocol"},
		{"no protocol", svcWith(func(s *ipvs.Service) { s.Protocol = 0 }), "protocol"},
		{"family 7", svcWith(func(s *ipvs.Service) { s.Family = 7 }), "family"},
		{"zoned address", ipvs.Service{Protocol: ipvs.TCP, Address: addr("fe80::1%eth0"), Port: 80}, "zone"},
		{"unknown flag", svcWith(func(s *ipvs.Service) { s.Flags = 0x40 }), "flags"},
		{"netmask /33", svcWith(func(s *ipvs.Service) { s.Netmask = 33 }), "netmask"},
		{"v6 /0 netmask", ipvs.Service{Protocol: ipvs.UDP, Address: addr("2001:db8::1"), Port: 53, Netmask: ipvs.ZeroNetmask}, "netmask"},
		{"persistence timeout wraps", svcWith(func(s *ipvs.Service) { s.Flags, s.Timeout = ipvs.Persistent, ipvs.MaxPersistenceTimeout+1 }), "timeout"},
	}
	dstCases := []struct {
		name  string
		d     ipvs.Destination
		errno syscall.Errno
		text  string
	}{
		{"forward 5", dstWith(func(x *ipvs.Destination) { x.Forward = 5 }), syscall.EINVAL, "forwarding method"},
		{"forward 8 (read back as masq)", dstWith(func(x *ipvs.Destination) { x.Forward = 8 }), syscall.EINVAL, "forwarding method"},
		{"tunnel type 9", tun(func(x *ipvs.Destination) { x.TunnelType = 9 }), syscall.EINVAL, "tunnel type"},
		{"tunnel flags 0x8", tun(func(x *ipvs.Destination) { x.TunnelFlags = 0x8 }), syscall.EINVAL, "tunnel flags"},
		{"gue without port", tun(func(x *ipvs.Destination) { x.TunnelPort = 0 }), syscall.EINVAL, "port"},
		{"weight 2^31", dstWith(func(x *ipvs.Destination) { x.Weight = 1 << 31 }), syscall.ERANGE, "weight"},
		{"lower above upper", dstWith(func(x *ipvs.Destination) { x.UpperThreshold, x.LowerThreshold = 5, 10 }), syscall.ERANGE, "threshold"},
		{"lower without upper", dstWith(func(x *ipvs.Destination) { x.LowerThreshold = 10 }), syscall.ERANGE, "threshold"},
		{"mixed family masq", ipvs.Destination{Address: addr("2001:db8::9"), Port: 80, Weight: 1}, syscall.EINVAL, "tunnel"},
		{"multicast", dstWith(func(x *ipvs.Destination) { x.Address = addr("224.0.0.5") }), syscall.EINVAL, "unicast"},
		{"no address", dstWith(func(x *ipvs.Destination) { x.Address = netip.Addr{} }), syscall.EINVAL, "address"},
	}
	check := func(t *testing.T, what string, err error, errno syscall.Errno, text string) {
		t.Helper()
		var oe *ipvs.OpError
		if !errors.As(err, &oe) || !errors.Is(err, os.ErrInvalid) || !errors.Is(err, errno) || !strings.Contains(err.Error(), text) {
			t.Errorf("%s: %v; want an *OpError, os.ErrInvalid, %v and %q", what, err, errno, text)
		}
	}

	k := ipvstest.NewKernel()
	c := newClient(t, k, ipvs.Config{})
	if err := c.CreateService(ctx, base); err != nil {
		t.Fatal(err)
	}
	sent := k.Count(0)
	for _, tc := range svcCases {
		check(t, "create "+tc.name, c.CreateService(ctx, tc.s), syscall.EINVAL, tc.text)
		if tc.s.Key() == base.Key() {
			check(t, "update "+tc.name, c.UpdateService(ctx, tc.s), syscall.EINVAL, tc.text)
		}
	}
	for _, tc := range dstCases {
		check(t, "create "+tc.name, c.CreateDestination(ctx, base, tc.d), tc.errno, tc.text)
		check(t, "update "+tc.name, c.UpdateDestination(ctx, base, tc.d), tc.errno, tc.text)
	}
	if n := k.Count(0); n != sent {
		t.Errorf("%d requests reached the kernel, want none", n-sent)
	}

	// The same in one Apply, between good ops that go through.
	var ops []ipvs.Op
	want := map[int]syscall.Errno{}
	for i, tc := range svcCases {
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: svc(100 + i)})
		want[len(ops)] = syscall.EINVAL
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: tc.s})
	}
	for i, tc := range dstCases {
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: base, Destination: dst(9, i)})
		want[len(ops)] = tc.errno
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: base, Destination: tc.d})
	}
	errs, err := c.Apply(ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if errno, bad := want[i]; bad {
			check(t, "Apply op "+ops[i].Kind.String(), e, errno, "")
		} else if e != nil {
			t.Errorf("Apply op %d (%v): %v", i, ops[i].Kind, e)
		}
	}
	state := k.State()
	if len(state) != 1+len(svcCases) {
		t.Errorf("kernel has %d services after Apply, want %d", len(state), 1+len(svcCases))
	}
	for _, sd := range state {
		if sd.Service.Key() == base.Key() && len(sd.Destinations) != len(dstCases) {
			t.Errorf("kernel has %d destinations after Apply, want %d", len(sd.Destinations), len(dstCases))
		}
	}
}

func TestSetTimeoutsWholeSeconds(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k, ipvs.Config{})
	for _, to := range []ipvs.Timeouts{
		{TCP: 400 * time.Millisecond},
		{UDP: 1500 * time.Millisecond},
		{TCPFin: -time.Second},
	} {
		err := c.SetTimeouts(ctx, to)
		if !errors.Is(err, os.ErrInvalid) {
			t.Errorf("SetTimeouts(%+v) = %v, want os.ErrInvalid", to, err)
		}
	}
	if n := k.Count(ipvstest.CmdSetConfig); n != 0 {
		t.Errorf("%d SET_CONFIG requests sent for refused timeouts", n)
	}
	if err := c.SetTimeouts(ctx, ipvs.Timeouts{TCP: 2 * time.Second, UDP: time.Minute}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Timeouts(ctx)
	if want := (ipvs.Timeouts{TCP: 2 * time.Second, TCPFin: 120 * time.Second, UDP: time.Minute}); err != nil || got != want {
		t.Errorf("Timeouts = %+v, %v; want %+v", got, err, want)
	}
}

func TestApplyBatching(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k, ipvs.Config{BatchOps: 1000})
	var ops []ipvs.Op
	want := map[int]error{}
	for i := 0; i < 2500; i++ {
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: svc(i)})
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: svc(i), Destination: ipvs.Destination{Address: addr("10.1.0.1"), Port: 80, Weight: 1}})
	}
	ops[10].Service = svc(3) // duplicate create
	want[10] = os.ErrExist
	ops[11].Service = svc(99999) // destination of a service that does not exist
	want[11] = os.ErrNotExist
	ops[2001].Service.Family = 3 // refused before sending
	want[2001] = os.ErrInvalid
	ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: ipvs.Service{Family: 77}})
	want[len(ops)-1] = os.ErrInvalid // invalid last op: the ACK moves to the one before

	errs, err := c.Apply(ctx, ops)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for i, e := range errs {
		if w, ok := want[i]; ok != (e != nil) || ok && !errors.Is(e, w) {
			t.Errorf("op %d: %v, want %v", i, e, w)
		}
	}
	// 5000 valid requests (less one refused locally) in chunks of 1000: 5 sendmsg calls.
	sends := k.Sendmsgs()
	if len(sends) != 5 {
		t.Errorf("%d sendmsg calls, want 5", len(sends))
	}
	for i, batch := range sends {
		acks := 0
		for _, r := range batch {
			if r.Flags&ipvstest.FlagAck != 0 {
				acks++
			}
		}
		if last := batch[len(batch)-1]; acks != 1 || last.Flags&ipvstest.FlagAck == 0 {
			t.Errorf("sendmsg %d: %d requests, %d with NLM_F_ACK (last: %v); want only the last", i, len(batch), acks, last.Flags&ipvstest.FlagAck != 0)
		}
	}
	all, err := c.Services(ctx)
	if err != nil || len(all) != 2500-1 {
		// svc(5) was never created: op 10 was a duplicate of svc(3) instead.
		t.Errorf("Services: %d, %v; want 2499", len(all), err)
	}
}

func TestDumpMultipart(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	k.SetDumpPartSize(7)
	c := newClient(t, k, ipvs.Config{})
	mustApply(t, c, serviceOps(ipvs.OpCreateService, svc, 0, 250))
	all, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 {
		t.Fatalf("dump reassembled %d services, want 250", len(all))
	}
	got := map[ipvs.ServiceKey]ipvs.Service{}
	for _, s := range all {
		got[s.Key()] = s
	}
	for i := 0; i < 250; i++ {
		want := svc(i)
		want.Family, want.Netmask = ipvs.IPv4, 32
		if d := diff(want, got[want.Key()], noStats); d != "" {
			t.Fatalf("service %d (-want +got):\n%s", i, d)
		}
	}
	// Every part but the last holds 7 services: 36 parts and a DONE, read
	// one by one (the fake answers one datagram per Receive).
	if n := k.Count(ipvstest.CmdGetService); n != 1 {
		t.Errorf("%d GET_SERVICE requests for one dump", n)
	}
}

func TestDumpInterrupted(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k, ipvs.Config{})
	for i := 0; i < 10; i++ {
		if err := c.CreateService(ctx, svc(i)); err != nil {
			t.Fatal(err)
		}
	}
	k.InterruptNextDump()
	if all, err := c.Services(ctx); !errors.Is(err, ipvs.ErrDumpInterrupted) || len(all) != 10 {
		t.Fatalf("interrupted dump: %d services, %v; want all 10 and ErrDumpInterrupted", len(all), err)
	}
	// The dump was read to its end: the next one is whole.
	if all, err := c.Services(ctx); err != nil || len(all) != 10 {
		t.Fatalf("next dump: %d, %v", len(all), err)
	}
}

// TestDumpRepeats checks that an entry a dump lists twice is reported, in
// every kind of dump, and taken out of the list.
func TestDumpRepeats(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k, ipvs.Config{})
	var ops []ipvs.Op
	for i := 0; i < 40; i++ {
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: svc(i)})
		for j := 0; j < 3; j++ {
			ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: svc(i), Destination: dst(i, j)})
		}
	}
	mustApply(t, c, ops)

	k.RepeatInDumps(svc(7).Key(), 1)
	all, err := c.Services(ctx)
	if !errors.Is(err, ipvs.ErrDumpInconsistent) || len(all) != 40 {
		t.Errorf("dump with a repeat: %d services, %v; want 40 and ErrDumpInconsistent", len(all), err)
	}
	if all, err := c.Services(ctx); err != nil || len(all) != 40 {
		t.Errorf("next dump: %d services, %v; want 40", len(all), err)
	}

	k.RepeatDestinationInDumps(svc(3).Key(), dst(3, 1).Key(), 1)
	ds, err := c.Destinations(ctx, svc(3))
	if !errors.Is(err, ipvs.ErrDumpInconsistent) || len(ds) != 3 {
		t.Errorf("destinations with a repeat: %d, %v; want 3 and ErrDumpInconsistent", len(ds), err)
	}

	k.RepeatDestinationInDumps(svc(5).Key(), dst(5, 0).Key(), 1)
	sds, err := c.DumpAll(ctx)
	if !errors.Is(err, ipvs.ErrDumpInconsistent) || len(sds) != 40 {
		t.Errorf("DumpAll with a repeated destination: %d services, %v", len(sds), err)
	}
	for _, sd := range sds {
		if len(sd.Destinations) != 3 {
			t.Errorf("DumpAll: %v has %d destinations, want 3", sd.Service, len(sd.Destinations))
		}
	}

	// A miss cannot be seen in the dump; Service confirms the service is there.
	k.MissInDumps(svc(9).Key(), 1)
	if all, err := c.Services(ctx); err != nil || len(all) != 39 {
		t.Errorf("dump with a miss: %d services, %v; want 39 without an error (the kernel says nothing)", len(all), err)
	}
	if _, err := c.Service(ctx, svc(9)); err != nil {
		t.Errorf("Service of the missed service: %v", err)
	}
}

// TestDumpUnderChange changes the services while a dump is being read, on
// another socket, and checks what the kernel's resume-by-position does:
// services created behind the position repeat entries, which Services
// reports; services removed behind it make it skip others, which nothing
// can report.
func TestDumpUnderChange(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	k.SetDumpPartSize(10)
	var hook func()
	hooked := &hookConn{Conn: k.Conn(), after: 5, hook: func() { hook() }}
	c := newClient(t, k, ipvs.Config{Conn: hooked})
	mustApply(t, c, serviceOps(ipvs.OpCreateService, svc, 0, 500))

	hook = func() {
		for i := 1000; i < 1050; i++ {
			if err := k.AddService(svc(i)); err != nil {
				t.Error(err)
			}
		}
	}
	hooked.arm()
	all, err := c.Services(ctx)
	if !errors.Is(err, ipvs.ErrDumpInconsistent) {
		t.Errorf("dump while services were created: %d services, %v; want ErrDumpInconsistent", len(all), err)
	}
	seen := map[ipvs.ServiceKey]bool{}
	for _, s := range all {
		if seen[s.Key()] {
			t.Errorf("%v listed twice", s)
		}
		seen[s.Key()] = true
	}

	hook = func() {
		for i := 1000; i < 1050; i++ {
			if err := k.RemoveService(svc(i)); err != nil {
				t.Error(err)
			}
		}
	}
	hooked.arm()
	all, err = c.Services(ctx)
	if err != nil {
		t.Errorf("dump while services were removed: %v", err)
	}
	missing := 0
	seen = map[ipvs.ServiceKey]bool{}
	for _, s := range all {
		seen[s.Key()] = true
	}
	for i := 0; i < 500; i++ {
		if !seen[svc(i).Key()] {
			missing++
		}
	}
	if missing == 0 {
		t.Errorf("no service missed from a dump while 50 were removed behind its position")
	}
	t.Logf("a dump while 50 services were removed missed %d of the 500 that stayed", missing)
}

// hookConn runs hook once, after the after-th Receive that follows arm.
type hookConn struct {
	ipvs.Conn
	after int
	hook  func()
	mu    sync.Mutex
	n     int
}

func (h *hookConn) arm() { h.mu.Lock(); h.n = 0; h.mu.Unlock() }

func (h *hookConn) Receive(b []byte) (int, error) {
	n, err := h.Conn.Receive(b)
	h.mu.Lock()
	h.n++
	run := h.n == h.after
	h.mu.Unlock()
	if run {
		h.hook()
	}
	return n, err
}

func TestTimeoutAndStaleReplies(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k, ipvs.Config{Timeout: 50 * time.Millisecond})
	k.StallReplies(1)
	err := c.CreateService(ctx, svc(1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled reply: %v, want os.ErrDeadlineExceeded", err)
	}
	// The stale ACK arrives first now; it must not be taken for this one's.
	if err := c.CreateService(ctx, svc(1)); !errors.Is(err, os.ErrExist) {
		t.Fatalf("after a timeout: %v, want os.ErrExist (the stalled create did happen)", err)
	}
}

// TestContextCancelAndClose waits for the call to block in Receive (the
// fake kernel says when) before cancelling it or closing the client.
func TestContextCancelAndClose(t *testing.T) {
	k := ipvstest.NewKernel()
	c := newClient(t, k, ipvs.Config{Timeout: -1})
	k.Block()
	blocked := func(f func() error) chan error {
		done := make(chan error, 1)
		select { // drop a stale signal
		case <-k.Waiting():
		default:
		}
		go func() { done <- f() }()
		<-k.Waiting()
		return done
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := blocked(func() error { return c.CreateService(ctx, svc(1)) })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := c.CreateService(ctx, svc(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline: %v, want context.DeadlineExceeded", err)
	}
	done = blocked(func() error { return c.CreateService(context.Background(), svc(3)) })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ipvs.ErrClosed) {
		t.Errorf("call blocked at Close: %v, want ErrClosed", err)
	}
	if err := c.Flush(context.Background()); !errors.Is(err, ipvs.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// cancelConn runs f after the n-th call of Send or Receive, whichever
// the test counts: a context ends at a known point of a call whose replies
// are all already there, as a dump's parts and a batch's ACK are.
type cancelConn struct {
	ipvs.Conn
	sends, recvs int
	atSend       int // run f after this Send (0: never)
	atRecv       int // or after this Receive
	f            func()
}

func (c *cancelConn) Send(b []byte) error {
	err := c.Conn.Send(b)
	if c.sends++; c.sends == c.atSend {
		c.f()
	}
	return err
}

func (c *cancelConn) Receive(b []byte) (int, error) {
	n, err := c.Conn.Receive(b)
	if c.recvs++; c.recvs == c.atRecv {
		c.f()
	}
	return n, err
}

// TestDeadlinesHonoured ends the context in the middle of a dump whose
// parts are always ready, and of an Apply of many batches: each call stops
// there, where it used to read or send to the end.
func TestDeadlinesHonoured(t *testing.T) {
	k := ipvstest.NewKernel()
	k.SetDumpPartSize(10)
	setup := newClient(t, k, ipvs.Config{})
	mustApply(t, setup, serviceOps(ipvs.OpCreateService, svc, 0, 600))

	t.Run("dump", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		conn := &cancelConn{Conn: k.Conn(), atRecv: 3, f: cancel}
		c := newClient(t, k, ipvs.Config{Conn: conn, Timeout: -1})
		all, err := c.Services(ctx)
		if !errors.Is(err, context.Canceled) || all != nil {
			t.Errorf("dump cancelled after its third part: %d services, %v; want context.Canceled", len(all), err)
		}
		if conn.recvs > 4 {
			t.Errorf("%d parts read after the context ended", conn.recvs-3)
		}
		// The abandoned dump is drained: the next one is whole.
		if all, err := c.Services(context.Background()); err != nil || len(all) != 600 {
			t.Errorf("next dump: %d services, %v", len(all), err)
		}
	})
	t.Run("dump deadline", func(t *testing.T) {
		// The deadline passes while the third part is read: the conn
		// waits for it (the context's Done) before handing the part over.
		var short context.Context
		conn := &cancelConn{Conn: k.Conn(), atRecv: 3, f: func() { <-short.Done() }}
		c := newClient(t, k, ipvs.Config{Conn: conn, Timeout: -1})
		short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		all, err := c.Services(short)
		if !errors.Is(err, context.DeadlineExceeded) || all != nil {
			t.Errorf("dump past its deadline: %d services, %v; want context.DeadlineExceeded", len(all), err)
		}
		if conn.recvs > 4 {
			t.Errorf("%d parts read after the deadline", conn.recvs-3)
		}
	})
	t.Run("apply", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		conn := &cancelConn{Conn: k.Conn(), atSend: 2, f: cancel}
		c := newClient(t, k, ipvs.Config{Conn: conn, BatchOps: 100, Timeout: -1})
		ops := serviceOps(ipvs.OpCreateService, svc, 2000, 1000)
		errs, err := c.Apply(ctx, ops)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Apply cancelled after its second batch: %v, want context.Canceled", err)
		}
		if conn.sends != 2 {
			t.Errorf("%d batches sent, want 2", conn.sends)
		}
		for i, e := range errs {
			switch {
			case i < 200 && e != nil:
				t.Errorf("op %d of a batch sent before the end: %v", i, e)
			case i >= 200 && (!errors.Is(e, ipvs.ErrNotApplied) || !errors.Is(e, context.Canceled)):
				t.Errorf("op %d never sent: %v, want ErrNotApplied and context.Canceled", i, e)
			}
		}
	})
	t.Run("apply deadline", func(t *testing.T) {
		var short context.Context
		conn := &cancelConn{Conn: k.Conn(), atSend: 1, f: func() { <-short.Done() }}
		c := newClient(t, k, ipvs.Config{Conn: conn, BatchOps: 100, Timeout: -1})
		ops := serviceOps(ipvs.OpCreateService, svc, 4000, 1000)
		short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		errs, err := c.Apply(short, ops)
		if !errors.Is(err, context.DeadlineExceeded) || conn.sends != 1 {
			t.Errorf("Apply past its deadline: %v after %d batches; want context.DeadlineExceeded after 1", err, conn.sends)
		}
		if e := errs[len(errs)-1]; !errors.Is(e, ipvs.ErrNotApplied) || !errors.Is(e, context.DeadlineExceeded) {
			t.Errorf("last op: %v", e)
		}
	})
}

func TestMalformedReplies(t *testing.T) {
	ctx := context.Background()
	ne := binary.NativeEndian
	setLen := func(b []byte) []byte { ne.PutUint32(b, uint32(len(b))); return b }
	for _, tc := range []struct {
		name   string
		mangle func([]byte) []byte
	}{
		{"cut attribute", func(b []byte) []byte {
			if ne.Uint16(b[4:]) == ipvstest.FamilyID {
				return setLen(b[:len(b)-3])
			}
			return b
		}},
		{"bad message length", func(b []byte) []byte { ne.PutUint32(b, 9999); return b }},
		{"trailing junk", func(b []byte) []byte { return append(b, 1, 2, 3) }},
		{"short error", func(b []byte) []byte {
			if ne.Uint16(b[4:]) == 2 { // NLMSG_ERROR
				return setLen(b[:18])
			}
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := ipvstest.NewKernel()
			c := newClient(t, k, ipvs.Config{Timeout: 200 * time.Millisecond})
			if err := c.CreateService(ctx, svc(1)); err != nil {
				t.Fatal(err)
			}
			k.Mangle(tc.mangle)
			_, err1 := c.Services(ctx)
			_, err2 := c.Service(ctx, svc(1))
			if err1 == nil && err2 == nil {
				t.Errorf("no error from mangled replies")
			}
			t.Logf("%v; %v", err1, err2)
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, ipvstest.NewKernel(), ipvs.Config{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				s := svc(g*100 + i)
				if err := c.CreateService(ctx, s); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Service(ctx, s); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if all, err := c.Services(ctx); err != nil || len(all) != 400 {
		t.Errorf("Services: %d, %v", len(all), err)
	}
}

func TestDumpAll(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	k.SetDumpPartSize(2)
	c := newClient(t, k, ipvs.Config{})
	var ops []ipvs.Op
	for i := 0; i < 30; i++ {
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: svc(i)})
		for j := 0; j < i%4; j++ {
			ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: svc(i), Destination: dst(i, j)})
		}
	}
	mustApply(t, c, ops)
	all, err := c.DumpAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 30 {
		t.Fatalf("DumpAll: %d services", len(all))
	}
	for _, sd := range all {
		var i int
		for i = 0; svc(i).Key() != sd.Service.Key(); i++ {
		}
		if len(sd.Destinations) != i%4 {
			t.Errorf("%v has %d destinations, want %d", sd.Service, len(sd.Destinations), i%4)
		}
	}
	if n := k.Count(ipvstest.CmdGetDest); n != 30 {
		t.Errorf("%d destination dumps, want 30", n)
	}
	// An error on one destination dump fails the whole.
	k.FailNext(ipvstest.CmdGetDest, 1, syscall.ENOMEM)
	if all, err := c.DumpAll(ctx); !errors.Is(err, syscall.ENOMEM) || all != nil {
		t.Errorf("DumpAll with a failing dump: %d, %v", len(all), err)
	}
	// A service removed between the service dump (15 parts and a DONE)
	// and the dump of its destinations is left out.
	h := &hookConn{Conn: k.Conn(), after: 16, hook: func() {
		if err := k.RemoveService(svc(5)); err != nil {
			t.Error(err)
		}
	}}
	c = newClient(t, k, ipvs.Config{Conn: h})
	k.ResetLog()
	all, err = c.DumpAll(ctx)
	if err != nil || len(all) != 29 {
		t.Fatalf("DumpAll with a service removed half way: %d services, %v; want 29", len(all), err)
	}
	// An empty destination dump is checked with a GET: the 8 services
	// without destinations, and the removed one.
	gets := 0
	for _, batch := range k.Sendmsgs() {
		for _, r := range batch {
			if r.Cmd == ipvstest.CmdGetService && !r.Dump() {
				gets++
			}
		}
	}
	if gets != 9 {
		t.Errorf("%d single GET_SERVICE requests, want 9", gets)
	}
	for _, sd := range all {
		if sd.Service.Key() == svc(5).Key() {
			t.Errorf("the removed service is listed")
		}
	}
}

// TestNormalizeEqualFake checks Equal against what the fake kernel reads
// back, for every kind of service and destination (the VM lab checks the
// real kernel the same way).
func TestNormalizeEqualFake(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k, ipvs.Config{})
	svcs := []ipvs.Service{
		{Protocol: ipvs.TCP, Address: addr("10.0.0.1"), Port: 80},
		{Protocol: ipvs.UDP, Address: addr("::ffff:10.0.0.2"), Port: 53, Family: ipvs.IPv4, Scheduler: "sh", Flags: ipvs.SHPort | ipvs.Persistent, Timeout: 60, Netmask: 24},
		{Protocol: ipvs.SCTP, Address: addr("2001:db8::1"), Port: 3868, Scheduler: "mh", PersistenceEngine: "sip", Netmask: 64},
		{FWMark: 7, Scheduler: "rr"},
		{FWMark: 7, Family: ipvs.IPv6, Scheduler: "lc", Timeout: 30},
		{Protocol: ipvs.TCP, Address: addr("10.0.0.3"), Port: 80, Flags: ipvs.Persistent, Netmask: ipvs.ZeroNetmask},
	}
	for _, s := range svcs {
		if err := c.CreateService(ctx, s); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		got, err := c.Service(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Equal(got) || !got.Equal(s) {
			t.Errorf("%+v does not Equal its read-back %+v", s, got)
		}
		if d := diff(s.Normalize(), got, noStats); d != "" {
			t.Errorf("Normalize differs from the read-back (-want +got):\n%s", d)
		}
	}
	s := svcs[0]
	dests := []ipvs.Destination{
		{Address: addr("10.0.1.1"), Port: 80, Weight: 5, UpperThreshold: 10, LowerThreshold: 2},
		{Address: addr("10.0.1.2"), Port: 80, Forward: ipvs.DirectRoute, TunnelType: ipvs.GUE, TunnelPort: 99},
		{Address: addr("10.0.1.3"), Port: 80, Forward: ipvs.Tunnel, TunnelType: ipvs.GUE, TunnelPort: 6080, TunnelFlags: ipvs.TunnelRemoteChecksum},
		{Address: addr("10.0.1.4"), Port: 80, Forward: ipvs.Tunnel, TunnelType: ipvs.GRE, TunnelFlags: ipvs.TunnelChecksum},
		{Address: addr("2001:db8::4"), Port: 80, Forward: ipvs.Tunnel},
		{Address: addr("10.0.1.5"), Port: 80, Forward: ipvs.Bypass},
	}
	for _, d := range dests {
		if err := c.CreateDestination(ctx, s, d); err != nil {
			t.Fatalf("%v: %v", d, err)
		}
	}
	got, err := c.Destinations(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[ipvs.DestinationKey]ipvs.Destination{}
	for _, d := range got {
		byKey[d.Key()] = d
	}
	for _, d := range dests {
		if !d.Equal(byKey[d.Key()]) {
			t.Errorf("%+v does not Equal its read-back %+v", d, byKey[d.Key()])
		}
	}
	// Drift is seen: a weight edited by hand, a scheduler changed.
	if err := k.SetWeight(s.Key(), dests[0].Key(), 9); err != nil {
		t.Fatal(err)
	}
	if err := k.SetConnections(s.Key(), dests[0].Key(), 3, 4, 5); err != nil {
		t.Fatal(err)
	}
	got, _ = c.Destinations(ctx, s)
	for _, d := range got {
		if d.Key() == dests[0].Key() && (dests[0].Equal(d) || d.ActiveConns != 3) {
			t.Errorf("a hand-edited weight went unseen: %+v", d)
		}
		if d.Key() == dests[1].Key() && !dests[1].Equal(d) {
			t.Errorf("connection counters of another destination made it differ: %+v", d)
		}
	}
	edited := svcs[1]
	edited.Scheduler = "wrr"
	if err := k.UpdateService(edited); err != nil {
		t.Fatal(err)
	}
	if back, _ := c.Service(ctx, svcs[1]); svcs[1].Equal(back) {
		t.Errorf("a changed scheduler went unseen: %+v", back)
	}
}
