package ipvs

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

func newFakeClient(t *testing.T, k *fakeKernel, cfg Config) *Client {
	t.Helper()
	cfg.Conn = k
	c, err := New(&cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func svcN(i int) Service {
	return Service{Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 80, Scheduler: "rr"}
}

func TestNoIPVSFamily(t *testing.T) {
	k := newFakeKernel()
	k.noFamily = true
	_, err := New(&Config{Conn: k})
	if !errors.Is(err, ErrNoIPVS) || !strings.Contains(err.Error(), "modprobe ip_vs") {
		t.Fatalf("New without the family: %v, want ErrNoIPVS naming modprobe ip_vs", err)
	}
	if !k.closed {
		t.Errorf("New did not close the conn it failed with")
	}
}

func TestErrorMapping(t *testing.T) {
	ctx := context.Background()
	c := newFakeClient(t, newFakeKernel(), Config{})
	s := svcN(1)
	if err := c.CreateService(ctx, s); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		err   error
		is    error
		errno syscall.Errno
	}{
		{"EEXIST", c.CreateService(ctx, s), os.ErrExist, syscall.EEXIST},
		{"ESRCH", c.RemoveService(ctx, svcN(2)), os.ErrNotExist, syscall.ESRCH},
		{"ENOENT", c.CreateService(ctx, Service{Protocol: TCP, Address: mustAddr("10.9.0.1"), Port: 1, Scheduler: "nosuch"}), os.ErrNotExist, syscall.ENOENT},
		{"dests of missing service", func() error { _, err := c.Destinations(ctx, svcN(3)); return err }(), os.ErrNotExist, syscall.ESRCH},
		{"get missing", func() error { _, err := c.Service(ctx, svcN(3)); return err }(), os.ErrNotExist, syscall.ESRCH},
	}
	for _, tc := range tests {
		var oe *OpError
		if !errors.As(tc.err, &oe) || !errors.Is(tc.err, tc.is) || !errors.Is(tc.err, tc.errno) {
			t.Errorf("%s: %v: want an *OpError that is %v and %v", tc.name, tc.err, tc.is, tc.errno)
		}
	}
	if err := c.CreateService(ctx, Service{Protocol: TCP, Address: mustAddr("10.9.0.1"), Port: 1, Scheduler: "nosuch"}); !strings.Contains(err.Error(), "unknown scheduler") {
		t.Errorf("ENOENT on create lacks the scheduler hint: %v", err)
	}
}

func TestApplyBatching(t *testing.T) {
	ctx := context.Background()
	k := newFakeKernel()
	c := newFakeClient(t, k, Config{BatchOps: 1000})
	var ops []Op
	want := map[int]error{}
	for i := 0; i < 2500; i++ {
		ops = append(ops, Op{Kind: OpCreateService, Service: svcN(i)})
		ops = append(ops, Op{Kind: OpCreateDestination, Service: svcN(i), Destination: Destination{Address: mustAddr("10.1.0.1"), Port: 80, Weight: 1}})
	}
	ops[10].Service = svcN(3) // duplicate create
	want[10] = os.ErrExist
	ops[11].Service = svcN(99999) // destination of a service that does not exist
	want[11] = os.ErrNotExist
	ops[2001].Service.Family = 3 // refused before sending
	want[2001] = os.ErrInvalid
	ops = append(ops, Op{Kind: OpCreateService, Service: Service{Family: 77}})
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
	if len(k.sends) != 5 {
		t.Errorf("%d sendmsg calls, want 5", len(k.sends))
	}
	for i, b := range k.sends {
		n, acks := 0, 0
		var lastAck bool
		for len(b) > 0 {
			m, rest, err := nextMsg(b)
			if err != nil {
				t.Fatal(err)
			}
			b = rest
			n++
			lastAck = m.flags&u.NLM_F_ACK != 0
			if lastAck {
				acks++
			}
		}
		if acks != 1 || !lastAck {
			t.Errorf("sendmsg %d: %d messages, %d with NLM_F_ACK (last: %v); want only the last", i, n, acks, lastAck)
		}
	}
	all, err := c.Services(ctx)
	if err != nil || len(all) != 2500-1 {
		// svcN(5) was never created: op 10 was a duplicate of svcN(3) instead.
		t.Errorf("Services: %d, %v; want 2499", len(all), err)
	}
}

func TestDumpMultipart(t *testing.T) {
	ctx := context.Background()
	k := newFakeKernel()
	k.perDgram = 7
	c := newFakeClient(t, k, Config{})
	var ops []Op
	for i := 0; i < 250; i++ {
		ops = append(ops, Op{Kind: OpCreateService, Service: svcN(i)})
	}
	if _, err := c.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	all, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 {
		t.Fatalf("dump reassembled %d services, want 250", len(all))
	}
	for i, s := range all {
		want := svcN(i)
		want.Family, want.Netmask = IPv4, 32
		if d := cmpDiff(want, s, ignoreStats); d != "" {
			t.Fatalf("service %d (-want +got):\n%s", i, d)
		}
	}
}

func TestDumpInterrupted(t *testing.T) {
	ctx := context.Background()
	k := newFakeKernel()
	c := newFakeClient(t, k, Config{})
	for i := 0; i < 10; i++ {
		if err := c.CreateService(ctx, svcN(i)); err != nil {
			t.Fatal(err)
		}
	}
	k.intrOnce = true
	if _, err := c.Services(ctx); !errors.Is(err, ErrDumpInterrupted) {
		t.Fatalf("interrupted dump: %v, want ErrDumpInterrupted", err)
	}
	// The dump was read to its end: the next one is whole.
	if all, err := c.Services(ctx); err != nil || len(all) != 10 {
		t.Fatalf("next dump: %d, %v", len(all), err)
	}
}

func TestTimeoutAndStaleReplies(t *testing.T) {
	ctx := context.Background()
	k := newFakeKernel()
	c := newFakeClient(t, k, Config{Timeout: 50 * time.Millisecond})
	k.stall = 1
	k.lateStale = true
	start := time.Now()
	err := c.CreateService(ctx, svcN(1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled reply: %v, want os.ErrDeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("timeout took %v", el)
	}
	// The stale ACK arrives first now; it must not be taken for this one's.
	if err := c.CreateService(ctx, svcN(1)); !errors.Is(err, os.ErrExist) {
		t.Fatalf("after a timeout: %v, want os.ErrExist (the stalled create did happen)", err)
	}
}

func TestContextCancelAndClose(t *testing.T) {
	k := newFakeKernel()
	c := newFakeClient(t, k, Config{Timeout: -1})
	k.stall = 100
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	if err := c.CreateService(ctx, svcN(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := c.CreateService(ctx, svcN(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline: %v, want context.DeadlineExceeded", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.CreateService(context.Background(), svcN(3)) }()
	time.Sleep(30 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call blocked at Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the blocked call")
	}
	if err := c.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestMalformedReplies(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		mangle func([]byte) []byte
	}{
		{"cut attribute", func(b []byte) []byte {
			if ne.Uint16(b[4:]) == fakeFamily {
				return endMsg(b[:len(b)-3], 0)
			}
			return b
		}},
		{"bad message length", func(b []byte) []byte { ne.PutUint32(b, 9999); return b }},
		{"trailing junk", func(b []byte) []byte { return append(b, 1, 2, 3) }},
		{"short error", func(b []byte) []byte {
			if ne.Uint16(b[4:]) == u.NLMSG_ERROR {
				return endMsg(b[:18], 0)
			}
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel()
			c := newFakeClient(t, k, Config{Timeout: 200 * time.Millisecond})
			if err := c.CreateService(ctx, svcN(1)); err != nil {
				t.Fatal(err)
			}
			k.mangle = tc.mangle
			_, err1 := c.Services(ctx)
			_, err2 := c.Service(ctx, svcN(1))
			if err1 == nil && err2 == nil {
				t.Errorf("no error from mangled replies")
			}
			t.Logf("%v; %v", err1, err2)
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	c := newFakeClient(t, newFakeKernel(), Config{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				s := svcN(g*100 + i)
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

// ackConn acknowledges every request without allocating, for measuring
// the client's own allocations.
type ackConn struct {
	last uint32
	buf  [36]byte
}

func (a *ackConn) Family(string) (uint16, error) { return fakeFamily, nil }
func (a *ackConn) SetDeadline(time.Time) error   { return nil }
func (a *ackConn) Close() error                  { return nil }
func (a *ackConn) Send(b []byte) error {
	for len(b) > 0 {
		m, rest, _ := nextMsg(b)
		b = rest
		if m.flags&u.NLM_F_ACK != 0 {
			a.last = m.seq
		}
	}
	return nil
}
func (a *ackConn) Receive(b []byte) (int, error) {
	ne.PutUint32(a.buf[0:], 36)
	ne.PutUint16(a.buf[4:], u.NLMSG_ERROR)
	ne.PutUint32(a.buf[8:], a.last)
	return copy(b, a.buf[:]), nil
}

func TestAllocations(t *testing.T) {
	c, err := New(&Config{Conn: &ackConn{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := svcN(1)
	d := Destination{Address: mustAddr("10.1.0.1"), Port: 80, Weight: 1}
	if n := testing.AllocsPerRun(100, func() { _ = c.CreateService(ctx, s) }); n != 0 {
		t.Errorf("CreateService: %v allocations per call, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = c.CreateDestination(ctx, s, d) }); n != 0 {
		t.Errorf("CreateDestination: %v allocations per call, want 0", n)
	}
	ops := make([]Op, 1000)
	for i := range ops {
		ops[i] = Op{Kind: OpCreateDestination, Service: s, Destination: d}
	}
	if n := testing.AllocsPerRun(10, func() { _, _ = c.Apply(ctx, ops) }); n > 2 {
		t.Errorf("Apply of 1000 ops: %v allocations, want at most 2", n)
	}
}

// replayConn plays back datagrams captured from the kernel, renumbering
// their sequence numbers to follow the client's requests.
type replayConn struct {
	dgrams  [][]byte
	origMin uint32
	first   uint32
	sent    bool
}

func newReplay(t *testing.T, dgrams [][]byte) *replayConn {
	t.Helper()
	r := &replayConn{dgrams: dgrams, origMin: ^uint32(0)}
	for _, d := range dgrams {
		for b := d; len(b) > 0; {
			m, rest, err := nextMsg(b)
			if err != nil {
				t.Fatalf("captured datagram: %v", err)
			}
			b = rest
			r.origMin = min(r.origMin, m.seq)
		}
	}
	return r
}

func (r *replayConn) Family(string) (uint16, error) { return fakeFamily, nil }
func (r *replayConn) SetDeadline(time.Time) error   { return nil }
func (r *replayConn) Close() error                  { return nil }
func (r *replayConn) Send(b []byte) error {
	if !r.sent {
		r.first, r.sent = ne.Uint32(b[8:]), true
	}
	return nil
}
func (r *replayConn) Receive(b []byte) (int, error) {
	if len(r.dgrams) == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	d := append([]byte(nil), r.dgrams[0]...)
	r.dgrams = r.dgrams[1:]
	for off := 0; off+16 <= len(d); {
		l := int(ne.Uint32(d[off:]))
		ne.PutUint32(d[off+8:], r.first+ne.Uint32(d[off+8:])-r.origMin)
		if l < 16 {
			break
		}
		off += (l + 3) &^ 3
	}
	return copy(b, d), nil
}

func readCapture(t testing.TB, names ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, n := range names {
		h, err := os.ReadFile("testdata/kernel/" + n + ".hex")
		if err != nil {
			t.Fatal(err)
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(h)))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out = append(out, b)
	}
	return out
}

func replayClient(t *testing.T, names ...string) *Client {
	t.Helper()
	c, err := New(&Config{Conn: newReplay(t, readCapture(t, names...))})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestKernelCaptures decodes replies captured from the real kernel.
func TestKernelCaptures(t *testing.T) {
	ctx := context.Background()

	in, err := replayClient(t, "info-1", "info-2").Info(ctx)
	if err != nil || in != (Info{Version: 0x010201, ConnTableSize: 4096}) {
		t.Errorf("Info = %+v, %v", in, err)
	}
	to, err := replayClient(t, "timeouts-1", "timeouts-2").Timeouts(ctx)
	if err != nil || to != (Timeouts{TCP: 100 * time.Second, TCPFin: 20 * time.Second, UDP: 30 * time.Second}) {
		t.Errorf("Timeouts = %+v, %v", to, err)
	}
	all, err := replayClient(t, "services-1", "services-2").Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmpDiff(captureServicesWant, all, sortServices); d != "" {
		t.Errorf("Services (-want +got):\n%s", d)
	}
	for i := range 3 {
		name := fmt.Sprintf("dests%d", i)
		ds, err := replayClient(t, name+"-1", name+"-2").Destinations(ctx, captureServices[i])
		if err != nil {
			t.Fatal(err)
		}
		var want []Destination
		for _, d := range captureDestsWant {
			if d.svc == i {
				want = append(want, d.d)
			}
		}
		if d := cmpDiff(want, ds, sortDests); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
	ds, err := replayClient(t, "dests3-1", "dests3-2", "dests3-3").Destinations(ctx, captureServices[3])
	if err != nil || len(ds) != 0 {
		t.Errorf("destinations of a service without any: %v, %v", ds, err)
	}
	daemons, err := replayClient(t, "daemons-1", "daemons-2").Daemons(ctx)
	if d := cmpDiff([]Daemon{captureDaemon}, daemons); err != nil || d != "" {
		t.Errorf("Daemons: %v (-want +got):\n%s", err, d)
	}
	s, err := replayClient(t, "get-service-1", "get-service-2").Service(ctx, captureServices[0])
	if d := cmpDiff(captureServicesWant[0], s); err != nil || d != "" {
		t.Errorf("Service: %v (-want +got):\n%s", err, d)
	}
	if err := replayClient(t, "error-exist-1").CreateService(ctx, captureServices[0]); !errors.Is(err, os.ErrExist) {
		t.Errorf("captured EEXIST: %v", err)
	}
	if _, err := replayClient(t, "error-dump-esrch-1", "error-dump-esrch-2").Destinations(ctx, svcN(9)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("captured dump of a missing service: %v", err)
	}
	errs, err := replayClient(t, "apply-1", "apply-2").Apply(ctx, []Op{
		{Kind: OpCreateService, Service: captureServices[0]},
		{Kind: OpCreateService, Service: Service{Protocol: UDP, Address: mustAddr("10.0.0.9"), Port: 9}},
		{Kind: OpRemoveService, Service: Service{Protocol: UDP, Address: mustAddr("10.0.0.9"), Port: 9}},
	})
	if err != nil || !errors.Is(errs[0], os.ErrExist) || errs[1] != nil || errs[2] != nil {
		t.Errorf("captured Apply: %v, %v", errs, err)
	}
}

func TestDumpAllFake(t *testing.T) {
	ctx := context.Background()
	k := newFakeKernel()
	c := newFakeClient(t, k, Config{})
	var ops []Op
	for i := 0; i < 30; i++ {
		ops = append(ops, Op{Kind: OpCreateService, Service: svcN(i)})
		for j := 0; j < i%4; j++ {
			ops = append(ops, Op{Kind: OpCreateDestination, Service: svcN(i),
				Destination: Destination{Address: netip.AddrFrom4([4]byte{10, 1, byte(i), byte(j + 1)}), Port: 80, Weight: 1}})
		}
	}
	if _, err := c.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	all, err := c.DumpAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 30 {
		t.Fatalf("DumpAll: %d services", len(all))
	}
	for i, sd := range all {
		if sd.Service.Key() != svcN(i).Key() || len(sd.Destinations) != i%4 {
			t.Errorf("DumpAll[%d] = %v with %d destinations, want %v with %d", i, sd.Service, len(sd.Destinations), svcN(i), i%4)
		}
	}
}
