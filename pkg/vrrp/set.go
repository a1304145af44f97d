package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// groupFault is the fault source a sync group puts on members of a faulted group.
const groupFault = "sync-group"

// Set is a collection of Machines with their sync groups: members of a group fail
// over together. Instances sharing a Name (the IPv4 and IPv6 halves of one configured
// instance) form an implicit group. Like Machine, a Set is pure and owned by one goroutine.
type Set struct {
	machines []*Machine
	byID     map[InstanceID]*Machine
	// groups lists, per group, the member machines; groupOf maps a machine to its groups.
	groups  [][]*Machine
	names   []string
	groupOf map[*Machine][]int
}

// NewSet builds machines for instances (validated by the caller) and sync groups, which
// name instances by InstanceConfig.Name.
func NewSet(instances []*InstanceConfig, groups []SyncGroup) (*Set, error) {
	machines := make([]*Machine, len(instances))
	for i, ic := range instances {
		machines[i] = NewMachine(ic)
	}
	return assembleSet(machines, groups)
}

// assembleSet groups machines, keeping their state: a Node regroups the machines
// it keeps across a configuration update with it.
func assembleSet(machines []*Machine, groups []SyncGroup) (*Set, error) {
	s := &Set{byID: map[InstanceID]*Machine{}, groupOf: map[*Machine][]int{}}
	byName := map[string][]*Machine{}
	var names []string
	for _, m := range machines {
		if _, dup := s.byID[m.ID()]; dup {
			return nil, fmt.Errorf("vrrp: instance %v defined twice", m.ID())
		}
		s.byID[m.ID()] = m
		s.machines = append(s.machines, m)
		if byName[m.ID().Name] == nil {
			names = append(names, m.ID().Name)
		}
		byName[m.ID().Name] = append(byName[m.ID().Name], m)
	}
	inGroup := map[string]bool{}
	for _, g := range groups {
		var members []*Machine
		for _, n := range g.Instances {
			ms, ok := byName[n]
			if !ok {
				return nil, fmt.Errorf("vrrp: sync group %q: unknown instance %q", g.Name, n)
			}
			if inGroup[n] {
				return nil, fmt.Errorf("vrrp: sync group %q: instance %q is already in a group", g.Name, n)
			}
			inGroup[n] = true
			members = append(members, ms...)
		}
		s.addGroup(g.Name, members)
	}
	for _, name := range names {
		if ms := byName[name]; len(ms) > 1 && !inGroup[name] {
			s.addGroup(name, ms)
		}
	}
	return s, nil
}

func (s *Set) addGroup(name string, members []*Machine) {
	idx := len(s.groups)
	s.groups = append(s.groups, members)
	s.names = append(s.names, name)
	for _, m := range members {
		s.groupOf[m] = append(s.groupOf[m], idx)
	}
}

// Machines returns the machines in configuration order.
func (s *Set) Machines() []*Machine { return s.machines }

// Machine returns the machine of id, or nil.
func (s *Set) Machine(id InstanceID) *Machine { return s.byID[id] }

// Deadline returns the earliest machine deadline, or the zero time.
func (s *Set) Deadline() time.Time {
	var d time.Time
	for _, m := range s.machines {
		if md := m.Deadline(); !md.IsZero() && (d.IsZero() || md.Before(d)) {
			d = md
		}
	}
	return d
}

// Start starts every machine still in Initialize; a member of a group that
// started as master (an owner) takes its group along.
func (s *Set) Start(now time.Time) []Action {
	var acts []Action
	for _, m := range s.machines {
		acts = append(acts, s.sync(now, m, m.Start(now))...)
	}
	for gi := range s.groups {
		acts = append(acts, s.reconcileGroup(now, gi)...)
	}
	return acts
}

// Regroup reconciles every group after the membership changed, as SetFault does
// for one: a member with a fault of its own faults the others, otherwise a master
// takes its group along. A machine left in no group loses the group's fault.
func (s *Set) Regroup(now time.Time) []Action {
	var acts []Action
	for gi := range s.groups {
		acts = append(acts, s.reconcileGroup(now, gi)...)
	}
	for _, m := range s.machines {
		if len(s.groupOf[m]) == 0 {
			acts = append(acts, s.sync(now, m, m.SetFault(now, groupFault, false))...)
		}
	}
	return acts
}

// Shutdown stops every machine; masters send priority 0.
func (s *Set) Shutdown(now time.Time) []Action {
	var acts []Action
	for _, m := range s.machines {
		acts = append(acts, m.Shutdown(now)...)
	}
	return acts
}

// Timers runs every machine whose deadline has passed.
func (s *Set) Timers(now time.Time) []Action {
	var acts []Action
	for _, m := range s.machines {
		if d := m.Deadline(); !d.IsZero() && !now.Before(d) {
			acts = append(acts, s.sync(now, m, m.Timer(now))...)
		}
	}
	return acts
}

// Receive hands a validated advertisement to the machine of id.
func (s *Set) Receive(now time.Time, id InstanceID, src netip.Addr, adv *Advertisement) []Action {
	m := s.byID[id]
	if m == nil {
		return nil
	}
	return s.sync(now, m, m.Receive(now, src, adv))
}

// SetFault sets or clears a fault source on the machine of id. A member of a sync
// group with a fault of its own puts every other member in Fault too, until no member
// has one.
func (s *Set) SetFault(now time.Time, id InstanceID, source string, fault bool) []Action {
	m := s.byID[id]
	if m == nil {
		return nil
	}
	acts := s.sync(now, m, m.SetFault(now, source, fault))
	for _, gi := range s.groupOf[m] {
		acts = append(acts, s.reconcileGroup(now, gi)...)
	}
	return acts
}

// reconcileGroup puts every member of group gi in Fault while one has a fault of
// its own; otherwise a member that is master (an owner back from a fault, or after
// a regroup) takes the others along.
func (s *Set) reconcileGroup(now time.Time, gi int) []Action {
	members := s.groups[gi]
	own := s.ownFault(members)
	var acts []Action
	for _, o := range members {
		acts = append(acts, o.SetFault(now, groupFault, own)...)
	}
	if own {
		return acts
	}
	for _, o := range members {
		if o.State() == Master {
			for _, x := range members {
				acts = append(acts, x.force(now, Master, o.ID().String())...)
			}
			break
		}
	}
	return acts
}

// SetPriorityDeltaOf sets a priority adjustment on the machine of id.
func (s *Set) SetPriorityDeltaOf(now time.Time, id InstanceID, source string, delta int) []Action {
	m := s.byID[id]
	if m == nil {
		return nil
	}
	return s.sync(now, m, m.SetPriorityDelta(now, source, delta))
}

// SetPriorityDelta sets a priority adjustment on every machine named name (both families).
// It reports false when no instance has that name.
func (s *Set) SetPriorityDelta(now time.Time, name, source string, delta int) ([]Action, bool) {
	var acts []Action
	found := false
	for _, m := range s.machines {
		if m.ID().Name == name {
			found = true
			acts = append(acts, s.sync(now, m, m.SetPriorityDelta(now, source, delta))...)
		}
	}
	return acts, found
}

// sync propagates a transition of m, found in acts, to the rest of its groups.
func (s *Set) sync(now time.Time, m *Machine, acts []Action) []Action {
	var ev *Event
	for i := range acts {
		if acts[i].Kind == ActionTransition {
			ev = &acts[i].Event
		}
	}
	if ev == nil || len(s.groupOf[m]) == 0 {
		return acts
	}
	detail := m.ID().String()
	for _, gi := range s.groupOf[m] {
		// Faults are reconciled by SetFault; here only mastership moves together.
		if ev.To == Master || (ev.To == Backup && ev.From == Master) {
			for _, o := range s.groups[gi] {
				if o != m {
					acts = append(acts, o.force(now, ev.To, detail)...)
				}
			}
		}
	}
	return acts
}

func (s *Set) ownFault(members []*Machine) bool {
	for _, o := range members {
		if o.hasOwnFault() {
			return true
		}
	}
	return false
}

func (m *Machine) hasOwnFault() bool {
	for src := range m.faults {
		if src != groupFault {
			return true
		}
	}
	return false
}
