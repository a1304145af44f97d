package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestManagerCloseLeavesNothing: once Close returns, no goroutine the
// manager started (scheduler, workers, connector, pinger reader and sweep)
// is left, and none of the probe sockets in flight at Close is open.
func TestManagerCloseLeavesNothing(t *testing.T) {
	srv, accepted, stopServer := silentServer(t)
	before := ownGoroutines()
	fds := openFDs(t)

	m := New(nil)
	const n = 500
	var checks []Check
	for i := range n {
		// Plain HTTP runs on the connector, HTTPS on the worker pool; the
		// silent server keeps both waiting for a response.
		d := Definition{Type: TypeHTTP, Target: srv, Interval: time.Second, Timeout: 900 * time.Millisecond, Rise: 1, Fall: 1,
			HTTP: &HTTPOptions{Path: fmt.Sprintf("/%d", i)}}
		if i%50 == 0 {
			d.Type = TypeHTTPS
			d.HTTP.InsecureSkipVerify = true
		}
		checks = append(checks, Check{ID: fmt.Sprint(i), Definition: d})
	}
	// Bare TCP connects to it succeed at once and leave a spare socket.
	checks = append(checks, Check{ID: "tcp", Definition: Definition{Type: TypeTCP, Target: srv, Interval: 50 * time.Millisecond, Timeout: 40 * time.Millisecond, Rise: 1, Fall: 1}})
	checks = append(checks, Check{ID: "icmp", Definition: Definition{Type: TypeICMP, Target: netip.MustParseAddrPort("127.0.0.1:0"),
		Interval: 50 * time.Millisecond, Timeout: 40 * time.Millisecond, Rise: 1, Fall: 1}})
	if err := m.Update(context.Background(), checks); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for accepted() < n/2 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d probes reached the server", accepted())
		}
		time.Sleep(time.Millisecond)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	waitGoroutinesGone(t, before)
	// The server's own sockets go too; what is left open is the manager's.
	stopServer()
	if got := openFDs(t); got > fds-1 {
		t.Errorf("%d file descriptors open after Close, %d before New", got+1, fds)
	}
}

// silentServer accepts TCP connections and never answers, so probes to it
// stay in flight. accepted counts them; stop closes the listener and every
// connection, and returns once the accept loop has ended.
func silentServer(t *testing.T) (addr netip.AddrPort, accepted func() int, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			l.Close()
			<-done
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
	}
	t.Cleanup(stop)
	accepted = func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
	return l.Addr().(*net.TCPAddr).AddrPort(), accepted, stop
}
