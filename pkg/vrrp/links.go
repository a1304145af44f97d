package vrrp

import (
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"
)

// ifState is what the Node knows of one interface it uses or tracks.
type ifState struct {
	// link is the last read: index, addresses, and the state it found.
	link Link
	// up is the state last applied to the instances. Only a read of the link
	// sets it, never an address event: the kernel takes an interface's IPv6
	// addresses away before it reports the link down, and an address event
	// that refreshed this cache without applying it would make the link
	// event that follows look like nothing new.
	up    bool
	known bool
}

const trackPrefix = "track:"

// netEvent handles a change of interface state.
func (n *Node) netEvent(now time.Time, ev NetEvent) {
	switch ev.Kind {
	case WatchFailed:
		n.log.Error("vrrp: interface monitoring failed, resubscribing", zap.Error(ev.Err))
		if err := n.net.Watch(n.watchCtx, n.netCh); err != nil {
			n.log.Error("vrrp: resubscribe to interface changes", zap.Error(err))
			n.rewatch = now.Add(time.Second)
			return
		}
		n.rewatch = time.Time{}
		// Changes may have been missed: read every interface again.
		n.refreshLinks(now)
	case LinkChanged, AddressAdded, AddressRemoved:
		if !n.watched(ev.Ifname) {
			return
		}
		l, err := n.net.Link(ev.Ifname)
		if err != nil {
			if ev.Kind != LinkChanged {
				return
			}
			// Gone (RTM_DELLINK): the event is all there is.
			l = Link{Name: ev.Ifname, Up: ev.Up}
		}
		n.observe(now, l)
		n.reconcileVIPs(now, ev.Ifname)
	}
}

// watched reports whether an instance uses or tracks the interface.
func (n *Node) watched(ifname string) bool {
	for _, inst := range n.insts {
		if inst.tracks(ifname) {
			return true
		}
	}
	return false
}

// tracks reports whether the instance runs on or tracks the interface.
func (inst *instance) tracks(ifname string) bool {
	if inst.cfg.Interface == ifname {
		return true
	}
	for _, t := range inst.cfg.TrackInterfaces {
		if t.Name == ifname {
			return true
		}
	}
	return false
}

// refreshLinks reads every interface an instance uses or tracks; one that
// cannot be read counts as down.
func (n *Node) refreshLinks(now time.Time) {
	names := map[string]bool{}
	for _, inst := range n.insts {
		names[inst.cfg.Interface] = true
		for _, t := range inst.cfg.TrackInterfaces {
			names[t.Name] = true
		}
	}
	for name := range names {
		l, err := n.net.Link(name)
		if err != nil {
			n.log.Warn("vrrp: interface unreadable, treated as down", zap.String("interface", name), zap.Error(err))
			l = Link{Name: name}
		}
		n.observe(now, l)
	}
	for name := range names {
		n.reconcileVIPs(now, name)
	}
}

// observe records a fresh read of an interface and applies a change of its
// state to the instances on or tracking it.
func (n *Node) observe(now time.Time, l Link) {
	st := n.ifaces[l.Name]
	if st == nil {
		st = &ifState{}
		n.ifaces[l.Name] = st
	}
	st.link = l
	n.refreshPrimaries(l.Name)
	if st.known && st.up == l.Up {
		return
	}
	st.known, st.up = true, l.Up
	n.log.Info("vrrp: interface state", zap.String("interface", l.Name), zap.Bool("up", l.Up))
	for _, m := range n.set.Machines() {
		if inst := n.insts[m.ID()]; inst != nil && inst.tracks(l.Name) {
			n.applyTracking(now, inst)
		}
	}
}

// iface returns what is known of an interface, reading it the first time; one
// that cannot be read is down.
func (n *Node) iface(name string) *ifState {
	if st := n.ifaces[name]; st != nil {
		return st
	}
	l, err := n.net.Link(name)
	if err != nil {
		n.log.Warn("vrrp: interface unreadable, treated as down", zap.String("interface", name), zap.Error(err))
		l = Link{Name: name}
	}
	st := &ifState{link: l, up: l.Up, known: true}
	n.ifaces[name] = st
	return st
}

// applyTracking makes the faults and priority adjustments of inst match the
// state of its interfaces: its own interface or a tracked one with weight 0
// down is a fault named after it, a tracked one with a weight down lowers the
// priority by the weight.
func (n *Node) applyTracking(now time.Time, inst *instance) {
	id, m := inst.m.ID(), inst.m
	faults := map[string]bool{}
	deltas := map[string]int{}
	if !n.iface(inst.cfg.Interface).up {
		faults[inst.cfg.Interface] = true
	}
	for _, t := range inst.cfg.TrackInterfaces {
		if n.iface(t.Name).up {
			continue
		}
		if t.Weight == 0 {
			faults[t.Name] = true
		} else {
			deltas[trackPrefix+t.Name] -= t.Weight
		}
	}
	for src := range m.faults {
		if src != groupFault && !faults[src] {
			n.do(now, n.set.SetFault(now, id, src, false))
		}
	}
	for src := range faults {
		n.do(now, n.set.SetFault(now, id, src, true))
	}
	for src := range m.deltas {
		if _, ok := deltas[src]; !ok && strings.HasPrefix(src, trackPrefix) {
			n.do(now, n.set.SetPriorityDeltaOf(now, id, src, 0))
		}
	}
	for src, d := range deltas {
		n.do(now, n.set.SetPriorityDeltaOf(now, id, src, d))
	}
	n.dirty = true
}

func (n *Node) refreshPrimaries(ifname string) {
	for _, inst := range n.insts {
		if inst.cfg.Interface == ifname {
			inst.m.SetPrimary(n.primary(inst))
		}
	}
}

// primary returns the address advertisements of inst are sent from: the first IPv4
// address of the interface that is not a virtual address, or the IPv6 link-local address.
func (n *Node) primary(inst *instance) netip.Addr {
	st := n.ifaces[inst.cfg.Interface]
	if st == nil {
		return netip.Addr{}
	}
	if inst.cfg.Family == IPv6 {
		return st.link.Primary6
	}
	for _, a := range st.link.Addrs4 {
		if !n.isVIP(inst.cfg.Interface, a) {
			return a
		}
	}
	return netip.Addr{}
}

func (n *Node) isVIP(ifname string, a netip.Addr) bool {
	for _, inst := range n.insts {
		if inst.cfg.Interface == ifname {
			if _, ok := inst.vips[a]; ok {
				return true
			}
		}
	}
	return false
}
