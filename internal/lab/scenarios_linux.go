//go:build linux

package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// The scenarios the scale-out tests assert on and the scale-out benchmark
// times, on a running ScaleLab.

// WaitNexthops waits until the router's route to vip goes through exactly
// lbs (none: no route), polling every 10ms, and returns when it saw it.
func (s *ScaleLab) WaitNexthops(ctx context.Context, vip netip.Addr, lbs []*ScaleLB, timeout time.Duration) (time.Time, error) {
	want := make([]netip.Addr, 0, len(lbs))
	for _, lb := range lbs {
		want = append(want, lb.Link)
	}
	slices.SortFunc(want, netip.Addr.Compare)
	deadline := time.Now().Add(timeout)
	var got []netip.Addr
	for {
		var err error
		got, err = s.Nexthops(ctx, vip)
		if err == nil && slices.Equal(got, want) {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("lab: after %v the router's next hops to %v are %v, want %v", timeout, vip, got, want)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Others returns the LBs but lb.
func (s *ScaleLab) Others(lb *ScaleLB) []*ScaleLB {
	var out []*ScaleLB
	for _, o := range s.LBs {
		if o != lb {
			out = append(out, o)
		}
	}
	return out
}

// LogTime returns the time of the first line of the LB's JSON log after
// since whose message is msg and which contains every one of words.
func (lb *ScaleLB) LogTime(since time.Time, msg string, words ...string) (time.Time, bool) {
	sc := bufio.NewScanner(strings.NewReader(lb.Log()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var rec struct {
			TS  string `json:"ts"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != msg {
			continue
		}
		t, err := time.Parse("2006-01-02T15:04:05.000Z0700", rec.TS)
		if err != nil || t.Before(since.Truncate(time.Millisecond)) {
			continue
		}
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// BlockChecks makes the LB's health checks fail (its service goes below
// quorum) while the backends keep serving.
func (lb *ScaleLB) BlockChecks(ctx context.Context) error {
	_, err := lb.NS.Sh(ctx, fmt.Sprintf("nft add table inet blockcheck && "+
		"nft add chain inet blockcheck out '{ type filter hook output priority 0; }' && "+
		"nft add rule inet blockcheck out tcp dport %d drop", CheckPort))
	return err
}

// UnblockChecks undoes BlockChecks.
func (lb *ScaleLB) UnblockChecks(ctx context.Context) error {
	_, err := lb.NS.Sh(ctx, "nft delete table inet blockcheck")
	return err
}

// BelowQuorum takes lb's anycast service below quorum and returns the time
// from the service going down (lb's log) to the router's ECMP set losing
// lb; then it restores the checks and waits for lb to be back.
func (s *ScaleLab) BelowQuorum(ctx context.Context, lb *ScaleLB) (time.Duration, error) {
	start := time.Now()
	if err := lb.BlockChecks(ctx); err != nil {
		return 0, err
	}
	gone, err := s.WaitNexthops(ctx, AnycastVIP, s.Others(lb), 15*time.Second)
	if err != nil {
		return 0, err
	}
	down, ok := lb.LogTime(start, "service state", `"state":"down"`)
	if !ok {
		return 0, fmt.Errorf("lab: %s logged no service state down", lb.Name)
	}
	if err := lb.UnblockChecks(ctx); err != nil {
		return 0, err
	}
	if _, err := s.WaitNexthops(ctx, AnycastVIP, s.LBs, 15*time.Second); err != nil {
		return 0, err
	}
	return gone.Sub(down), nil
}

// AAResult is what an active-active event did to long-lived flows.
type AAResult struct {
	Total int
	// PerLB counts the flows each LB served before the event.
	PerLB map[string]int
	// OnVictim are the flows the victim served, which ECMP moved to the
	// others; OnOthers the flows of the survivors. Alive ones never broke.
	OnVictim, OnVictimAlive int
	OnOthers, OnOthersAlive int
	// RouteUpdate is the time from the event to the router's ECMP set
	// without the victim.
	RouteUpdate time.Duration
	// MaxStall is the longest wait for an echo any surviving flow had.
	MaxStall time.Duration
	Errors   []error
}

// Events that take an LB out of an active-active set.
const (
	// EventKill is kill -9 of seesawd: the kernel closes its BGP session
	// (IPVS keeps forwarding what reaches it).
	EventKill = "kill"
	// EventCut takes the LB's links down: the router sees its port go down.
	EventCut = "cut"
	// EventKillCut is both: the LB is gone.
	EventKillCut = "kill+cut"
	// EventSilent drops everything the LB receives, links up: the router
	// notices at the hold time.
	EventSilent = "silent"
)

// ActiveActive opens n flows to the anycast VIP, takes victim out by
// event, and counts the flows that survive once the router's ECMP set no
// longer has it and every flow has recovered or broken. It leaves the
// victim out: Recover brings it back.
func (s *ScaleLab) ActiveActive(ctx context.Context, n int, victim *ScaleLB, event string) (AAResult, error) {
	r := AAResult{PerLB: map[string]int{}}
	if _, err := s.WaitNexthops(ctx, AnycastVIP, s.LBs, 30*time.Second); err != nil {
		return r, err
	}
	flows, err := s.Client.OpenFlows(ctx, netip.AddrPortFrom(AnycastVIP, EchoPort), n, 100*time.Millisecond)
	if err != nil {
		return r, err
	}
	defer flows.Close()
	vip := netip.AddrPortFrom(AnycastVIP, EchoPort)
	// Each flow's LB, from the LBs' connection tables once every flow has
	// exchanged a line.
	if err := flows.Settle(time.Now(), 10*time.Second); err != nil {
		return r, err
	}
	// A flow is on the LB whose entry for it has the most time left: the
	// one that saw its last packet (a flow ECMP moved while the router's
	// set changed has an older entry on its first LB).
	onVictim := map[uint16]bool{}
	if _, err := waitCond(ctx, "every flow in an LB's table", 10*time.Second, func() bool {
		clear(onVictim)
		clear(r.PerLB)
		best := map[uint16]time.Duration{}
		owner := map[uint16]*ScaleLB{}
		for _, lb := range s.LBs {
			ports, err := lb.ClientPorts(ctx, vip, "ESTABLISHED")
			if err != nil {
				return false
			}
			for p, left := range ports {
				if _, seen := owner[p]; !seen || left > best[p] {
					best[p], owner[p] = left, lb
				}
			}
		}
		for _, p := range flows.Ports() {
			lb := owner[p]
			if lb == nil {
				return false
			}
			r.PerLB[lb.Name]++
			if lb == victim {
				onVictim[p] = true
			}
		}
		return true
	}); err != nil {
		return r, fmt.Errorf("%w (per LB: %v)", err, r.PerLB)
	}
	start := time.Now()
	switch event {
	case EventKill:
		victim.Kill()
	case EventCut:
		err = victim.Cut(ctx)
	case EventKillCut:
		victim.Kill()
		err = victim.Cut(ctx)
	case EventSilent:
		err = victim.Blackhole(ctx)
	default:
		err = fmt.Errorf("lab: unknown event %q", event)
	}
	if err != nil {
		return r, err
	}
	gone, err := s.WaitNexthops(ctx, AnycastVIP, s.Others(victim), 30*time.Second)
	if err != nil {
		return r, err
	}
	r.RouteUpdate = gone.Sub(start)
	if err := flows.Settle(gone, 2*StallLimit); err != nil {
		return r, err
	}
	r.Total = n
	r.OnVictimAlive, r.OnVictim = flows.Count(onVictim)
	others := map[uint16]bool{}
	for _, p := range flows.Ports() {
		if !onVictim[p] {
			others[p] = true
		}
	}
	r.OnOthersAlive, r.OnOthers = flows.Count(others)
	r.MaxStall = flows.MaxStall()
	r.Errors = flows.Errors(5)
	return r, nil
}

// Recover undoes an ActiveActive event on victim, restarts its seesawd if
// it was killed, and waits until the router has every LB again.
func (s *ScaleLab) Recover(ctx context.Context, victim *ScaleLB, event string) error {
	var err error
	switch event {
	case EventCut, EventKillCut:
		err = victim.Restore(ctx)
	case EventSilent:
		err = victim.Unblackhole(ctx)
	}
	if err != nil {
		return err
	}
	if !victim.Running() {
		if err := victim.Start(); err != nil {
			return err
		}
	}
	_, err = s.WaitNexthops(ctx, AnycastVIP, s.LBs, 60*time.Second)
	return err
}

// HoldsPassiveVIP reports whether the LB carries PassiveVIP.
func (lb *ScaleLB) HoldsPassiveVIP(ctx context.Context) bool {
	out, err := lb.NS.IP(ctx, "-br", "addr", "show", "dev", "eth1")
	return err == nil && strings.Contains(out, PassiveVIP.String()+"/")
}

// SyncResult is what a failover and a failback did to long-lived NAT flows.
type SyncResult struct {
	// Total flows were opened through the master; During more through the
	// backup while it was master, which the old master must learn to keep
	// them at the failback.
	Total, During int
	// Synced is how many of the flows the backup held before the cut.
	Synced int
	// Failover counts the Total flows unbroken after it, Failback all the
	// flows (Total and During) unbroken after it.
	Failover, Failback int
	// Takeover is the time from the cut to the backup holding the VIP,
	// Retake from the restore to the master holding it alone again.
	Takeover, Retake time.Duration
	MaxStall         time.Duration
	Errors           []error
}

func waitCond(ctx context.Context, what string, timeout time.Duration, cond func() bool) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("lab: timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return time.Now(), nil
}

// FailoverFailback opens n NAT flows to PassiveVIP through master, waits
// until backup's connection table has them (sync), cuts master's links,
// lets backup take over, opens during more flows through it, restores
// master, lets it preempt, and counts the flows that survived each step.
func (s *ScaleLab) FailoverFailback(ctx context.Context, n, during int, master, backup *ScaleLB) (SyncResult, error) {
	var r SyncResult
	if _, err := waitCond(ctx, master.Name+" alone holds the VIP", 30*time.Second, func() bool {
		return master.HoldsPassiveVIP(ctx) && !backup.HoldsPassiveVIP(ctx)
	}); err != nil {
		return r, err
	}
	vip := netip.AddrPortFrom(PassiveVIP, EchoPort)
	flows, err := s.Client.OpenFlows(ctx, vip, n, 100*time.Millisecond)
	if err != nil {
		return r, err
	}
	defer flows.Close()
	r.Total = n
	// The sync daemon sends a connection after a few packets and then
	// every so many: wait (bounded) for the backup to hold every flow.
	_, _ = waitCond(ctx, backup.Name+" to hold every flow", 15*time.Second, func() bool {
		ports, err := backup.ClientPorts(ctx, vip, "ESTABLISHED")
		r.Synced = min(len(ports), n)
		return err == nil && len(ports) >= n
	})
	cut := time.Now()
	if err := master.Cut(ctx); err != nil {
		return r, err
	}
	took, err := waitCond(ctx, backup.Name+" to take the VIP", 30*time.Second, func() bool { return backup.HoldsPassiveVIP(ctx) })
	if err != nil {
		return r, err
	}
	r.Takeover = took.Sub(cut)
	if err := flows.Settle(took, 2*StallLimit); err != nil {
		return r, err
	}
	r.Failover, _ = flows.Count(nil)
	more, err := s.Client.OpenFlows(ctx, vip, during, 100*time.Millisecond)
	if err != nil {
		return r, err
	}
	defer more.Close()
	r.During = during
	if err := more.Settle(time.Now(), 10*time.Second); err != nil {
		return r, err
	}
	restored := time.Now()
	if err := master.Restore(ctx); err != nil {
		return r, err
	}
	back, err := waitCond(ctx, master.Name+" to take the VIP back alone", 30*time.Second, func() bool {
		return master.HoldsPassiveVIP(ctx) && !backup.HoldsPassiveVIP(ctx)
	})
	if err != nil {
		return r, err
	}
	r.Retake = back.Sub(restored)
	for _, f := range []*Flows{flows, more} {
		if err := f.Settle(back, 2*StallLimit); err != nil {
			return r, err
		}
		alive, _ := f.Count(nil)
		r.Failback += alive
		r.MaxStall = max(r.MaxStall, f.MaxStall())
		r.Errors = append(r.Errors, f.Errors(3)...)
	}
	return r, nil
}

// StartKeepalived writes the LB's keepalived.conf for the active/passive
// service and runs keepalived (VRRP and checkers) in the foreground.
func (lb *ScaleLB) StartKeepalived(priority int) error {
	path := strings.TrimSuffix(lb.ConfigPath, ".conf") + "-keepalived.conf"
	if err := os.WriteFile(path, []byte(lb.KeepalivedPassive(priority)), 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	base := strings.TrimSuffix(path, ".conf")
	return lb.StartProgram("keepalived "+lb.Name, "keepalived", "-n", "-l", "-D", "-f", path,
		"-p", base+".pid", "-r", base+"-vrrp.pid", "-c", base+"-checkers.pid")
}
