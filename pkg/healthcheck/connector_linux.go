package healthcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seesawd/seesawd/pkg/clock"
)

// connectDest is a precomputed TCP probe for the epoll connector: a
// connect, optionally followed by a conversation.
type connectDest struct {
	typ    Type
	target string
	family int
	sa     rawSockaddr
	src    netip.Addr
	mark   uint32
	conv   *conversation
}

func newConnectDest(d Definition, conv *conversation, _ Checker) connectDest {
	cd := connectDest{typ: d.Type, target: d.Target.String(), src: d.Source.Unmap(), mark: d.Mark, conv: conv}
	a := d.Target.Addr().Unmap()
	var zone uint32
	if a.Is4() {
		cd.family = unix.AF_INET
	} else {
		cd.family = unix.AF_INET6
		if z := a.Zone(); z != "" {
			if zi, err := zoneIndex(z); err == nil {
				zone = zi
			}
		}
	}
	cd.sa = newRawSockaddr(d.Target, zone)
	return cd
}

// Probe progress.
const (
	stConnecting uint8 = iota
	stWriting
	stReading
)

// connect opens a non-blocking socket and starts the connect at now, a
// reading of c's clock. On loopback and other very short paths the
// handshake has completed by the time connect returns: a zero-timeout poll
// settles it here, without an epoll round trip, and a bare connect is
// closed before the server even accepts (what the kernel alone costs).
// Such a verdict is returned, with decided true, and done is not called;
// anything still in progress goes to c, which calls done exactly once.
func (cd *connectDest) connect(c *connector, now time.Time, timeout time.Duration, done func(Result)) (res Result, decided bool) {
	e := connEntry{fd: -1, dest: cd, c: c, start: now, deadline: now.Add(timeout), done: done}
	fd, err := cd.open(c)
	if err == nil {
		e.fd = int32(fd)
		err = rawConnect(fd, &cd.sa)
		switch err {
		case nil:
			err = errConnectedNow
		case unix.EINPROGRESS:
			err = pollConnected(fd)
		}
	}
	if err == errConnectedNow && cd.conv != nil {
		// Connected: start talking right away.
		e.state = stWriting
		err = nil
		if e.write() {
			return e.closeNow(), true
		}
	}
	if err != nil {
		e.err = err
		return e.closeNow(), true
	}
	// Only a probe that waits for the network needs its entry on the heap.
	pe := new(connEntry)
	*pe = e
	c.add(pe)
	return Result{}, false
}

var errConnectedNow = errors.New("connected at once")

// pollConnected returns errConnectedNow, the connect error, or nil when
// the connect is still in progress.
func pollConnected(fd int) error {
	revents, err := rawPollOut(fd)
	switch {
	case err != nil || revents == 0:
		return nil
	case revents&(unix.POLLERR|unix.POLLHUP) != 0:
		return sockError(fd)
	case revents&unix.POLLOUT != 0:
		return errConnectedNow
	}
	return nil
}

func sockError(fd int) error {
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		return err
	case soerr != 0:
		return unix.Errno(soerr)
	}
	return unix.ECONNRESET
}

// kind is which spare sockets (see spares) cd's probes can use.
func (cd *connectDest) kind() spareKind {
	return spareKind{family: cd.family, mark: cd.mark, src: cd.src}
}

// open returns a spare socket for cd from c, or a new one.
func (cd *connectDest) open(c *connector) (int, error) {
	if fd := c.spares.take(cd.kind()); fd >= 0 {
		return fd, nil
	}
	fd, err := rawSocket(cd.family)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := setSockopts(fd, cd.mark, false); err != nil {
		rawClose(fd)
		return -1, err
	}
	if err := rawLinger0(fd); err != nil {
		rawClose(fd)
		return -1, &opError{"setsockopt SO_LINGER", err}
	}
	if cd.src.IsValid() {
		// Let connect pick the port: a bound port per probe would exhaust
		// the ephemeral range at thousands of checks per second.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		var sa unix.Sockaddr
		if cd.family == unix.AF_INET {
			sa = &unix.SockaddrInet4{Addr: cd.src.As4()}
		} else {
			sa = &unix.SockaddrInet6{Addr: cd.src.As16()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("bind %s: %w", cd.src, err)
		}
	}
	return fd, nil
}

// connEntry is one probe in flight.
type connEntry struct {
	fd       int32
	state    uint8
	wrote    int
	reply    []byte
	dest     *connectDest
	c        *connector
	start    time.Time
	deadline time.Time
	done     func(Result)
	heapIdx  int

	// The verdict, once decided (decided says so for a conversation).
	decided bool
	err     error
	detail  string
}

func (e *connEntry) setHeapIndex(i int) { e.heapIdx = i }

// write sends (the rest of) the request and reports whether the probe is
// decided (a write error). On success it moves to stReading.
func (e *connEntry) write() bool {
	req := e.dest.conv.request
	for e.wrote < len(req) {
		n, err := unix.Write(int(e.fd), req[e.wrote:])
		if err == unix.EAGAIN {
			return false
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			e.err = fmt.Errorf("write: %w", err)
			return true
		}
		e.wrote += n
	}
	e.state = stReading
	if e.dest.conv.judge == nil {
		// Nothing to wait for: sending was the check.
		e.decided, e.detail = true, "sent"
		return true
	}
	return false
}

// read drains what the server sent and reports whether the probe is decided.
func (e *connEntry) read() bool {
	conv := e.dest.conv
	for {
		if len(e.reply) == cap(e.reply) {
			e.reply = append(e.reply, make([]byte, max(512, cap(e.reply)))...)[:len(e.reply)]
		}
		room := min(cap(e.reply), conv.max) - len(e.reply)
		n, err := unix.Read(int(e.fd), e.reply[len(e.reply):len(e.reply)+room])
		switch {
		case err == unix.EAGAIN:
			return e.judge(false)
		case err == unix.EINTR:
			continue
		case err != nil:
			// What came before the error is judged first, as converse does.
			if e.judge(false) {
				return true
			}
			e.err = fmt.Errorf("read: %w", err)
			return true
		}
		e.reply = e.reply[:len(e.reply)+n]
		if n == 0 || len(e.reply) >= conv.max {
			return e.judge(true)
		}
	}
}

func (e *connEntry) judge(eof bool) bool {
	decided, detail, err := e.dest.conv.verdict(e.reply, eof)
	if decided {
		e.decided, e.detail, e.err = true, detail, err
	}
	return decided
}

// closeNow closes the socket and returns the verdict, timed by one more
// reading of the clock.
func (e *connEntry) closeNow() Result {
	switch {
	case e.fd < 0:
	case e.err == errConnectedNow && e.dest.conv == nil:
		// A bare connect that succeeded: the socket serves the next probe.
		e.c.spares.put(e.dest.kind(), int(e.fd))
	default:
		rawClose(int(e.fd))
	}
	return e.result(after(e.c.clk, e.start))
}

// finishNow closes the socket and reports the verdict to done.
func (e *connEntry) finishNow() { e.done(e.closeNow()) }

func (e *connEntry) finish(now time.Time) { e.done(e.result(now)) }

// result is the probe's verdict at now.
func (e *connEntry) result(now time.Time) Result {
	err, detail := e.err, e.detail
	switch {
	case e.decided:
		// The judge's verdict, a CheckError already.
	case err == errConnectedNow || err == nil:
		err, detail = nil, "connected"
	case e.dest.conv == nil && (errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE)):
		// The kernel reports a reset in SYN_SENT as ECONNREFUSED; these
		// mean the connection was established, then closed by the
		// server before we looked: the listener is alive.
		err, detail = nil, "connected"
	default:
		op := "connect"
		switch e.state {
		case stWriting:
			op = e.dest.conv.writeOp
		case stReading:
			op = e.dest.conv.readOp
		}
		err = classify(e.dest.typ, e.dest.target, op, err)
	}
	e.reply = nil
	return Result{Time: e.start, Latency: now.Sub(e.start), Err: err, Detail: detail}
}

// connector owns one epoll instance on which a Manager's in-flight socket
// probes wait, and one goroutine that completes them. The goroutine runs
// only while probes are pending (most probes on a short path are decided
// inline and never get here): it blocks in epoll_wait until a probe's
// socket is ready or the earliest deadline, and an eventfd in the same
// epoll instance pokes it early (a probe failed to register, a shorter
// deadline, close). A thread blocked in a system call keeps the Go
// runtime's sysmon awake, so the goroutine ends as soon as nothing is
// pending. close fails the probes still in flight, closes their sockets
// and waits for it. Deadlines and latencies are on clk.
//
// (An earlier version waited in the netpoller with the epoll instance
// nested in the runtime's: in the VM lab the guest's kernel then locked up
// twice in three runs, soft lockups on both CPUs in the checker process.)
type connector struct {
	clk   clock.Clock
	sys   bool // clk is the system clock: wait for deadlines, not ticks
	epoch time.Time
	wg    sync.WaitGroup
	// flush, when set, is called after the goroutine has handed over a
	// batch of verdicts, during which batching is set.
	flush    func()
	batching atomic.Bool

	spares spares

	mu      sync.Mutex
	epfd    int
	evfd    int // an eventfd in epfd, to poke the goroutine
	pending map[int32]*connEntry
	heap    dueHeap[*connEntry] // by deadline, as nanoseconds since epoch
	ready   []*connEntry        // failed to register
	running bool
	closed  bool
	// waiting says the goroutine is (about to be) parked until wakeAt.
	waiting bool
	wakeAt  time.Time
}

func newConnector(clk clock.Clock) *connector {
	_, sys := clk.(clock.System)
	return &connector{clk: clk, sys: sys, epoch: clk.Now(), epfd: -1, evfd: -1, pending: make(map[int32]*connEntry)}
}

// inBatch says whether the goroutine is handing over verdicts, with a
// flush to follow.
func (c *connector) inBatch() bool { return c.batching.Load() }

// add registers a probe whose socket waits for the network.
func (c *connector) add(e *connEntry) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		e.err = ErrClosed
		e.finishNow()
		return
	}
	defer c.mu.Unlock()
	if c.epfd < 0 {
		if err := c.open(); err != nil {
			e.err = err
		}
	}
	if e.err == nil {
		c.pending[e.fd] = e
		c.heap.push(e, c.key(e.deadline))
		ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: e.fd}
		if e.state == stReading {
			ev.Events = unix.EPOLLIN | unix.EPOLLRDHUP
		}
		if err := unix.EpollCtl(c.epfd, unix.EPOLL_CTL_ADD, int(e.fd), &ev); err != nil {
			delete(c.pending, e.fd)
			c.heap.remove(e.heapIdx)
			e.err = fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	switch {
	case e.err != nil:
		c.ready = append(c.ready, e)
		c.wake(time.Time{})
	case c.sys && e.deadline.Before(c.wakeAt):
		// A shorter timeout than those waited for.
		c.wake(e.deadline)
	}
	if !c.running {
		c.running = true
		c.wg.Add(1)
		go c.loop()
	}
}

// open creates the epoll instance and the eventfd that pokes its waiter.
// c.mu is held.
func (c *connector) open() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	c.epfd, c.evfd = epfd, evfd
	return nil
}

// wake makes the waiting goroutine wake at t, or at once for a zero t: it
// wakes now and waits again, for t. c.mu is held.
func (c *connector) wake(t time.Time) {
	if !c.waiting {
		return // it looks at c before it waits again
	}
	c.wakeAt = t
	one := [8]byte{1}
	_, _ = unix.Write(c.evfd, one[:])
}

// waitMillis is epoll_wait's timeout for a wait of d, rounded up to a
// millisecond (so that a deadline is past when it ends) and at most an hour.
func waitMillis(d time.Duration) int {
	return int(min(max(d, 0)+time.Millisecond-1, time.Hour) / time.Millisecond)
}

// key is t as the heap's key.
func (c *connector) key(t time.Time) int64 { return int64(t.Sub(c.epoch)) }

// close fails the probes in flight with ErrClosed, closes their sockets,
// the spare ones and the epoll instance, and returns once the goroutine
// has ended.
func (c *connector) close() {
	c.mu.Lock()
	c.closed = true
	c.wake(time.Time{})
	c.mu.Unlock()
	c.wg.Wait()
	c.spares.close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epfd >= 0 {
		unix.Close(c.evfd)
		unix.Close(c.epfd)
		c.epfd, c.evfd = -1, -1
	}
}

// connectorTick bounds the goroutine's sleep on a clock other than the
// system's, whose deadlines epoll_wait cannot follow.
const connectorTick = 5 * time.Millisecond

func (c *connector) loop() {
	defer c.wg.Done()
	events := make([]unix.EpollEvent, 512)
	type activeEntry struct {
		e  *connEntry
		ev uint32
	}
	var active []activeEntry
	var done []*connEntry
	for {
		c.mu.Lock()
		park := !c.closed && len(c.ready) == 0
		if park && len(c.pending) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		msec := 0
		if park {
			c.waiting = true
			c.wakeAt = c.heap.peek().deadline
			msec = waitMillis(connectorTick)
			if c.sys {
				msec = waitMillis(time.Until(c.wakeAt))
			}
		}
		epfd, evfd := c.epfd, c.evfd
		c.mu.Unlock()
		n, err := unix.EpollWait(epfd, events, msec)
		if err != nil {
			n = 0 // EINTR: look again
		}
		// Only this goroutine finishes entries, so their I/O needs no lock.
		c.mu.Lock()
		c.waiting = false
		done = append(done, c.ready...)
		clear(c.ready)
		c.ready = c.ready[:0]
		closed := c.closed
		if closed {
			for _, e := range c.pending {
				e.decided, e.err = false, ErrClosed
				done = append(done, e)
			}
			clear(c.pending)
			c.heap = dueHeap[*connEntry]{}
			c.running = false
			n = 0
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(evfd) {
				var b [8]byte
				_, _ = unix.Read(evfd, b[:])
				continue
			}
			if e := c.pending[ev.Fd]; e != nil {
				active = append(active, activeEntry{e, ev.Events})
			}
		}
		c.mu.Unlock()
		var finished []*connEntry
		for i, a := range active {
			if c.progress(a.e, a.ev) {
				finished = append(finished, a.e)
			}
			active[i] = activeEntry{}
		}
		active = active[:0]
		now := c.clk.Now()
		c.mu.Lock()
		for _, e := range finished {
			delete(c.pending, e.fd)
			c.heap.remove(e.heapIdx)
		}
		done = append(done, finished...)
		for c.heap.len() > 0 && c.heap.peekDue() <= c.key(now) {
			e := c.heap.pop()
			delete(c.pending, e.fd)
			e.decided = false
			e.err = timeout("timeout after %v", now.Sub(e.start).Round(time.Millisecond))
			done = append(done, e)
		}
		c.mu.Unlock()
		if len(done) > 0 {
			c.handOver(done, now)
			done = done[:0]
		}
		if closed {
			return
		}
	}
}

// handOver closes the decided probes' sockets and reports their verdicts
// at now as one batch: the Manager wakes once for them, not once for each.
// batching is set only around a batch that is followed by a flush, so that
// whoever else delivers while it is set (a worker, the pinger) and leaves
// the wake-up to the flush is not left waiting.
func (c *connector) handOver(done []*connEntry, now time.Time) {
	c.batching.Store(true)
	for i, e := range done {
		if e.fd >= 0 {
			unix.Close(int(e.fd))
		}
		e.finish(now)
		done[i] = nil
	}
	c.batching.Store(false)
	if c.flush != nil {
		c.flush()
	}
}

// progress advances a probe on an epoll event; it reports whether the
// probe is decided.
func (c *connector) progress(e *connEntry, ev uint32) bool {
	switch e.state {
	case stConnecting:
		if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			e.err = sockError(int(e.fd))
			return true
		}
		if e.dest.conv == nil {
			return true
		}
		e.state = stWriting
		fallthrough
	case stWriting:
		if ev&unix.EPOLLERR != 0 {
			e.err = sockError(int(e.fd))
			return true
		}
		if e.write() {
			return true
		}
		if e.state == stReading {
			mod := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: e.fd}
			if err := unix.EpollCtl(c.epfd, unix.EPOLL_CTL_MOD, int(e.fd), &mod); err != nil {
				e.err = fmt.Errorf("epoll_ctl: %w", err)
				return true
			}
		}
		return false
	default:
		return e.read()
	}
}
