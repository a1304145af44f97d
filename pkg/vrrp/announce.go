package vrrp

import (
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// A new master announces each virtual address GARP.Count times, GARP.Interval
// apart, then once every GARP.Refresh (if set) while it stays master.

// scheduleAnnounce sets when inst announces next, after an announcement now.
func (n *Node) scheduleAnnounce(now time.Time, inst *instance) {
	inst.annNext = time.Time{}
	if inst.annLeft > 0 {
		inst.annNext = now.Add(inst.cfg.GARP.Interval)
	} else if inst.cfg.GARP.Refresh > 0 {
		inst.annNext = now.Add(inst.cfg.GARP.Refresh)
	}
}

// announceDue sends the scheduled announcements of masters.
func (n *Node) announceDue(now time.Time) {
	for _, inst := range n.insts {
		if inst.annNext.IsZero() || now.Before(inst.annNext) {
			continue
		}
		if inst.m.State() != Master {
			inst.annNext = time.Time{}
			continue
		}
		for _, p := range inst.cfg.VirtualIPs {
			n.announce(now, inst, p.Addr())
		}
		if inst.annLeft > 0 {
			inst.annLeft--
		}
		n.scheduleAnnounce(now, inst)
	}
}

func (n *Node) announce(now time.Time, inst *instance, a netip.Addr) {
	s := inst.sock
	if s.ann == nil {
		ann, err := n.net.Announcer(inst.cfg.Interface, inst.cfg.Family)
		if err != nil {
			if ce, sup := n.limited(now, zap.WarnLevel, logKey{msg: "vrrp: open announcer", sock: s}); ce != nil {
				ce.Write(zap.String("interface", inst.cfg.Interface), zap.Error(err), sup)
			}
			return
		}
		s.ann = ann
	}
	if err := s.ann.Announce(a); err != nil {
		if ce, sup := n.limited(now, zap.WarnLevel, logKey{msg: "vrrp: announce", sock: s}); ce != nil {
			ce.Write(zap.String("interface", inst.cfg.Interface), zap.Stringer("address", a), zap.Error(err), sup)
		}
		return
	}
	n.count(inst, func(c *Counters) { c.Announcements++ })
}
