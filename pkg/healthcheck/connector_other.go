//go:build !linux

package healthcheck

import (
	"context"
	"time"
)

// connectDest off Linux runs the blocking checker on a goroutine.
type connectDest struct{ fallback Checker }

func newConnectDest(_ Definition, _ *conversation, fallback Checker) connectDest {
	return connectDest{fallback: fallback}
}

func (cd *connectDest) connect(deadline time.Time, done func(Result)) {
	go func() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		done(cd.fallback.Check(ctx))
	}()
}
