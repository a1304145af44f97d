package vrrp

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeFilter records the AcceptFilter calls in fakeNet.ops, next to address changes,
// so tests see their order.
type fakeFilter struct{ f *fakeNet }

func (f *fakeNet) AcceptFilter() (AcceptFilter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.filterErr != nil {
		f.ops = append(f.ops, "filter failed")
		return nil, f.filterErr
	}
	f.ops = append(f.ops, "filter open")
	return fakeFilter{f}, nil
}

func (ff fakeFilter) Drop(a netip.Addr) error {
	ff.f.mu.Lock()
	defer ff.f.mu.Unlock()
	if ff.f.dropErr != nil {
		ff.f.ops = append(ff.f.ops, "drop failed "+a.String())
		return ff.f.dropErr
	}
	ff.f.ops = append(ff.f.ops, "drop "+a.String())
	return nil
}

func (ff fakeFilter) Allow(a netip.Addr) error {
	ff.f.mu.Lock()
	defer ff.f.mu.Unlock()
	ff.f.ops = append(ff.f.ops, "allow "+a.String())
	return nil
}

func (ff fakeFilter) Close() error {
	ff.f.mu.Lock()
	defer ff.f.mu.Unlock()
	ff.f.ops = append(ff.f.ops, "filter close")
	return nil
}

func (f *fakeNet) opLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ops)
}

// TestNodeAcceptModeOff checks that a non-owner master with Accept false drops its
// virtual addresses before adding them, allows them again after removing them on
// every way out of master, and removes the filter when Run returns.
func TestNodeAcceptModeOff(t *testing.T) {
	f := newFakeNet()
	ic := fakeInstance()
	ic.Accept = false
	ic.AdvertInterval = 100 * time.Millisecond
	vip4b := netip.MustParsePrefix("192.0.2.101/24")
	ic.VirtualIPs = append(ic.VirtualIPs, vip4b)
	v6 := ic
	v6.Family = IPv6
	vip6 := netip.MustParsePrefix("2001:db8::100/64")
	v6.VirtualIPs = []netip.Prefix{vip6}
	n := startFake(t, f, &Config{Instances: []InstanceConfig{ic, v6}})
	waitUntil(t, "master with VIPs", func() bool {
		return n.stateOf("front", IPv4) == Master && n.stateOf("front", IPv6) == Master && f.has(vip4b) && f.has(vip6)
	})
	mastership := func(ops []string) []string {
		// Each instance drops then adds; the order between the two instances is the set's.
		slices.Sort(ops)
		return ops
	}
	ops := f.opLog()
	if len(ops) == 0 || ops[0] != "filter open" {
		t.Fatalf("ops %q, want the filter opened first", ops)
	}
	for _, p := range []netip.Prefix{vip4, vip4b, vip6} {
		d, a := slices.Index(ops, "drop "+p.Addr().String()), slices.Index(ops, "add "+p.String())
		if d < 0 || a < 0 || d > a {
			t.Errorf("ops %q: want drop %v before add %v", ops, p.Addr(), p)
		}
	}
	want := mastership([]string{"drop 192.0.2.100", "drop 192.0.2.101", "add 192.0.2.100/24", "add 192.0.2.101/24",
		"drop 2001:db8::100", "add 2001:db8::100/64"})
	if d := cmp.Diff(want, mastership(ops[1:])); d != "" {
		t.Errorf("ops on becoming master (-want +got):\n%s", d)
	}

	// A higher priority master: backup, addresses removed then allowed.
	mark := len(f.opLog())
	good := Advertisement{VRID: 51, Priority: 200, MaxAdvertInterval: 10, Addresses: []netip.Addr{vip4.Addr(), vip4b.Addr()}}
	f.inject(t, IPv4, "192.0.2.1", 255, good, ChecksumRFC5798)
	waitUntil(t, "backup", func() bool {
		return n.stateOf("front", IPv4) == Backup && n.stateOf("front", IPv6) == Backup && !f.has(vip4) && !f.has(vip6)
	})
	ops = f.opLog()[mark:]
	for _, p := range []netip.Prefix{vip4, vip4b, vip6} {
		d, a := slices.Index(ops, "del "+p.String()), slices.Index(ops, "allow "+p.Addr().String())
		if d < 0 || a < 0 || a < d {
			t.Errorf("ops %q: want del %v before allow %v", ops, p, p.Addr())
		}
	}
	if len(ops) != 6 {
		t.Errorf("ops on leaving master %q, want 3 del and 3 allow", ops)
	}

	// Priority 0 from that master: master again, then a graceful stop.
	stop := good
	stop.Priority = 0
	mark = len(f.opLog())
	f.inject(t, IPv4, "192.0.2.1", 255, stop, ChecksumRFC5798)
	waitUntil(t, "master again", func() bool { return n.stateOf("front", IPv4) == Master && f.has(vip6) })
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	ops = f.opLog()[mark:]
	if got := ops[len(ops)-1]; got != "filter close" {
		t.Errorf("last op %q, want filter close", got)
	}
	want = mastership([]string{
		"drop 192.0.2.100", "drop 192.0.2.101", "add 192.0.2.100/24", "add 192.0.2.101/24",
		"drop 2001:db8::100", "add 2001:db8::100/64",
		"del 192.0.2.100/24", "del 192.0.2.101/24", "allow 192.0.2.100", "allow 192.0.2.101",
		"del 2001:db8::100/64", "allow 2001:db8::100", "filter close",
	})
	if d := cmp.Diff(want, mastership(ops)); d != "" {
		t.Errorf("ops from priority 0 to stop (-want +got):\n%s", d)
	}
	if got := n.Stats().FilterErrors; got != 0 {
		t.Errorf("FilterErrors = %d", got)
	}
}

// TestNodeAcceptModeNoFilter checks that no filter is installed when every instance
// accepts: Accept true, or the address owner (which always accepts).
func TestNodeAcceptModeNoFilter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		accept   bool
		priority uint8
	}{
		{"accept", true, 100},
		{"owner", false, PriorityOwner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNet()
			ic := fakeInstance()
			ic.Accept, ic.Priority = tc.accept, tc.priority
			n := startFake(t, f, &Config{Instances: []InstanceConfig{ic}})
			waitUntil(t, "master", func() bool { return n.stateOf("front", IPv4) == Master && f.has(vip4) })
			if err := n.stop(); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]string{"add 192.0.2.100/24", "del 192.0.2.100/24"}, f.opLog()); d != "" {
				t.Errorf("ops (-want +got):\n%s", d)
			}
		})
	}
}

// TestNodeAcceptFilterErrors checks that filter failures are counted and never keep a
// master from taking its addresses, and that a filter that failed at start is retried.
func TestNodeAcceptFilterErrors(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		f := newFakeNet()
		f.filterErr = errors.New("no nf_tables")
		ic := fakeInstance()
		ic.Accept = false
		n := startFake(t, f, &Config{Instances: []InstanceConfig{ic}})
		waitUntil(t, "master", func() bool { return n.stateOf("front", IPv4) == Master && f.has(vip4) })
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
		// Once at start, once more on becoming master.
		want := []string{"filter failed", "filter failed", "add 192.0.2.100/24", "del 192.0.2.100/24"}
		if d := cmp.Diff(want, f.opLog()); d != "" {
			t.Errorf("ops (-want +got):\n%s", d)
		}
		if got := n.Stats().FilterErrors; got != 2 {
			t.Errorf("FilterErrors = %d, want 2", got)
		}
	})
	t.Run("drop", func(t *testing.T) {
		f := newFakeNet()
		f.dropErr = errors.New("netlink: no buffer space")
		ic := fakeInstance()
		ic.Accept = false
		n := startFake(t, f, &Config{Instances: []InstanceConfig{ic}})
		waitUntil(t, "master", func() bool { return n.stateOf("front", IPv4) == Master && f.has(vip4) })
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
		want := []string{"filter open", "drop failed 192.0.2.100", "add 192.0.2.100/24",
			"del 192.0.2.100/24", "allow 192.0.2.100", "filter close"}
		if d := cmp.Diff(want, f.opLog()); d != "" {
			t.Errorf("ops (-want +got):\n%s", d)
		}
		if got := n.Stats().FilterErrors; got != 1 {
			t.Errorf("FilterErrors = %d, want 1", got)
		}
	})
}
