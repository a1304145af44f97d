package healthcheck

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// testItem is a deadlineHeap element.
type testItem struct {
	deadline time.Time
	heapIdx  int
}

func (e *testItem) when() time.Time { return e.deadline }
func (e *testItem) setIndex(i int)  { e.heapIdx = i }

// Both heaps pop in order after random pushes and removals.
func TestHeaps(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	epoch := time.Unix(0, 0)
	var rh runnerHeap
	var dh deadlineHeap[*testItem]
	var rs []*runner
	var es []*testItem
	for range 500 {
		at := epoch.Add(time.Duration(rnd.IntN(1000)) * time.Millisecond)
		r := &runner{}
		r.setNext(at, epoch)
		rh.push(r)
		rs = append(rs, r)
		e := &testItem{deadline: at}
		dh.push(e)
		es = append(es, e)
	}
	for i := 0; i < len(rs); i += 3 {
		rh.remove(rs[i].heapIdx)
		dh.remove(es[i].heapIdx)
		if rs[i].heapIdx != -1 || es[i].heapIdx != -1 {
			t.Fatal("removed element keeps an index")
		}
	}
	var got, want []int64
	for i, r := range rs {
		if i%3 != 0 {
			want = append(want, r.dueNs)
		}
	}
	slices.Sort(want)
	for rh.len() > 0 {
		r := rh.peek()
		rh.remove(0)
		got = append(got, r.dueNs)
		e := dh.pop()
		if int64(e.deadline.Sub(epoch)) != r.dueNs {
			t.Fatalf("deadline heap popped %v, runner heap %v", e.deadline.Sub(epoch), time.Duration(r.dueNs))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("heap order wrong:\n got %v\nwant %v", got, want)
	}
}
