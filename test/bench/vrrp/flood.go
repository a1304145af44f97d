package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seesawd/seesawd/internal/nettopo"
	"github.com/seesawd/seesawd/pkg/vrrp"
	"golang.org/x/net/ipv4"
)

// Flood kinds: forged advertisements from the client for a VRID nobody
// configured, or for the pair's VRID at a priority below both nodes'.
const (
	floodOtherVRID = "other-vrid"
	floodLower     = "lower-priority"
)

const (
	floodVRID     = 51
	otherVRID     = 99
	floodPriority = 50
)

type floodRow struct {
	impl, kind string
	rate       float64 // forged adverts per second actually sent
	master     float64 // lb1's CPU, % of one core
	backup     float64 // lb2's
	adverts    int     // adverts lb1 sent during the flood, seen by the client
	expected   int     // one per interval
	holders    string  // who held the VIP at the end: master, backup, both or none
	err        error
}

// flood runs a pair (lb1 priority 150 master, lb2 priority 100 backup, VRID
// 51, 0.1 s adverts) and floods it from the client with forged adverts of
// kind at rate per second for d. It returns the CPU each node's processes use
// meanwhile, how many adverts lb1 sent (counted at the client) and whether
// mastership held.
func flood(ctx context.Context, spk nettopo.Speaker, kind string, rate int, d time.Duration) (row floodRow, err error) {
	row = floodRow{impl: spk.Name(), kind: kind}
	topo, err := nettopo.New(ctx, nil)
	if err != nil {
		return row, err
	}
	defer func() { err = errors.Join(err, topo.Close()) }()
	dir, err := os.MkdirTemp("", "vrrp-bench-flood-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	lb1, lb2, client := topo.Node("lb1"), topo.Node("lb2"), topo.Node("client")
	const advert = 100 * time.Millisecond
	vip := nettopo.VIPv4
	inst := nettopo.Instance{Name: "front", VRID: floodVRID, Advert: advert, VIPs: []netip.Prefix{vip}}
	hi, lo := inst, inst
	hi.Priority, lo.Priority = 150, 100
	p1, err := spk.Start(lb1, dir, []nettopo.Instance{hi})
	if err != nil {
		return row, err
	}
	defer p1.Kill()
	if err := waitAddr(ctx, lb1, vip.Addr(), true, 5*time.Second, p1); err != nil {
		return row, fmt.Errorf("lb1 never became master: %w\n%s", err, tail(p1.Output()))
	}
	p2, err := spk.Start(lb2, dir, []nettopo.Instance{lo})
	if err != nil {
		return row, err
	}
	defer p2.Kill()
	if err := sleep(ctx, 2*advert+time.Second); err != nil {
		return row, err
	}

	counter, err := countAdverts(client, lb1.IPv4.Addr())
	if err != nil {
		return row, err
	}
	defer counter.close()
	f, err := newFlooder(client, kind, vip.Addr())
	if err != nil {
		return row, err
	}
	defer f.close()

	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	var sent int
	var sendErr error
	start := time.Now()
	go func() {
		defer wg.Done()
		sent, sendErr = f.run(fctx, rate)
	}()
	// Let the flood reach its rate before measuring.
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		stop()
		wg.Wait()
		return row, err
	}
	b1, err1 := nsTicks(lb1)
	b2, err2 := nsTicks(lb2)
	c0 := counter.count()
	t0 := time.Now()
	serr := sleep(ctx, d)
	a1, err3 := nsTicks(lb1)
	a2, err4 := nsTicks(lb2)
	c1 := counter.count()
	elapsed := time.Since(t0)
	stop()
	wg.Wait()
	if err := errors.Join(serr, err1, err2, err3, err4, sendErr); err != nil {
		return row, err
	}
	if p1.Exited() || p2.Exited() {
		return row, fmt.Errorf("a daemon exited during the flood\nlb1:\n%s\nlb2:\n%s", tail(p1.Output()), tail(p2.Output()))
	}
	row.rate = float64(sent) / time.Since(start).Seconds()
	row.master = cpuPercent(b1, a1, elapsed)
	row.backup = cpuPercent(b2, a2, elapsed)
	row.adverts = c1 - c0
	row.expected = int(elapsed / advert)
	has1, e1 := lb1.HasAddr(vip.Addr())
	has2, e2 := lb2.HasAddr(vip.Addr())
	if err := errors.Join(e1, e2); err != nil {
		return row, err
	}
	row.holders = [2][2]string{{"none", "backup"}, {"master", "both"}}[b2i(has1)][b2i(has2)]
	if row.holders != "master" {
		fmt.Fprintf(os.Stderr, "%s %s flood: VIP on %s at the end\nlb1:\n%s\nlb2:\n%s\n", row.impl, kind, row.holders,
			tail(p1.Output()), tail(p2.Output()))
	}
	return row, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cpuPercent(before, after map[int]int64, elapsed time.Duration) float64 {
	var used int64
	for pid, t := range after {
		used += t - before[pid]
	}
	return float64(used) / clockTicks / elapsed.Seconds() * 100
}

// flooder sends forged IPv4 advertisements from the client's address to the
// VRRP group with sendmmsg, in batches.
type flooder struct {
	p   *ipv4.PacketConn
	msg []byte
}

func newFlooder(n *nettopo.Node, kind string, vip netip.Addr) (*flooder, error) {
	adv := vrrp.Advertisement{VRID: otherVRID, Priority: 200, MaxAdvertInterval: 10, Addresses: []netip.Addr{vip}}
	if kind == floodLower {
		adv.VRID, adv.Priority = floodVRID, floodPriority
	} else if kind != floodOtherVRID {
		return nil, fmt.Errorf("unknown flood %q", kind)
	}
	src := n.IPv4.Addr()
	b, err := adv.Marshal(src, vrrp.GroupIPv4, vrrp.ChecksumRFC5798)
	if err != nil {
		return nil, err
	}
	f := &flooder{msg: b}
	err = n.Do(func() error {
		c, err := net.ListenPacket("ip4:112", src.String())
		if err != nil {
			return err
		}
		f.p = ipv4.NewPacketConn(c)
		ifi, err := net.InterfaceByName(n.Iface)
		if err == nil {
			err = f.p.SetMulticastInterface(ifi)
		}
		if err == nil {
			err = f.p.SetMulticastTTL(vrrp.TTL)
		}
		if err == nil {
			// The client's own advert counter must not see the flood.
			err = f.p.SetMulticastLoopback(false)
		}
		return err
	})
	if err != nil {
		if f.p != nil {
			_ = f.p.Close()
		}
		return nil, fmt.Errorf("flood socket: %w", err)
	}
	return f, nil
}

// run sends at rate per second until ctx ends, catching up every millisecond
// in batches of up to 64, and returns how many it sent.
func (f *flooder) run(ctx context.Context, rate int) (int, error) {
	const batch = 64
	dst := &net.IPAddr{IP: vrrp.GroupIPv4.AsSlice()}
	ms := make([]ipv4.Message, batch)
	for i := range ms {
		ms[i] = ipv4.Message{Buffers: [][]byte{f.msg}, Addr: dst}
	}
	start := time.Now()
	sent := 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		due := int(time.Since(start).Seconds()*float64(rate)) - sent
		for due > 0 {
			k, err := f.p.WriteBatch(ms[:min(due, batch)], 0)
			if err != nil {
				// A full queue: the next tick tries again.
				break
			}
			sent += k
			due -= k
		}
		select {
		case <-ctx.Done():
			return sent, nil
		case <-tick.C:
		}
	}
}

func (f *flooder) close() { _ = f.p.Close() }

// advertCounter counts the VRRP packets from one source reaching a node.
type advertCounter struct {
	c    net.PacketConn
	n    atomic.Int64
	done chan struct{}
}

func countAdverts(n *nettopo.Node, src netip.Addr) (*advertCounter, error) {
	a := &advertCounter{done: make(chan struct{})}
	err := n.Do(func() error {
		c, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		a.c = c
		ifi, err := net.InterfaceByName(n.Iface)
		if err != nil {
			return err
		}
		return ipv4.NewPacketConn(c).JoinGroup(ifi, &net.IPAddr{IP: vrrp.GroupIPv4.AsSlice()})
	})
	if err != nil {
		if a.c != nil {
			_ = a.c.Close()
		}
		return nil, fmt.Errorf("advert counter: %w", err)
	}
	go func() {
		defer close(a.done)
		buf := make([]byte, 2048)
		for {
			_, from, err := a.c.ReadFrom(buf)
			if err != nil {
				return
			}
			if ia, ok := from.(*net.IPAddr); ok && ia.IP.Equal(src.AsSlice()) {
				a.n.Add(1)
			}
		}
	}()
	return a, nil
}

func (a *advertCounter) count() int { return int(a.n.Load()) }

func (a *advertCounter) close() {
	_ = a.c.Close()
	<-a.done
}
