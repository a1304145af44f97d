//go:build linux

package nettopo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// Capture records the classified frames crossing a node's interface, both
// directions, timestamped when read (userspace time, so scheduling delay is
// included).
type Capture struct {
	conn   *packet.Conn
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	frames []Frame
	err    error
}

// Capture starts recording the VRRP, gratuitous ARP and neighbour
// advertisement frames on the node's interface.
func (n *Node) Capture(ctx context.Context) (*Capture, error) {
	var conn *packet.Conn
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(n.Iface)
		if err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nettopo: packet socket on %s %s: %w", n.Name, n.Iface, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Capture{conn: conn, cancel: cancel, done: make(chan struct{})}
	go c.read(ctx)
	return c, nil
}

func (c *Capture) read(ctx context.Context) {
	defer close(c.done)
	err := readUntil(ctx, c.conn, make([]byte, 2048), func(b []byte, _ net.Addr, at time.Time) {
		f := ClassifyFrame(b)
		if f.Kind == FrameOther {
			return
		}
		f.At = at
		c.mu.Lock()
		c.frames = append(c.frames, f)
		c.mu.Unlock()
	})
	if err != nil {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
}

// readUntil reads datagrams from conn until ctx ends, handing each to
// onPacket with its source and arrival time. It polls the context every
// 100 ms and returns the first real read error, or nil once ctx is done.
func readUntil(ctx context.Context, conn net.PacketConn, buf []byte, onPacket func(b []byte, from net.Addr, at time.Time)) error {
	for ctx.Err() == nil {
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, from, err := conn.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		onPacket(buf[:n], from, now)
	}
	return nil
}

// Frames returns the frames recorded so far.
func (c *Capture) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// Stop ends the capture and returns its frames and any read error.
func (c *Capture) Stop() ([]Frame, error) {
	c.cancel()
	<-c.done
	_ = c.conn.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames, c.err
}
