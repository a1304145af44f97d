package vrrp

import (
	"go.uber.org/zap"
)

// Accept_Mode False (RFC 5798 section 6.4.3): a master that is not the address
// owner drops packets addressed to its virtual addresses, through the Network's
// AcceptFilter. The filter counts, per address, the masters dropping it, so an
// address two instances share is allowed again only when neither drops it.

// noAccept says whether an instance with cfg, as master, must not accept
// packets to its virtual addresses: only the address owner or Accept_Mode
// True may.
func noAccept(cfg *InstanceConfig) bool {
	return !cfg.Accept && cfg.Priority != PriorityOwner
}

func (inst *instance) noAccept() bool { return noAccept(inst.cfg) }

// openFilter installs the Accept_Mode filter. A failure is logged and counted, and
// the next master transition tries again.
func (n *Node) openFilter() {
	f, err := n.net.AcceptFilter()
	if err != nil {
		n.countFilterError()
		n.log.Error("vrrp: install accept mode filter: virtual addresses of masters with accept off stay reachable",
			zap.Error(err))
		return
	}
	n.filter = f
	n.log.Info("vrrp: accept mode filter installed: masters with accept off drop packets to their virtual addresses")
	// After a failed start, masters may already hold addresses to drop.
	for a, c := range n.dropped {
		if c > 0 {
			if err := f.Drop(a); err != nil {
				n.countFilterError()
				n.log.Error("vrrp: accept mode filter: drop", zap.Stringer("address", a), zap.Error(err))
			}
		}
	}
}

func (n *Node) closeFilter() {
	if n.filter == nil {
		return
	}
	if err := n.filter.Close(); err != nil {
		n.countFilterError()
		n.log.Error("vrrp: remove accept mode filter", zap.Error(err))
	}
	n.filter = nil
}

// filterVIPs starts (drop) or stops dropping packets to the virtual addresses of
// a master with cfg when it does not accept them. Errors are logged and counted:
// a master keeps its addresses either way.
func (n *Node) filterVIPs(cfg *InstanceConfig, drop bool) {
	if !noAccept(cfg) {
		return
	}
	if n.filter == nil && drop {
		n.openFilter()
	}
	for _, p := range cfg.VirtualIPs {
		a := p.Addr()
		c := n.dropped[a]
		op, do := "drop", c == 0
		if drop {
			n.dropped[a] = c + 1
		} else {
			if c == 0 {
				continue
			}
			op, do = "allow", c == 1
			n.dropped[a] = c - 1
		}
		if !do || n.filter == nil {
			continue
		}
		var err error
		if drop {
			err = n.filter.Drop(a)
		} else {
			err = n.filter.Allow(a)
		}
		if err != nil {
			n.countFilterError()
			n.log.Error("vrrp: accept mode filter: "+op, zap.String("instance", cfg.Name),
				zap.Stringer("address", a), zap.Error(err))
		}
	}
}
