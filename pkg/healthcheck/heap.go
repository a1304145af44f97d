package healthcheck

// dueHeap is a binary min-heap of items by due time, with removal by
// index. The keys (nanoseconds since an epoch of the owner's choosing) sit
// inline in the slice, so sifting compares without touching the items:
// this is the scheduler's hottest structure at 10,000 checks a second.
type dueHeap[T heapItem] struct{ s []dueSlot[T] }

// heapItem is an element of a dueHeap: it records where it sits, so it can
// be removed or moved without a search.
type heapItem interface{ setHeapIndex(int) }

type dueSlot[T any] struct {
	due int64
	x   T
}

func (h *dueHeap[T]) len() int       { return len(h.s) }
func (h *dueHeap[T]) peek() T        { return h.s[0].x }
func (h *dueHeap[T]) peekDue() int64 { return h.s[0].due }
func (h *dueHeap[T]) set(i int, x dueSlot[T]) {
	h.s[i] = x
	x.x.setHeapIndex(i)
}

func (h *dueHeap[T]) push(x T, due int64) {
	h.s = append(h.s, dueSlot[T]{due, x})
	h.up(len(h.s)-1, h.s[len(h.s)-1])
}

func (h *dueHeap[T]) pop() T {
	x := h.s[0].x
	h.remove(0)
	return x
}

// remove deletes the item at i; out-of-range indexes are ignored.
func (h *dueHeap[T]) remove(i int) {
	n := len(h.s) - 1
	if i < 0 || i > n {
		return
	}
	x := h.s[i].x
	last := h.s[n]
	h.s[n] = dueSlot[T]{}
	h.s = h.s[:n]
	if i != n {
		h.set(i, last)
		h.fix(i, last.due)
	}
	x.setHeapIndex(-1)
}

// fix gives the item at i a new due time and restores the order.
func (h *dueHeap[T]) fix(i int, due int64) {
	h.s[i].due = due
	x := h.s[i]
	if j := h.down(i, x); j == i {
		h.up(i, x)
	}
}

// up moves x, which belongs at j or above, into place.
func (h *dueHeap[T]) up(j int, x dueSlot[T]) {
	for j > 0 {
		i := (j - 1) / 2
		if x.due >= h.s[i].due {
			break
		}
		h.set(j, h.s[i])
		j = i
	}
	h.set(j, x)
}

// down moves x, which belongs at i or below, into place and returns where.
func (h *dueHeap[T]) down(i int, x dueSlot[T]) int {
	n := len(h.s)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.s[r].due < h.s[l].due {
			j = r
		}
		if h.s[j].due >= x.due {
			break
		}
		h.set(i, h.s[j])
		i = j
	}
	h.set(i, x)
	return i
}
