package vrrp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// fakeNet is an in-memory Network: tests inject packets and link events and
// inspect what the node wrote, added, removed and announced.
type fakeNet struct {
	mu    sync.Mutex
	links map[string]Link
	conns map[sockKey]*fakeConn
	// addrs holds the addresses added, by interface; Link reports them.
	addrs   map[string]map[netip.Prefix]bool
	ops     []string // "add PREFIX" / "del PREFIX"
	ann     []netip.Addr
	watchCh chan<- NetEvent
	// filterErr fails AcceptFilter, dropErr the filter's Drop (see noaccept_test.go).
	filterErr, dropErr error
}

func newFakeNet() *fakeNet {
	return &fakeNet{
		links: map[string]Link{
			"eth0": {Name: "eth0", Index: 2, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 2}, Up: true,
				Addrs4: []netip.Addr{netip.MustParseAddr("192.0.2.2")}, Primary6: netip.MustParseAddr("fe80::2")},
			"eth1": {Name: "eth1", Index: 3, Up: true},
		},
		conns: map[sockKey]*fakeConn{},
		addrs: map[string]map[netip.Prefix]bool{},
	}
}

type sent struct {
	b        []byte
	src, dst netip.Addr
}

type fakeConn struct {
	in     chan rxIn
	mu     sync.Mutex
	vrids  []uint8
	out    []sent
	closed chan struct{}
	once   sync.Once
}

type rxIn struct {
	b    []byte
	info RecvInfo
}

func (c *fakeConn) ReadBatch(msgs []Message) (int, error) {
	select {
	case p := <-c.in:
		n := copy(msgs[0].Buf, p.b)
		msgs[0].Data, msgs[0].Info = msgs[0].Buf[:n], p.info
		return 1, nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

func (c *fakeConn) SetVRIDs(vrids []uint8) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.vrids = slices.Clone(vrids)
	return nil
}

func (c *fakeConn) WriteTo(b []byte, src, dst netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, sent{slices.Clone(b), src, dst})
	return nil
}

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *fakeConn) filtered() []uint8 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.vrids)
}

func (c *fakeConn) sent() []sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.out)
}

func (f *fakeNet) Link(name string) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[name]
	if !ok {
		return Link{}, errors.New("no such interface")
	}
	l.Addrs4 = slices.Clone(l.Addrs4)
	if l.Primary6.IsValid() {
		l.Addrs6 = []netip.Addr{l.Primary6}
	}
	for p := range f.addrs[name] {
		if p.Addr().Is4() {
			l.Addrs4 = append(l.Addrs4, p.Addr())
		} else {
			l.Addrs6 = append(l.Addrs6, p.Addr())
		}
	}
	return l, nil
}

func (f *fakeNet) ListenVRRP(ifname string, fam Family) (PacketConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &fakeConn{in: make(chan rxIn, 16), closed: make(chan struct{})}
	f.conns[sockKey{ifname, fam}] = c
	return c, nil
}

type fakeAnnouncer struct{ f *fakeNet }

func (a fakeAnnouncer) Announce(addr netip.Addr) error {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	a.f.ann = append(a.f.ann, addr)
	return nil
}

func (a fakeAnnouncer) Close() error { return nil }

func (f *fakeNet) Announcer(string, Family) (Announcer, error) { return fakeAnnouncer{f}, nil }

func (f *fakeNet) AddAddress(ifname string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addrs[ifname] == nil {
		f.addrs[ifname] = map[netip.Prefix]bool{}
	}
	f.addrs[ifname][p] = true
	f.ops = append(f.ops, "add "+p.String())
	return nil
}

func (f *fakeNet) DelAddress(ifname string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.addrs[ifname], p)
	f.ops = append(f.ops, "del "+p.String())
	return nil
}

func (f *fakeNet) Watch(_ context.Context, ch chan<- NetEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watchCh = ch
	return nil
}

func (f *fakeNet) has(p netip.Prefix) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, as := range f.addrs {
		if as[p] {
			return true
		}
	}
	return false
}

func (f *fakeNet) announced() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ann)
}

func (f *fakeNet) setLink(name string, up bool) {
	f.mu.Lock()
	l := f.links[name]
	l.Up = up
	f.links[name] = l
	ch := f.watchCh
	f.mu.Unlock()
	ch <- NetEvent{Kind: LinkChanged, Ifname: name, Up: up}
}

func (f *fakeNet) conn(ifname string, fam Family) *fakeConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns[sockKey{ifname, fam}]
}

func (f *fakeNet) inject(t *testing.T, fam Family, src string, ttl int, adv Advertisement, mode ChecksumMode) {
	t.Helper()
	s := netip.MustParseAddr(src)
	dst := GroupIPv4
	if fam == IPv6 {
		dst = GroupIPv6
	}
	b, err := adv.Marshal(s, dst, mode)
	if err != nil {
		t.Fatal(err)
	}
	f.conn("eth0", fam).in <- rxIn{b, RecvInfo{Src: s, Dst: dst, TTL: ttl}}
}

// lastAdvert decodes the last advertisement the node sent on eth0 for fam.
func lastAdvert(t *testing.T, f *fakeNet, fam Family) (*Advertisement, sent) {
	t.Helper()
	out := f.conn("eth0", fam).sent()
	if len(out) == 0 {
		t.Fatal("nothing sent")
	}
	s := out[len(out)-1]
	adv, err := Parse(s.b, fam)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyChecksum(s.b, s.src, s.dst, ChecksumRFC5798); err != nil {
		t.Fatal(err)
	}
	return adv, s
}

func startFake(t *testing.T, f *fakeNet, cfg *Config) *runningFake {
	t.Helper()
	cfg.Network = f
	cfg.Logger = zaptest.NewLogger(t)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rf := runFake(t, f, n)
	// Wait until Run has opened the sockets.
	waitUntil(t, "sockets open", func() bool { return f.conn("eth0", cfg.Instances[0].Family) != nil })
	return rf
}

// runFake runs an already built node on f until the test ends.
func runFake(t *testing.T, f *fakeNet, n *Node) *runningFake {
	t.Helper()
	n.net = f
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	go func() {
		for range n.Events() {
		}
	}()
	rf := &runningFake{Node: n}
	var once sync.Once
	var runErr error
	rf.stop = func() error {
		once.Do(func() { cancel(); runErr = <-errc })
		return runErr
	}
	t.Cleanup(func() { _ = rf.stop() })
	return rf
}

type runningFake struct {
	*Node
	stop func() error
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (n *Node) stateOf(name string, f Family) State {
	for _, s := range n.States() {
		if s.ID == (InstanceID{name, f}) {
			return s.State
		}
	}
	return Initialize
}

var vip4 = netip.MustParsePrefix("192.0.2.100/24")

func fakeInstance() InstanceConfig {
	return InstanceConfig{
		Name: "front", Family: IPv4, Interface: "eth0", VRID: 51, Priority: 100,
		AdvertInterval: 20 * time.Millisecond, Preempt: true, Accept: true,
		GARP:       GARPConfig{Count: 3, Interval: 10 * time.Millisecond},
		VirtualIPs: []netip.Prefix{vip4},
	}
}

func TestNodeMastershipAndStop(t *testing.T) {
	f := newFakeNet()
	n := startFake(t, f, &Config{Instances: []InstanceConfig{fakeInstance()}})
	waitUntil(t, "master", func() bool { return n.stateOf("front", IPv4) == Master })
	waitUntil(t, "VIP added", func() bool { return f.has(vip4) })
	waitUntil(t, "3 announcements", func() bool { return f.announced() == 3 })
	time.Sleep(50 * time.Millisecond)
	if got := f.announced(); got != 3 {
		t.Errorf("%d announcements, want a burst of 3 and no refresh", got)
	}
	adv, s := lastAdvert(t, f, IPv4)
	if adv.Priority != 100 || adv.VRID != 51 || adv.MaxAdvertInterval != 2 ||
		!slices.Equal(adv.Addresses, []netip.Addr{vip4.Addr()}) ||
		s.src != netip.MustParseAddr("192.0.2.2") || s.dst != GroupIPv4 {
		t.Errorf("advert %+v from %v to %v", adv, s.src, s.dst)
	}
	if st := n.Stats(); st.Instances[InstanceID{"front", IPv4}].LastMasterLatency > 5*time.Millisecond {
		t.Logf("VIP + announce latency %v", st.Instances[InstanceID{"front", IPv4}].LastMasterLatency)
	}

	// The engine lowers the priority; the next adverts carry it.
	if err := n.AdjustPriority(context.Background(), "front", -30); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "advert at priority 70 after AdjustPriority(-30)", func() bool {
		adv, _ := lastAdvert(t, f, IPv4)
		return adv.Priority == 70
	})
	if err := n.AdjustPriority(context.Background(), "nope", -1); !errors.Is(err, ErrUnknownInstance) {
		t.Errorf("AdjustPriority(unknown) = %v", err)
	}

	// Someone deletes the VIP: it comes back.
	_ = f.DelAddress("eth0", vip4)
	f.watchCh <- NetEvent{Kind: AddressRemoved, Ifname: "eth0", Prefix: vip4}
	waitUntil(t, "VIP re-added", func() bool { return f.has(vip4) && n.Stats().VIPReasserts == 1 })

	// Graceful stop: priority 0, then the VIP goes.
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	if adv, _ := lastAdvert(t, f, IPv4); adv.Priority != 0 {
		t.Errorf("last advert priority %d, want 0", adv.Priority)
	}
	if f.has(vip4) {
		t.Error("VIP left after stop")
	}
	if err := n.AdjustPriority(context.Background(), "front", 0); !errors.Is(err, ErrNotRunning) {
		t.Errorf("AdjustPriority after Run = %v, want ErrNotRunning", err)
	}
	if err := n.Run(context.Background()); !errors.Is(err, ErrAlreadyRun) {
		t.Errorf("second Run = %v, want ErrAlreadyRun", err)
	}
}

func TestNodeDropsAndBackup(t *testing.T) {
	f := newFakeNet()
	ic := fakeInstance()
	ic.AdvertInterval = 100 * time.Millisecond
	n := startFake(t, f, &Config{Instances: []InstanceConfig{ic}})
	waitUntil(t, "backup", func() bool { return n.stateOf("front", IPv4) == Backup })
	good := Advertisement{VRID: 51, Priority: 200, MaxAdvertInterval: 10, Addresses: []netip.Addr{vip4.Addr()}}
	f.inject(t, IPv4, "192.0.2.1", 255, good, ChecksumRFC5798)
	waitUntil(t, "advert received", func() bool { return n.Stats().AdvertsReceived == 1 })

	stop := good
	stop.Priority = 0
	other := good
	other.VRID = 7
	mismatch := good
	mismatch.Addresses = []netip.Addr{netip.MustParseAddr("192.0.2.200")}
	f.inject(t, IPv4, "192.0.2.1", 64, stop, ChecksumRFC5798)
	f.inject(t, IPv4, "192.0.2.1", 255, stop, ChecksumIPv4NoPseudoHeader)
	f.inject(t, IPv4, "192.0.2.1", 255, other, ChecksumRFC5798)
	zero := good
	zero.MaxAdvertInterval = 0
	f.inject(t, IPv4, "192.0.2.1", 255, zero, ChecksumRFC5798)
	f.inject(t, IPv4, "192.0.2.2", 255, stop, ChecksumRFC5798) // our own address
	f.inject(t, IPv4, "192.0.2.1", 255, mismatch, ChecksumRFC5798)
	waitUntil(t, "drops counted", func() bool {
		st := n.Stats()
		return st.Drops[DropTTL] == 1 && st.Drops[DropChecksum] == 1 && st.Drops[DropVRID] == 1 &&
			st.Drops[DropInterval] == 1 && st.Drops[DropOwnPacket] == 1 && st.AddressMismatches == 1
	})
	// Still backup, nothing added.
	time.Sleep(150 * time.Millisecond)
	f.inject(t, IPv4, "192.0.2.1", 255, good, ChecksumRFC5798)
	if n.stateOf("front", IPv4) != Backup || f.has(vip4) || n.Stats().Transitions != 1 {
		t.Errorf("state %v, vip %v, transitions %d", n.stateOf("front", IPv4), f.has(vip4), n.Stats().Transitions)
	}
	// A real priority 0 hands over after Skew_Time.
	f.inject(t, IPv4, "192.0.2.1", 255, stop, ChecksumRFC5798)
	waitUntil(t, "master after priority 0", func() bool { return n.stateOf("front", IPv4) == Master && f.has(vip4) })
	// A higher priority master takes it back and the VIP goes.
	f.inject(t, IPv4, "192.0.2.1", 255, good, ChecksumRFC5798)
	waitUntil(t, "backup again", func() bool { return n.stateOf("front", IPv4) == Backup && !f.has(vip4) })
}

func TestNodeUnicastPeers(t *testing.T) {
	f := newFakeNet()
	ic := fakeInstance()
	ic.AdvertInterval = 100 * time.Millisecond
	ic.UnicastPeers = []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.3")}
	n := startFake(t, f, &Config{Instances: []InstanceConfig{ic}})
	good := Advertisement{VRID: 51, Priority: 200, MaxAdvertInterval: 10, Addresses: []netip.Addr{vip4.Addr()}}
	f.inject(t, IPv4, "192.0.2.9", 255, good, ChecksumRFC5798)
	waitUntil(t, "non-peer dropped", func() bool { return n.Stats().Drops[DropPeer] == 1 })
	waitUntil(t, "master", func() bool { return n.stateOf("front", IPv4) == Master })
	// Each advertisement goes to every peer, with the unicast pseudo-header.
	waitUntil(t, "sent to both peers", func() bool {
		var dsts []netip.Addr
		for _, s := range f.conn("eth0", IPv4).sent() {
			if err := VerifyChecksum(s.b, s.src, s.dst, ChecksumRFC5798); err != nil {
				t.Fatal(err)
			}
			dsts = append(dsts, s.dst)
		}
		return slices.Contains(dsts, ic.UnicastPeers[0]) && slices.Contains(dsts, ic.UnicastPeers[1]) &&
			!slices.Contains(dsts, GroupIPv4)
	})
}

func TestNodeTracking(t *testing.T) {
	f := newFakeNet()
	f.links["eth2"] = Link{Name: "eth2", Index: 4, Up: true}
	ic := fakeInstance()
	ic.TrackInterfaces = []TrackInterface{{Name: "eth1", Weight: 0}, {Name: "eth2", Weight: 40}}
	v6 := ic
	v6.Family = IPv6
	v6.VirtualIPs = []netip.Prefix{netip.MustParsePrefix("2001:db8::100/64")}
	n := startFake(t, f, &Config{Instances: []InstanceConfig{ic, v6}})
	waitUntil(t, "both master", func() bool {
		return n.stateOf("front", IPv4) == Master && n.stateOf("front", IPv6) == Master
	})
	adv, s := lastAdvert(t, f, IPv6)
	if s.src != netip.MustParseAddr("fe80::2") || s.dst != GroupIPv6 || adv.Priority != 100 {
		t.Errorf("ipv6 advert %+v from %v to %v", adv, s.src, s.dst)
	}
	// Weighted track: priority lowered by 40 on both families.
	f.setLink("eth2", false)
	waitUntil(t, "priority 60", func() bool {
		a4, _ := lastAdvert(t, f, IPv4)
		a6, _ := lastAdvert(t, f, IPv6)
		return a4.Priority == 60 && a6.Priority == 60
	})
	f.setLink("eth2", true)
	waitUntil(t, "priority 100", func() bool { a4, _ := lastAdvert(t, f, IPv4); return a4.Priority == 100 })
	// Weight 0: fault, VIPs removed, priority 0 sent; the IPv6 half follows.
	f.setLink("eth1", false)
	waitUntil(t, "fault", func() bool {
		return n.stateOf("front", IPv4) == Fault && n.stateOf("front", IPv6) == Fault && !f.has(vip4)
	})
	if a4, _ := lastAdvert(t, f, IPv4); a4.Priority != 0 {
		t.Errorf("advert on fault has priority %d, want 0", a4.Priority)
	}
	sentInFault := len(f.conn("eth0", IPv4).sent())
	time.Sleep(100 * time.Millisecond)
	if got := len(f.conn("eth0", IPv4).sent()); got != sentInFault {
		t.Errorf("%d adverts sent while in fault", got-sentInFault)
	}
	f.setLink("eth1", true)
	waitUntil(t, "master again", func() bool {
		return n.stateOf("front", IPv4) == Master && n.stateOf("front", IPv6) == Master && f.has(vip4)
	})
	// The instance's own interface going down is a fault too.
	f.setLink("eth0", false)
	waitUntil(t, "fault on own link", func() bool { return n.stateOf("front", IPv4) == Fault })
	st := n.States()
	if len(st) != 2 || !slices.Contains(st[0].Faults, "eth0") {
		t.Errorf("States = %+v", st)
	}
}

func TestNodeAnnounceRefresh(t *testing.T) {
	f := newFakeNet()
	ic := fakeInstance()
	ic.GARP = GARPConfig{Count: 1, Refresh: 20 * time.Millisecond}
	n := startFake(t, f, &Config{Instances: []InstanceConfig{ic}})
	waitUntil(t, "master", func() bool { return n.stateOf("front", IPv4) == Master })
	waitUntil(t, "refreshed announcements", func() bool { return f.announced() >= 4 })
	// Leaving mastership stops the refresh.
	good := Advertisement{VRID: 51, Priority: 200, MaxAdvertInterval: 10, Addresses: []netip.Addr{vip4.Addr()}}
	f.inject(t, IPv4, "192.0.2.1", 255, good, ChecksumRFC5798)
	waitUntil(t, "backup", func() bool { return n.stateOf("front", IPv4) == Backup })
	got := f.announced()
	time.Sleep(60 * time.Millisecond)
	if f.announced() != got {
		t.Errorf("announcements continued in backup: %d -> %d", got, f.announced())
	}
}
