//go:build !linux

package healthcheck

import (
	"context"
	"sync"
	"time"

	"github.com/seesawd/seesawd/pkg/clock"
)

// connectDest off Linux runs the blocking checker on a goroutine.
type connectDest struct {
	typ      Type
	target   string
	fallback Checker
}

func newConnectDest(d Definition, _ *conversation, fallback Checker) connectDest {
	return connectDest{typ: d.Type, target: d.Target.String(), fallback: fallback}
}

// connector off Linux tracks the goroutines of a Manager's probes, so that
// close can end them and wait.
type connector struct {
	clk    clock.Clock
	flush  func() // unused: each probe hands its verdict over alone
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
}

func newConnector(clk clock.Clock) *connector {
	c := &connector{clk: clk}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// inBatch is false: the probes' goroutines hand over one verdict each.
func (c *connector) inBatch() bool { return false }

// close cancels the probes in flight and returns once they have ended.
func (c *connector) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

func (cd *connectDest) connect(c *connector, now time.Time, timeout time.Duration, done func(Result)) (Result, bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return Result{Time: now, Err: &CheckError{Type: cd.typ, Target: cd.target, Op: "connect", Err: ErrClosed}}, true
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, timeout)
		defer cancel()
		done(cd.fallback.Check(ctx))
	}()
	return Result{}, false
}
