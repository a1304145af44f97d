package healthcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// connectDest is a precomputed TCP connect probe for the epoll connector.
type connectDest struct {
	target string
	family int
	sa4    unix.SockaddrInet4
	sa6    unix.SockaddrInet6
	src    netip.Addr
	mark   uint32
}

func newConnectDest(d Definition) connectDest {
	cd := connectDest{target: d.Target.String(), src: d.Source.Unmap(), mark: d.Mark}
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

// connect opens a non-blocking socket, starts the connect and hands it to
// the shared epoll connector. done is always called from the connector's
// goroutine.
func (cd *connectDest) connect(deadline time.Time, done func(Result)) {
	start := time.Now()
	fd, err := cd.open()
	if err == nil {
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
			// On loopback and other very short paths the handshake has
			// completed by the time connect returns: a zero-timeout poll
			// settles it here, without an epoll round trip, and closes
			// before the server even accepts (what the kernel alone
			// costs). Otherwise the connector waits for it.
			err = pollConnected(fd)
		}
	}
	if err == nil {
		defaultConnector.add(fd, cd, start, deadline, done)
		return
	}
	// Settled already: no connector round trip.
	if fd >= 0 {
		unix.Close(fd)
	}
	e := connEntry{dest: cd, start: start, done: done, err: err}
	e.finish(time.Now())
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
		soerr, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if gerr != nil {
			return gerr
		}
		if soerr == 0 {
			return unix.ECONNRESET
		}
		return unix.Errno(soerr)
	case pfd[0].Revents&unix.POLLOUT != 0:
		return errConnectedNow
	}
	return nil
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

// connector owns one epoll instance on which all in-flight non-blocking
// connects wait, and one goroutine that completes them. The goroutine
// exits when nothing has been pending for a second and restarts on demand.
type connector struct {
	mu      sync.Mutex
	epfd    int
	pending map[int32]*connEntry
	heap    deadlineHeap[*connEntry]
	ready   []*connEntry // finished before reaching epoll (errors, instant connects)
	running bool
	events  []unix.EpollEvent
}

type connEntry struct {
	fd       int32
	dest     *connectDest
	start    time.Time
	deadline time.Time
	done     func(Result)
	err      error
	heapIdx  int
}

func (e *connEntry) when() time.Time { return e.deadline }
func (e *connEntry) setIndex(i int)  { e.heapIdx = i }
func (e *connEntry) index() int      { return e.heapIdx }
func (e *connEntry) finish(now time.Time) {
	var err error
	switch {
	case e.err == errConnectedNow || e.err == nil:
	case errors.Is(e.err, unix.ECONNRESET), errors.Is(e.err, unix.EPIPE):
		// The kernel reports a reset in SYN_SENT as ECONNREFUSED; these
		// mean the connection was established, then closed by the
		// server before we looked: the listener is alive.
	default:
		err = classify(TypeTCP, e.dest.target, "connect", e.err)
	}
	e.done(Result{Time: e.start, Latency: now.Sub(e.start), Err: err, Detail: detailFor(err)})
}

func detailFor(err error) string {
	if err == nil {
		return "connected"
	}
	return ""
}

var defaultConnector = &connector{epfd: -1, pending: make(map[int32]*connEntry)}

// add registers fd, whose connect is in progress.
func (c *connector) add(fd int, cd *connectDest, start, deadline time.Time, done func(Result)) {
	e := &connEntry{fd: int32(fd), dest: cd, start: start, deadline: deadline, done: done}
	c.mu.Lock()
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
		c.heap.push(e)
		ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: e.fd}
		if err := unix.EpollCtl(c.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
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
		go c.loop()
	}
}

const connectorTick = 5 * time.Millisecond

func (c *connector) loop() {
	events := make([]unix.EpollEvent, 512)
	var done []*connEntry
	idleSince := time.Now()
	for {
		c.mu.Lock()
		epfd, immediate := c.epfd, len(c.ready) > 0
		c.mu.Unlock()
		wait := int(connectorTick / time.Millisecond)
		if immediate {
			wait = 0
		}
		n, err := unix.EpollWait(epfd, events, wait)
		if err != nil && err != unix.EINTR {
			n = 0
		}
		now := time.Now()
		c.mu.Lock()
		done = append(done, c.ready...)
		clear(c.ready)
		c.ready = c.ready[:0]
		for i := range n {
			e := c.pending[events[i].Fd]
			if e == nil {
				continue
			}
			delete(c.pending, e.fd)
			c.heap.remove(e.heapIdx)
			if events[i].Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				soerr, gerr := unix.GetsockoptInt(int(e.fd), unix.SOL_SOCKET, unix.SO_ERROR)
				switch {
				case gerr != nil:
					e.err = gerr
				case soerr != 0:
					e.err = unix.Errno(soerr)
				default:
					e.err = unix.ECONNRESET
				}
			}
			done = append(done, e)
		}
		for c.heap.len() > 0 && !c.heap.peek().deadline.After(now) {
			e := c.heap.pop()
			delete(c.pending, e.fd)
			e.err = fmt.Errorf("%w after %v", ErrTimeout, now.Sub(e.start).Round(time.Millisecond))
			done = append(done, e)
		}
		exit := false
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
