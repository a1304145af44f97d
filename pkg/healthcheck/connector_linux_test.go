package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seesawd/seesawd/pkg/clock"
)

// The connector times its probes on the clock it is given (the Manager's):
// a probe to a silent server times out when that clock says so, with the
// latency it measured.
func TestConnectorInjectedClock(t *testing.T) {
	got := make(chan struct{})
	srv := tcpServer(t, func(c net.Conn) {
		c.Read(make([]byte, 16))
		close(got)
		c.Read(make([]byte, 1))
	})
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cn := newConnector(clk)
	defer cn.close()
	d := def(TypeTCP, srv)
	d.TCP = &TCPOptions{Send: []byte("hello"), Expect: []byte("+OK")}
	c, err := NewChecker(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan Result, 1)
	if r, decided := c.(asyncChecker).start(cn, clk.Now(), time.Second, func(r Result) { results <- r }); decided {
		t.Fatalf("verdict before the server replied: %+v", r)
	}
	<-got // the probe is connected, has written, and waits for a reply
	select {
	case r := <-results:
		t.Fatalf("verdict before the clock moved: %+v", r)
	default:
	}
	clk.Advance(time.Second)
	select {
	case r := <-results:
		wantFail(t, r, ErrTimeout, "read: timeout after 1s")
		if want := clk.Now().Add(-time.Second); r.Latency != time.Second || !r.Time.Equal(want) {
			t.Errorf("result at %v after %v, want at %v after 1s", r.Time, r.Latency, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no timeout once the clock passed the deadline")
	}
}

// A connect decided before start returns (on loopback the handshake
// completes inside connect, a refusal too) comes back from start, timed
// from the reading it was given; done is never called for it.
func TestConnectorInlineVerdict(t *testing.T) {
	up, down := tcpServer(t, func(net.Conn) {}), closedPort(t)
	cn := newConnector(clock.System{})
	defer cn.close()
	for _, tt := range []struct {
		target string
		want   error
	}{{up, nil}, {down, ErrRefused}} {
		c, err := NewChecker(def(TypeTCP, tt.target), nil)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		r, decided := c.(asyncChecker).start(cn, now, time.Second, func(r Result) { t.Errorf("done called with %+v", r) })
		if !decided {
			t.Fatalf("%s: no verdict from start on loopback", tt.target)
		}
		if !errors.Is(r.Err, tt.want) || tt.want == nil && r.Err != nil {
			t.Errorf("%s: error %v, want %v", tt.target, r.Err, tt.want)
		}
		if !r.Time.Equal(now) || r.Latency < 0 || r.Time.Add(r.Latency).After(time.Now()) {
			t.Errorf("%s: result at %v after %v, want at %v and ended by now", tt.target, r.Time, r.Latency, now)
		}
	}
}

// The connector's goroutine sleeps until the earliest deadline, so a
// probe with a shorter timeout than the one it waits for must wake it:
// the short probe's timeout comes first, while the long one still waits.
// Once nothing is pending the goroutine ends.
func TestConnectorShorterDeadlineWakes(t *testing.T) {
	silent := tcpServer(t, func(c net.Conn) { c.Read(make([]byte, 1)); c.Read(make([]byte, 1)) })
	cn := newConnector(clock.System{})
	defer cn.close()
	d := def(TypeTCP, silent)
	d.TCP = &TCPOptions{Send: []byte("x"), Expect: []byte("y")}
	c, err := NewChecker(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	long, short := make(chan Result, 1), make(chan Result, 1)
	start := func(timeout time.Duration, ch chan Result) {
		t.Helper()
		if r, decided := c.(asyncChecker).start(cn, time.Now(), timeout, func(r Result) { ch <- r }); decided {
			t.Fatalf("verdict before the server could reply: %+v", r)
		}
	}
	start(time.Hour, long)
	waitFor(t, "the connector to wait for the hour-long probe", func() bool {
		cn.mu.Lock()
		defer cn.mu.Unlock()
		return cn.waiting && cn.wakeAt.After(time.Now().Add(time.Minute))
	})
	start(50*time.Millisecond, short)
	select {
	case r := <-short:
		wantFail(t, r, ErrTimeout, "read: timeout after")
	case r := <-long:
		t.Fatalf("the hour-long probe ended first: %+v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("the short probe did not time out: the connector slept to the longer deadline")
	}
	cn.close()
	select {
	case r := <-long:
		wantFail(t, r, ErrClosed, "")
	case <-time.After(10 * time.Second):
		t.Fatal("close left a probe without a verdict")
	}
	if cn.running {
		t.Error("the connector's goroutine runs on after close")
	}
}

// With nothing pending the goroutine ends, and the next probe starts another.
func TestConnectorGoroutineEndsWhenIdle(t *testing.T) {
	echo := tcpServer(t, func(c net.Conn) {
		b := make([]byte, 4)
		n, _ := c.Read(b)
		c.Write(b[:n])
	})
	cn := newConnector(clock.System{})
	defer cn.close()
	d := def(TypeTCP, echo)
	d.TCP = &TCPOptions{Send: []byte("ping"), Expect: []byte("ping")}
	c, err := NewChecker(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		ch := make(chan Result, 1)
		r, decided := c.(asyncChecker).start(cn, time.Now(), 5*time.Second, func(r Result) { ch <- r })
		if !decided {
			r = <-ch
		}
		wantOK(t, r)
		waitFor(t, fmt.Sprintf("the connector's goroutine to end after probe %d", i), func() bool {
			cn.mu.Lock()
			defer cn.mu.Unlock()
			return !cn.running
		})
	}
}

// BenchmarkTCPConnectLoopback measures one connect check on the epoll
// connector (allocations per check; the syscalls dominate time). The
// listener defers accepting until data arrives, which a bare connect never
// sends: the probe's RST ends the connection before it reaches the accept
// queue, so the benchmark times the check alone and cannot overflow the
// backlog when an accept loop falls behind on a loaded machine.
func BenchmarkTCPConnectLoopback(b *testing.B) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 60) })
		return errors.Join(err, serr)
	}}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c, err := NewChecker(Definition{Type: TypeTCP, Target: netip.MustParseAddrPort(l.Addr().String()), Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 1, Fall: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	a := c.(asyncChecker)
	cn := newConnector(clock.System{})
	defer cn.close()
	ch := make(chan Result, 1)
	done := func(r Result) { ch <- r }
	b.ReportAllocs()
	for b.Loop() {
		r, decided := a.start(cn, time.Now(), time.Second, done)
		if !decided {
			r = <-ch
		}
		if !r.OK() {
			b.Fatal(r.Err)
		}
	}
}

// The inline path lays out the destination itself and closes with an RST
// (SO_LINGER 0, no TIME_WAIT on the checker): over IPv4 and IPv6 loopback
// the server's connection is reset, not closed, and a closed port is
// refused.
func TestConnectorRawPathResetsAndRefuses(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		host := map[string]string{"tcp4": "127.0.0.1", "tcp6": "[::1]"}[network]
		l, err := net.Listen(network, host+":0")
		if err != nil {
			t.Skipf("%s loopback: %v", network, err)
		}
		reads := make(chan error, 1)
		up := serve(t, l, func(c net.Conn) {
			_, err := c.Read(make([]byte, 1))
			reads <- err
		})
		down, err := net.Listen(network, host+":0")
		if err != nil {
			t.Fatal(err)
		}
		refused := down.Addr().String()
		down.Close()
		cn := newConnector(clock.System{})
		defer cn.close()
		if r := probe(t, cn, up); r.Err != nil {
			t.Errorf("%s %s: error %v, want none", network, up, r.Err)
		}
		if r := probe(t, cn, refused); !errors.Is(r.Err, ErrRefused) {
			t.Errorf("%s %s: error %v, want %v", network, refused, r.Err, ErrRefused)
		}
		select {
		case err := <-reads:
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("%s: the server read %v, want a reset (ECONNRESET)", network, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the server never saw the probe's connection end", network)
		}
	}
}

// probe runs a TCP connect check to target on cn and returns its verdict,
// reached inline or by the connector.
func probe(t *testing.T, cn *connector, target string) Result {
	t.Helper()
	c, err := NewChecker(def(TypeTCP, target), nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Result, 1)
	r, decided := c.(asyncChecker).start(cn, time.Now(), 5*time.Second, func(r Result) { ch <- r })
	if !decided {
		r = <-ch
	}
	return r
}

// A bare connect decided inline hands its socket back disconnected, and
// the next probe of the same kind connects with it: one socket serves
// them all, each connection still ends with an RST at the server, a probe
// to a closed port on a reused socket is refused (nothing of the last
// connection is left on it) and its socket is closed, not kept; close
// closes the spare.
func TestConnectorReusesSocket(t *testing.T) {
	resets := make(chan error, 16)
	up := tcpServer(t, func(c net.Conn) {
		_, err := c.Read(make([]byte, 1))
		resets <- err
	})
	down := closedPort(t)
	cn := newConnector(clock.System{})
	defer cn.close()
	spareFD := func() int {
		t.Helper()
		cn.spares.mu.Lock()
		defer cn.spares.mu.Unlock()
		if len(cn.spares.idle) != 1 {
			t.Fatalf("%d spare sockets, want 1", len(cn.spares.idle))
		}
		return cn.spares.idle[0].fd
	}
	wantOK(t, probe(t, cn, up))
	fd := spareFD()
	for range 3 {
		wantOK(t, probe(t, cn, up))
		if got := spareFD(); got != fd {
			t.Fatalf("probe used socket %d and kept it, want the spare %d reused", got, fd)
		}
	}
	for i := range 4 {
		select {
		case err := <-resets:
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("connection %d: the server read %v, want a reset (ECONNRESET)", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("connection %d: the server never saw it end", i)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	wantFail(t, probe(t, cn, down), ErrRefused, "connect")
	cn.spares.mu.Lock()
	left := len(cn.spares.idle)
	cn.spares.mu.Unlock()
	if left != 0 {
		t.Errorf("%d spare sockets after a refused connect, want it closed", left)
	}
	wantOK(t, probe(t, cn, up))
	fd = spareFD()
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	cn.close()
	var after unix.Stat_t
	if err := unix.Fstat(fd, &after); err == nil && after.Ino == st.Ino {
		t.Error("the spare socket is still open after close")
	}
}
