package vrrp

import (
	"net/netip"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logEvery is how often a repeated condition (a kind of drop, a failing peer, a
// mismatching address list) is logged at most.
const logEvery = 10 * time.Second

// rateLimiter decides which repeated log lines are written: the first of each
// key at once, later ones at most once per interval, with how many were
// suppressed in between. It is owned by the Run goroutine; its keys are built
// from the configuration, never from what a packet says, so a flood cannot grow it.
type rateLimiter struct {
	every time.Duration
	keys  map[logKey]*logState
}

type logKey struct {
	msg    string
	sock   *socket
	inst   *instance
	reason DropReason
	addr   netip.Addr
}

type logState struct {
	next       time.Time
	suppressed uint64
}

// allow reports whether a line for k may be written now, and how many were suppressed since the last.
func (r *rateLimiter) allow(now time.Time, k logKey) (bool, uint64) {
	st := r.keys[k]
	if st == nil {
		if r.keys == nil {
			r.keys = map[logKey]*logState{}
		}
		st = &logState{}
		r.keys[k] = st
	}
	if now.Before(st.next) {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.suppressed, st.next = 0, now.Add(r.every)
	return true, n
}

// forget drops the keys of a removed instance or closed socket.
func (r *rateLimiter) forget(owner any) {
	for k := range r.keys {
		if (k.inst != nil && any(k.inst) == owner) || (k.sock != nil && any(k.sock) == owner) {
			delete(r.keys, k)
		}
	}
}

// limited returns the entry to write for k at level lvl, or nil when the level is
// off or the line is suppressed; the caller appends the "suppressed" field.
func (n *Node) limited(now time.Time, lvl zapcore.Level, k logKey) (*zapcore.CheckedEntry, zap.Field) {
	ce := n.log.Check(lvl, k.msg)
	if ce == nil {
		return nil, zap.Skip()
	}
	ok, suppressed := n.limiter.allow(now, k)
	if !ok {
		return nil, zap.Skip()
	}
	return ce, zap.Uint64("suppressed", suppressed)
}
