package vrrp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seesawd/seesawd/pkg/clock"
	"go.uber.org/zap"
)

// ErrUnknownInstance is returned by AdjustPriority for a name no instance has.
var ErrUnknownInstance = errors.New("vrrp: unknown instance")

// ErrNotRunning is returned by AdjustPriority and Update after Run has returned.
var ErrNotRunning = errors.New("vrrp: node not running")

// ErrAlreadyRun is returned by a second call to Run.
var ErrAlreadyRun = errors.New("vrrp: Run called twice")

// engineSource names the priority adjustment AdjustPriority sets.
const engineSource = "engine"

// InstanceStatus is a snapshot of one instance.
type InstanceStatus struct {
	ID        InstanceID
	Interface string
	VRID      uint8
	State     State
	// Priority is the effective priority: configured, adjusted by tracked
	// interfaces and AdjustPriority.
	Priority uint8
	// Master is the address of the last master heard (backup) or ours (master).
	Master netip.Addr
	Faults []string
	// Seq is the Event.Seq of the instance's last transition, 0 before the first.
	Seq uint64
}

// command is a change Run applies on its goroutine (Update's). Run then
// publishes the states it left and sends apply's error on done, which must
// have room for it.
type command struct {
	apply func(now time.Time) error
	done  chan<- error
}

// Node runs a set of VRRP instances on the kernel. One goroutine, Run's, owns
// every state machine, socket write and address change; one reader goroutine
// per socket hands it batches of received messages. The other methods are safe
// for concurrent use, before, during and after Run.
type Node struct {
	log   *zap.Logger
	clock clock.Clock
	net   Network

	events chan Event
	cmds   chan command
	// kick wakes Run to apply the priority adjustments AdjustPriority recorded.
	kick    chan struct{}
	done    chan struct{}
	started atomic.Bool

	mu     sync.Mutex
	phase  phase
	cfg    Config // the instances and sync groups in force, or to start with
	names  map[string]bool
	deltas map[string]int // AdjustPriority's, by instance name
	stats  nodeStats
	status []InstanceStatus

	// Owned by the Run goroutine.
	set     *Set
	insts   map[InstanceID]*instance
	sockets map[sockKey]*socket
	ifaces  map[string]*ifState
	seq     map[InstanceID]uint64
	pktCh   chan *rxBatch
	readers sync.WaitGroup
	// rx is reused to decode every received advertisement.
	rx      Advertisement
	limiter rateLimiter
	// dirty says the States snapshot is stale; armed is the deadline the timer is set for.
	dirty bool
	armed time.Time
	// watchCtx and netCh are the interface subscription; rewatch is when to retry it.
	watchCtx context.Context
	netCh    chan NetEvent
	rewatch  time.Time
	// filter enforces Accept_Mode False; dropped counts the masters dropping each address.
	filter  AcceptFilter
	dropped map[netip.Addr]int
}

type phase uint8

const (
	notStarted phase = iota
	running
	stopped
)

// instance is the Node's side of one Machine.
type instance struct {
	cfg  *InstanceConfig
	m    *Machine
	sock *socket
	// stats is guarded by Node.mu.
	stats *InstanceStats
	// vips indexes cfg.VirtualIPs; seen and gen check an advertisement's list against it.
	vips map[netip.Addr]int
	seen []uint32
	gen  uint32
	// dsts are the advertisement destinations.
	dsts []netip.Addr
	// Announcement schedule while master.
	annLeft int
	annNext time.Time
	master  netip.Addr
}

// New validates cfg and returns a Node; nothing is touched until Run.
func New(cfg *Config) (*Node, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c, err := prepareConfig(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		log:     cfg.Logger,
		clock:   cfg.Clock,
		net:     cfg.Network,
		events:  make(chan Event, cfg.EventBuffer),
		cmds:    make(chan command),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		deltas:  map[string]int{},
		stats:   nodeStats{total: newCounters(), insts: map[InstanceID]*InstanceStats{}},
		limiter: rateLimiter{every: logEvery},
	}
	if n.log == nil {
		n.log = zap.NewNop()
	}
	if n.clock == nil {
		n.clock = clock.System{}
	}
	if cfg.EventBuffer <= 0 {
		n.events = make(chan Event, 256)
	}
	n.setConfig(c)
	return n, nil
}

// prepareConfig validates the instances and sync groups of cfg and returns a
// deep copy of them, so later changes by the caller change nothing.
func prepareConfig(cfg *Config) (Config, error) {
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	c := Config{Instances: make([]InstanceConfig, len(cfg.Instances)), SyncGroups: make([]SyncGroup, len(cfg.SyncGroups))}
	for i, ic := range cfg.Instances {
		ic.UnicastPeers = slices.Clone(ic.UnicastPeers)
		ic.TrackInterfaces = slices.Clone(ic.TrackInterfaces)
		ic.VirtualIPs = slices.Clone(ic.VirtualIPs)
		c.Instances[i] = ic
	}
	for i, g := range cfg.SyncGroups {
		c.SyncGroups[i] = SyncGroup{Name: g.Name, Instances: slices.Clone(g.Instances)}
	}
	if _, err := NewSet(configPtrs(c.Instances), c.SyncGroups); err != nil {
		return Config{}, err
	}
	return c, nil
}

func configPtrs(ics []InstanceConfig) []*InstanceConfig {
	out := make([]*InstanceConfig, len(ics))
	for i := range ics {
		out[i] = &ics[i]
	}
	return out
}

// setConfig makes c the configuration in force: instance names, the engine's
// adjustments of instances that remain, and, before Run, the States and Stats entries.
func (n *Node) setConfig(c Config) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.setConfigLocked(c)
}

func (n *Node) setConfigLocked(c Config) {
	n.cfg = c
	n.names = map[string]bool{}
	for _, ic := range c.Instances {
		n.names[ic.Name] = true
	}
	maps.DeleteFunc(n.deltas, func(name string, _ int) bool { return !n.names[name] })
	if n.phase != notStarted {
		return
	}
	n.status = n.status[:0]
	n.stats.insts = map[InstanceID]*InstanceStats{}
	for _, ic := range c.Instances {
		id := InstanceID{ic.Name, ic.Family}
		n.status = append(n.status, InstanceStatus{ID: id, Interface: ic.Interface, VRID: ic.VRID, State: Initialize, Priority: ic.Priority})
		n.stats.insts[id] = &InstanceStats{Counters: newCounters()}
	}
}

// Events returns the channel of transitions. It is closed when Run returns.
func (n *Node) Events() <-chan Event { return n.events }

// States returns a snapshot of every instance, in configuration order.
func (n *Node) States() []InstanceStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.status)
}

// AdjustPriority sets the engine's priority adjustment of every instance named
// instance (both families), replacing the previous one: -50 lowers the priority
// by 50 until a delta of 0 restores it. It never waits for the protocol: the
// adjustment is recorded and Run applies it at once (a master advertises the
// new priority), or at start when Run has not started yet; it survives Update
// while the instance does. It fails with ErrUnknownInstance for a name the
// configuration does not have, ErrNotRunning after Run has returned, or ctx's
// error.
func (n *Node) AdjustPriority(ctx context.Context, instance string, delta int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.phase == stopped {
		return ErrNotRunning
	}
	if !n.names[instance] {
		return fmt.Errorf("%w %q", ErrUnknownInstance, instance)
	}
	if delta == 0 {
		delete(n.deltas, instance)
	} else {
		n.deltas[instance] = delta
	}
	select {
	case n.kick <- struct{}{}:
	default:
	}
	return nil
}

// Run opens the sockets, runs the instances until ctx is cancelled, then shuts down
// gracefully: masters send priority 0 and remove their virtual addresses. It returns
// nil after a graceful shutdown. Without Config.Network, Run uses the Linux kernel
// of the network namespace of the thread it is called on (see NewLinuxNetwork),
// sockets it opens later included; it does not keep its goroutine on that thread,
// as handing every received packet to a locked thread costs two context switches.
// A Node runs once.
func (n *Node) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	defer close(n.events)
	defer close(n.done)
	n.mu.Lock()
	n.phase = running
	cfg := n.cfg
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.phase = stopped
		n.mu.Unlock()
	}()
	if n.net == nil {
		nw, err := NewLinuxNetwork()
		if err != nil {
			return err
		}
		n.net = nw
		if c, ok := nw.(io.Closer); ok {
			defer c.Close()
		}
	}
	if err := n.load(cfg); err != nil {
		return err
	}
	defer n.readers.Wait()
	defer n.closeSockets()
	wctx, cancelWatch := context.WithCancel(context.Background())
	defer cancelWatch()
	n.watchCtx, n.netCh = wctx, make(chan NetEvent, 256)
	if err := n.net.Watch(wctx, n.netCh); err != nil {
		return fmt.Errorf("vrrp: watch interfaces: %w", err)
	}
	n.syncSockets()
	defer n.closeFilter()
	filter := false
	for _, m := range n.set.Machines() {
		inst := n.insts[m.ID()]
		n.logInstance("vrrp instance", inst)
		filter = filter || inst.noAccept()
	}
	if filter {
		// At once, to replace a filter a killed run left behind.
		n.openFilter()
	}

	n.begin(n.clock.Now())
	timer := n.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if n.dirty {
			n.snapshot()
		}
		n.arm(timer)
		select {
		case <-ctx.Done():
			now := n.clock.Now()
			n.do(now, n.set.Shutdown(now))
			n.snapshot()
			return nil
		case b := <-n.pktCh:
			n.receiveBatch(b)
			// Take what else is queued, so a burst costs one pass over the timers.
			for range 16 {
				select {
				case b := <-n.pktCh:
					n.receiveBatch(b)
					continue
				default:
				}
				break
			}
		case ev := <-n.netCh:
			n.netEvent(n.clock.Now(), ev)
			n.dirty = true
		case <-n.kick:
			n.applyDeltas(n.clock.Now())
		case c := <-n.cmds:
			err := c.apply(n.clock.Now())
			// Before the caller wakes, so that its next States is this one.
			n.snapshot()
			c.done <- err
		case <-timer.C():
			n.armed = time.Time{}
		}
		now := n.clock.Now()
		n.do(now, n.set.Timers(now))
		n.announceDue(now)
		if !n.rewatch.IsZero() && !now.Before(n.rewatch) {
			n.netEvent(now, NetEvent{Kind: WatchFailed, Err: errors.New("vrrp: retry")})
		}
	}
}

// load builds the machines of cfg, opens their sockets and attaches them; it
// leaves nothing open when it fails.
func (n *Node) load(cfg Config) error {
	set, err := NewSet(configPtrs(cfg.Instances), cfg.SyncGroups)
	if err != nil {
		return err
	}
	n.set = set
	n.insts = map[InstanceID]*instance{}
	n.sockets = map[sockKey]*socket{}
	n.ifaces = map[string]*ifState{}
	n.seq = map[InstanceID]uint64{}
	n.dropped = map[netip.Addr]int{}
	n.pktCh = make(chan *rxBatch, 16)
	if err := n.openSockets(set.Machines()); err != nil {
		return err
	}
	for _, m := range set.Machines() {
		n.attach(m)
	}
	return nil
}

// begin applies the interfaces' state and AdjustPriority's adjustments, then
// starts the machines.
func (n *Node) begin(now time.Time) {
	n.refreshLinks(now)
	for _, m := range n.set.Machines() {
		n.applyTracking(now, n.insts[m.ID()])
	}
	n.applyDeltas(now)
	n.do(now, n.set.Start(now))
}

// arm sets the timer for the next deadline of a machine, an announcement or the
// watch retry, unless it is already set for it.
func (n *Node) arm(t clock.Timer) {
	next := n.set.Deadline()
	for _, inst := range n.insts {
		if !inst.annNext.IsZero() && (next.IsZero() || inst.annNext.Before(next)) {
			next = inst.annNext
		}
	}
	if !n.rewatch.IsZero() && (next.IsZero() || n.rewatch.Before(next)) {
		next = n.rewatch
	}
	now := n.clock.Now()
	if next.IsZero() {
		next = now.Add(time.Hour)
	}
	if next.Equal(n.armed) {
		return
	}
	n.armed = next
	t.Reset(max(next.Sub(now), 0))
}

// applyDeltas applies AdjustPriority's adjustments to every machine.
func (n *Node) applyDeltas(now time.Time) {
	n.mu.Lock()
	deltas := maps.Clone(n.deltas)
	n.mu.Unlock()
	for _, m := range n.set.Machines() {
		d := deltas[m.ID().Name]
		if m.delta(engineSource) == d {
			continue
		}
		n.do(now, n.set.SetPriorityDeltaOf(now, m.ID(), engineSource, d))
		n.dirty = true
	}
}

// attach creates the instance of m on its socket, which must be open.
func (n *Node) attach(m *Machine) *instance {
	cfg := m.Config()
	inst := &instance{m: m, sock: n.sockets[sockKey{cfg.Interface, cfg.Family}]}
	inst.setConfig(cfg)
	inst.sock.byVRID[cfg.VRID] = inst
	n.insts[m.ID()] = inst
	n.mu.Lock()
	inst.stats = &InstanceStats{Counters: newCounters()}
	n.stats.insts[m.ID()] = inst.stats
	n.mu.Unlock()
	m.SetPrimary(n.primary(inst))
	return inst
}

// detach forgets a stopped instance.
func (n *Node) detach(inst *instance) {
	id := inst.m.ID()
	if inst.sock.byVRID[inst.cfg.VRID] == inst {
		inst.sock.byVRID[inst.cfg.VRID] = nil
	}
	delete(n.insts, id)
	n.limiter.forget(inst)
	n.mu.Lock()
	delete(n.stats.insts, id)
	n.mu.Unlock()
}

// setConfig indexes cfg for the instance.
func (inst *instance) setConfig(cfg *InstanceConfig) {
	inst.cfg = cfg
	inst.vips = make(map[netip.Addr]int, len(cfg.VirtualIPs))
	for i, p := range cfg.VirtualIPs {
		inst.vips[p.Addr()] = i
	}
	inst.seen = make([]uint32, len(cfg.VirtualIPs))
	inst.dsts = cfg.UnicastPeers
	if len(inst.dsts) == 0 {
		inst.dsts = []netip.Addr{GroupIPv4}
		if cfg.Family == IPv6 {
			inst.dsts = []netip.Addr{GroupIPv6}
		}
	}
}

func (n *Node) logInstance(msg string, inst *instance) {
	n.log.Info(msg, zap.Stringer("instance", inst.m.ID()), zap.String("interface", inst.cfg.Interface),
		zap.Uint8("vrid", inst.cfg.VRID), zap.Uint8("priority", inst.cfg.Priority),
		zap.Duration("advert_interval", inst.cfg.AdvertInterval), zap.Stringer("checksum", inst.cfg.Checksum),
		zap.Bool("accept", inst.cfg.Accept), zap.Bool("accept_address_mismatch", inst.cfg.AcceptAddressMismatch))
}

// do performs the actions of the state machines in order.
func (n *Node) do(now time.Time, acts []Action) {
	for _, a := range acts {
		inst := n.insts[a.Instance]
		if inst == nil {
			continue
		}
		switch a.Kind {
		case ActionSendAdvert:
			n.sendAdvert(now, inst, a.Priority)
		case ActionBecomeMaster:
			n.becomeMaster(now, inst)
		case ActionLeaveMaster:
			inst.annLeft, inst.annNext = 0, time.Time{}
			n.releaseVIPs(now, inst, true)
			n.filterVIPs(inst.cfg, false)
		case ActionTransition:
			n.transition(now, inst, a.Event)
		}
	}
}

// transition numbers, counts, logs and delivers one transition. An instance that
// is not master holds no virtual address: one found on its interface (left by
// an earlier run, added by hand) is removed.
func (n *Node) transition(now time.Time, inst *instance, ev Event) {
	n.dirty = true
	n.seq[ev.Instance]++
	ev.Seq = n.seq[ev.Instance]
	n.count(inst, func(c *Counters) { c.Transitions++ })
	n.log.Info("vrrp transition", zap.Stringer("instance", ev.Instance), zap.Uint8("vrid", ev.VRID),
		zap.Stringer("from", ev.From), zap.Stringer("to", ev.To), zap.Stringer("reason", ev.Reason),
		zap.String("detail", ev.Detail), zap.Uint8("priority", ev.Priority), zap.Uint64("seq", ev.Seq))
	if ev.To != Master {
		n.releaseVIPs(now, inst, false)
	}
	for {
		select {
		case n.events <- ev:
			return
		default:
		}
		// Full: drop the oldest so the newest state is always delivered.
		select {
		case old := <-n.events:
			n.count(n.insts[old.Instance], func(c *Counters) { c.EventsDropped++ })
		default:
		}
	}
}

func (n *Node) snapshot() {
	n.dirty = false
	st := make([]InstanceStatus, 0, len(n.set.Machines()))
	for _, m := range n.set.Machines() {
		id := m.ID()
		s := InstanceStatus{ID: id, Interface: m.Config().Interface, VRID: m.Config().VRID, State: m.State(),
			Priority: m.Priority(), Faults: m.Faults(), Seq: n.seq[id]}
		switch inst := n.insts[id]; {
		case m.State() == Master:
			s.Master = m.primary
		case inst != nil && m.State() != Initialize:
			s.Master = inst.master
		}
		st = append(st, s)
	}
	n.mu.Lock()
	n.status = st
	n.mu.Unlock()
}
