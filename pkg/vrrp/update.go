package vrrp

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Update replaces the instances and sync groups of the node (the other fields
// of cfg are ignored) without disturbing what did not change. cfg is validated
// first; on any error nothing changes.
//
// An instance is identified by its name, family, interface and VRID:
//
//   - one whose identity and settings are unchanged keeps its state and keeps
//     advertising on schedule;
//   - one whose identity is unchanged but whose settings changed is
//     reconfigured in place, keeping its state: priority, preemption, preempt
//     delay, advertisement interval, announcements, checksum mode, unicast
//     peers, tracked interfaces, Accept_Mode, AcceptAddressMismatch and the
//     virtual addresses (a master removes the ones dropped, adds and announces
//     the new ones) all take effect at once, and a master sends an
//     advertisement with the new settings at once;
//   - one no longer configured (including a change of name, interface or VRID,
//     which makes it another instance) resigns as at shutdown: a master sends
//     priority 0 and removes its addresses;
//   - a new one starts as at Run.
//
// Sockets and their kernel filters follow the new set of interfaces and
// VRIDs; sync groups are rebuilt around the running machines (a member with a
// fault faults its group; a master takes its group along). AdjustPriority's
// adjustments stay for the instances that remain. Before Run, Update replaces
// the configuration Run will start with. It fails with ErrNotRunning after Run
// has returned, or with ctx's error if ctx ends before Run takes the change.
// When it returns, States shows the states the change left.
func (n *Node) Update(ctx context.Context, cfg *Config) error {
	if cfg == nil {
		return errors.New("vrrp: nil configuration")
	}
	next, err := prepareConfig(cfg)
	if err != nil {
		return err
	}
	n.mu.Lock()
	switch n.phase {
	case notStarted:
		// Under the lock, so that Run starts with either configuration, whole.
		n.setConfigLocked(next)
		n.mu.Unlock()
		return nil
	case stopped:
		n.mu.Unlock()
		return ErrNotRunning
	}
	n.mu.Unlock()
	errc := make(chan error, 1)
	select {
	case n.cmds <- command{apply: func(now time.Time) error { return n.apply(now, next) }, done: errc}:
		return <-errc
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrNotRunning
	}
}

// apply runs on the Run goroutine. Only opening sockets can fail, and it comes first.
func (n *Node) apply(now time.Time, next Config) error {
	cfgs := configPtrs(next.Instances)
	byID := map[InstanceID]*InstanceConfig{}
	for _, c := range cfgs {
		byID[InstanceID{c.Name, c.Family}] = c
	}
	var removed []*instance
	for _, m := range n.set.Machines() {
		inst := n.insts[m.ID()]
		c := byID[m.ID()]
		if c == nil || c.Interface != inst.cfg.Interface || c.VRID != inst.cfg.VRID {
			removed = append(removed, inst)
		}
	}
	fresh := make([]*Machine, len(cfgs))
	var opening []*Machine
	for i, c := range cfgs {
		fresh[i] = NewMachine(c)
		if inst := n.insts[fresh[i].ID()]; inst == nil || slices.Contains(removed, inst) {
			opening = append(opening, fresh[i])
		}
	}
	if err := n.openSockets(opening); err != nil {
		return err
	}

	for _, inst := range removed {
		n.do(now, inst.m.Remove(now))
		n.detach(inst)
	}
	var machines []*Machine
	var added, changed []*instance
	for _, m := range fresh {
		inst := n.insts[m.ID()]
		switch {
		case inst == nil:
			inst = n.attach(m)
			added = append(added, inst)
		case !reflect.DeepEqual(*inst.cfg, *m.Config()):
			n.reconfigure(now, inst, m.Config())
			changed = append(changed, inst)
		}
		machines = append(machines, inst.m)
	}
	set, err := assembleSet(machines, next.SyncGroups)
	if err != nil {
		// prepareConfig built the same set: this cannot happen.
		return fmt.Errorf("vrrp: regroup: %w", err)
	}
	n.set = set
	n.syncSockets()
	for _, inst := range slices.Concat(added, changed) {
		n.applyTracking(now, inst)
	}
	n.applyDeltas(now)
	n.do(now, n.set.Start(now))
	n.do(now, n.set.Regroup(now))
	n.setConfig(next)
	for _, inst := range added {
		n.logInstance("vrrp: instance added", inst)
	}
	for _, inst := range changed {
		n.logInstance("vrrp: instance reconfigured", inst)
	}
	for _, inst := range removed {
		n.log.Info("vrrp: instance removed", zap.Stringer("instance", inst.m.ID()))
	}
	return nil
}

// reconfigure gives a running instance new settings of the same identity,
// keeping its state. A master's virtual addresses follow the new list: the
// new ones are filtered (Accept_Mode False), added and announced, the dropped
// ones removed; a backup removes any new one present.
func (n *Node) reconfigure(now time.Time, inst *instance, cfg *InstanceConfig) {
	old := inst.cfg
	inst.setConfig(cfg)
	if inst.m.State() == Master {
		// Filter the new list before allowing the old, so an address on both
		// is never allowed in between.
		n.filterVIPs(cfg, true)
		n.filterVIPs(old, false)
		for _, p := range old.VirtualIPs {
			if _, kept := inst.vips[p.Addr()]; !kept && !n.heldByMaster(inst, p.Addr()) {
				n.delVIP(now, inst, p)
			}
		}
		for _, p := range cfg.VirtualIPs {
			if !slices.Contains(old.VirtualIPs, p) && n.addVIP(now, inst, p) {
				n.announce(now, inst, p.Addr())
			}
		}
		if inst.annLeft == 0 {
			n.scheduleAnnounce(now, inst)
		}
	} else if inst.m.State() != Initialize {
		n.releaseVIPs(now, inst, false)
	}
	n.refreshPrimaries(cfg.Interface)
	n.do(now, inst.m.Reconfigure(now, cfg))
}
