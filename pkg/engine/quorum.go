package engine

import (
	"fmt"
	"time"
)

// ServiceState is whether a service has its quorum of healthy backends.
type ServiceState uint8

const (
	// ServicePending means not enough checks have reported to decide: the
	// service is treated as up (no sorry server, no VRRP penalty), so a
	// restart does not flap anything while the first results come in.
	ServicePending ServiceState = iota
	// ServiceUp means the service has its quorum.
	ServiceUp
	// ServiceDown means the service is below its quorum.
	ServiceDown
)

// String returns "pending", "up" or "down".
func (s ServiceState) String() string {
	switch s {
	case ServicePending:
		return "pending"
	case ServiceUp:
		return "up"
	case ServiceDown:
		return "down"
	}
	return fmt.Sprintf("ServiceState(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s ServiceState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// quorum tracks one service's state with hysteresis. It is pure: the time
// comes in with every input.
type quorum struct {
	state ServiceState
	since time.Time
	// heldSince is when a down service reached its up line, zero while it
	// is below it; the service is up again once UpDelay has passed.
	heldSince time.Time
}

// update moves the state for the current count of healthy backends: lo are
// those known healthy, hi adds those whose state is not known yet. It
// returns whether the state changed and, while an up delay runs, when to
// look again.
func (q *quorum) update(now time.Time, s *Service, lo, hi int) (changed bool, recheck time.Time) {
	downLine := s.Quorum - s.Hysteresis // below it an up service goes down
	upLine := s.Quorum + s.Hysteresis   // at it a down service comes up
	to := q.state
	switch q.state {
	case ServicePending:
		switch {
		case hi < s.Quorum:
			to = ServiceDown
		case lo >= s.Quorum:
			to = ServiceUp
		}
	case ServiceUp:
		if hi < downLine {
			to = ServiceDown
		}
	case ServiceDown:
		if lo < upLine {
			q.heldSince = time.Time{}
			break
		}
		if q.heldSince.IsZero() {
			q.heldSince = now
		}
		if due := q.heldSince.Add(s.UpDelay); now.Before(due) {
			return false, due
		}
		to = ServiceUp
	}
	if to == q.state {
		return false, time.Time{}
	}
	q.state, q.since, q.heldSince = to, now, time.Time{}
	return true, time.Time{}
}

// serving reports whether the service counts as up for what depends on it
// (the sorry server, VRRP tracking).
func (q *quorum) serving() bool { return q.state != ServiceDown }
