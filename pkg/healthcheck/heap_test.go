package healthcheck

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// testItem is a dueHeap element.
type testItem struct {
	due     int64
	heapIdx int
}

func (e *testItem) setHeapIndex(i int) { e.heapIdx = i }

// The heap pops in order after random pushes, removals and changes of due
// time, and every item knows where it sits.
func TestDueHeap(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var h dueHeap[*testItem]
	var live []*testItem
	check := func() {
		t.Helper()
		for i, s := range h.s {
			if s.x.heapIdx != i || s.due != s.x.due {
				t.Fatalf("slot %d holds an item that says %d, due %d vs %d", i, s.x.heapIdx, s.due, s.x.due)
			}
			if p := (i - 1) / 2; i > 0 && h.s[p].due > s.due {
				t.Fatalf("slot %d due %d above its child %d due %d", p, h.s[p].due, i, s.due)
			}
		}
	}
	for range 2000 {
		switch op := rnd.IntN(10); {
		case op < 5 || len(live) == 0:
			e := &testItem{due: rnd.Int64N(1000)}
			h.push(e, e.due)
			live = append(live, e)
		case op < 7:
			i := rnd.IntN(len(live))
			e := live[i]
			h.remove(e.heapIdx)
			if e.heapIdx != -1 {
				t.Fatal("removed item keeps an index")
			}
			live = slices.Delete(live, i, i+1)
		default:
			e := live[rnd.IntN(len(live))]
			e.due = rnd.Int64N(1000)
			h.fix(e.heapIdx, e.due)
		}
		check()
	}
	h.remove(-1)
	h.remove(h.len())
	check()
	want := slices.SortedFunc(slices.Values(live), func(a, b *testItem) int { return cmp.Compare(a.due, b.due) })
	for i := range want {
		if got := h.pop(); got.due != want[i].due {
			t.Fatalf("pop %d: due %d, want %d", i, got.due, want[i].due)
		}
	}
	if h.len() != 0 {
		t.Fatalf("%d items left", h.len())
	}
}

// BenchmarkSchedulerHeap is the scheduler's pattern at 10,000 checks: take
// the earliest, push it one interval on.
func BenchmarkSchedulerHeap(b *testing.B) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var h dueHeap[*runner]
	for range 10000 {
		h.push(&runner{}, rnd.Int64N(int64(time.Second)))
	}
	for b.Loop() {
		h.fix(0, h.peekDue()+int64(time.Second))
	}
}
