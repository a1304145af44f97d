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

	"github.com/seesawd/seesawd/pkg/clock"
)

// PingerConfig configures a Pinger. The zero value (or nil) opens real
// sockets.
type PingerConfig struct {
	// Listen opens the ICMP socket for one family, source address and
	// fwmark. kernelID reports that the kernel owns the echo identifier
	// (unprivileged ping sockets), so replies are matched on the token alone.
	// Nil selects an unprivileged ping socket where net.ipv4.ping_group_range
	// allows, and a raw socket otherwise.
	//
	// ICMP destination unreachable and time exceeded errors fail a ping at
	// once. A raw socket receives them as packets. A Linux ping socket
	// reports them only on its error queue, and only with IP_RECVERR
	// (IPV6_RECVERR) set, as the default Listen does; on a ping socket
	// without it, or an injected conn without a file descriptor, such a ping
	// fails when it times out.
	//
	// Close closes the conns Listen returned, and waits for their
	// ReadFrom to return: an injected conn's must, once it is closed.
	Listen func(v6 bool, src netip.Addr, mark uint32) (conn net.PacketConn, kernelID bool, err error)
	// Clock times pings and their timeouts; default the system clock. A
	// Pinger shared with a Manager should run on the Manager's clock.
	Clock clock.Clock
}

// Pinger sends ICMP echo requests for any number of checks over one socket
// per (family, source address, fwmark) and matches replies by a per-ping
// token, so 10,000 ICMP checks cost a handful of file descriptors. It runs
// one receive goroutine per socket, and a sweep goroutine while pings are
// pending; Close ends them all.
type Pinger struct {
	listen func(v6 bool, src netip.Addr, mark uint32) (net.PacketConn, bool, error)
	clk    clock.Clock
	wg     sync.WaitGroup // receive loops and sweep

	mu       sync.Mutex
	socks    map[pingSockKey]*pingSock
	pending  map[uint64]*pingEntry
	bySeq    map[seqKey]*pingEntry // for ICMP errors that quote no token
	heap     dueHeap[*pingEntry]   // by deadline, as nanoseconds since epoch
	epoch    time.Time
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
	// errq: ICMP errors arrive on the socket's error queue (a Linux ping
	// socket with IP_RECVERR), which readErrQueue drains with the replies.
	errq bool
}

type seqKey struct {
	sock *pingSock
	seq  uint16
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

func (e *pingEntry) setHeapIndex(i int) { e.heapIdx = i }

// NewPinger returns a Pinger; sockets are opened on first use.
func NewPinger(cfg *PingerConfig) *Pinger {
	p := &Pinger{
		listen:  listenICMP,
		clk:     clock.System{},
		socks:   make(map[pingSockKey]*pingSock),
		pending: make(map[uint64]*pingEntry),
		bySeq:   make(map[seqKey]*pingEntry),
		token:   rand.Uint64(),
	}
	if cfg != nil && cfg.Listen != nil {
		p.listen = cfg.Listen
	}
	if cfg != nil && cfg.Clock != nil {
		p.clk = cfg.Clock
	}
	p.epoch = p.clk.Now()
	return p
}

// Sockets returns how many ICMP sockets the Pinger has open.
func (p *Pinger) Sockets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.socks)
}

// Close closes the sockets, fails pending pings with ErrClosed and returns
// once the Pinger's goroutines have ended. It must not be called from a
// ping's completion.
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
	clear(p.bySeq)
	p.heap = dueHeap[*pingEntry]{}
	p.mu.Unlock()
	now := p.clk.Now()
	for _, e := range fail {
		e.done(Result{Time: e.start, Latency: now.Sub(e.start), Err: &CheckError{Type: TypeICMP, Target: e.dst.String(), Op: "echo", Err: ErrClosed}})
	}
	p.wg.Wait()
	return errors.Join(errs...)
}

// Ping sends one echo request to dst and waits for the reply or ctx.
func (p *Pinger) Ping(ctx context.Context, dst, src netip.Addr, mark uint32) Result {
	timeout := time.Hour
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	ch := make(chan Result, 1)
	p.start(dst, src, mark, timeout, func(r Result) { ch <- r })
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return Result{Time: p.clk.Now(), Err: classify(TypeICMP, dst.String(), "echo", ctx.Err())}
	}
}

// start sends an echo request; done is called once with the verdict,
// within timeout on the Pinger's clock.
func (p *Pinger) start(dst, src netip.Addr, mark uint32, timeout time.Duration, done func(Result)) {
	start := p.clk.Now()
	fail := func(op string, err error) {
		done(Result{Time: start, Latency: p.clk.Now().Sub(start), Err: &CheckError{Type: TypeICMP, Target: dst.String(), Op: op, Err: err}})
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
		s.errq = s.kernelID && s.raw != nil && recvErrEnabled(s.raw, v6)
		p.socks[key] = s
		p.wg.Add(1)
		if s.errq {
			go p.readErrQueue(s)
		} else {
			go p.read(s)
		}
	}
	p.token++
	p.seq++
	e := &pingEntry{token: p.token, seq: p.seq, sock: s, dst: dst, start: start, deadline: start.Add(timeout), done: done}
	p.pending[e.token] = e
	p.bySeq[seqKey{s, e.seq}] = e
	p.heap.push(e, int64(e.deadline.Sub(p.epoch)))
	if !p.sweeping {
		p.sweeping = true
		p.wg.Add(1)
		go p.sweep()
	}
	p.mu.Unlock()

	b, err := marshalEcho(v6, s.id, e.seq, e.token)
	if err == nil {
		err = s.send(b, dst)
	}
	if err != nil {
		if p.take(e.token) != nil {
			// No route to dst is ErrUnreachable, like an ICMP error.
			done(Result{Time: start, Latency: p.clk.Now().Sub(start), Err: classify(TypeICMP, dst.String(), "send", err)})
		}
	}
}

// send writes one echo request without ever blocking the caller (the
// manager's scheduler): a full socket buffer fails this ping at once
// instead of stalling every other check.
func (s *pingSock) send(b []byte, dst netip.Addr) error {
	err := s.sendOnce(b, dst)
	// With IP_RECVERR every ICMP error also sets the socket's pending
	// error, and the next send returns it instead of sending. That error
	// belongs to another ping, whose details wait on the error queue, so
	// send again; a genuine error such as no route repeats.
	for i := 0; i < 2 && err != nil && s.errq && !errors.Is(err, syscall.EAGAIN); i++ {
		err = s.sendOnce(b, dst)
	}
	return err
}

func (s *pingSock) sendOnce(b []byte, dst netip.Addr) error {
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
		p.removeLocked(e)
	}
	return e
}

// removeLocked forgets a pending entry; p.mu is held.
func (p *Pinger) removeLocked(e *pingEntry) {
	p.forgetLocked(e)
	p.heap.remove(e.heapIdx)
}

// forgetLocked drops e from the lookup maps but not from the heap.
func (p *Pinger) forgetLocked(e *pingEntry) {
	delete(p.pending, e.token)
	k := seqKey{e.sock, e.seq}
	if p.bySeq[k] == e {
		delete(p.bySeq, k)
	}
}

// readStopped reports whether a receive loop whose read failed with err
// must end (the socket or the Pinger is closed); otherwise it waits a
// moment so a transient error cannot make the loop spin.
func (p *Pinger) readStopped(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return true
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return true
	}
	time.Sleep(time.Millisecond)
	return false
}

// read is the receive loop of one socket; it ends when the socket closes.
func (p *Pinger) read(s *pingSock) {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if p.readStopped(err) {
				return
			}
			continue
		}
		now := p.clk.Now()
		b := buf[:n]
		// A raw socket receives every ICMP message, errors included.
		if len(b) > 0 && isEchoError(s.v6, b[0]) {
			if ie, ok := parseICMPError(b, s.v6); ok {
				p.unreachable(s, ie, ipOf(from), now)
			}
			continue
		}
		p.reply(s, b, ipOf(from), now)
	}
}

// reply completes the ping that the ICMP message b from from answers, if
// it is an echo reply to one.
func (p *Pinger) reply(s *pingSock, b []byte, from netip.Addr, now time.Time) {
	r, ok := parseEchoReply(b, s.v6)
	if !ok || !s.kernelID && r.ID != s.id {
		return
	}
	p.mu.Lock()
	e := p.pending[r.Token]
	if e == nil || e.sock != s || e.seq != r.Seq || !sameIP(from, e.dst) {
		p.mu.Unlock()
		return
	}
	p.removeLocked(e)
	p.mu.Unlock()
	rtt := now.Sub(e.start)
	e.done(Result{Time: e.start, Latency: rtt, Detail: fmt.Sprintf("rtt %v", rtt.Round(time.Microsecond))})
}

// unreachable fails the ping that the ICMP error ie, sent by from (the
// zero Addr when unknown), reports on. The quoted token picks the ping when
// the error quotes it; otherwise the socket and sequence number do. Either
// way identifier, sequence and destination must all match.
func (p *Pinger) unreachable(s *pingSock, ie icmpError, from netip.Addr, now time.Time) {
	if !s.kernelID && ie.Echo.ID != s.id {
		return
	}
	p.mu.Lock()
	var e *pingEntry
	if ie.Echo.HasToken {
		e = p.pending[ie.Echo.Token]
	} else {
		e = p.bySeq[seqKey{s, ie.Echo.Seq}]
	}
	if e == nil || e.sock != s || e.seq != ie.Echo.Seq || !sameIP(ie.Dst, e.dst) {
		p.mu.Unlock()
		return
	}
	p.removeLocked(e)
	p.mu.Unlock()
	msg := icmpErrorText(s.v6, ie.Type, ie.Code)
	if from.IsValid() {
		msg += " (from " + from.String() + ")"
	}
	e.done(Result{Time: e.start, Latency: now.Sub(e.start), Err: &CheckError{Type: TypeICMP, Target: e.dst.String(), Op: "echo",
		Err: &kindError{ErrUnreachable, errors.New(msg)}}})
}

// ipOf returns the address of an IP or UDP net.Addr, or the zero Addr.
func ipOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		return netip.Addr{}
	}
	got, _ := netip.AddrFromSlice(ip)
	return got.Unmap()
}

// sameIP reports whether got, an address off the wire, is want.
func sameIP(got, want netip.Addr) bool {
	return got.IsValid() && got.WithZone("").Unmap() == want.WithZone("").Unmap()
}

// sweep fails pings whose deadline passed; it runs while any are pending.
// It polls on a real ticker, and reads the time from the Pinger's clock.
func (p *Pinger) sweep() {
	defer p.wg.Done()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	var expired []*pingEntry
	for range t.C {
		now := p.clk.Now()
		p.mu.Lock()
		for p.heap.len() > 0 && p.heap.peekDue() <= int64(now.Sub(p.epoch)) {
			e := p.heap.pop()
			p.forgetLocked(e)
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

func (c *icmpChecker) start(_ *connector, _ time.Time, timeout time.Duration, done func(Result)) (Result, bool) {
	c.p.start(c.dst, c.src, c.mark, timeout, done)
	return Result{}, false
}
