package interop

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/nettopo"
)

// advert is the advertisement interval of every pair. At 0.5 s the
// Master_Down_Interval of the priority-100 backup is 3 x 0.5 + 0.305 =
// 1.8 s while its Skew_Time (the wait after a priority-0 advert) is 0.3 s:
// wide enough apart to tell a priority-0 takeover from a timeout on a busy
// machine.
const advert = 500 * time.Millisecond

const (
	hiPriority = 150
	loPriority = 100
)

// masterDown is the backup's Master_Down_Interval (RFC 5798 section 6.1).
func masterDown(prio int) time.Duration {
	return 3*advert + time.Duration(256-prio)*advert/256
}

var seesawd struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if seesawd.dir != "" {
		_ = os.RemoveAll(seesawd.dir)
	}
	os.Exit(code)
}

// seesawdSpeaker builds ./cmd/seesawd once per test binary; a build
// failure fails every test that needs it.
func seesawdSpeaker(t *testing.T) nettopo.Speaker {
	t.Helper()
	seesawd.once.Do(func() {
		dir, err := os.MkdirTemp("", "interop-seesawd-")
		if err != nil {
			seesawd.err = err
			return
		}
		seesawd.dir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		seesawd.bin, seesawd.err = nettopo.BuildSeesawd(ctx, dir)
	})
	if seesawd.err != nil {
		t.Fatalf("build seesawd: %v", seesawd.err)
	}
	return nettopo.Seesawd{Binary: seesawd.bin}
}

// side is one VRRP speaker on one node.
type side struct {
	speaker nettopo.Speaker
	node    *nettopo.Node
	inst    nettopo.Instance
	proc    *nettopo.Process
	// stopping is set once the test has signalled the process to exit.
	stopping bool
}

func (s *side) String() string {
	if s.speaker == nil {
		return "test@" + s.node.Short
	}
	return s.speaker.Name() + "@" + s.node.Short
}

// pair is two speakers for one virtual address, hi (lb1, priority 150) and
// lo (lb2, priority 100), and a client namespace.
type pair struct {
	t      *testing.T
	topo   *nettopo.Topology
	dir    string
	hi, lo *side
	client *nettopo.Node
	vip    netip.Addr
	pinger *nettopo.Pinger
}

func newPair(t *testing.T, hi, lo nettopo.Speaker, vip netip.Prefix, sum nettopo.Checksum) *pair {
	t.Helper()
	ctx := context.Background()
	topo, err := nettopo.New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{t: t, topo: topo, dir: t.TempDir(), client: topo.Node("client"), vip: vip.Addr()}
	inst := nettopo.Instance{Name: "front", VRID: 51, Advert: advert, VIPs: []netip.Prefix{vip}, Checksum: sum}
	p.hi = &side{speaker: hi, node: topo.Node("lb1"), inst: inst}
	p.hi.inst.Priority = hiPriority
	p.lo = &side{speaker: lo, node: topo.Node("lb2"), inst: inst}
	p.lo.inst.Priority = loPriority
	t.Cleanup(func() {
		if p.pinger != nil {
			_, _ = p.pinger.Stop()
		}
		for _, s := range []*side{p.hi, p.lo} {
			if s.speaker == nil || s.proc == nil {
				continue
			}
			s.proc.Kill()
			if t.Failed() {
				t.Logf("output of %s:\n%s", s, s.proc.Output())
			}
		}
		if err := topo.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func (p *pair) start(s *side) {
	p.t.Helper()
	proc, err := s.speaker.Start(s.node, p.dir, []nettopo.Instance{s.inst})
	if err != nil {
		p.t.Fatal(err)
	}
	s.proc = proc
}

func (p *pair) other(s *side) *side {
	if s == p.hi {
		return p.lo
	}
	return p.hi
}

// holders reports which of the two nodes have the virtual address.
func (p *pair) holders() (hi, lo bool) {
	p.t.Helper()
	var err error
	if hi, err = p.hi.node.HasAddr(p.vip); err != nil {
		p.t.Fatal(err)
	}
	if lo, err = p.lo.node.HasAddr(p.vip); err != nil {
		p.t.Fatal(err)
	}
	return hi, lo
}

func (p *pair) holds(s *side) (mine, theirs bool) {
	hi, lo := p.holders()
	if s == p.hi {
		return hi, lo
	}
	return lo, hi
}

// checkAlive fails the test if a speaker has exited.
func (p *pair) checkAlive(ss ...*side) {
	p.t.Helper()
	for _, s := range ss {
		if s.proc != nil && !s.stopping && s.proc.Exited() {
			p.t.Fatalf("%s exited unexpectedly:\n%s", s, s.proc.Output())
		}
	}
}

// waitHolder polls until s holds the address (and, when exclusive, the
// other node does not), failing after within. It returns the time taken.
func (p *pair) waitHolder(s *side, exclusive bool, within time.Duration, why string) time.Duration {
	p.t.Helper()
	start := time.Now()
	for {
		mine, theirs := p.holds(s)
		if mine && (!exclusive || !theirs) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			p.t.Fatalf("%s: %s does not hold %v after %v (it has it: %t, %s has it: %t)",
				why, s, p.vip, within, mine, p.other(s), theirs)
		}
		p.checkAlive(p.hi, p.lo)
		time.Sleep(10 * time.Millisecond)
	}
}

// holdExclusive polls for d that s, and only s, holds the address.
func (p *pair) holdExclusive(s *side, d time.Duration, why string) {
	p.t.Helper()
	polls := 0
	for end := time.Now().Add(d); time.Now().Before(end); polls++ {
		mine, theirs := p.holds(s)
		if !mine || theirs {
			p.t.Fatalf("%s: after %d polls, %s has %v: %t, %s has it: %t; want only %s",
				why, polls, s, p.vip, mine, p.other(s), theirs, s)
		}
		p.checkAlive(p.hi, p.lo)
		time.Sleep(20 * time.Millisecond)
	}
}

// waitClientNeighbor polls until the client's neighbour entry for the
// address names s's MAC: the announcements of the new master reached it.
func (p *pair) waitClientNeighbor(s *side, within time.Duration, why string) {
	p.t.Helper()
	start := time.Now()
	for {
		mac, state, err := p.client.Neighbor(p.vip)
		if err != nil {
			p.t.Fatal(err)
		}
		if mac.String() == s.node.MAC.String() {
			return
		}
		if time.Since(start) > within {
			p.t.Fatalf("%s: client neighbour entry for %v is %v (%s) after %v, want %s's %v",
				why, p.vip, mac, state, within, s, s.node.MAC)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReplies waits until the client's echo stream has n replies after t0.
func (p *pair) waitReplies(t0 time.Time, n int, within time.Duration, why string) {
	p.t.Helper()
	for end := time.Now().Add(within); ; {
		res := p.pinger.Snapshot()
		got := res.RepliesBetween(t0, time.Now())
		if got >= n {
			return
		}
		if time.Now().After(end) {
			p.t.Fatalf("%s: %d echo replies from %v since %v, want %d (sent %d)", why, got, p.vip,
				time.Since(t0).Round(time.Millisecond), n, res.Sent)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failover runs the scenarios of issue 3 on a pair, in order: the higher
// priority node alone holds the address, its link is cut and the lower one
// takes over, the link returns and it preempts back, then it stops
// gracefully and the lower one takes over at once (priority 0).
func (p *pair) failover() {
	t := p.t
	t.Helper()
	ctx := context.Background()
	mdLo, mdHi := masterDown(loPriority), masterDown(hiPriority)

	p.start(p.hi)
	p.waitHolder(p.hi, true, mdHi+3*time.Second, "startup")
	p.start(p.lo)
	// Longer than the backup's Master_Down_Interval: had it not heard the
	// master, it would have taken the address meanwhile.
	p.holdExclusive(p.hi, mdLo+1500*time.Millisecond, "steady state")

	var err error
	if p.pinger, err = p.client.StartPinger(ctx, p.vip, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	p.waitReplies(time.Now(), 5, 2*time.Second, "client pings the master")
	p.waitClientNeighbor(p.hi, time.Second, "steady state")

	if err := p.hi.node.Cut(ctx); err != nil {
		t.Fatal(err)
	}
	took := p.waitHolder(p.lo, false, mdLo+1500*time.Millisecond, "master link cut")
	t.Logf("link cut: %s took over after %v (Master_Down_Interval %v)", p.lo, took.Round(time.Millisecond), mdLo)
	// The backup's timer started at the last advert it heard, up to one
	// interval before the cut (more when the master's timer fired late on
	// a loaded machine: 150 ms of slack); sooner than that is not a timeout.
	if early := mdLo - advert - 150*time.Millisecond; took < early {
		t.Errorf("link cut: %s took over after %v, before its Master_Down_Interval could expire (%v)", p.lo, took, early)
	}
	p.waitClientNeighbor(p.lo, 2*time.Second, "after link cut")
	p.waitReplies(time.Now(), 5, 2*time.Second, "client reaches the new master")

	if err := p.hi.node.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	took = p.waitHolder(p.hi, true, mdHi+3*time.Second, "preemption after link restore")
	t.Logf("link restored: %s preempted after %v", p.hi, took.Round(time.Millisecond))
	p.waitClientNeighbor(p.hi, 2*time.Second, "after preemption")
	p.holdExclusive(p.hi, 2*advert+500*time.Millisecond, "after preemption")
	p.waitReplies(time.Now(), 5, 2*time.Second, "client reaches the preempting master")

	capture, err := p.lo.node.Capture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Stop()
	p.hi.stopping = true
	if err := p.hi.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A priority-0 advert makes the backup wait only Skew_Time; without
	// it the backup would wait its whole Master_Down_Interval.
	bound := mdLo * 2 / 3
	took = p.waitHolder(p.lo, true, bound, fmt.Sprintf("graceful stop (bound %v, Master_Down_Interval %v)", bound, mdLo))
	t.Logf("graceful stop: %s took over after %v", p.lo, took.Round(time.Millisecond))
	select {
	case <-p.hi.proc.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s still running 5 s after SIGTERM", p.hi)
	}
	if err := p.hi.proc.Stop(0); err != nil {
		t.Errorf("%s exit after SIGTERM: %v", p.hi, err)
	}
	p.waitClientNeighbor(p.lo, 2*time.Second, "after graceful stop")
	p.waitReplies(time.Now(), 5, 2*time.Second, "client reaches the backup after graceful stop")
	frames, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	for _, f := range frames {
		if f.Kind == nettopo.FrameVRRP && f.Src.String() == p.hi.node.MAC.String() && f.VRID == p.hi.inst.VRID && f.Priority == 0 {
			zero++
		}
	}
	if zero == 0 {
		t.Errorf("graceful stop: %s sent no priority-0 advert for VRID %d that %s received", p.hi, p.hi.inst.VRID, p.lo.node.Short)
	}
	if hi, _ := p.holders(); hi {
		t.Errorf("graceful stop: %s left %v on its interface", p.hi, p.vip)
	}
}

func families() []struct {
	name string
	vip  netip.Prefix
} {
	return []struct {
		name string
		vip  netip.Prefix
	}{{"ipv4", nettopo.VIPv4}, {"ipv6", nettopo.VIPv6}}
}

func outputHas(s *side, substr string) bool { return strings.Contains(s.proc.Output(), substr) }

// noPreempt checks preemption turned off on the higher priority node: once
// the lower one has taken over, it keeps the address when the higher one
// comes back.
func (p *pair) noPreempt() {
	t := p.t
	t.Helper()
	ctx := context.Background()
	p.hi.inst.NoPreempt = true
	p.lo.inst.NoPreempt = true
	p.start(p.hi)
	p.waitHolder(p.hi, true, masterDown(hiPriority)+3*time.Second, "startup")
	p.start(p.lo)
	p.holdExclusive(p.hi, masterDown(loPriority)+500*time.Millisecond, "steady state")
	if err := p.hi.node.Cut(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitHolder(p.lo, false, masterDown(loPriority)+1500*time.Millisecond, "master link cut")
	if err := p.hi.node.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	// Long enough for the returning node's Master_Down_Interval to expire
	// twice: with preemption it would have taken the address back.
	p.holdExclusive(p.lo, 2*masterDown(hiPriority)+500*time.Millisecond, "link restored without preemption")
}
