package healthcheck

import "time"

// heapItem is an element of a deadlineHeap: it knows its time and its index.
type heapItem interface {
	when() time.Time
	setIndex(int)
}

// deadlineHeap is a binary min-heap ordered by when(), with removal by index.
type deadlineHeap[T heapItem] struct{ s []T }

func (h *deadlineHeap[T]) len() int { return len(h.s) }
func (h *deadlineHeap[T]) peek() T  { return h.s[0] }

func (h *deadlineHeap[T]) less(i, j int) bool { return h.s[i].when().Before(h.s[j].when()) }

func (h *deadlineHeap[T]) swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.s[i].setIndex(i)
	h.s[j].setIndex(j)
}

func (h *deadlineHeap[T]) push(x T) {
	h.s = append(h.s, x)
	x.setIndex(len(h.s) - 1)
	h.up(len(h.s) - 1)
}

func (h *deadlineHeap[T]) pop() T {
	x := h.s[0]
	h.remove(0)
	return x
}

// remove deletes the element at index i; out-of-range indexes are ignored.
func (h *deadlineHeap[T]) remove(i int) {
	n := len(h.s) - 1
	if i < 0 || i > n {
		return
	}
	x := h.s[i]
	if i != n {
		h.swap(i, n)
	}
	var zero T
	h.s[n] = zero
	h.s = h.s[:n]
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
	x.setIndex(-1)
}

func (h *deadlineHeap[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *deadlineHeap[T]) down(i0 int) bool {
	i, n := i0, len(h.s)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
