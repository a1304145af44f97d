package vrrp

import (
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// A master holds its virtual addresses, nobody else: a backup, fault or
// stopped instance removes them from its interface wherever they came from (a
// run that was killed, an operator), at start, on every transition, and when
// they appear later. An address two instances on one interface share stays
// while either is master.

// becomeMaster drops packets to the virtual addresses (Accept_Mode False),
// adds them and announces them.
func (n *Node) becomeMaster(now time.Time, inst *instance) {
	// Drop before adding, so no packet to a virtual address is accepted in between.
	n.filterVIPs(inst.cfg, true)
	for _, p := range inst.cfg.VirtualIPs {
		n.addVIP(now, inst, p)
	}
	for _, p := range inst.cfg.VirtualIPs {
		n.announce(now, inst, p.Addr())
	}
	lat := n.clock.Now().Sub(now)
	n.mu.Lock()
	inst.stats.LastMasterLatency = lat
	n.mu.Unlock()
	inst.master = inst.m.primary
	inst.annLeft = inst.cfg.GARP.Count - 1
	n.scheduleAnnounce(now, inst)
}

func (n *Node) addVIP(now time.Time, inst *instance, p netip.Prefix) bool {
	return n.changeVIP(now, inst, p, true)
}

func (n *Node) delVIP(now time.Time, inst *instance, p netip.Prefix) bool {
	return n.changeVIP(now, inst, p, false)
}

// changeVIP adds or removes p on the interface of inst, logging a failure, and
// keeps the cached address list current until the next read.
func (n *Node) changeVIP(now time.Time, inst *instance, p netip.Prefix, add bool) bool {
	op, msg := n.net.DelAddress, "vrrp: remove virtual address"
	if add {
		op, msg = n.net.AddAddress, "vrrp: add virtual address"
	}
	if err := op(inst.cfg.Interface, p); err != nil {
		if ce, sup := n.limited(now, zap.ErrorLevel, logKey{msg: msg, inst: inst, addr: p.Addr()}); ce != nil {
			ce.Write(zap.Stringer("instance", inst.m.ID()), zap.Stringer("address", p), zap.Error(err), sup)
		}
		return false
	}
	l := &n.iface(inst.cfg.Interface).link
	if add {
		l.add(p.Addr())
	} else {
		l.del(p.Addr())
	}
	return true
}

// releaseVIPs removes the virtual addresses of inst that no master on its
// interface holds. After mastership (wasMaster) they are ours and removed
// unconditionally; otherwise only those present are, counted and logged.
func (n *Node) releaseVIPs(now time.Time, inst *instance, wasMaster bool) {
	for _, p := range inst.cfg.VirtualIPs {
		if n.heldByMaster(inst, p.Addr()) {
			continue
		}
		if wasMaster {
			n.delVIP(now, inst, p)
			continue
		}
		if n.iface(inst.cfg.Interface).link.Has(p.Addr()) {
			n.removeStale(now, inst, p)
		}
	}
}

func (n *Node) removeStale(now time.Time, inst *instance, p netip.Prefix) {
	if !n.delVIP(now, inst, p) {
		return
	}
	n.count(inst, func(c *Counters) { c.VIPsRemoved++ })
	if ce, sup := n.limited(now, zap.WarnLevel, logKey{msg: "vrrp: virtual address present while not master, removed", inst: inst}); ce != nil {
		ce.Write(zap.Stringer("instance", inst.m.ID()), zap.Stringer("state", inst.m.State()),
			zap.Stringer("address", p), sup)
	}
}

// heldByMaster reports whether an instance on the interface of inst other than
// inst itself is master and has a among its virtual addresses.
func (n *Node) heldByMaster(inst *instance, a netip.Addr) bool {
	for _, o := range n.insts {
		if o == inst || o.cfg.Interface != inst.cfg.Interface || o.m.State() != Master {
			continue
		}
		if _, ok := o.vips[a]; ok {
			return true
		}
	}
	return false
}

// reconcileVIPs puts the virtual addresses on ifname back to what the
// instances' states say after someone else changed them (n.ifaces holds a
// fresh read): a master's missing address is added back and announced, an
// address no master holds is removed.
func (n *Node) reconcileVIPs(now time.Time, ifname string) {
	st := n.ifaces[ifname]
	if st == nil {
		return
	}
	for _, m := range n.set.Machines() {
		inst := n.insts[m.ID()]
		if inst == nil || inst.cfg.Interface != ifname {
			continue
		}
		switch m.State() {
		case Master:
			for _, p := range inst.cfg.VirtualIPs {
				if st.link.Has(p.Addr()) || !n.addVIP(now, inst, p) {
					continue
				}
				n.count(inst, func(c *Counters) { c.VIPReasserts++ })
				if ce, sup := n.limited(now, zap.WarnLevel, logKey{msg: "vrrp: virtual address removed while master, added back", inst: inst}); ce != nil {
					ce.Write(zap.Stringer("instance", inst.m.ID()), zap.Stringer("address", p), sup)
				}
				n.announce(now, inst, p.Addr())
			}
		case Backup, Fault:
			n.releaseVIPs(now, inst, false)
		}
	}
}

// add and del keep a Link's address lists current after the Node's own changes,
// until the next read.
func (l *Link) add(a netip.Addr) {
	if l.Has(a) {
		return
	}
	if a.Is4() {
		l.Addrs4 = append(l.Addrs4, a)
	} else {
		l.Addrs6 = append(l.Addrs6, a)
	}
}

func (l *Link) del(a netip.Addr) {
	drop := func(s []netip.Addr) []netip.Addr {
		out := s[:0:0]
		for _, x := range s {
			if x != a {
				out = append(out, x)
			}
		}
		return out
	}
	if a.Is4() {
		l.Addrs4 = drop(l.Addrs4)
	} else {
		l.Addrs6 = drop(l.Addrs6)
	}
}
