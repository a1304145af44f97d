//go:build !linux

package healthcheck

import (
	"context"
	"time"
)

// connectDest off Linux runs the Go dialer on a goroutine.
type connectDest struct{ d Definition }

func newConnectDest(d Definition) connectDest { return connectDest{d: d} }

func (cd *connectDest) connect(deadline time.Time, done func(Result)) {
	go func() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		done((&tcpConnectChecker{d: cd.d, target: cd.d.Target.String()}).Check(ctx))
	}()
}
