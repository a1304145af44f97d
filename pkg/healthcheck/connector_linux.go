package healthcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
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
	sa4    unix.SockaddrInet4
	sa6    unix.SockaddrInet6
	src    netip.Addr
	mark   uint32
	conv   *conversation
}

func newConnectDest(d Definition, conv *conversation, _ Checker) connectDest {
	cd := connectDest{typ: d.Type, target: d.Target.String(), src: d.Source.Unmap(), mark: d.Mark, conv: conv}
	a := d.Target.Addr().Unmap()
	if a.Is4() {
		cd.family = unix.AF_INET
		cd.sa4 = unix.SockaddrInet4{Port: int(d.Target.Port()), Addr: a.As4()}
	} else {
		cd.family = unix.AF_INET6
		cd.sa6 = unix.SockaddrInet6{Port: int(d.Target.Port()), Addr: a.As16()}
		if z := a.Zone(); z != "" {
			if zi, err := zoneIndex(z); err == nil {
				cd.sa6.ZoneId = zi
			}
		}
	}
	return cd
}

// Probe progress.
const (
	stConnecting uint8 = iota
	stWriting
	stReading
)

// connect opens a non-blocking socket and starts the connect. On loopback
// and other very short paths the handshake has completed by the time
// connect returns: a zero-timeout poll settles it here, without an epoll
// round trip, and a bare connect is closed before the server even accepts
// (what the kernel alone costs). Anything still in progress goes to c.
// done is called exactly once, possibly before connect returns.
func (cd *connectDest) connect(c *connector, timeout time.Duration, done func(Result)) {
	start := c.clk.Now()
	e := &connEntry{fd: -1, dest: cd, c: c, start: start, deadline: start.Add(timeout), done: done}
	fd, err := cd.open()
	if err == nil {
		e.fd = int32(fd)
		if cd.family == unix.AF_INET {
			sa := cd.sa4
			err = unix.Connect(fd, &sa)
		} else {
			sa := cd.sa6
			err = unix.Connect(fd, &sa)
		}
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
			e.finishNow()
			return
		}
	}
	if err != nil {
		e.err = err
		e.finishNow()
		return
	}
	c.add(e)
}

var errConnectedNow = errors.New("connected at once")

// pollConnected returns errConnectedNow, the connect error, or nil when
// the connect is still in progress.
func pollConnected(fd int) error {
	pfd := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(pfd[:], 0)
	switch {
	case err != nil || n == 0:
		return nil
	case pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0:
		return sockError(fd)
	case pfd[0].Revents&unix.POLLOUT != 0:
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

func (cd *connectDest) open() (int, error) {
	fd, err := unix.Socket(cd.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := setSockopts(fd, cd.mark, true); err != nil {
		unix.Close(fd)
		return -1, err
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

// finishNow closes the socket and reports the verdict.
func (e *connEntry) finishNow() {
	if e.fd >= 0 {
		unix.Close(int(e.fd))
	}
	e.finish(e.c.clk.Now())
}

func (e *connEntry) finish(now time.Time) {
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
	e.done(Result{Time: e.start, Latency: now.Sub(e.start), Err: err, Detail: detail})
}

// connector owns one epoll instance on which a Manager's in-flight socket
// probes wait, and one goroutine that completes them. The goroutine runs
// while probes are pending and ends after a second without any; close
// fails the probes still in flight, closes their sockets and waits for it.
// Deadlines and latencies are on clk.
type connector struct {
	clk   clock.Clock
	epoch time.Time
	wg    sync.WaitGroup

	mu      sync.Mutex
	epfd    int
	pending map[int32]*connEntry
	heap    dueHeap[*connEntry] // by deadline, as nanoseconds since epoch
	ready   []*connEntry        // failed to register
	running bool
	closed  bool
}

func newConnector(clk clock.Clock) *connector {
	return &connector{clk: clk, epoch: clk.Now(), epfd: -1, pending: make(map[int32]*connEntry)}
}

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
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			e.err = fmt.Errorf("epoll_create: %w", err)
		} else {
			c.epfd = epfd
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
	if e.err != nil {
		c.ready = append(c.ready, e)
	}
	if !c.running {
		c.running = true
		c.wg.Add(1)
		go c.loop()
	}
}

// key is t as the heap's key.
func (c *connector) key(t time.Time) int64 { return int64(t.Sub(c.epoch)) }

// close fails the probes in flight with ErrClosed, closes their sockets
// and the epoll instance, and returns once the goroutine has ended.
func (c *connector) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epfd >= 0 {
		unix.Close(c.epfd)
		c.epfd = -1
	}
}

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
	idleSince := c.clk.Now()
	for {
		c.mu.Lock()
		epfd, immediate := c.epfd, len(c.ready) > 0
		c.mu.Unlock()
		wait := int(connectorTick / time.Millisecond)
		if immediate {
			wait = 0
		}
		n, err := unix.EpollWait(epfd, events, wait)
		if err != nil {
			n = 0
		}
		// Only this goroutine finishes entries, so their I/O needs no lock.
		c.mu.Lock()
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
		exit := closed
		if len(c.pending) > 0 || len(done) > 0 {
			idleSince = now
		} else if now.Sub(idleSince) > time.Second {
			c.running = false
			exit = true
		}
		c.mu.Unlock()
		for i, e := range done {
			if e.fd >= 0 {
				unix.Close(int(e.fd))
			}
			e.finish(now)
			done[i] = nil
		}
		done = done[:0]
		if exit {
			return
		}
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
