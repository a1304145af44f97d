package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// PingerConfig configures a Pinger. The zero value (or nil) opens real
// sockets.
type PingerConfig struct {
	// Listen opens the ICMP socket for one family, source address and
	// fwmark. kernelID reports that the kernel owns the echo identifier
	// (unprivileged ping sockets), so replies are matched on the token alone.
	// Nil selects an unprivileged ping socket where net.ipv4.ping_group_range
	// allows, and a raw socket otherwise.
	Listen func(v6 bool, src netip.Addr, mark uint32) (conn net.PacketConn, kernelID bool, err error)
}

// Pinger sends ICMP echo requests for any number of checks over one socket
// per (family, source address, fwmark) and matches replies by a per-ping
// token, so 10,000 ICMP checks cost a handful of file descriptors.
type Pinger struct {
	listen func(v6 bool, src netip.Addr, mark uint32) (net.PacketConn, bool, error)

	mu       sync.Mutex
	socks    map[pingSockKey]*pingSock
	pending  map[uint64]*pingEntry
	heap     deadlineHeap[*pingEntry]
	token    uint64
	seq      uint16
	sweeping bool
	closed   bool
}

type pingSockKey struct {
	v6   bool
	src  netip.Addr
	mark uint32
}

type pingSock struct {
	conn     net.PacketConn
	v6       bool
	kernelID bool
	id       uint16
	raw      syscall.RawConn // nil for injected conns without one
}

type pingEntry struct {
	token    uint64
	seq      uint16
	sock     *pingSock
	dst      netip.Addr
	start    time.Time
	deadline time.Time
	done     func(Result)
	heapIdx  int
}

func (e *pingEntry) when() time.Time { return e.deadline }
func (e *pingEntry) setIndex(i int)  { e.heapIdx = i }

// NewPinger returns a Pinger; sockets are opened on first use.
func NewPinger(cfg *PingerConfig) *Pinger {
	p := &Pinger{
		listen:  listenICMP,
		socks:   make(map[pingSockKey]*pingSock),
		pending: make(map[uint64]*pingEntry),
		token:   rand.Uint64(),
	}
	if cfg != nil && cfg.Listen != nil {
		p.listen = cfg.Listen
	}
	return p
}

// Sockets returns how many ICMP sockets the Pinger has open.
func (p *Pinger) Sockets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.socks)
}

// Close closes the sockets and fails pending pings with ErrClosed.
func (p *Pinger) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var errs []error
	for _, s := range p.socks {
		errs = append(errs, s.conn.Close())
	}
	var fail []*pingEntry
	for _, e := range p.pending {
		fail = append(fail, e)
	}
	clear(p.pending)
	p.heap = deadlineHeap[*pingEntry]{}
	p.mu.Unlock()
	now := time.Now()
	for _, e := range fail {
		e.done(Result{Time: e.start, Latency: now.Sub(e.start), Err: &CheckError{Type: TypeICMP, Target: e.dst.String(), Op: "echo", Err: ErrClosed}})
	}
	return errors.Join(errs...)
}

// Ping sends one echo request to dst and waits for the reply or ctx.
func (p *Pinger) Ping(ctx context.Context, dst, src netip.Addr, mark uint32) Result {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Hour)
	}
	ch := make(chan Result, 1)
	p.start(dst, src, mark, deadline, func(r Result) { ch <- r })
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return Result{Time: time.Now(), Err: classify(TypeICMP, dst.String(), "echo", ctx.Err())}
	}
}

// start sends an echo request; done is called once with the verdict.
func (p *Pinger) start(dst, src netip.Addr, mark uint32, deadline time.Time, done func(Result)) {
	start := time.Now()
	fail := func(op string, err error) {
		done(Result{Time: start, Latency: time.Since(start), Err: &CheckError{Type: TypeICMP, Target: dst.String(), Op: op, Err: err}})
	}
	v6 := !dst.Is4()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		fail("echo", ErrClosed)
		return
	}
	key := pingSockKey{v6: v6, src: src, mark: mark}
	s := p.socks[key]
	if s == nil {
		conn, kernelID, err := p.listen(v6, src, mark)
		if err != nil {
			p.mu.Unlock()
			fail("listen", err)
			return
		}
		s = &pingSock{conn: conn, v6: v6, kernelID: kernelID, id: uint16(rand.Uint32())}
		if sc, ok := conn.(syscall.Conn); ok {
			s.raw, _ = sc.SyscallConn()
		}
		p.socks[key] = s
		go p.read(s)
	}
	p.token++
	p.seq++
	e := &pingEntry{token: p.token, seq: p.seq, sock: s, dst: dst, start: start, deadline: deadline, done: done}
	p.pending[e.token] = e
	p.heap.push(e)
	if !p.sweeping {
		p.sweeping = true
		go p.sweep()
	}
	p.mu.Unlock()

	b, err := marshalEcho(v6, s.id, e.seq, e.token)
	if err == nil {
		err = s.send(b, dst)
	}
	if err != nil {
		if p.take(e.token) != nil {
			fail("send", err)
		}
	}
}

// send writes one echo request without ever blocking the caller (the
// manager's scheduler): a full socket buffer fails this ping at once
// instead of stalling every other check.
func (s *pingSock) send(b []byte, dst netip.Addr) error {
	if s.raw != nil {
		return sendNoWait(s.raw, b, dst)
	}
	var addr net.Addr
	if s.kernelID {
		addr = &net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	} else {
		addr = &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	_, err := s.conn.WriteTo(b, addr)
	return err
}

// take removes and returns the pending entry for token, or nil.
func (p *Pinger) take(token uint64) *pingEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.pending[token]
	if e != nil {
		delete(p.pending, token)
		p.heap.remove(e.heapIdx)
	}
	return e
}

// read is the receive loop of one socket; it ends when the socket closes.
func (p *Pinger) read(s *pingSock) {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			time.Sleep(time.Millisecond) // a transient error; do not spin
			continue
		}
		now := time.Now()
		r, ok := parseEchoReply(buf[:n], s.v6)
		if !ok || !s.kernelID && r.ID != s.id {
			continue
		}
		p.mu.Lock()
		e := p.pending[r.Token]
		if e == nil || e.sock != s || e.seq != r.Seq || !sameAddr(from, e.dst) {
			p.mu.Unlock()
			continue
		}
		delete(p.pending, r.Token)
		p.heap.remove(e.heapIdx)
		p.mu.Unlock()
		rtt := now.Sub(e.start)
		e.done(Result{Time: e.start, Latency: rtt, Detail: fmt.Sprintf("rtt %v", rtt.Round(time.Microsecond))})
	}
}

func sameAddr(a net.Addr, want netip.Addr) bool {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		return false
	}
	got, ok := netip.AddrFromSlice(ip)
	return ok && got.Unmap() == want.WithZone("").Unmap()
}

// sweep fails pings whose deadline passed; it runs while any are pending.
func (p *Pinger) sweep() {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	var expired []*pingEntry
	for now := range t.C {
		p.mu.Lock()
		for p.heap.len() > 0 && !p.heap.peek().deadline.After(now) {
			e := p.heap.pop()
			delete(p.pending, e.token)
			expired = append(expired, e)
		}
		idle := p.heap.len() == 0 || p.closed
		if idle {
			p.sweeping = false
		}
		p.mu.Unlock()
		for i, e := range expired {
			e.done(Result{Time: e.start, Latency: now.Sub(e.start), Err: &CheckError{Type: TypeICMP, Target: e.dst.String(), Op: "echo",
				Err: timeout("no echo reply after %v", now.Sub(e.start).Round(time.Millisecond))}})
			expired[i] = nil
		}
		expired = expired[:0]
		if idle {
			return
		}
	}
}

// icmpChecker pings one address through a shared Pinger.
type icmpChecker struct {
	p    *Pinger
	dst  netip.Addr
	src  netip.Addr
	mark uint32
}

// Check implements Checker.
func (c *icmpChecker) Check(ctx context.Context) Result { return c.p.Ping(ctx, c.dst, c.src, c.mark) }

func (c *icmpChecker) start(deadline time.Time, done func(Result)) {
	c.p.start(c.dst, c.src, c.mark, deadline, done)
}
