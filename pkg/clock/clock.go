// Package clock is the time source shared by seesawd's protocol timers:
// VRRP's Master_Down and Adver timers, the health-check scheduler and the
// engine's resync, drain and retry deadlines. Every package takes a Clock so
// that one Fake drives all of them, transition by transition, in tests.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a running timer that fires once after d, like time.NewTimer.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the packages use, with Go 1.23 semantics:
// after Reset or Stop returns, no stale value is received from C.
type Timer interface {
	C() <-chan time.Time
	// Reset changes the timer to fire after d and reports whether it was active.
	Reset(d time.Duration) bool
	// Stop prevents the timer from firing and reports whether it was active.
	Stop() bool
}

// System is the real clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (System) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time        { return s.t.C }
func (s sysTimer) Reset(d time.Duration) bool { return s.t.Reset(d) }
func (s sysTimer) Stop() bool                 { return s.t.Stop() }

// Fake is a manual clock for tests: time moves only by Advance or Set, and
// timers due by then fire, in deadline order, each delivering the time it
// was due on a one-slot channel (a value not yet received is replaced, as a
// real timer's would be). It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

// NewFake returns a Fake clock reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the fake time forward by d, firing the timers due by then.
func (f *Fake) Advance(d time.Duration) {
	f.Set(f.Now().Add(d))
}

// Set moves the fake time to t (never backwards), firing the timers due by then.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Before(f.now) {
		return
	}
	for {
		var next *fakeTimer
		for _, ft := range f.timers {
			if !ft.when.After(t) && (next == nil || ft.when.Before(next.when)) {
				next = ft
			}
		}
		if next == nil {
			break
		}
		f.now = next.when
		next.fire()
	}
	f.now = t
}

// Timers reports how many timers are active, so a test can wait until the
// code under test has armed its timer before advancing.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// NextDeadline returns when the earliest active timer fires, or the zero time.
func (f *Fake) NextDeadline() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next time.Time
	for _, ft := range f.timers {
		if next.IsZero() || ft.when.Before(next) {
			next = ft.when
		}
	}
	return next
}

type fakeTimer struct {
	f    *Fake
	c    chan time.Time
	when time.Time
}

// fire delivers the timer's time and deactivates it; f.mu is held.
func (t *fakeTimer) fire() {
	t.f.remove(t)
	select {
	case <-t.c:
	default:
	}
	t.c <- t.when
}

// remove deactivates t and reports whether it was active; f.mu is held.
func (f *Fake) remove(t *fakeTimer) bool {
	for i, ft := range f.timers {
		if ft == t {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			return true
		}
	}
	return false
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	active := t.f.remove(t)
	select { // Go 1.23: no stale value after Reset
	case <-t.c:
	default:
	}
	t.when = t.f.now.Add(d)
	if d <= 0 {
		t.fire()
		return active
	}
	t.f.timers = append(t.f.timers, t)
	return active
}

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	active := t.f.remove(t)
	select {
	case <-t.c:
	default:
	}
	return active
}
