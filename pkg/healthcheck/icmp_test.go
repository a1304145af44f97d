package healthcheck

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/pkg/clock"
)

// fakeICMP is a raw ICMP socket stand-in: the test reads the echo requests
// the Pinger writes and feeds it ICMP messages.
type fakeICMP struct {
	sent   chan []byte
	in     chan fakePacket
	closed chan struct{}
	once   sync.Once

	mu         sync.Mutex
	writes     int
	failWrites int   // fail this many writes with writeErr
	writeErr   error // first
}

type fakePacket struct {
	b    []byte
	from net.Addr
}

func newFakeICMP() *fakeICMP {
	return &fakeICMP{sent: make(chan []byte, 16), in: make(chan fakePacket), closed: make(chan struct{})}
}

func (c *fakeICMP) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.in:
		return copy(b, p.b), p.from, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *fakeICMP) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	c.writes++
	if c.failWrites > 0 {
		c.failWrites--
		c.mu.Unlock()
		return 0, c.writeErr
	}
	c.mu.Unlock()
	c.sent <- append([]byte(nil), b...)
	return len(b), nil
}

func (c *fakeICMP) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *fakeICMP) LocalAddr() net.Addr              { return &net.IPAddr{} }
func (c *fakeICMP) SetDeadline(time.Time) error      { return nil }
func (c *fakeICMP) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeICMP) SetWriteDeadline(time.Time) error { return nil }

// deliver hands the Pinger an ICMP message from from.
func (c *fakeICMP) deliver(t *testing.T, b []byte, from netip.Addr) {
	t.Helper()
	select {
	case c.in <- fakePacket{b, &net.IPAddr{IP: from.AsSlice()}}:
	case <-time.After(time.Second):
		t.Fatal("the Pinger does not read")
	}
}

// icmpErrorPacket builds an ICMP error (no outer IP header) quoting an
// IP header to dst and quote.
func icmpErrorPacket(typ, code uint8, dst netip.Addr, quote []byte) []byte {
	b := []byte{typ, code, 0, 0, 0, 0, 0, 0}
	var h []byte
	if dst.Is4() {
		h = make([]byte, 20)
		h[0], h[8], h[9] = 0x45, 64, protoICMPv4
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(quote)))
		copy(h[12:], []byte{10, 0, 0, 2})
		a := dst.As4()
		copy(h[16:], a[:])
	} else {
		h = make([]byte, 40)
		h[0], h[6], h[7] = 0x60, protoICMPv6, 64
		binary.BigEndian.PutUint16(h[4:], uint16(len(quote)))
		a := dst.As16()
		copy(h[24:], a[:])
	}
	return append(append(b, h...), quote...)
}

// sentEcho is an echo request the Pinger wrote.
type sentEcho struct {
	b       []byte
	id, seq uint16
	token   uint64
}

func (c *fakeICMP) next(t *testing.T) sentEcho {
	t.Helper()
	select {
	case b := <-c.sent:
		return sentEcho{b, binary.BigEndian.Uint16(b[4:6]), binary.BigEndian.Uint16(b[6:8]), binary.BigEndian.Uint64(b[16:24])}
	case <-time.After(time.Second):
		t.Fatal("no echo request sent")
	}
	return sentEcho{}
}

// with returns a copy of the request with the bytes at off replaced.
func (e sentEcho) with(off int, b ...byte) []byte {
	c := append([]byte(nil), e.b...)
	copy(c[off:], b)
	return c
}

func TestPingerICMPError(t *testing.T) {
	for _, tt := range []struct {
		name         string
		dst, router  netip.Addr
		unreach, tex uint8 // destination unreachable, time exceeded
		wantA, wantB string
	}{
		{"v4", netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.0.0.1"), icmpv4DestUnreach, icmpv4TimeExceeded,
			"healthcheck: icmp 10.0.0.9: echo: host unreachable (from 10.0.0.1)",
			"healthcheck: icmp 10.0.0.9: echo: time to live exceeded in transit (from 10.0.0.1)"},
		{"v6", netip.MustParseAddr("2001:db8::9"), netip.MustParseAddr("fd00::1"), icmpv6DestUnreach, icmpv6TimeExceeded,
			"healthcheck: icmp 2001:db8::9: echo: communication administratively prohibited (from fd00::1)",
			"healthcheck: icmp 2001:db8::9: echo: hop limit exceeded in transit (from fd00::1)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeICMP()
			p := NewPinger(&PingerConfig{Listen: func(v6 bool, src netip.Addr, mark uint32) (net.PacketConn, bool, error) {
				return conn, false, nil
			}})
			defer p.Close()
			var calls atomic.Int32
			results := make(chan Result, 8)
			ping := func() sentEcho {
				p.start(tt.dst, netip.Addr{}, 0, 5*time.Second, func(r Result) { calls.Add(1); results <- r })
				return conn.next(t)
			}
			a, b, c := ping(), ping(), ping()

			// Errors that are not about A, B or C change nothing.
			other := tt.dst.Next()
			for _, m := range [][]byte{
				icmpErrorPacket(tt.unreach, 1, tt.dst, a.with(4, byte(a.id>>8)+1)),
				icmpErrorPacket(tt.unreach, 1, tt.dst, a.with(6, byte(a.seq>>8)+1)),
				icmpErrorPacket(tt.unreach, 1, tt.dst, a.with(23, a.b[23]+1)),
				icmpErrorPacket(tt.unreach, 1, other, a.b),
				icmpErrorPacket(tt.unreach, 1, other, b.b[:8]),
				icmpErrorPacket(tt.unreach+1, 1, tt.dst, a.b),
				icmpErrorPacket(tt.unreach, 1, tt.dst, a.b[:6]),
				icmpErrorPacket(tt.unreach, 1, tt.dst, c.with(6, a.b[6], a.b[7])),
			} {
				conn.deliver(t, m, tt.router)
			}
			// A's error quotes all of A (token included), B's only the
			// 8 octets RFC 792 requires.
			conn.deliver(t, icmpErrorPacket(tt.unreach, 1, tt.dst, a.b), tt.router)
			conn.deliver(t, icmpErrorPacket(tt.tex, 0, tt.dst, b.b[:8]), tt.router)
			// Duplicates count for nothing.
			conn.deliver(t, icmpErrorPacket(tt.unreach, 1, tt.dst, a.b), tt.router)
			conn.deliver(t, icmpErrorPacket(tt.tex, 0, tt.dst, b.b[:8]), tt.router)
			// C is still pending, and its echo reply completes it.
			reply := c.with(0, icmpv4EchoReply)
			if tt.dst.Is6() {
				reply[0] = icmpv6EchoReply
			}
			conn.deliver(t, reply, tt.dst)

			for _, want := range []string{tt.wantA, tt.wantB, ""} {
				r := <-results
				if want == "" {
					wantOK(t, r)
					continue
				}
				wantFail(t, r, ErrUnreachable, "echo")
				if r.Err.Error() != want {
					t.Errorf("error %q, want %q", r.Err, want)
				}
				var ce *CheckError
				if !errors.As(r.Err, &ce) || ce.Type != TypeICMP {
					t.Errorf("error %v is not an ICMP CheckError", r.Err)
				}
				if r.Latency > time.Second {
					t.Errorf("failed after %v", r.Latency)
				}
			}
			// Nothing more comes, and nothing is left behind.
			conn.deliver(t, reply, tt.dst)
			if n := calls.Load(); n != 3 {
				t.Errorf("done called %d times for 3 pings", n)
			}
			p.mu.Lock()
			if len(p.pending) != 0 || len(p.bySeq) != 0 || p.heap.len() != 0 {
				t.Errorf("left behind: %d pending, %d by sequence, %d in the heap", len(p.pending), len(p.bySeq), p.heap.len())
			}
			p.mu.Unlock()
		})
	}
}

// TestPingerSweepForgetsSequence: a ping that timed out no longer matches
// an error quoting its sequence number.
func TestPingerSweepForgetsSequence(t *testing.T) {
	conn := newFakeICMP()
	p := NewPinger(&PingerConfig{Listen: func(bool, netip.Addr, uint32) (net.PacketConn, bool, error) { return conn, false, nil }})
	defer p.Close()
	dst := netip.MustParseAddr("10.0.0.9")
	var calls atomic.Int32
	results := make(chan Result, 4)
	p.start(dst, netip.Addr{}, 0, 30*time.Millisecond, func(r Result) { calls.Add(1); results <- r })
	e := conn.next(t)
	select {
	case r := <-results:
		wantFail(t, r, ErrTimeout, "no echo reply")
	case <-time.After(2 * time.Second):
		t.Fatal("ping did not time out")
	}
	conn.deliver(t, icmpErrorPacket(icmpv4DestUnreach, 1, dst, e.b[:8]), netip.MustParseAddr("10.0.0.1"))
	conn.deliver(t, icmpErrorPacket(icmpv4DestUnreach, 1, dst, e.b), netip.MustParseAddr("10.0.0.1"))
	if n := calls.Load(); n != 1 {
		t.Errorf("done called %d times", n)
	}
	p.mu.Lock()
	if len(p.bySeq) != 0 {
		t.Errorf("%d entries left by sequence", len(p.bySeq))
	}
	p.mu.Unlock()
}

func TestPingSockSendRetry(t *testing.T) {
	dst := netip.MustParseAddr("10.0.0.9")
	for _, tt := range []struct {
		name       string
		errq       bool
		fail       int
		err        error
		wantErr    error
		wantWrites int
	}{
		{"error queue: pending error of another ping", true, 1, syscall.EHOSTUNREACH, nil, 2},
		{"error queue: two pending errors", true, 2, syscall.ENETUNREACH, nil, 3},
		{"error queue: a lasting error", true, 5, syscall.EHOSTUNREACH, syscall.EHOSTUNREACH, 3},
		{"error queue: full buffer", true, 5, syscall.EAGAIN, syscall.EAGAIN, 1},
		{"raw socket: no retry", false, 1, syscall.EHOSTUNREACH, syscall.EHOSTUNREACH, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeICMP()
			conn.failWrites, conn.writeErr = tt.fail, tt.err
			s := &pingSock{conn: conn, errq: tt.errq}
			err := s.send([]byte("x"), dst)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("send = %v, want %v", err, tt.wantErr)
			}
			if conn.writes != tt.wantWrites {
				t.Errorf("%d writes, want %d", conn.writes, tt.wantWrites)
			}
		})
	}
}

// The Pinger times its pings on the clock it is given.
func TestPingerInjectedClock(t *testing.T) {
	conn := newFakeICMP()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := NewPinger(&PingerConfig{Clock: clk, Listen: func(bool, netip.Addr, uint32) (net.PacketConn, bool, error) { return conn, false, nil }})
	defer p.Close()
	results := make(chan Result, 1)
	p.start(netip.MustParseAddr("10.0.0.9"), netip.Addr{}, 0, time.Second, func(r Result) { results <- r })
	conn.next(t)
	clk.Advance(time.Second)
	select {
	case r := <-results:
		wantFail(t, r, ErrTimeout, "no echo reply after 1s")
		if r.Latency != time.Second {
			t.Errorf("latency %v, want 1s on the injected clock", r.Latency)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no timeout once the clock passed the deadline")
	}
}
