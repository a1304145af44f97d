package ipvs

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

// fakeFamily is the family ID the hand-written conns below answer with.
const fakeFamily = 0x20

func svcN(i int) Service {
	return Service{Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 80, Scheduler: "rr"}
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
