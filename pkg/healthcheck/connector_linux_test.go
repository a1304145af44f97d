package healthcheck

import (
	"net"
	"testing"
	"time"

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
