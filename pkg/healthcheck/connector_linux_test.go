package healthcheck

import (
	"context"
	"errors"
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
	c.(asyncChecker).start(cn, time.Second, func(r Result) { results <- r })
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
		a.start(cn, time.Second, done)
		if r := <-ch; !r.OK() {
			b.Fatal(r.Err)
		}
	}
}
