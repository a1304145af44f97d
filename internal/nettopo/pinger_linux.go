//go:build linux

package nettopo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Pinger sends ICMP echo requests at a fixed interval from inside a
// namespace and records when each reply arrives.
type Pinger struct {
	conn   *icmp.PacketConn
	target netip.Addr
	id     int
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex
	res PingResult
	err error
}

// StartPinger opens a raw ICMP socket in the namespace and pings target
// every interval until Stop or ctx ends.
func (n *Netns) StartPinger(ctx context.Context, target netip.Addr, interval time.Duration) (*Pinger, error) {
	var conn *icmp.PacketConn
	err := n.Do(func() error {
		var err error
		if target.Is4() {
			conn, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		} else {
			conn, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nettopo: icmp socket in %s: %w", n.Name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Pinger{conn: conn, target: target, id: int(rand.Uint32() & 0xffff), cancel: cancel}
	p.wg.Add(2)
	go p.send(ctx, interval)
	go p.receive(ctx)
	return p, nil
}

func (p *Pinger) send(ctx context.Context, interval time.Duration) {
	defer p.wg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if p.target.Is6() {
		typ = ipv6.ICMPTypeEchoRequest
	}
	dst := &net.IPAddr{IP: p.target.AsSlice()}
	for seq := 0; ; seq++ {
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: p.id, Seq: seq & 0xffff, Data: []byte("nettopo")}}
		// The kernel fills in the ICMPv6 checksum on raw sockets.
		b, err := msg.Marshal(nil)
		if err == nil {
			// Errors (no route while a neighbour is unresolved) are part
			// of what is measured: keep sending.
			_, _ = p.conn.WriteTo(b, dst)
		}
		p.mu.Lock()
		p.res.Sent++
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *Pinger) receive(ctx context.Context) {
	defer p.wg.Done()
	proto := 1
	if p.target.Is6() {
		proto = 58
	}
	err := readUntil(ctx, p.conn, make([]byte, 1500), func(b []byte, from net.Addr, at time.Time) {
		ip, ok := from.(*net.IPAddr)
		if !ok {
			return
		}
		if a, ok := netip.AddrFromSlice(ip.IP); !ok || a.Unmap() != p.target {
			return
		}
		m, err := icmp.ParseMessage(proto, b)
		if err != nil {
			return
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok || echo.ID != p.id || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) {
			return
		}
		p.mu.Lock()
		p.res.Replies = append(p.res.Replies, at)
		p.mu.Unlock()
	})
	if err != nil {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}
}

// Snapshot returns what the stream has seen so far.
func (p *Pinger) Snapshot() PingResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PingResult{Sent: p.res.Sent, Replies: append([]time.Time(nil), p.res.Replies...)}
}

// Stop ends the stream and returns its result, with the socket error that
// ended reception early, if any.
func (p *Pinger) Stop() (PingResult, error) {
	p.cancel()
	p.wg.Wait()
	_ = p.conn.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res, p.err
}
