//go:build linux

package vrrp

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
	"golang.org/x/net/ipv4"
)

// The tests in this file put a Node on a hostile or unlucky network: interfaces
// going administratively down, addresses left over from another run, peers
// that cannot be reached, forged and flooding advertisements.

// injector sends hand-made IPv4 advertisements from a namespace through a raw socket.
type injector struct {
	p   *ipv4.PacketConn
	src netip.Addr
}

func newInjector(t *testing.T, ns *testenv.Netns, src string) *injector {
	t.Helper()
	in := &injector{src: netip.MustParseAddr(src)}
	if err := ns.Do(func() error {
		c, err := net.ListenPacket("ip4:112", src)
		if err != nil {
			return err
		}
		in.p = ipv4.NewPacketConn(c)
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		if err := in.p.SetMulticastInterface(ifi); err != nil {
			return err
		}
		if err := in.p.SetMulticastTTL(TTL); err != nil {
			return err
		}
		return in.p.SetTTL(TTL)
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.p.Close() })
	return in
}

// send sends adv n times to dst (the VRRP group when invalid).
func (in *injector) send(t *testing.T, adv Advertisement, dst netip.Addr, n int) {
	t.Helper()
	if !dst.IsValid() {
		dst = GroupIPv4
	}
	b, err := adv.Marshal(in.src, dst, ChecksumRFC5798)
	if err != nil {
		t.Fatal(err)
	}
	to := &net.IPAddr{IP: dst.AsSlice()}
	for i := 0; i < n; i++ {
		if _, err := in.p.WriteTo(b, nil, to); err != nil {
			// A full send queue under a flood: back off briefly.
			time.Sleep(time.Millisecond)
			if _, err := in.p.WriteTo(b, nil, to); err != nil {
				t.Fatalf("inject: %v", err)
			}
		}
	}
}

// attach puts one namespace per host number h on the LAN, with address
// 192.0.2.h/24 and MAC 02:00:00:00:00:hh.
func attach(t *testing.T, l *testenv.LAN, hosts ...int) []*testenv.Netns {
	t.Helper()
	out := make([]*testenv.Netns, len(hosts))
	for i, h := range hosts {
		out[i], _ = l.Attach(t, fmt.Sprintf("192.0.2.%d/24", h), fmt.Sprintf("02:00:00:00:00:%02x", h))
	}
	return out
}

// nftDrop drops the packets matching match at hook (input, output) in ns, in
// the nftables table inet t.
func nftDrop(t *testing.T, ns *testenv.Netns, hook, match string) {
	t.Helper()
	ns.Sh(t, fmt.Sprintf(`nft add table inet t && nft add chain inet t c '{ type filter hook %s priority 0; }' && nft add rule inet t c %s drop`, hook, match))
}

func frontV4(prio uint8, interval time.Duration) InstanceConfig {
	return frontInstances(prio, interval)[0]
}

// TestIntegrationTrackAdminDown sets a tracked interface, then the instance's own
// interface, administratively down five times each with IPv6 on (the kernel
// removes the link-local address before it reports the link down): every down
// is a fault that takes the address away, every up gives it back. A quick
// down-up must end up, not stuck in fault.
func TestIntegrationTrackAdminDown(t *testing.T) {
	testenv.Integration(t)
	l := testenv.NewLAN(t)
	ns, _ := l.Attach(t, "192.0.2.1/24", "02:00:00:00:00:0a")
	ns.Sh(t, "ip link add t0 type veth peer name t1 && ip link set t1 up && ip link set t0 up")
	testenv.WaitFor(t, "t0 link-local address", 2*time.Second, func() bool {
		return len(ns.Sh(t, "ip -6 addr show dev t0 scope link")) > 0
	})
	ic := frontV4(100, 50*time.Millisecond)
	ic.TrackInterfaces = []TrackInterface{{Name: "t0"}}
	n := startNode(t, ns, &Config{Instances: []InstanceConfig{ic}})
	master := func() bool { return n.state("front", IPv4) == Master && ns.HasAddr(t, "192.0.2.100") }
	fault := func() bool { return n.state("front", IPv4) == Fault && !ns.HasAddr(t, "192.0.2.100") }
	testenv.WaitFor(t, "master", 3*time.Second, master)

	for _, ifname := range []string{"t0", "eth0"} {
		seen := 0
		for i := 0; i < 5; i++ {
			ns.Sh(t, "ip link set "+ifname+" down")
			end := time.Now().Add(2 * time.Second)
			for !fault() && time.Now().Before(end) {
				time.Sleep(5 * time.Millisecond)
			}
			if fault() {
				seen++
			}
			ns.Sh(t, "ip link set "+ifname+" up")
			testenv.WaitFor(t, fmt.Sprintf("master again after %s up (round %d)", ifname, i+1), 3*time.Second, master)
		}
		if seen != 5 {
			t.Errorf("%s set down 5 times, %d faults seen", ifname, seen)
		}
	}
	for i := 0; i < 5; i++ {
		ns.Sh(t, "ip link set t0 down && ip link set t0 up")
		testenv.WaitFor(t, fmt.Sprintf("master after a quick down-up of t0 (round %d)", i+1), 3*time.Second, master)
	}
}

// TestIntegrationStaleVIPRemoved starts a backup whose interface already holds the
// virtual addresses (added by hand, or left by a killed run): it removes them at
// start, and again when they are added while it is backup. The same in fault.
func TestIntegrationStaleVIPRemoved(t *testing.T) {
	testenv.Integration(t)
	l := testenv.NewLAN(t)
	nsA, _ := l.Attach(t, "192.0.2.1/24", "02:00:00:00:00:0a")
	nsB, _ := l.Attach(t, "192.0.2.2/24", "02:00:00:00:00:0b")
	a := startNode(t, nsA, &Config{Instances: frontInstances(200, 100*time.Millisecond)})
	testenv.WaitFor(t, "A master", 3*time.Second, func() bool {
		return a.state("front", IPv4) == Master && a.state("front", IPv6) == Master
	})
	addVIPs := "ip addr add 192.0.2.100/24 dev eth0 && ip addr add 2001:db8::100/64 dev eth0 nodad"
	noVIPs := func() bool { return !nsB.HasAddr(t, "192.0.2.100") && !nsB.HasAddr(t, "2001:db8::100") }
	nsB.Sh(t, addVIPs)
	nsB.Sh(t, "ip link add t0 type veth peer name t1 && ip link set t1 up && ip link set t0 up")
	b := startNode(t, nsB, &Config{Instances: frontInstances(100, 100*time.Millisecond)})
	d := testenv.WaitFor(t, "B removes the VIPs it found at start", 2*time.Second, noVIPs)
	t.Logf("stale VIPs removed %v after start", d)
	if b.state("front", IPv4) != Backup || b.state("front", IPv6) != Backup {
		t.Fatalf("B is %v/%v, want backup", b.state("front", IPv4), b.state("front", IPv6))
	}
	nsB.Sh(t, addVIPs)
	d = testenv.WaitFor(t, "B removes VIPs added while it is backup", 2*time.Second, noVIPs)
	t.Logf("VIPs added by hand removed after %v", d)
	if got := b.Stats().VIPsRemoved; got < 4 {
		t.Errorf("VIPsRemoved = %d, want at least 4", got)
	}
	if !nsA.HasAddr(t, "192.0.2.100") || b.transitionsTo(Master) != 0 {
		t.Fatal("A lost the VIP or B became master")
	}

	// A node starting in fault (its tracked interface down) removes them too.
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	nsB.Sh(t, addVIPs+" && ip link set t0 down")
	cfgs := frontInstances(100, 100*time.Millisecond)
	for i := range cfgs {
		cfgs[i].TrackInterfaces = []TrackInterface{{Name: "t0"}}
	}
	c := startNode(t, nsB, &Config{Instances: cfgs})
	testenv.WaitFor(t, "fault", 2*time.Second, func() bool { return c.state("front", IPv4) == Fault })
	testenv.WaitFor(t, "VIPs removed in fault", 2*time.Second, noVIPs)
}

// TestIntegrationUnicastPeerSendFailure makes sending to the first unicast peer fail
// (EPERM from a local nftables rule): the second peer still gets every advert and
// stays backup.
func TestIntegrationUnicastPeerSendFailure(t *testing.T) {
	testenv.Integration(t, "nft")
	// B exists, so sending to it fails only by the firewall rule.
	ns := attach(t, testenv.NewLAN(t), 1, 2, 3)
	nsA, nsC := ns[0], ns[2]
	nftDrop(t, nsA, "output", "ip daddr 192.0.2.2")
	cfg := func(prio uint8, peers ...string) *Config {
		ic := frontV4(prio, 100*time.Millisecond)
		for _, p := range peers {
			ic.UnicastPeers = append(ic.UnicastPeers, netip.MustParseAddr(p))
		}
		return &Config{Instances: []InstanceConfig{ic}}
	}
	a := startNode(t, nsA, cfg(200, "192.0.2.2", "192.0.2.3"))
	testenv.WaitFor(t, "A master", 3*time.Second, func() bool { return a.state("front", IPv4) == Master })
	c := startNode(t, nsC, cfg(100, "192.0.2.1"))
	testenv.WaitFor(t, "C backup", 2*time.Second, func() bool { return c.state("front", IPv4) == Backup })
	// Three Master_Down_Intervals of adverts: C would have taken over after one.
	testenv.WaitFor(t, "C hears A", 3*time.Second, func() bool { return c.Stats().AdvertsReceived >= 11 })
	if got := c.transitionsTo(Master); got != 0 || nsC.HasAddr(t, "192.0.2.100") {
		t.Fatalf("C became master %d times while A was sending to it", got)
	}
	if st := a.Stats(); st.SendErrors == 0 {
		t.Errorf("A counted no send errors: %+v", st)
	}
}

// TestIntegrationLowerPriorityFlood floods a master with forged lower priority
// advertisements for its VRID: it keeps sending one advert per interval, not one
// per forged advert (RFC 5798 section 6.4.3 discards them). A lower priority
// master that appears (a backup that stopped hearing us) still steps down at
// our next regular advert.
func TestIntegrationLowerPriorityFlood(t *testing.T) {
	testenv.Integration(t, "nft")
	ns := attach(t, testenv.NewLAN(t), 1, 2, 9)
	nsA, nsB, nsX := ns[0], ns[1], ns[2]
	const interval = 100 * time.Millisecond
	a := startNode(t, nsA, &Config{Instances: []InstanceConfig{frontV4(200, interval)}})
	testenv.WaitFor(t, "A master", 3*time.Second, func() bool { return a.state("front", IPv4) == Master })

	in := newInjector(t, nsX, "192.0.2.9")
	forged := Advertisement{VRID: 51, Priority: 50, MaxAdvertInterval: 10,
		Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	before := a.Stats()
	start := time.Now()
	// 10,000 adverts/s for 1 s, in bursts of 10 per millisecond.
	for time.Since(start) < time.Second {
		in.send(t, forged, netip.Addr{}, 10)
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	st := a.Stats()
	sent, received := st.AdvertsSent-before.AdvertsSent, st.AdvertsReceived-before.AdvertsReceived
	t.Logf("forged adverts for %v: A received %d and sent %d adverts", elapsed, received, sent)
	if received < 1000 {
		t.Fatalf("A received only %d forged adverts", received)
	}
	if max := uint64(elapsed/interval) + 2; sent > max {
		t.Errorf("A sent %d adverts in %v under a lower priority flood, want at most %d (one per interval)", sent, elapsed, max)
	}
	if a.state("front", IPv4) != Master {
		t.Fatal("A lost mastership to lower priority adverts")
	}

	// B cannot hear A (its input drops VRRP from A), so it becomes master too.
	nftDrop(t, nsB, "input", "ip saddr 192.0.2.1 ip protocol 112")
	b := startNode(t, nsB, &Config{Instances: []InstanceConfig{frontV4(100, interval)}})
	testenv.WaitFor(t, "B master too", 3*time.Second, func() bool { return b.state("front", IPv4) == Master })
	if a.state("front", IPv4) != Master {
		t.Fatal("A stepped down for a lower priority master")
	}
	healed := time.Now()
	nsB.Sh(t, "nft delete table inet t")
	d := testenv.WaitFor(t, "B steps down at A's next advert", 2*time.Second, func() bool {
		return b.state("front", IPv4) == Backup && !nsB.HasAddr(t, "192.0.2.100")
	})
	t.Logf("lower priority master stepped down %v after it could hear A again", time.Since(healed))
	if d > 2*interval+200*time.Millisecond {
		t.Errorf("B stepped down after %v, want within about one advert interval (%v)", d, interval)
	}
}

// TestIntegrationForeignAddressList sends a master higher priority advertisements
// for its VRID whose address list is not its own (another cluster reusing the
// VRID): by default they are counted and ignored and the master keeps the
// address; with AcceptAddressMismatch (RFC 5798 behaviour) it steps down.
func TestIntegrationForeignAddressList(t *testing.T) {
	testenv.Integration(t)
	for _, accept := range []bool{false, true} {
		t.Run(fmt.Sprintf("accept=%t", accept), func(t *testing.T) {
			ns := attach(t, testenv.NewLAN(t), 1, 9)
			nsA, nsX := ns[0], ns[1]
			ic := frontV4(100, 100*time.Millisecond)
			ic.AcceptAddressMismatch = accept
			a := startNode(t, nsA, &Config{Instances: []InstanceConfig{ic}})
			testenv.WaitFor(t, "A master", 3*time.Second, func() bool { return a.state("front", IPv4) == Master })
			in := newInjector(t, nsX, "192.0.2.9")
			rogue := Advertisement{VRID: 51, Priority: 200, MaxAdvertInterval: 10,
				Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.7")}}
			if accept {
				in.send(t, rogue, netip.Addr{}, 1)
				testenv.WaitFor(t, "A steps down", time.Second, func() bool {
					return a.state("front", IPv4) == Backup && !nsA.HasAddr(t, "192.0.2.100")
				})
				if st := a.Stats(); st.AddressMismatches != 1 || st.Drops[DropAddresses] != 0 {
					t.Errorf("AddressMismatches %d, drops %v", st.AddressMismatches, st.Drops)
				}
				return
			}
			for i := 0; i < 10; i++ {
				in.send(t, rogue, netip.Addr{}, 1)
				testenv.WaitFor(t, "rogue advert seen", time.Second, func() bool { return a.Stats().AddressMismatches == uint64(i+1) })
				if a.state("front", IPv4) != Master || !nsA.HasAddr(t, "192.0.2.100") {
					t.Fatalf("A gave up the VIP after %d rogue adverts with a foreign address list", i+1)
				}
			}
			// Three more of A's adverts: it is still sending as master.
			sent := a.Stats().AdvertsSent
			testenv.WaitFor(t, "A keeps advertising", time.Second, func() bool { return a.Stats().AdvertsSent >= sent+3 })
			st := a.Stats()
			if st.Drops[DropAddresses] != 10 || st.Instances[InstanceID{"front", IPv4}].Drops[DropAddresses] != 10 ||
				a.state("front", IPv4) != Master || a.transitionsTo(Backup) != 1 {
				t.Errorf("state %v, %d transitions to backup, drops %v", a.state("front", IPv4), a.transitionsTo(Backup), st.Drops)
			}
		})
	}
}
