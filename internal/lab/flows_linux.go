//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Flows are long-lived TCP connections from the client, each exchanging a
// line with an echo server every interval and remembering whether it ever
// broke (an error, a reset, a wrong echo, or no echo within StallLimit).
type Flows struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	flows []*flow
}

// StallLimit is how long a flow may wait for its echo before it counts as
// broken: longer than any failover the tests provoke, so a stall that
// recovers is a survival and only a lost connection a break.
const StallLimit = 20 * time.Second

type flow struct {
	conn     net.Conn
	port     uint16
	err      error
	brokeAt  time.Time
	lastOK   time.Time
	maxStall time.Duration
}

// OpenFlows opens n connections to addr and starts exchanging on each
// every interval. It fails if any connection cannot be opened.
func (n *Node) OpenFlows(ctx context.Context, addr netip.AddrPort, count int, interval time.Duration) (*Flows, error) {
	f := &Flows{stop: make(chan struct{})}
	for i := range count {
		c, err := n.Dial(ctx, addr)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lab: flow %d of %d: %w", i+1, count, err)
		}
		fl := &flow{conn: c, port: uint16(c.LocalAddr().(*net.TCPAddr).Port), lastOK: time.Now()}
		f.flows = append(f.flows, fl)
		f.wg.Add(1)
		go f.run(c, fl, interval, i)
	}
	return f, nil
}

func (f *Flows) run(c net.Conn, fl *flow, interval time.Duration, i int) {
	defer f.wg.Done()
	defer c.Close()
	r := bufio.NewReader(c)
	// Spread the flows' exchanges over the interval.
	next := time.Now().Add(time.Duration(i) * interval / 200)
	for seq := 0; ; seq++ {
		select {
		case <-f.stop:
			return
		case <-time.After(time.Until(next)):
		}
		next = next.Add(interval)
		msg := strconv.Itoa(seq) + "\n"
		_ = c.SetDeadline(time.Now().Add(StallLimit))
		_, err := c.Write([]byte(msg))
		var got string
		if err == nil {
			got, err = r.ReadString('\n')
		}
		if err == nil && got != msg {
			err = fmt.Errorf("echo %q, want %q", got, msg)
		}
		now := time.Now()
		f.mu.Lock()
		if err != nil {
			select {
			case <-f.stop: // closed under us
			default:
				fl.err, fl.brokeAt = err, now
			}
			f.mu.Unlock()
			return
		}
		fl.maxStall = max(fl.maxStall, now.Sub(fl.lastOK))
		fl.lastOK = now
		f.mu.Unlock()
	}
}

// Ports returns the client ports of the flows.
func (f *Flows) Ports() []uint16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]uint16, len(f.flows))
	for i, fl := range f.flows {
		out[i] = fl.port
	}
	return out
}

// Count returns how many flows are unbroken, of those whose port is in
// ports (nil: all), and how many there are.
func (f *Flows) Count(ports map[uint16]bool) (alive, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fl := range f.flows {
		if ports != nil && !ports[fl.port] {
			continue
		}
		total++
		if fl.err == nil {
			alive++
		}
	}
	return alive, total
}

// Errors returns the first few errors of broken flows, for logs.
func (f *Flows) Errors(n int) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []error
	for _, fl := range f.flows {
		if fl.err != nil && len(out) < n {
			out = append(out, fmt.Errorf("port %d at %s: %w", fl.port, fl.brokeAt.Format("15:04:05.000"), fl.err))
		}
	}
	return out
}

// MaxStall returns the longest wait any unbroken flow had between two echoes.
func (f *Flows) MaxStall() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m time.Duration
	for _, fl := range f.flows {
		if fl.err == nil {
			m = max(m, fl.maxStall, time.Since(fl.lastOK))
		}
	}
	return m
}

// Settle waits until every unbroken flow has had an echo after t, or
// timeout: flows that stalled through an event have either recovered or
// broken by then.
func (f *Flows) Settle(t time.Time, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		waiting := 0
		f.mu.Lock()
		for _, fl := range f.flows {
			if fl.err == nil && !fl.lastOK.After(t) {
				waiting++
			}
		}
		f.mu.Unlock()
		if waiting == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("lab: flows still stalled after " + timeout.String())
}

// Close stops every flow and closes its connection.
func (f *Flows) Close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.mu.Lock()
	for _, fl := range f.flows {
		fl.conn.Close() // wakes a flow waiting for its echo
	}
	f.mu.Unlock()
	f.wg.Wait()
}
