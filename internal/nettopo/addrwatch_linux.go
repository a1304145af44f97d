//go:build linux

package nettopo

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// AddrEvent is an address added to or removed from an interface.
type AddrEvent struct {
	At    time.Time
	Addr  netip.Addr
	Added bool
}

// AddrWatch records the namespace's address changes as netlink reports them.
type AddrWatch struct {
	done    chan struct{}
	stopped chan struct{}

	mu     sync.Mutex
	events []AddrEvent
}

// WatchAddrs subscribes to the namespace's address notifications.
func (n *Netns) WatchAddrs(ctx context.Context) (*AddrWatch, error) {
	h, err := netns.GetFromName(n.Name)
	if err != nil {
		return nil, fmt.Errorf("nettopo: open netns %s: %w", n.Name, err)
	}
	defer h.Close()
	ch := make(chan netlink.AddrUpdate, 1024)
	w := &AddrWatch{done: make(chan struct{}), stopped: make(chan struct{})}
	if err := netlink.AddrSubscribeWithOptions(ch, w.done, netlink.AddrSubscribeOptions{Namespace: &h}); err != nil {
		return nil, fmt.Errorf("nettopo: address subscription in %s: %w", n.Name, err)
	}
	go func() {
		defer close(w.stopped)
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.done:
				return
			case u, ok := <-ch:
				if !ok {
					return
				}
				now := time.Now()
				a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
				if !ok {
					continue
				}
				w.mu.Lock()
				w.events = append(w.events, AddrEvent{At: now, Addr: a.Unmap(), Added: u.NewAddr})
				w.mu.Unlock()
			}
		}
	}()
	return w, nil
}

// Events returns the changes seen so far.
func (w *AddrWatch) Events() []AddrEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]AddrEvent(nil), w.events...)
}

// Stop ends the subscription and returns the changes seen.
func (w *AddrWatch) Stop() []AddrEvent {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	<-w.stopped
	return w.Events()
}
