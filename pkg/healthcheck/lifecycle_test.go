package healthcheck

import (
	"bytes"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ownGoroutines returns the goroutines running code of this package's
// non-test files, by goroutine id, with their stacks.
func ownGoroutines() map[string]string {
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Dir(self) + "/"
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		head, _, _ := bytes.Cut(g, []byte(" ["))
		for line := range bytes.SplitSeq(g, []byte("\n")) {
			file, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(":"))
			if f := string(file); strings.HasPrefix(f, dir) && !strings.HasSuffix(f, "_test.go") {
				out[string(head)] = string(g)
				break
			}
		}
	}
	return out
}

// waitGoroutinesGone waits, briefly, until every goroutine of the package
// that was not in before has ended. A goroutine that has signalled its
// exit may take a moment to return; one still working does not end.
func waitGoroutinesGone(t *testing.T, before map[string]string) {
	t.Helper()
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		var left []string
		for id, stack := range ownGoroutines() {
			if _, ok := before[id]; !ok {
				left = append(left, stack)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines of the package left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
			return
		}
		runtime.Gosched()
	}
}

// TestPingerCloseWaits: Close fails the pings in flight with ErrClosed and
// returns once the receive loops and the sweep have ended.
func TestPingerCloseWaits(t *testing.T) {
	before := ownGoroutines()
	conns := []*fakeICMP{newFakeICMP(), newFakeICMP()}
	p := NewPinger(&PingerConfig{Listen: func(v6 bool, _ netip.Addr, _ uint32) (net.PacketConn, bool, error) {
		if v6 {
			return conns[1], false, nil
		}
		return conns[0], false, nil
	}})
	results := make(chan Result, 2)
	for _, dst := range []string{"10.0.0.9", "2001:db8::9"} {
		p.start(netip.MustParseAddr(dst), netip.Addr{}, 0, time.Hour, func(r Result) { results <- r })
	}
	conns[0].next(t)
	conns[1].next(t)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case r := <-results:
			wantFail(t, r, ErrClosed, "echo")
		default:
			t.Fatal("Close returned before failing the pending pings")
		}
	}
	waitGoroutinesGone(t, before)
	p.start(netip.MustParseAddr("10.0.0.9"), netip.Addr{}, 0, time.Hour, func(r Result) { results <- r })
	wantFail(t, <-results, ErrClosed, "echo")
}
