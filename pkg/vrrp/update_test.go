package vrrp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// adverts decodes what the node sent on eth0 for fam with the given VRID.
func adverts(t *testing.T, f *fakeNet, fam Family, vrid uint8) []*Advertisement {
	t.Helper()
	var out []*Advertisement
	for _, s := range f.conn("eth0", fam).sent() {
		adv, err := Parse(s.b, fam)
		if err != nil {
			t.Fatal(err)
		}
		if adv.VRID == vrid {
			out = append(out, adv)
		}
	}
	return out
}

func lastOf(t *testing.T, f *fakeNet, vrid uint8) *Advertisement {
	t.Helper()
	all := adverts(t, f, IPv4, vrid)
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1]
}

func TestNodeUpdateBeforeRun(t *testing.T) {
	ic := fakeInstance()
	n, err := New(&Config{Instances: []InstanceConfig{ic}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := n.AdjustPriority(ctx, "front", -10); err != nil {
		t.Fatalf("AdjustPriority before Run: %v", err)
	}
	if err := n.AdjustPriority(ctx, "other", -10); !errors.Is(err, ErrUnknownInstance) {
		t.Fatalf("AdjustPriority(other) before Run = %v, want ErrUnknownInstance", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := n.AdjustPriority(cancelled, "front", -10); !errors.Is(err, context.Canceled) {
		t.Fatalf("AdjustPriority with a cancelled context = %v", err)
	}
	other := ic
	other.Name, other.VRID = "other", 52
	bad := other
	bad.VRID = 51
	if err := n.Update(ctx, &Config{Instances: []InstanceConfig{ic, bad}}); err == nil {
		t.Fatal("Update accepted two instances with one VRID")
	}
	if got := n.States(); len(got) != 1 {
		t.Fatalf("a rejected Update changed the states: %+v", got)
	}
	if err := n.Update(ctx, &Config{Instances: []InstanceConfig{ic, other}}); err != nil {
		t.Fatal(err)
	}
	if err := n.AdjustPriority(ctx, "other", -20); err != nil {
		t.Fatalf("AdjustPriority(other) after Update: %v", err)
	}
	st := n.States()
	if len(st) != 2 || st[1].ID.Name != "other" || st[1].State != Initialize || n.Stats().Instances[st[1].ID].Drops == nil {
		t.Fatalf("States before Run = %+v", st)
	}

	f := newFakeNet()
	rf := runFake(t, f, n)
	waitUntil(t, "both master", func() bool { return rf.stateOf("front", IPv4) == Master && rf.stateOf("other", IPv4) == Master })
	// The adjustments recorded before Run are in the first adverts.
	if a := adverts(t, f, IPv4, 51); a[0].Priority != 90 {
		t.Errorf("first advert of front at priority %d, want 90", a[0].Priority)
	}
	if a := adverts(t, f, IPv4, 52); a[0].Priority != 80 {
		t.Errorf("first advert of other at priority %d, want 80", a[0].Priority)
	}
	if err := rf.stop(); err != nil {
		t.Fatal(err)
	}
	if err := n.Update(ctx, &Config{Instances: []InstanceConfig{ic}}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Update after Run = %v, want ErrNotRunning", err)
	}
}

// TestNodeUpdate changes a running node: an unchanged instance keeps its state
// and schedule, a changed one is reconfigured in place, a removed master
// resigns with priority 0, a new one starts, and a failing update changes nothing.
func TestNodeUpdate(t *testing.T) {
	f := newFakeNet()
	front := fakeInstance()
	front.AdvertInterval = 50 * time.Millisecond
	back := front
	back.Name, back.VRID = "back", 52
	back.VirtualIPs = []netip.Prefix{netip.MustParsePrefix("192.0.2.102/24")}
	old := front
	old.Name, old.VRID = "old", 53
	old.VirtualIPs = []netip.Prefix{netip.MustParsePrefix("192.0.2.103/24")}
	n := startFake(t, f, &Config{Instances: []InstanceConfig{front, back, old}})
	waitUntil(t, "all master", func() bool {
		return n.stateOf("front", IPv4) == Master && n.stateOf("back", IPv4) == Master && n.stateOf("old", IPv4) == Master
	})
	ctx := context.Background()
	if err := n.AdjustPriority(ctx, "front", -5); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "front at 95", func() bool { return lastOf(t, f, 51).Priority == 95 })
	seq := n.States()[0].Seq

	// A new instance on an interface that does not exist: nothing changes.
	bad := old
	bad.Name, bad.Interface = "bad", "eth9"
	if err := n.Update(ctx, &Config{Instances: []InstanceConfig{front, back, bad}}); err == nil {
		t.Fatal("Update with a missing interface succeeded")
	}
	if st := n.States(); len(st) != 3 || st[2].ID.Name != "old" || st[2].State != Master || !f.has(old.VirtualIPs[0]) {
		t.Fatalf("a failed Update changed the node: %+v", st)
	}

	// back: priority 100 -> 120 and a second address; old removed; new added.
	back2 := back
	back2.Priority = 120
	vip2 := netip.MustParsePrefix("192.0.2.112/24")
	back2.VirtualIPs = []netip.Prefix{back.VirtualIPs[0], vip2}
	added := old
	added.Name, added.VRID = "new", 54
	added.VirtualIPs = []netip.Prefix{netip.MustParsePrefix("192.0.2.104/24")}
	announced := f.announced()
	if err := n.Update(ctx, &Config{Instances: []InstanceConfig{front, back2, added}}); err != nil {
		t.Fatal(err)
	}
	if st := n.States(); st[0].State != Master || st[0].Seq != seq || st[0].Priority != 95 {
		t.Errorf("front changed: %+v (seq before %d)", st[0], seq)
	}
	if a := lastOf(t, f, 52); a.Priority != 120 || !slices.Equal(a.Addresses, []netip.Addr{back.VirtualIPs[0].Addr(), vip2.Addr()}) {
		t.Errorf("back's advert after the update: %+v", a)
	}
	if n.stateOf("back", IPv4) != Master || !f.has(vip2) || f.announced() <= announced {
		t.Errorf("back: state %v, new VIP %v, announcements %d -> %d", n.stateOf("back", IPv4), f.has(vip2), announced, f.announced())
	}
	if a := lastOf(t, f, 53); a.Priority != 0 || f.has(old.VirtualIPs[0]) {
		t.Errorf("old did not resign: last advert %+v, VIP held %v", a, f.has(old.VirtualIPs[0]))
	}
	if _, ok := n.Stats().Instances[InstanceID{"old", IPv4}]; ok {
		t.Error("old still has stats")
	}
	if err := n.AdjustPriority(ctx, "old", -1); !errors.Is(err, ErrUnknownInstance) {
		t.Errorf("AdjustPriority(old) after removal = %v", err)
	}
	waitUntil(t, "new master", func() bool { return n.stateOf("new", IPv4) == Master && f.has(added.VirtualIPs[0]) })
	if got := f.conn("eth0", IPv4).filtered(); !slices.Equal(got, []uint8{51, 52, 54}) {
		t.Errorf("socket filter VRIDs %v, want [51 52 54]", got)
	}
	// front's schedule went on: adverts keep coming at its interval.
	before := len(adverts(t, f, IPv4, 51))
	waitUntil(t, "front keeps advertising", func() bool { return len(adverts(t, f, IPv4, 51)) >= before+2 })

	// Removing the second address again: removed from the interface.
	if err := n.Update(ctx, &Config{Instances: []InstanceConfig{front, back, added}}); err != nil {
		t.Fatal(err)
	}
	if f.has(vip2) || !f.has(back.VirtualIPs[0]) || lastOf(t, f, 52).Priority != 100 {
		t.Errorf("after dropping %v: held %v, advert %+v", vip2, f.has(vip2), lastOf(t, f, 52))
	}
	// Moving front to IPv6 only closes the IPv4 socket once nothing uses it.
	f6 := front
	f6.Family = IPv6
	f6.VirtualIPs = []netip.Prefix{netip.MustParsePrefix("2001:db8::100/64")}
	if err := n.Update(ctx, &Config{Instances: []InstanceConfig{f6}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "front/ipv6 master", func() bool { return n.stateOf("front", IPv6) == Master })
	select {
	case <-f.conn("eth0", IPv4).closed:
	default:
		t.Error("the IPv4 socket stayed open without instances")
	}
	if st := n.States(); len(st) != 1 || f.has(vip4) {
		t.Errorf("after moving to IPv6: %+v, IPv4 VIP held %v", st, f.has(vip4))
	}
}

// TestNodeUpdateSyncGroups adds a sync group around two running instances, one
// of which is in fault: the other follows it into fault.
func TestNodeUpdateSyncGroups(t *testing.T) {
	f := newFakeNet()
	a := fakeInstance()
	b := a
	b.Name, b.VRID = "b", 52
	b.TrackInterfaces = []TrackInterface{{Name: "eth1"}}
	f.links["eth1"] = Link{Name: "eth1", Index: 3}
	n := startFake(t, f, &Config{Instances: []InstanceConfig{a, b}})
	waitUntil(t, "a master, b fault", func() bool {
		return n.stateOf("front", IPv4) == Master && n.stateOf("b", IPv4) == Fault
	})
	groups := []SyncGroup{{Name: "g", Instances: []string{"front", "b"}}}
	if err := n.Update(context.Background(), &Config{Instances: []InstanceConfig{a, b}, SyncGroups: groups}); err != nil {
		t.Fatal(err)
	}
	if n.stateOf("front", IPv4) != Fault || f.has(vip4) {
		t.Errorf("front is %v after joining a group with a faulty member", n.stateOf("front", IPv4))
	}
	// Out of the group again: back to work.
	if err := n.Update(context.Background(), &Config{Instances: []InstanceConfig{a, b}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "front master again", func() bool { return n.stateOf("front", IPv4) == Master && f.has(vip4) })
}

// TestNodeUpdateThenStates joins and leaves a sync group with a faulty member
// again and again: each time Update returns, States already shows the state
// the change left (fault in the group, backup out of it).
func TestNodeUpdateThenStates(t *testing.T) {
	f := newFakeNet()
	a := fakeInstance()
	a.AdvertInterval = time.Second // no master down timer fires during the loop
	b := a
	b.Name, b.VRID = "b", 52
	b.TrackInterfaces = []TrackInterface{{Name: "eth1"}}
	f.links["eth1"] = Link{Name: "eth1", Index: 3}
	n := startFake(t, f, &Config{Instances: []InstanceConfig{a, b}})
	waitUntil(t, "b fault", func() bool { return n.stateOf("b", IPv4) == Fault })
	in := &Config{Instances: []InstanceConfig{a, b}, SyncGroups: []SyncGroup{{Name: "g", Instances: []string{"front", "b"}}}}
	out := &Config{Instances: []InstanceConfig{a, b}}
	for i := range 200 {
		for _, step := range []struct {
			cfg  *Config
			want State
		}{{in, Fault}, {out, Backup}} {
			if err := n.Update(context.Background(), step.cfg); err != nil {
				t.Fatal(err)
			}
			if got := n.stateOf("front", IPv4); got != step.want {
				t.Fatalf("round %d: States says front is %v when Update returns, want %v", i, got, step.want)
			}
		}
	}
}

// TestNodeEventSeq fills a one-event buffer: the events dropped are counted, the
// sequence numbers show the gap, and States has the latest.
func TestNodeEventSeq(t *testing.T) {
	f := newFakeNet()
	ic := fakeInstance()
	n, err := New(&Config{Instances: []InstanceConfig{ic}, Network: f, EventBuffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	defer func() {
		cancel()
		<-errc
	}()
	// Nobody reads Events: initialize->backup, backup->master, then the
	// priority 0 of a higher master and back fill it.
	waitUntil(t, "master", func() bool { return n.stateOf("front", IPv4) == Master })
	if st := n.States()[0]; st.Seq != 2 {
		t.Errorf("Seq after two transitions = %d", st.Seq)
	}
	if got := n.Stats().EventsDropped; got != 1 {
		t.Errorf("EventsDropped = %d, want 1", got)
	}
	if got := n.Stats().Instances[InstanceID{"front", IPv4}].EventsDropped; got != 1 {
		t.Errorf("instance EventsDropped = %d, want 1", got)
	}
	ev := <-n.Events()
	if ev.Seq != 2 || ev.To != Master {
		t.Errorf("the event kept is %+v, want the latest (seq 2, master)", ev)
	}
}
