package clock

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func recv(t *testing.T, tm Timer) (time.Time, bool) {
	t.Helper()
	select {
	case v := <-tm.C():
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestFakeFiresInOrderAtDueTime(t *testing.T) {
	f := NewFake(t0)
	a := f.NewTimer(2 * time.Second)
	b := f.NewTimer(time.Second)
	f.Advance(500 * time.Millisecond)
	if _, ok := recv(t, a); ok {
		t.Fatal("a fired early")
	}
	f.Advance(3 * time.Second)
	if v, ok := recv(t, b); !ok || !v.Equal(t0.Add(time.Second)) {
		t.Fatalf("b: got %v %v, want fired at +1s", v, ok)
	}
	if v, ok := recv(t, a); !ok || !v.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("a: got %v %v, want fired at +2s", v, ok)
	}
	if got := f.Now(); !got.Equal(t0.Add(3500 * time.Millisecond)) {
		t.Fatalf("now %v", got)
	}
	if f.Timers() != 0 {
		t.Fatalf("%d timers still active", f.Timers())
	}
}

func TestFakeResetAndStopLeaveNoStaleValue(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	f.Advance(time.Second)
	if active := tm.Reset(time.Second); active {
		t.Fatal("Reset of a fired timer reported active")
	}
	if _, ok := recv(t, tm); ok {
		t.Fatal("stale value after Reset")
	}
	if !tm.Stop() {
		t.Fatal("Stop of a running timer reported inactive")
	}
	f.Advance(time.Hour)
	if _, ok := recv(t, tm); ok {
		t.Fatal("stopped timer fired")
	}
	if !f.NextDeadline().IsZero() {
		t.Fatal("deadline after Stop")
	}
	tm.Reset(0)
	if v, ok := recv(t, tm); !ok || !v.Equal(f.Now()) {
		t.Fatal("Reset(0) did not fire at once")
	}
}

func TestFakeNeverGoesBack(t *testing.T) {
	f := NewFake(t0)
	f.Set(t0.Add(-time.Hour))
	if !f.Now().Equal(t0) {
		t.Fatal("clock went backwards")
	}
}

func TestSystem(t *testing.T) {
	var c Clock = System{}
	tm := c.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(10 * time.Second):
		t.Fatal("system timer never fired")
	}
	if tm.Stop() {
		t.Fatal("Stop after firing reported active")
	}
}
