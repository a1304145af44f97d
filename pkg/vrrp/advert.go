package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"
)

// receive validates one message and hands it to its machine. Every failure is
// counted by reason, logged (rate-limited) and changes nothing. The valid path
// allocates nothing: the message is decoded into n.rx.
func (n *Node) receive(now time.Time, s *socket, m *Message) {
	if m.Info.TTL != TTL {
		n.drop(now, s, nil, m, DropTTL)
		return
	}
	adv := &n.rx
	if err := adv.decode(m.Data, s.key.fam, adv.Addresses); err != nil {
		n.drop(now, s, nil, m, ReasonOf(err))
		return
	}
	inst := s.byVRID[adv.VRID]
	src := m.Info.Src
	switch {
	case inst == nil:
		n.drop(now, s, nil, m, DropVRID)
		return
	case Checksum(m.Data, src, m.Info.Dst, inst.cfg.Checksum) != adv.Checksum:
		n.drop(now, s, inst, m, DropChecksum)
		return
	case src == inst.m.primary:
		n.drop(now, s, inst, m, DropOwnPacket)
		return
	case len(inst.cfg.UnicastPeers) > 0 && !slices.Contains(inst.cfg.UnicastPeers, src):
		n.drop(now, s, inst, m, DropPeer)
		return
	case adv.MaxAdvertInterval == 0:
		n.drop(now, s, inst, m, DropInterval)
		return
	}
	if !inst.sameAddrs(adv.Addresses) {
		n.count(inst, func(c *Counters) { c.AddressMismatches++ })
		if ce, sup := n.limited(now, zap.WarnLevel, logKey{msg: "vrrp: advertisement address list differs from ours", inst: inst}); ce != nil {
			ce.Write(zap.Stringer("instance", inst.m.ID()), zap.Stringer("src", src), zap.Uint8("priority", adv.Priority),
				zap.Stringers("theirs", adv.Addresses), zap.Stringers("ours", inst.cfg.VirtualIPs),
				zap.Bool("accepted", inst.cfg.AcceptAddressMismatch), sup)
		}
		if !inst.cfg.AcceptAddressMismatch {
			n.drop(now, s, inst, m, DropAddresses)
			return
		}
	}
	n.count(inst, func(c *Counters) { c.AdvertsReceived++ })
	if inst.m.State() == Master && adv.Priority != PriorityStop && adv.Priority < inst.m.Priority() {
		// Discarded by the machine; seen here so that a second master, or a flood, shows.
		if ce, sup := n.limited(now, zap.InfoLevel, logKey{msg: "vrrp: lower priority advertisement while master", inst: inst}); ce != nil {
			ce.Write(zap.Stringer("instance", inst.m.ID()), zap.Stringer("src", src),
				zap.Uint8("priority", adv.Priority), zap.Uint8("ours", inst.m.Priority()), sup)
		}
	}
	if adv.Priority != PriorityStop && inst.master != src {
		inst.master = src
		n.dirty = true
	}
	n.do(now, n.set.Receive(now, inst.m.ID(), src, adv))
}

// sameAddrs reports whether got is the instance's address list in any order.
// Peers configured alike send it in the same order, which is checked first; the
// general case marks each address once in inst.seen.
func (inst *instance) sameAddrs(got []netip.Addr) bool {
	want := inst.cfg.VirtualIPs
	if len(got) != len(want) {
		return false
	}
	inOrder := true
	for i, p := range want {
		if got[i] != p.Addr() {
			inOrder = false
			break
		}
	}
	if inOrder {
		return true
	}
	inst.gen++
	if inst.gen == 0 {
		clear(inst.seen)
		inst.gen = 1
	}
	for _, a := range got {
		i, ok := inst.vips[a]
		if !ok || inst.seen[i] == inst.gen {
			return false
		}
		inst.seen[i] = inst.gen
	}
	return true
}

// drop counts a discarded message and logs it, rate-limited per socket and reason.
func (n *Node) drop(now time.Time, s *socket, inst *instance, m *Message, r DropReason) {
	n.count(inst, func(c *Counters) { c.Drops[r]++ })
	if ce, sup := n.limited(now, zap.InfoLevel, logKey{msg: "vrrp: packet dropped", sock: s, reason: r}); ce != nil {
		ce.Write(zap.String("interface", s.key.ifname), zap.Stringer("family", s.key.fam),
			zap.Stringer("reason", r), zap.Stringer("src", m.Info.Src), zap.Error(dropDetail(r, s, inst, m)), sup)
	}
}

// dropDetail explains a drop for the log, computing again what receive
// checked without formatting.
func dropDetail(r DropReason, s *socket, inst *instance, m *Message) error {
	switch r {
	case DropTTL:
		return fmt.Errorf("vrrp: ttl %d, want %d", m.Info.TTL, TTL)
	case DropVRID:
		if len(m.Data) > 1 {
			return fmt.Errorf("vrrp: vrid %d not configured on %s", m.Data[1], s.key.ifname)
		}
	case DropChecksum:
		return VerifyChecksum(m.Data, m.Info.Src, m.Info.Dst, inst.cfg.Checksum)
	case DropOwnPacket:
		return errors.New("vrrp: our own advertisement")
	case DropPeer:
		return fmt.Errorf("vrrp: %v is not a unicast peer", m.Info.Src)
	case DropInterval:
		return errors.New("vrrp: max advert interval 0")
	case DropAddresses:
		return errors.New("vrrp: address list differs from ours (accept_address_mismatch is off)")
	}
	_, err := Parse(m.Data, s.key.fam)
	return err
}

// sendAdvert sends one advertisement to every destination of inst. A
// destination that fails is counted and logged (rate-limited per destination)
// and never keeps the others from being sent to.
func (n *Node) sendAdvert(now time.Time, inst *instance, prio uint8) {
	src := inst.m.primary
	if !src.IsValid() {
		n.count(inst, func(c *Counters) { c.SendErrors += uint64(len(inst.dsts)) })
		if ce, sup := n.limited(now, zap.WarnLevel, logKey{msg: "vrrp: no source address for advertisements", inst: inst}); ce != nil {
			ce.Write(zap.Stringer("instance", inst.m.ID()), zap.String("interface", inst.cfg.Interface), sup)
		}
		return
	}
	adv := Advertisement{
		VRID:              inst.cfg.VRID,
		Priority:          prio,
		MaxAdvertInterval: uint16(inst.cfg.AdvertInterval / (10 * time.Millisecond)),
		Addresses:         make([]netip.Addr, len(inst.cfg.VirtualIPs)),
	}
	for i, p := range inst.cfg.VirtualIPs {
		adv.Addresses[i] = p.Addr()
	}
	for _, dst := range inst.dsts {
		b, err := adv.Marshal(src, dst, inst.cfg.Checksum)
		if err == nil {
			err = inst.sock.conn.WriteTo(b, src, dst)
		}
		if err != nil {
			n.count(inst, func(c *Counters) { c.SendErrors++ })
			if ce, sup := n.limited(now, zap.WarnLevel, logKey{msg: "vrrp: send advertisement", inst: inst, addr: dst}); ce != nil {
				ce.Write(zap.Stringer("instance", inst.m.ID()), zap.Stringer("dst", dst), zap.Error(err), sup)
			}
			continue
		}
		n.count(inst, func(c *Counters) { c.AdvertsSent++ })
	}
}
