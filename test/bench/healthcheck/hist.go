package main

import (
	"sync/atomic"
	"time"
)

// hist counts checks and their lateness (when a check started minus when
// it was due) in 100 µs buckets up to 10 s. Only checks recorded while on
// is set count: the measurement window.
type hist struct {
	b        [100001]atomic.Uint64
	ok, fail atomic.Uint64
	on       atomic.Bool
	max      atomic.Int64
	maxEarly atomic.Int64
	firstErr atomic.Pointer[string]
}

// record counts one check. A check started early (the Manager starts
// checks due within its coalescing window up to that much early) counts
// as on time in the lateness, and its earliness is kept apart.
func (h *hist) record(late time.Duration, err error) {
	if !h.on.Load() {
		return
	}
	if err == nil {
		h.ok.Add(1)
	} else {
		h.fail.Add(1)
		if h.firstErr.Load() == nil {
			msg := err.Error()
			h.firstErr.CompareAndSwap(nil, &msg)
		}
	}
	raise(&h.maxEarly, -late)
	late = max(late, 0)
	raise(&h.max, late)
	h.b[min(int(late/(100*time.Microsecond)), len(h.b)-1)].Add(1)
}

// raise sets v to d if d is larger.
func raise(v *atomic.Int64, d time.Duration) {
	for {
		m := v.Load()
		if int64(d) <= m || v.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantile returns the upper edge, in ms, of the bucket holding quantile q.
func (h *hist) quantile(q float64) float64 {
	var total uint64
	for i := range h.b {
		total += h.b[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := max(uint64(q*float64(total)), 1)
	var acc uint64
	for i := range h.b {
		if acc += h.b[i].Load(); acc >= want {
			return float64(i+1) / 10
		}
	}
	return float64(len(h.b)) / 10
}

// nextDue is when a check that was due at due and finished at now runs
// next, on the schedule healthcheck.Manager keeps: a fixed grid of
// interval steps from the first due time (no drift from run times). A
// slot that passed while the check ran is run at once, with that slot as
// its due time, so its lateness shows; slots before it are skipped.
func nextDue(due, now time.Time, interval time.Duration) time.Time {
	next := due.Add(interval)
	if now.Before(next) {
		return next
	}
	return due.Add(now.Sub(due) / interval * interval)
}
