package nettopo

import (
	"slices"
	"time"
)

// PingResult is what an echo stream saw.
type PingResult struct {
	// Sent counts echo requests sent.
	Sent int
	// Replies are the arrival times of matching echo replies, in order.
	Replies []time.Time
}

// LongestGap returns the longest silence between consecutive replies
// arriving in [from, to] and when it began. Replies before from are
// ignored except the last one, which opens the first interval, so a
// silence that straddles from is measured whole. No replies at all after
// from gives the interval from the last reply (or from) to to.
func (r PingResult) LongestGap(from, to time.Time) (gap time.Duration, start time.Time) {
	times := slices.Clone(r.Replies)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	prev := from
	for _, t := range times {
		if t.Before(from) {
			prev = t
			continue
		}
		if t.After(to) {
			break
		}
		if d := t.Sub(prev); d > gap {
			gap, start = d, prev
		}
		prev = t
	}
	if d := to.Sub(prev); d > gap {
		gap, start = d, prev
	}
	return gap, start
}

// RepliesBetween counts replies arriving in [from, to].
func (r PingResult) RepliesBetween(from, to time.Time) int {
	n := 0
	for _, t := range r.Replies {
		if !t.Before(from) && !t.After(to) {
			n++
		}
	}
	return n
}
