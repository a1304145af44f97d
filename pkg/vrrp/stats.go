package vrrp

import (
	"maps"
	"time"
)

// Counters are kept for the node as a whole and for each instance. A packet
// dropped before its instance is known (a bad TTL, a malformed or unknown VRID)
// counts for the node only.
type Counters struct {
	// AdvertsSent counts advertisement packets sent, one per destination.
	AdvertsSent uint64
	// AdvertsReceived counts valid advertisements handed to the state machine.
	AdvertsReceived uint64
	// SendErrors counts advertisement packets that could not be sent.
	SendErrors uint64
	// Drops counts discarded packets by reason; a drop never changes a state.
	// What the kernel's socket filter discards (see PacketConn.SetVRIDs) never
	// reaches the Node and is not counted.
	Drops map[DropReason]uint64
	// AddressMismatches counts advertisements whose address list differs from
	// ours, discarded (DropAddresses) or, with AcceptAddressMismatch, processed.
	AddressMismatches uint64
	Transitions       uint64
	// VIPReasserts counts virtual addresses a master added back after someone removed them.
	VIPReasserts uint64
	// VIPsRemoved counts virtual addresses removed from an interface while the
	// instance was not master: found at start, or added by someone else.
	VIPsRemoved   uint64
	Announcements uint64
	// EventsDropped counts transitions dropped from a full Events channel.
	EventsDropped uint64
}

func newCounters() Counters { return Counters{Drops: map[DropReason]uint64{}} }

func (c Counters) clone() Counters {
	c.Drops = maps.Clone(c.Drops)
	return c
}

// Stats are the node's counters.
type Stats struct {
	Counters
	// FilterErrors counts failures to install, update or remove the Accept_Mode
	// filter. While it is missing the kernel accepts packets to the virtual addresses.
	FilterErrors uint64
	// Instances has an entry per configured instance; an instance removed by
	// Update takes its entry along, the node's totals keep its counts.
	Instances map[InstanceID]InstanceStats
}

// InstanceStats are the counters of one instance.
type InstanceStats struct {
	Counters
	// LastMasterLatency is the time from the last transition to master until its
	// virtual addresses were added and the first announcement sent.
	LastMasterLatency time.Duration
}

// nodeStats is guarded by Node.mu.
type nodeStats struct {
	total        Counters
	filterErrors uint64
	insts        map[InstanceID]*InstanceStats
}

// Stats returns a copy of the counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Stats{Counters: n.stats.total.clone(), FilterErrors: n.stats.filterErrors,
		Instances: make(map[InstanceID]InstanceStats, len(n.stats.insts))}
	for id, is := range n.stats.insts {
		c := *is
		c.Counters = is.Counters.clone()
		s.Instances[id] = c
	}
	return s
}

// count applies f to the node's counters and, unless inst is nil, to the instance's.
func (n *Node) count(inst *instance, f func(*Counters)) {
	n.mu.Lock()
	f(&n.stats.total)
	if inst != nil {
		f(&inst.stats.Counters)
	}
	n.mu.Unlock()
}

func (n *Node) countFilterError() {
	n.mu.Lock()
	n.stats.filterErrors++
	n.mu.Unlock()
}
