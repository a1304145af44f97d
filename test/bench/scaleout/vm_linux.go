//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/seesawd/seesawd/internal/lab"
)

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scaleout-bench: "+format+"\n", args...)
}

// runVM is the part inside the lab: every measurement, on fresh labs.
func runVM(ctx context.Context, o options) (*result, error) {
	r := &result{Events: map[string]*eventResult{}, Sync: map[string]*syncResult{}}
	if err := anycast(ctx, o, r); err != nil {
		return nil, err
	}
	for _, daemon := range []string{"seesawd", "keepalived", "keepalived+refresh"} {
		s, err := passive(ctx, o, daemon)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", daemon, err)
		}
		r.Sync[daemon] = s
	}
	return r, nil
}

func newLab(ctx context.Context, o options, lbs int, nat bool) (*lab.ScaleLab, func(), error) {
	dir, err := os.MkdirTemp("", "scaleout-bench-")
	if err != nil {
		return nil, nil, err
	}
	s, err := lab.NewScale(ctx, lab.ScaleConfig{Seesawd: o.seesawd, Dir: dir, LBs: lbs, NAT: nat})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, func() {
		_ = s.Close()
		os.RemoveAll(dir)
	}, nil
}

// anycast measures withdrawals and LB deaths on three LBs.
func anycast(ctx context.Context, o options, r *result) error {
	s, done, err := newLab(ctx, o, 3, false)
	if err != nil {
		return err
	}
	defer done()
	for _, lb := range s.LBs {
		if err := lb.WriteConfig(lb.AnycastConfig(lab.AnycastService())); err != nil {
			return err
		}
		if err := lb.Start(); err != nil {
			return err
		}
	}
	if _, err := s.WaitNexthops(ctx, lab.AnycastVIP, s.LBs, 60*time.Second); err != nil {
		return err
	}
	for i := range o.rounds {
		d, err := s.BelowQuorum(ctx, s.LBs[1])
		if err != nil {
			return fmt.Errorf("below quorum: %w", err)
		}
		progress("withdraw round %d: %v", i+1, d)
		r.Withdraw = append(r.Withdraw, d)
	}
	for _, ev := range events {
		e := &eventResult{}
		r.Events[ev] = e
		for i := range o.rounds {
			victim := s.LBs[i%len(s.LBs)]
			a, err := s.ActiveActive(ctx, o.flows, victim, ev)
			if err != nil {
				return fmt.Errorf("%s: %w", ev, err)
			}
			progress("%s round %d (%s): update %v, kept %d/%d moved, %d/%d others", ev, i+1, victim.Name,
				a.RouteUpdate, a.OnVictimAlive, a.OnVictim, a.OnOthersAlive, a.OnOthers)
			e.Update = append(e.Update, a.RouteUpdate)
			e.VictimAlive += a.OnVictimAlive
			e.VictimFlow += a.OnVictim
			e.Alive += a.OnVictimAlive + a.OnOthersAlive
			e.Total += a.Total
			e.MaxStall = max(e.MaxStall, a.MaxStall)
			if err := s.Recover(ctx, victim, ev); err != nil {
				return fmt.Errorf("%s: recover: %w", ev, err)
			}
		}
	}
	return nil
}

// passive measures failover and failback of NAT flows with daemon on two
// LBs of a fresh lab.
func passive(ctx context.Context, o options, daemon string) (*syncResult, error) {
	s, done, err := newLab(ctx, o, 2, true)
	if err != nil {
		return nil, err
	}
	defer done()
	for i, lb := range s.LBs {
		prio := 150 - 50*i
		switch daemon {
		case "seesawd":
			if err := lb.WriteConfig(lb.PassiveConfig(prio, true, lab.PassiveService())); err != nil {
				return nil, err
			}
			err = lb.Start()
		case "keepalived+refresh":
			// What seesawd's refresh_period: 1s, retries: 1 set.
			if _, err := lb.NS.Run(ctx, "sysctl", "-qw", "net.ipv4.vs.sync_threshold=3 0",
				"net.ipv4.vs.sync_refresh_period=1", "net.ipv4.vs.sync_retries=1"); err != nil {
				return nil, err
			}
			fallthrough
		default:
			err = lb.StartKeepalived(prio)
		}
		if err != nil {
			return nil, err
		}
	}
	out := &syncResult{}
	for i := range o.rounds {
		f, err := s.FailoverFailback(ctx, o.flows, o.during, s.LBs[0], s.LBs[1])
		if err != nil {
			return nil, err
		}
		progress("%s round %d: synced %d/%d, failover %d/%d, failback %d/%d, takeover %v, retake %v",
			daemon, i+1, f.Synced, f.Total, f.Failover, f.Total, f.Failback, f.Total+f.During, f.Takeover, f.Retake)
		out.Failover += f.Failover
		out.FailoverTotal += f.Total
		out.Failback += f.Failback
		out.FailbackTotal += f.Total + f.During
		out.Takeover = append(out.Takeover, f.Takeover)
		out.Retake = append(out.Retake, f.Retake)
		for _, e := range f.Errors {
			out.Errors = append(out.Errors, e.Error())
		}
	}
	return out, nil
}
