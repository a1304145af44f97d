package vrrp

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/seesawd/seesawd/pkg/clock"
	"go.uber.org/zap"
	zapobserver "go.uber.org/zap/zaptest/observer"
)

// loadedNode returns a node on f with its machines started at now, driven by
// hand (no Run, no reader goroutines), for tests of one input at a time.
func loadedNode(t testing.TB, f *fakeNet, now time.Time, ics ...InstanceConfig) *Node {
	t.Helper()
	return loadedNodeWith(t, &Config{Instances: ics, Network: f, Logger: zap.NewNop()}, now)
}

func loadedNodeWith(t testing.TB, cfg *Config, now time.Time) *Node {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.load(n.cfg); err != nil {
		t.Fatal(err)
	}
	n.begin(now)
	return n
}

// FuzzReceive hands one arbitrary message to a backup or master: nothing
// panics, the message is either counted as received or dropped for exactly one
// reason, and a dropped one changes no state.
func FuzzReceive(f *testing.F) {
	good := Advertisement{VRID: 51, Priority: 200, MaxAdvertInterval: 100, Addresses: []netip.Addr{vip4.Addr()}}
	gb, _ := good.Marshal(netip.MustParseAddr("192.0.2.1"), GroupIPv4, ChecksumRFC5798)
	f.Add(gb, uint8(TTL), uint8(1), false, false, false)
	f.Add(gb, uint8(TTL), uint8(1), true, false, false)
	f.Add(gb, uint8(64), uint8(1), true, false, false)
	f.Add(gb, uint8(TTL), uint8(2), true, false, true)
	f.Add(gb[:10], uint8(TTL), uint8(1), false, true, true)
	f.Add([]byte{0x31, 51, 0, 1, 0, 10, 0, 0, 192, 0, 2, 100}, uint8(TTL), uint8(1), true, true, true)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte, ttl, srcHost uint8, master, unicast, fixChecksum bool) {
		ic := fakeInstance()
		if unicast {
			ic.UnicastPeers = []netip.Addr{netip.MustParseAddr("192.0.2.1")}
		}
		fn := newFakeNet()
		n := loadedNode(t, fn, t0, ic)
		now := t0
		if master {
			now = n.set.Deadline()
			n.do(now, n.set.Timers(now))
		}
		m := n.set.Machines()[0]
		state, deadline := m.State(), m.Deadline()
		src := netip.AddrFrom4([4]byte{192, 0, 2, srcHost})
		b = slices.Clone(b)
		if fixChecksum && len(b) >= HeaderLen {
			binary.BigEndian.PutUint16(b[6:], Checksum(b, src, GroupIPv4, ChecksumRFC5798))
		}
		before := n.Stats()
		s := n.sockets[sockKey{"eth0", IPv4}]
		n.receive(now.Add(time.Millisecond), s, &Message{Data: b, Info: RecvInfo{Src: src, Dst: GroupIPv4, TTL: int(ttl)}})
		after := n.Stats()
		var drops uint64
		for r, c := range after.Drops {
			if r == DropNone || r >= numDropReasons {
				t.Fatalf("dropped for reason %v", r)
			}
			drops += c - before.Drops[r]
		}
		received := after.AdvertsReceived - before.AdvertsReceived
		if drops+received != 1 {
			t.Fatalf("%d drops and %d received for one message (drops %v)", drops, received, after.Drops)
		}
		if drops == 1 && (m.State() != state || !m.Deadline().Equal(deadline)) {
			t.Fatalf("a dropped message moved the machine: %v -> %v, deadline %v -> %v (drops %v)",
				state, m.State(), deadline, m.Deadline(), after.Drops)
		}
	})
}

// TestReceiveAllocs checks that a valid advertisement, the common case of a
// flood that passes the kernel filter, costs no allocation.
func TestReceiveAllocs(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, master := range []bool{false, true} {
		n := loadedNode(t, newFakeNet(), t0, fakeInstance())
		now := t0
		if master {
			now = n.set.Deadline()
			n.do(now, n.set.Timers(now))
		}
		src := netip.MustParseAddr("192.0.2.9")
		lower := Advertisement{VRID: 51, Priority: 50, MaxAdvertInterval: 2, Addresses: []netip.Addr{vip4.Addr()}}
		b, err := lower.Marshal(src, GroupIPv4, ChecksumRFC5798)
		if err != nil {
			t.Fatal(err)
		}
		s := n.sockets[sockKey{"eth0", IPv4}]
		m := &Message{Data: b, Info: RecvInfo{Src: src, Dst: GroupIPv4, TTL: TTL}}
		allocs := testing.AllocsPerRun(1000, func() { n.receive(now, s, m) })
		if allocs != 0 {
			t.Errorf("master=%v: %v allocations per lower priority advert, want 0", master, allocs)
		}
		if got := n.Stats().AdvertsReceived; got < 1000 {
			t.Errorf("master=%v: %d adverts received", master, got)
		}
	}
}

// TestDropLogRateLimited floods a node with dropped messages: the first drop
// of a kind is logged at once, the rest at most once per 10 s with the number
// suppressed, and every one is counted.
func TestDropLogRateLimited(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	core, logs := zapobserver.New(zap.InfoLevel)
	clk := clock.NewFake(t0)
	n := loadedNodeWith(t, &Config{Instances: []InstanceConfig{fakeInstance()}, Network: newFakeNet(),
		Logger: zap.New(core), Clock: clk}, t0)
	s := n.sockets[sockKey{"eth0", IPv4}]
	bad := &Message{Data: []byte{0x31, 51, 1}, Info: RecvInfo{Src: netip.MustParseAddr("192.0.2.9"), Dst: GroupIPv4, TTL: TTL}}
	ttl := &Message{Data: bad.Data, Info: RecvInfo{Src: bad.Info.Src, Dst: GroupIPv4, TTL: 1}}
	dropped := func() []zapobserver.LoggedEntry { return logs.FilterMessage("vrrp: packet dropped").AllUntimed() }
	for i := range 1000 {
		n.receive(t0.Add(time.Duration(i)*time.Millisecond), s, bad)
		n.receive(t0.Add(time.Duration(i)*time.Millisecond), s, ttl)
	}
	if got := len(dropped()); got != 2 {
		t.Fatalf("%d drop lines for 2000 drops of two kinds in 1 s, want 2", got)
	}
	n.receive(t0.Add(10*time.Second), s, bad)
	lines := dropped()
	if len(lines) != 3 {
		t.Fatalf("%d drop lines after 10 s, want 3", len(lines))
	}
	last := lines[2].ContextMap()
	if last["reason"] != "length" || last["suppressed"] != uint64(999) {
		t.Errorf("last drop line %v, want reason length with 999 suppressed", last)
	}
	if st := n.Stats(); st.Drops[DropLength] != 1001 || st.Drops[DropTTL] != 1000 {
		t.Errorf("drops %v", st.Drops)
	}
}
