//go:build !linux

package nettopo

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// New returns ErrUnsupported off Linux.
func New(context.Context, *Config) (*Topology, error) { return nil, ErrUnsupported }

// Close does nothing off Linux.
func (t *Topology) Close() error { return nil }

// Delete returns ErrUnsupported off Linux.
func (n *Netns) Delete() error { return ErrUnsupported }

// Pids returns ErrUnsupported off Linux.
func (n *Netns) Pids() ([]int, error) { return nil, ErrUnsupported }

// Do returns ErrUnsupported off Linux.
func (n *Netns) Do(func() error) error { return ErrUnsupported }

// Cut returns ErrUnsupported off Linux.
func (n *Node) Cut(context.Context) error { return ErrUnsupported }

// Restore returns ErrUnsupported off Linux.
func (n *Node) Restore(context.Context) error { return ErrUnsupported }

// Addrs returns ErrUnsupported off Linux.
func (n *Node) Addrs() ([]netip.Addr, error) { return nil, ErrUnsupported }

// HasAddr returns ErrUnsupported off Linux.
func (n *Node) HasAddr(netip.Addr) (bool, error) { return false, ErrUnsupported }

// Neighbor returns ErrUnsupported off Linux.
func (n *Node) Neighbor(netip.Addr) (net.HardwareAddr, string, error) { return nil, "", ErrUnsupported }

// Pinger is unavailable off Linux.
type Pinger struct{}

// StartPinger returns ErrUnsupported off Linux.
func (n *Netns) StartPinger(context.Context, netip.Addr, time.Duration) (*Pinger, error) {
	return nil, ErrUnsupported
}

// Snapshot returns nothing off Linux.
func (p *Pinger) Snapshot() PingResult { return PingResult{} }

// Stop returns ErrUnsupported off Linux.
func (p *Pinger) Stop() (PingResult, error) { return PingResult{}, ErrUnsupported }

// Capture is unavailable off Linux.
type Capture struct{}

// Capture returns ErrUnsupported off Linux.
func (n *Node) Capture(context.Context) (*Capture, error) { return nil, ErrUnsupported }

// Frames returns nothing off Linux.
func (c *Capture) Frames() []Frame { return nil }

// Stop returns ErrUnsupported off Linux.
func (c *Capture) Stop() ([]Frame, error) { return nil, ErrUnsupported }

// AddrEvent is an address added to or removed from an interface.
type AddrEvent struct {
	At    time.Time
	Addr  netip.Addr
	Added bool
}

// AddrWatch is unavailable off Linux.
type AddrWatch struct{}

// WatchAddrs returns ErrUnsupported off Linux.
func (n *Netns) WatchAddrs(context.Context) (*AddrWatch, error) { return nil, ErrUnsupported }

// Events returns nothing off Linux.
func (w *AddrWatch) Events() []AddrEvent { return nil }

// Stop returns nothing off Linux.
func (w *AddrWatch) Stop() []AddrEvent { return nil }
