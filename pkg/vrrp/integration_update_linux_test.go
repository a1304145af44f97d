//go:build linux

package vrrp

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
	"golang.org/x/net/ipv4"
)

// seenAdvert is one advertisement an observer received.
type seenAdvert struct {
	at       time.Time
	src      netip.Addr
	vrid     uint8
	priority uint8
}

// observer records every IPv4 advertisement reaching a namespace, with its
// arrival time: an independent peer's view of what the nodes send.
type observer struct {
	mu  sync.Mutex
	all []seenAdvert
}

func newObserver(t *testing.T, ns *testenv.Netns) *observer {
	t.Helper()
	var p *ipv4.PacketConn
	if err := ns.Do(func() error {
		c, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		p = ipv4.NewPacketConn(c)
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		return p.JoinGroup(ifi, &net.IPAddr{IP: GroupIPv4.AsSlice()})
	}); err != nil {
		t.Fatal(err)
	}
	o := &observer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, _, src, err := p.ReadFrom(buf)
			if err != nil {
				return
			}
			adv, err := Parse(buf[:n], IPv4)
			if err != nil {
				continue
			}
			a, _ := netip.AddrFromSlice(src.(*net.IPAddr).IP.To4())
			o.mu.Lock()
			o.all = append(o.all, seenAdvert{time.Now(), a, adv.VRID, adv.Priority})
			o.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = p.Close()
		<-done
	})
	return o
}

// from returns the adverts from src for vrid, in arrival order.
func (o *observer) from(src string, vrid uint8) []seenAdvert {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []seenAdvert
	for _, a := range o.all {
		if a.src == netip.MustParseAddr(src) && a.vrid == vrid {
			out = append(out, a)
		}
	}
	return out
}

// longestGap returns the longest time between consecutive adverts.
func longestGap(as []seenAdvert) time.Duration {
	var gap time.Duration
	for i := 1; i < len(as); i++ {
		gap = max(gap, as[i].at.Sub(as[i-1].at))
	}
	return gap
}

func v4Instance(name string, vrid, prio uint8, vip string) InstanceConfig {
	ic := frontV4(prio, 100*time.Millisecond)
	ic.Name, ic.VRID = name, vrid
	ic.VirtualIPs = []netip.Prefix{netip.MustParsePrefix(vip + "/24")}
	return ic
}

// TestIntegrationUpdate reconfigures a running master while a peer and an
// observer listen: the unchanged instance advertises without a gap its backup
// could notice, a priority change is advertised in place, a removed master
// resigns with priority 0 and drops its address, new instances start (the
// socket filter admitting their VRIDs), and an update that cannot be applied
// changes nothing.
func TestIntegrationUpdate(t *testing.T) {
	testenv.Integration(t)
	ns := attach(t, testenv.NewLAN(t), 1, 2, 9)
	nsA, nsB, nsO := ns[0], ns[1], ns[2]
	const interval = 100 * time.Millisecond

	front := v4Instance("front", 51, 200, "192.0.2.100")
	old := v4Instance("old", 53, 200, "192.0.2.103")
	prio := v4Instance("prio", 55, 150, "192.0.2.105")
	a := startNode(t, nsA, &Config{Instances: []InstanceConfig{front, old, prio}})
	testenv.WaitFor(t, "A master of all", 3*time.Second, func() bool {
		return a.state("front", IPv4) == Master && a.state("old", IPv4) == Master && a.state("prio", IPv4) == Master
	})
	// B backs up front and is alone (master) on VRID 54.
	b := startNode(t, nsB, &Config{Instances: []InstanceConfig{
		v4Instance("front", 51, 100, "192.0.2.100"), v4Instance("other", 54, 100, "192.0.2.104")}})
	testenv.WaitFor(t, "B backup of front, master of 54", 3*time.Second, func() bool {
		return b.state("front", IPv4) == Backup && b.state("other", IPv4) == Master
	})
	obs := newObserver(t, nsO)
	testenv.WaitFor(t, "observer hears A", 2*time.Second, func() bool { return len(obs.from("192.0.2.1", 51)) >= 5 })

	// Cannot be applied (no such interface): nothing changes.
	nope := v4Instance("nope", 60, 100, "192.0.2.160")
	nope.Interface = "nope0"
	before := a.States()
	if err := a.Update(context.Background(), &Config{Instances: []InstanceConfig{front, nope}}); err == nil {
		t.Fatal("Update with a missing interface succeeded")
	}
	if after := a.States(); len(after) != 3 || after[1].State != Master || after[1].Seq != before[1].Seq {
		t.Fatalf("a failed Update changed A: %+v", after)
	}

	// front unchanged; old removed; prio 150 -> 120 in place; VRID 54 added at
	// a lower priority than B's (A must hear B through its socket filter and
	// stay backup); VRID 56 added with nobody else on it.
	prio2 := prio
	prio2.Priority = 120
	joined := v4Instance("other", 54, 50, "192.0.2.104")
	alone := v4Instance("alone", 56, 100, "192.0.2.106")
	prioSeq := before[2].Seq
	updated := time.Now()
	if err := a.Update(context.Background(), &Config{Instances: []InstanceConfig{front, prio2, joined, alone}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("Update returned after %v", time.Since(updated))
	testenv.WaitFor(t, "old resigned", time.Second, func() bool {
		as := obs.from("192.0.2.1", 53)
		return len(as) > 0 && as[len(as)-1].priority == 0 && !nsA.HasAddr(t, "192.0.2.103")
	})
	testenv.WaitFor(t, "prio advertised at 120", time.Second, func() bool {
		as := obs.from("192.0.2.1", 55)
		return len(as) > 0 && as[len(as)-1].priority == 120
	})
	testenv.WaitFor(t, "alone master", 2*time.Second, func() bool {
		return a.state("alone", IPv4) == Master && nsA.HasAddr(t, "192.0.2.106")
	})
	// Ten more adverts of front: three of B's Master_Down_Intervals.
	n := len(obs.from("192.0.2.1", 51))
	testenv.WaitFor(t, "ten more adverts of front", 3*time.Second, func() bool { return len(obs.from("192.0.2.1", 51)) >= n+10 })

	all := obs.from("192.0.2.1", 51)
	var around []seenAdvert
	for _, as := range all {
		if as.at.After(updated.Add(-2*interval)) && as.at.Before(updated.Add(3*interval)) {
			around = append(around, as)
		}
	}
	gap := longestGap(around)
	t.Logf("front's adverts at the observer: longest gap %v around the update, %v over %d adverts (interval %v)",
		gap, longestGap(all), len(all), interval)
	if gap >= 2*interval {
		t.Errorf("front's adverts paused %v around the update, want under %v", gap, 2*interval)
	}
	if b.transitionsTo(Master) != 1 || b.state("front", IPv4) != Backup || nsB.HasAddr(t, "192.0.2.100") {
		t.Errorf("B noticed: %d transitions to master, front %v", b.transitionsTo(Master), b.state("front", IPv4))
	}
	st := a.States()
	if st[0].State != Master || st[0].Seq != before[0].Seq {
		t.Errorf("front changed state: %+v", st[0])
	}
	if st[1].ID.Name != "prio" || st[1].State != Master || st[1].Seq != prioSeq || st[1].Priority != 120 {
		t.Errorf("prio was not reconfigured in place: %+v (seq before %d)", st[1], prioSeq)
	}
	if a.state("other", IPv4) != Backup || nsA.HasAddr(t, "192.0.2.104") || !nsB.HasAddr(t, "192.0.2.104") {
		t.Errorf("VRID 54: A %v, B %v", a.state("other", IPv4), b.state("other", IPv4))
	}
	if got := a.Stats().Instances[InstanceID{"other", IPv4}].AdvertsReceived; got == 0 {
		t.Error("A's new instance on VRID 54 heard nothing: the socket filter did not follow")
	}
}

// listenIn creates the Linux network in ns, then, from the test's goroutine,
// opens its IPv4 socket on eth0 admitting VRID 51.
func listenIn(t *testing.T, ns *testenv.Netns) (Network, PacketConn) {
	t.Helper()
	var nw Network
	if err := ns.Do(func() error {
		var err error
		nw, err = NewLinuxNetwork()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.(io.Closer).Close() })
	conn, err := nw.ListenVRRP("eth0", IPv4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetVRIDs([]uint8{51}); err != nil {
		t.Fatal(err)
	}
	return nw, conn
}

// TestIntegrationNetworkNamespace creates the Linux network inside a namespace
// and then uses it from a goroutine on a host thread: the sockets it opens
// later (as Update and the first announcement do) and its interface
// subscription still belong to the namespace.
func TestIntegrationNetworkNamespace(t *testing.T) {
	testenv.Integration(t)
	ns := attach(t, testenv.NewLAN(t), 1, 2)
	nw, conn := listenIn(t, ns[0])
	got := make(chan Message, 1)
	go func() {
		msgs := []Message{{Buf: make([]byte, rxBufSize(IPv4))}}
		if n, err := conn.ReadBatch(msgs); err == nil && n == 1 {
			got <- msgs[0]
		}
	}()
	in := newInjector(t, ns[1], "192.0.2.2")
	adv := Advertisement{VRID: 51, Priority: 100, MaxAdvertInterval: 10, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	in.send(t, adv, netip.Addr{}, 1)
	select {
	case m := <-got:
		if m.Info.Src != in.src || m.Info.Dst != GroupIPv4 || m.Info.TTL != TTL || len(m.Data) != adv.Len() {
			t.Errorf("received %+v, want an advert from %v to %v with TTL 255", m.Info, in.src, GroupIPv4)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the socket opened from a host thread received nothing: not in the namespace")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan NetEvent, 16)
	if err := nw.Watch(ctx, events); err != nil {
		t.Fatal(err)
	}
	ns[0].Sh(t, "ip link add t0 type veth peer name t1")
	for end := time.After(2 * time.Second); ; {
		select {
		case ev := <-events:
			if ev.Kind == LinkChanged && ev.Ifname == "t0" {
				return
			}
		case <-end:
			t.Fatal("no link event from the namespace")
		}
	}
}

// TestIntegrationReadAllocs checks that the Linux sockets read a batch of
// messages without allocating.
func TestIntegrationReadAllocs(t *testing.T) {
	testenv.Integration(t)
	ns := attach(t, testenv.NewLAN(t), 1, 2)
	_, conn := listenIn(t, ns[0])
	in := newInjector(t, ns[1], "192.0.2.2")
	adv := Advertisement{VRID: 51, Priority: 100, MaxAdvertInterval: 10, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	const runs = 100
	in.send(t, adv, netip.Addr{}, 2*runs)
	msgs := []Message{{Buf: make([]byte, rxBufSize(IPv4))}, {Buf: make([]byte, rxBufSize(IPv4))}}
	got := 0
	allocs := testing.AllocsPerRun(runs-1, func() {
		n, err := conn.ReadBatch(msgs)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	})
	t.Logf("%d messages in %d reads", got, runs)
	if allocs != 0 {
		t.Errorf("%v allocations per ReadBatch, want 0", allocs)
	}
	if msgs[0].Info.Src != in.src || msgs[0].Info.TTL != TTL || len(msgs[0].Data) != adv.Len() {
		t.Errorf("last message %+v", msgs[0].Info)
	}
}
