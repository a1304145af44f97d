package vrrp

import (
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// State is the state of a virtual router instance (RFC 5798 section 6.4), plus Fault.
type State uint8

// States.
const (
	// Initialize is the state before Start and after Shutdown.
	Initialize State = iota
	// Backup monitors the master and takes over when it goes silent.
	Backup
	// Master owns the virtual addresses and sends advertisements.
	Master
	// Fault is entered when a tracked interface is down: no adverts, no virtual addresses.
	Fault
)

// String returns the state name.
func (s State) String() string {
	switch s {
	case Initialize:
		return "initialize"
	case Backup:
		return "backup"
	case Master:
		return "master"
	case Fault:
		return "fault"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Reason says why a transition happened.
type Reason uint8

// Transition reasons.
const (
	ReasonStartup Reason = iota
	ReasonOwner
	ReasonMasterDown
	ReasonPriorityZero
	ReasonHigherPriority
	ReasonHigherAddress
	ReasonShutdown
	ReasonFault
	ReasonFaultCleared
	ReasonSyncGroup
	ReasonRemoved
)

var reasonNames = [...]string{
	ReasonStartup:        "startup",
	ReasonOwner:          "address owner",
	ReasonMasterDown:     "master down timer",
	ReasonPriorityZero:   "master sent priority 0",
	ReasonHigherPriority: "higher priority advertisement",
	ReasonHigherAddress:  "equal priority, higher primary address",
	ReasonShutdown:       "shutdown",
	ReasonFault:          "fault",
	ReasonFaultCleared:   "fault cleared",
	ReasonSyncGroup:      "sync group",
	ReasonRemoved:        "removed from the configuration",
}

// String returns a short human description of the reason.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// InstanceID names one protocol instance: a configured instance with both IPv4 and IPv6
// virtual addresses runs one instance per family.
type InstanceID struct {
	Name   string
	Family Family
}

// String returns "name/family".
func (id InstanceID) String() string { return id.Name + "/" + id.Family.String() }

// Event describes one state transition.
type Event struct {
	Instance InstanceID
	// Seq numbers the events of one instance from 1, without gaps: a consumer that
	// sees a gap lost events to a full channel (Counters.EventsDropped) and can
	// re-read Node.States. It is set by the Node; a Machine leaves it 0.
	Seq      uint64
	VRID     uint8
	From, To State
	Reason   Reason
	// Detail adds context, such as the fault source or the peer address.
	Detail   string
	Priority uint8
	Time     time.Time
}

// ActionKind is what the owner of a Machine must do.
type ActionKind uint8

// Action kinds.
const (
	// ActionSendAdvert sends an advertisement with Action.Priority.
	ActionSendAdvert ActionKind = iota
	// ActionBecomeMaster adds the virtual addresses and announces them (GARP / unsolicited NA).
	ActionBecomeMaster
	// ActionLeaveMaster removes the virtual addresses and stops announcing them.
	ActionLeaveMaster
	// ActionTransition reports Action.Event.
	ActionTransition
)

// String returns the action name.
func (k ActionKind) String() string {
	switch k {
	case ActionSendAdvert:
		return "send-advert"
	case ActionBecomeMaster:
		return "become-master"
	case ActionLeaveMaster:
		return "leave-master"
	case ActionTransition:
		return "transition"
	}
	return fmt.Sprintf("ActionKind(%d)", uint8(k))
}

// Action is one output of the state machine.
type Action struct {
	Kind     ActionKind
	Instance InstanceID
	Priority uint8
	Event    Event
}

// Machine is the RFC 5798 section 6 state machine of one instance. It never blocks,
// reads no clock and owns no goroutine: every input carries the current time and
// returns the actions to perform, and Deadline says when Timer must next be called.
// A Machine is owned by one goroutine.
type Machine struct {
	cfg *InstanceConfig
	id  InstanceID

	state   State
	primary netip.Addr
	// masterAdverInterval is learned from the master's advertisements while backup.
	masterAdverInterval time.Duration
	deadline            time.Time
	// faults holds the active fault sources (interface names, "sync-group").
	faults map[string]bool
	// deltas holds priority adjustments by source (tracked interfaces, the engine).
	deltas map[string]int
	// preemptSince is when a lower priority master was first seen within PreemptDelay.
	preemptSince time.Time
}

// NewMachine returns a machine in Initialize for cfg, which must be valid (see InstanceConfig.Validate).
func NewMachine(cfg *InstanceConfig) *Machine {
	return &Machine{
		cfg:                 cfg,
		id:                  InstanceID{cfg.Name, cfg.Family},
		masterAdverInterval: cfg.AdvertInterval,
		faults:              map[string]bool{},
		deltas:              map[string]int{},
	}
}

// ID returns the instance identity.
func (m *Machine) ID() InstanceID { return m.id }

// Config returns the instance configuration.
func (m *Machine) Config() *InstanceConfig { return m.cfg }

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Deadline returns when Timer must be called, or the zero time when no timer runs.
func (m *Machine) Deadline() time.Time { return m.deadline }

// MasterAdverInterval returns the interval learned from the master (or our own).
func (m *Machine) MasterAdverInterval() time.Duration { return m.masterAdverInterval }

// SetPrimary sets our primary address, used to break priority ties (RFC 5798 section 6.4.3).
func (m *Machine) SetPrimary(a netip.Addr) { m.primary = a }

// Priority returns the effective priority: the configured one adjusted by every delta,
// kept within 1-254 once adjusted (only an unadjusted owner advertises 255).
func (m *Machine) Priority() uint8 {
	d := 0
	for _, v := range m.deltas {
		d += v
	}
	if d == 0 {
		return m.cfg.Priority
	}
	p := int(m.cfg.Priority) + d
	return uint8(min(max(p, 1), 254))
}

// Faults returns the active fault sources, sorted.
func (m *Machine) Faults() []string {
	out := make([]string, 0, len(m.faults))
	for k := range m.faults {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m *Machine) skew() time.Duration {
	return time.Duration(256-int(m.Priority())) * m.masterAdverInterval / 256
}

// MasterDownInterval returns 3 x Master_Adver_Interval + Skew_Time.
func (m *Machine) MasterDownInterval() time.Duration {
	return 3*m.masterAdverInterval + m.skew()
}

func (m *Machine) transition(now time.Time, to State, r Reason, detail string, acts []Action) []Action {
	from := m.state
	m.state = to
	return append(acts, Action{Kind: ActionTransition, Instance: m.id, Event: Event{
		Instance: m.id, VRID: m.cfg.VRID, From: from, To: to, Reason: r, Detail: detail,
		Priority: m.Priority(), Time: now,
	}})
}

func (m *Machine) advert(prio uint8) Action {
	return Action{Kind: ActionSendAdvert, Instance: m.id, Priority: prio}
}

func (m *Machine) becomeMaster(now time.Time, r Reason, detail string) []Action {
	acts := []Action{m.advert(m.Priority()), {Kind: ActionBecomeMaster, Instance: m.id}}
	m.deadline = now.Add(m.cfg.AdvertInterval)
	m.preemptSince = time.Time{}
	return m.transition(now, Master, r, detail, acts)
}

func (m *Machine) becomeBackup(now time.Time, r Reason, detail string, acts []Action) []Action {
	if m.state == Master {
		acts = append(acts, Action{Kind: ActionLeaveMaster, Instance: m.id})
	}
	m.deadline = now.Add(m.MasterDownInterval())
	return m.transition(now, Backup, r, detail, acts)
}

// Start leaves Initialize (RFC 5798 section 6.4.1): the owner becomes master at once,
// anyone else becomes backup and waits Master_Down_Interval. With an active fault it enters Fault.
func (m *Machine) Start(now time.Time) []Action {
	if m.state != Initialize {
		return nil
	}
	m.masterAdverInterval = m.cfg.AdvertInterval
	if len(m.faults) > 0 {
		m.deadline = time.Time{}
		return m.transition(now, Fault, ReasonFault, m.faultDetail(), nil)
	}
	if m.Priority() == PriorityOwner {
		return m.becomeMaster(now, ReasonOwner, "")
	}
	return m.becomeBackup(now, ReasonStartup, "", nil)
}

// Shutdown returns to Initialize; a master sends priority 0 first, then drops the addresses.
func (m *Machine) Shutdown(now time.Time) []Action { return m.stop(now, ReasonShutdown) }

// Remove is Shutdown for an instance taken out of the configuration.
func (m *Machine) Remove(now time.Time) []Action { return m.stop(now, ReasonRemoved) }

func (m *Machine) stop(now time.Time, r Reason) []Action {
	var acts []Action
	switch m.state {
	case Initialize:
		return nil
	case Master:
		acts = append(acts, m.advert(PriorityStop), Action{Kind: ActionLeaveMaster, Instance: m.id})
	}
	m.deadline = time.Time{}
	return m.transition(now, Initialize, r, "", acts)
}

// Reconfigure replaces the configuration of a running instance, keeping its state:
// cfg must be valid and have the same name, family, interface and VRID. A master
// advertises the new settings (priority, interval, addresses) at once; a backup
// uses them from the next advertisement it hears, and a fault from when it clears.
func (m *Machine) Reconfigure(now time.Time, cfg *InstanceConfig) []Action {
	m.cfg = cfg
	if m.state != Master {
		return nil
	}
	m.deadline = now.Add(cfg.AdvertInterval)
	return []Action{m.advert(m.Priority())}
}

// Timer runs the expiry of the Master_Down_Timer (backup) or Adver_Timer (master).
// It does nothing before Deadline.
func (m *Machine) Timer(now time.Time) []Action {
	if m.deadline.IsZero() || now.Before(m.deadline) {
		return nil
	}
	switch m.state {
	case Backup:
		return m.becomeMaster(now, ReasonMasterDown, "")
	case Master:
		m.deadline = m.deadline.Add(m.cfg.AdvertInterval)
		if !m.deadline.After(now) {
			// We fell behind (a stalled process): do not send a burst.
			m.deadline = now.Add(m.cfg.AdvertInterval)
		}
		return []Action{m.advert(m.Priority())}
	}
	m.deadline = time.Time{}
	return nil
}

// Receive processes a validated advertisement from src (RFC 5798 sections 6.4.2 and 6.4.3).
func (m *Machine) Receive(now time.Time, src netip.Addr, adv *Advertisement) []Action {
	interval := time.Duration(max(adv.MaxAdvertInterval, 1)) * 10 * time.Millisecond
	switch m.state {
	case Backup:
		if adv.Priority == PriorityStop {
			m.deadline = now.Add(m.skew())
			return nil
		}
		if !m.cfg.Preempt || adv.Priority >= m.Priority() || m.delayPreempt(now) {
			if adv.Priority >= m.Priority() {
				m.preemptSince = time.Time{}
			}
			m.masterAdverInterval = interval
			m.deadline = now.Add(m.MasterDownInterval())
		}
		// Otherwise discard: the master down timer will make us master.
		return nil
	case Master:
		if adv.Priority == PriorityStop {
			m.deadline = now.Add(m.cfg.AdvertInterval)
			return []Action{m.advert(m.Priority())}
		}
		higher := adv.Priority > m.Priority()
		tie := adv.Priority == m.Priority() && src.Compare(m.primary) > 0
		if higher || tie {
			m.masterAdverInterval = interval
			r := ReasonHigherPriority
			if tie {
				r = ReasonHigherAddress
			}
			return m.becomeBackup(now, r, src.String(), nil)
		}
		// RFC 5798 section 6.4.3: anything else is discarded. A lower priority
		// master steps down when our next advertisement reaches it; answering
		// every lower priority advertisement at once would turn the master into
		// a reflector for forged ones.
	}
	return nil
}

// delayPreempt reports whether a lower priority master must still be accepted because
// PreemptDelay has not passed since one was first seen.
func (m *Machine) delayPreempt(now time.Time) bool {
	if m.cfg.PreemptDelay <= 0 {
		return false
	}
	if m.preemptSince.IsZero() {
		m.preemptSince = now
	}
	return now.Sub(m.preemptSince) < m.cfg.PreemptDelay
}

func (m *Machine) faultDetail() string {
	f := m.Faults()
	if len(f) == 0 {
		return ""
	}
	s := f[0]
	for _, x := range f[1:] {
		s += "," + x
	}
	return s
}

// SetFault sets or clears one fault source (a tracked interface, the instance's own
// interface, a sync group). With any fault active the instance is in Fault: no
// advertisements and no virtual addresses. A master entering Fault sends priority 0
// first so a backup takes over after Skew_Time, if the link still carries it.
func (m *Machine) SetFault(now time.Time, source string, fault bool) []Action {
	if m.faults[source] == fault {
		return nil
	}
	if fault {
		m.faults[source] = true
	} else {
		delete(m.faults, source)
	}
	switch {
	case m.state == Initialize:
		return nil
	case len(m.faults) > 0 && m.state != Fault:
		var acts []Action
		if m.state == Master {
			acts = append(acts, m.advert(PriorityStop), Action{Kind: ActionLeaveMaster, Instance: m.id})
		}
		m.deadline = time.Time{}
		return m.transition(now, Fault, ReasonFault, m.faultDetail(), acts)
	case len(m.faults) == 0 && m.state == Fault:
		m.masterAdverInterval = m.cfg.AdvertInterval
		if m.Priority() == PriorityOwner {
			return m.becomeMaster(now, ReasonFaultCleared, source)
		}
		return m.becomeBackup(now, ReasonFaultCleared, source, nil)
	}
	return nil
}

// SetPriorityDelta sets the priority adjustment of one source (replacing its previous
// value; 0 removes it). A master advertises the new priority at once so a backup
// with preemption can take over without waiting for the next advertisement.
func (m *Machine) SetPriorityDelta(now time.Time, source string, delta int) []Action {
	before := m.Priority()
	if delta == 0 {
		delete(m.deltas, source)
	} else {
		m.deltas[source] = delta
	}
	if m.Priority() == before || m.state != Master {
		return nil
	}
	m.deadline = now.Add(m.cfg.AdvertInterval)
	return []Action{m.advert(m.Priority())}
}

// delta returns the priority adjustment of one source.
func (m *Machine) delta(source string) int { return m.deltas[source] }

// force moves the machine to Master or Backup for its sync group.
func (m *Machine) force(now time.Time, to State, detail string) []Action {
	switch {
	case m.state == to || m.state == Initialize || m.state == Fault:
		return nil
	case to == Master:
		return m.becomeMaster(now, ReasonSyncGroup, detail)
	case to == Backup:
		return m.becomeBackup(now, ReasonSyncGroup, detail, nil)
	}
	return nil
}
