package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ErrUnknownInstance is returned by AdjustPriority for a name no instance has.
var ErrUnknownInstance = errors.New("vrrp: unknown instance")

// ErrNotRunning is returned by AdjustPriority when Run is not running.
var ErrNotRunning = errors.New("vrrp: node not running")

// ErrAlreadyRun is returned by a second call to Run.
var ErrAlreadyRun = errors.New("vrrp: Run called twice")

// Stats are the node's counters.
type Stats struct {
	AdvertsSent     uint64
	AdvertsReceived uint64
	SendErrors      uint64
	// Drops counts discarded packets by reason; a drop never changes a state.
	Drops map[DropReason]uint64
	// AddressMismatches counts advertisements whose address list differs from ours.
	AddressMismatches uint64
	Transitions       uint64
	// VIPReasserts counts virtual addresses added back after someone removed them.
	VIPReasserts  uint64
	Announcements uint64
	EventsDropped uint64
	// FilterErrors counts failures to install, update or remove the Accept_Mode
	// filter. While it is missing the kernel accepts packets to the virtual addresses.
	FilterErrors uint64
	Instances    map[InstanceID]InstanceStats
}

// InstanceStats are the counters of one instance.
type InstanceStats struct {
	AdvertsSent       uint64
	AdvertsReceived   uint64
	Drops             uint64
	AddressMismatches uint64
	Transitions       uint64
	// LastMasterLatency is the time from the last transition to master until its
	// virtual addresses were added and the first announcement sent.
	LastMasterLatency time.Duration
}

// InstanceStatus is a snapshot of one instance.
type InstanceStatus struct {
	ID       InstanceID
	VRID     uint8
	State    State
	Priority uint8
	// Master is the address of the last master heard (backup) or ours (master).
	Master netip.Addr
	Faults []string
}

// Node runs a set of VRRP instances on the kernel: one goroutine owns every state
// machine and socket write; one reader goroutine per socket feeds it.
type Node struct {
	cfg   Config
	log   *zap.Logger
	clock Clock
	net   Network
	set   *Set

	events chan Event
	cmds   chan func(now time.Time)
	done   chan struct{}

	started atomic.Bool

	mu     sync.Mutex
	stats  Stats
	status []InstanceStatus

	// Owned by the Run goroutine.
	insts   map[InstanceID]*instance
	sockets map[sockKey]*socket
	links   map[string]*Link
	tracks  map[string][]trackRef
	// dirty says the States snapshot is stale.
	dirty bool
	// watchCtx and netCh are the interface subscription; rewatch is when to retry it.
	watchCtx context.Context
	netCh    chan NetEvent
	rewatch  time.Time
	// filter enforces Accept_Mode False; dropped counts the masters dropping each address.
	filter  AcceptFilter
	dropped map[netip.Addr]int
}

type sockKey struct {
	ifname string
	fam    Family
}

type socket struct {
	key    sockKey
	conn   PacketConn
	ann    Announcer
	byVRID map[uint8]*instance
}

type trackRef struct {
	id     InstanceID
	weight int
	own    bool // the instance's own interface
}

type instance struct {
	cfg  *InstanceConfig
	m    *Machine
	sock *socket
	vips map[netip.Addr]netip.Prefix
	// dsts are the advertisement destinations.
	dsts []netip.Addr
	// Announcement schedule while master.
	annLeft int
	annNext time.Time
	master  netip.Addr
	// mismatch remembers whether the last advertisement's address list differed.
	mismatch bool
}

type rxPacket struct {
	sock *socket
	b    []byte
	info RecvInfo
}

// New validates cfg and returns a Node; nothing is touched until Run.
func New(cfg *Config) (*Node, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := *cfg
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 256
	}
	ptrs := make([]*InstanceConfig, len(c.Instances))
	for i := range c.Instances {
		ic := c.Instances[i]
		ptrs[i] = &ic
	}
	set, err := NewSet(ptrs, c.SyncGroups)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:    c,
		log:    c.Logger,
		clock:  c.Clock,
		net:    c.Network,
		set:    set,
		events: make(chan Event, c.EventBuffer),
		cmds:   make(chan func(time.Time)),
		done:   make(chan struct{}),
		stats:  Stats{Drops: map[DropReason]uint64{}, Instances: map[InstanceID]InstanceStats{}},
	}
	for _, m := range set.Machines() {
		n.stats.Instances[m.ID()] = InstanceStats{}
	}
	n.snapshot()
	return n, nil
}

// Events returns the channel of transitions. It is closed when Run returns.
func (n *Node) Events() <-chan Event { return n.events }

// Stats returns a copy of the counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	s.Drops = make(map[DropReason]uint64, len(n.stats.Drops))
	for k, v := range n.stats.Drops {
		s.Drops[k] = v
	}
	s.Instances = make(map[InstanceID]InstanceStats, len(n.stats.Instances))
	for k, v := range n.stats.Instances {
		s.Instances[k] = v
	}
	return s
}

// States returns a snapshot of every instance, in configuration order.
func (n *Node) States() []InstanceStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.status)
}

// AdjustPriority sets the engine's priority adjustment of every instance named
// instance (both families), replacing the previous one: -50 lowers the priority by 50
// until AdjustPriority(instance, 0) restores it.
func (n *Node) AdjustPriority(instance string, delta int) error {
	errc := make(chan error, 1)
	select {
	case n.cmds <- func(now time.Time) {
		acts, ok := n.set.SetPriorityDelta(now, instance, "engine", delta)
		n.do(now, acts)
		if !ok {
			errc <- fmt.Errorf("%w %q", ErrUnknownInstance, instance)
			return
		}
		errc <- nil
	}:
		return <-errc
	case <-n.done:
		return ErrNotRunning
	}
}

// Run opens the sockets, runs the instances until ctx is cancelled, then shuts down
// gracefully: masters send priority 0 and remove their virtual addresses. It returns
// nil after a graceful shutdown. Run keeps its goroutine on one OS thread so that
// sockets it opens later belong to the network namespace it was called in.
// A Node runs once.
func (n *Node) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(n.events)
	defer close(n.done)
	if n.net == nil {
		nw, err := NewLinuxNetwork()
		if err != nil {
			return err
		}
		n.net = nw
	}
	n.insts = map[InstanceID]*instance{}
	n.sockets = map[sockKey]*socket{}
	n.links = map[string]*Link{}
	n.tracks = map[string][]trackRef{}

	var readers sync.WaitGroup
	defer readers.Wait()
	defer n.closeSockets()
	if err := n.open(); err != nil {
		return err
	}
	wctx, cancelWatch := context.WithCancel(context.Background())
	defer cancelWatch()
	netCh := make(chan NetEvent, 256)
	n.watchCtx, n.netCh = wctx, netCh
	if err := n.net.Watch(wctx, netCh); err != nil {
		return fmt.Errorf("vrrp: watch interfaces: %w", err)
	}
	pktCh := make(chan rxPacket, 256)
	for _, s := range n.sockets {
		readers.Add(1)
		go func() {
			defer readers.Done()
			n.read(wctx, s, pktCh)
		}()
	}
	filter := false
	for _, inst := range n.insts {
		n.log.Info("vrrp instance", zap.Stringer("instance", inst.m.ID()), zap.String("interface", inst.cfg.Interface),
			zap.Uint8("vrid", inst.cfg.VRID), zap.Uint8("priority", inst.cfg.Priority),
			zap.Duration("advert_interval", inst.cfg.AdvertInterval), zap.Stringer("checksum", inst.cfg.Checksum),
			zap.Bool("accept", inst.cfg.Accept))
		filter = filter || inst.noAccept()
	}
	n.dropped = map[netip.Addr]int{}
	if filter {
		n.openFilter()
		defer n.closeFilter()
	}

	now := n.clock.Now()
	n.initialFaults(now)
	n.do(now, n.set.Start(now))
	timer := n.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if n.dirty {
			n.snapshot()
		}
		n.armTimer(timer)
		select {
		case <-ctx.Done():
			now := n.clock.Now()
			n.do(now, n.set.Shutdown(now))
			n.snapshot()
			return nil
		case p := <-pktCh:
			n.receive(n.clock.Now(), p)
		case ev := <-netCh:
			n.netEvent(n.clock.Now(), ev)
			n.dirty = true
		case f := <-n.cmds:
			f(n.clock.Now())
			n.dirty = true
		case <-timer.C():
		}
		now := n.clock.Now()
		n.do(now, n.set.Timers(now))
		n.announceDue(now)
		if !n.rewatch.IsZero() && !now.Before(n.rewatch) {
			n.netEvent(now, NetEvent{Kind: WatchFailed, Err: errors.New("vrrp: retry")})
		}
	}
}

func (n *Node) armTimer(t Timer) {
	next := n.set.Deadline()
	for _, inst := range n.insts {
		if !inst.annNext.IsZero() && (next.IsZero() || inst.annNext.Before(next)) {
			next = inst.annNext
		}
	}
	if !n.rewatch.IsZero() && (next.IsZero() || n.rewatch.Before(next)) {
		next = n.rewatch
	}
	d := time.Hour
	if !next.IsZero() {
		d = max(next.Sub(n.clock.Now()), 0)
	}
	t.Reset(d)
}

// open resolves interfaces and opens one socket and announcer per interface and family.
func (n *Node) open() error {
	for _, m := range n.set.Machines() {
		cfg := m.Config()
		l, err := n.link(cfg.Interface)
		if err != nil {
			return err
		}
		key := sockKey{cfg.Interface, cfg.Family}
		s := n.sockets[key]
		if s == nil {
			conn, err := n.net.ListenVRRP(cfg.Interface, cfg.Family)
			if err != nil {
				return fmt.Errorf("vrrp: %v socket on %s: %w", cfg.Family, cfg.Interface, err)
			}
			s = &socket{key: key, conn: conn, byVRID: map[uint8]*instance{}}
			n.sockets[key] = s
		}
		inst := &instance{cfg: cfg, m: m, sock: s, vips: map[netip.Addr]netip.Prefix{}}
		for _, p := range cfg.VirtualIPs {
			inst.vips[p.Addr()] = p
		}
		inst.dsts = cfg.UnicastPeers
		if len(inst.dsts) == 0 {
			inst.dsts = []netip.Addr{GroupIPv4}
			if cfg.Family == IPv6 {
				inst.dsts = []netip.Addr{GroupIPv6}
			}
		}
		s.byVRID[cfg.VRID] = inst
		n.insts[m.ID()] = inst
		m.SetPrimary(n.primary(inst, l))
		n.tracks[cfg.Interface] = append(n.tracks[cfg.Interface], trackRef{id: m.ID(), own: true})
		for _, t := range cfg.TrackInterfaces {
			n.tracks[t.Name] = append(n.tracks[t.Name], trackRef{id: m.ID(), weight: t.Weight})
		}
	}
	return nil
}

func (n *Node) link(name string) (*Link, error) {
	l, err := n.net.Link(name)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %s: %w", name, err)
	}
	n.links[name] = &l
	return &l, nil
}

// primary returns the address advertisements of inst are sent from: the first IPv4
// address of the interface that is not one of its virtual addresses, or the IPv6
// link-local address.
func (n *Node) primary(inst *instance, l *Link) netip.Addr {
	if inst.cfg.Family == IPv6 {
		return l.Primary6
	}
	for _, a := range l.Addrs4 {
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

func (n *Node) closeSockets() {
	for _, s := range n.sockets {
		_ = s.conn.Close()
		if s.ann != nil {
			_ = s.ann.Close()
		}
	}
}

func (n *Node) read(ctx context.Context, s *socket, out chan<- rxPacket) {
	buf := make([]byte, 65536)
	for {
		nr, info, err := s.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			n.log.Warn("vrrp read", zap.String("interface", s.key.ifname), zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		p := rxPacket{sock: s, b: slices.Clone(buf[:nr]), info: info}
		select {
		case out <- p:
		case <-ctx.Done():
			return
		}
	}
}

// initialFaults applies the interface state found at start.
func (n *Node) initialFaults(now time.Time) {
	for name, refs := range n.tracks {
		up := false
		if l, ok := n.links[name]; ok {
			up = l.Up
		} else if l, err := n.net.Link(name); err == nil {
			n.links[name] = &l
			up = l.Up
		}
		if !up {
			n.log.Warn("interface down at start", zap.String("interface", name))
		}
		for _, r := range refs {
			n.applyTrack(now, name, r, up)
		}
	}
}

func (n *Node) applyTrack(now time.Time, ifname string, r trackRef, up bool) {
	if r.own || r.weight == 0 {
		n.do(now, n.set.SetFault(now, r.id, ifname, !up))
		return
	}
	d := 0
	if !up {
		d = -r.weight
	}
	for _, m := range n.set.Machines() {
		if m.ID() == r.id {
			n.do(now, n.set.sync(now, m, m.SetPriorityDelta(now, "track:"+ifname, d)))
		}
	}
}

func (n *Node) netEvent(now time.Time, ev NetEvent) {
	switch ev.Kind {
	case WatchFailed:
		n.log.Error("interface monitoring failed, resubscribing", zap.Error(ev.Err))
		if err := n.net.Watch(n.watchCtx, n.netCh); err != nil {
			n.log.Error("resubscribe to interface changes", zap.Error(err))
			n.rewatch = now.Add(time.Second)
			return
		}
		n.rewatch = time.Time{}
		// Changes may have been missed: read every tracked interface again.
		for name, refs := range n.tracks {
			l, err := n.net.Link(name)
			if err != nil {
				l = Link{Name: name}
			}
			n.links[name] = &l
			n.refreshPrimaries(name)
			for _, r := range refs {
				n.applyTrack(now, name, r, l.Up)
			}
		}
	case LinkChanged:
		old, known := n.links[ev.Ifname]
		if known && old.Up == ev.Up {
			return
		}
		if l, err := n.net.Link(ev.Ifname); err == nil {
			n.links[ev.Ifname] = &l
		} else if known {
			old.Up = ev.Up
		}
		n.refreshPrimaries(ev.Ifname)
		n.log.Info("interface state", zap.String("interface", ev.Ifname), zap.Bool("up", ev.Up))
		for _, r := range n.tracks[ev.Ifname] {
			n.applyTrack(now, ev.Ifname, r, ev.Up)
		}
	case AddressAdded:
		if _, err := n.link(ev.Ifname); err == nil {
			n.refreshPrimaries(ev.Ifname)
		}
	case AddressRemoved:
		if l, err := n.link(ev.Ifname); err == nil {
			_ = l
			n.refreshPrimaries(ev.Ifname)
		}
		for _, inst := range n.insts {
			if inst.cfg.Interface != ev.Ifname || inst.m.State() != Master {
				continue
			}
			p, ok := inst.vips[ev.Prefix.Addr()]
			if !ok {
				continue
			}
			n.log.Warn("virtual address removed while master, adding it back",
				zap.Stringer("instance", inst.m.ID()), zap.Stringer("address", p))
			if err := n.net.AddAddress(inst.cfg.Interface, p); err != nil {
				n.log.Error("re-add virtual address", zap.Stringer("address", p), zap.Error(err))
				continue
			}
			n.count(func(s *Stats) { s.VIPReasserts++ })
			n.announce(inst, p.Addr())
		}
	}
}

func (n *Node) refreshPrimaries(ifname string) {
	l := n.links[ifname]
	if l == nil {
		return
	}
	for _, inst := range n.insts {
		if inst.cfg.Interface == ifname {
			inst.m.SetPrimary(n.primary(inst, l))
		}
	}
}

// receive validates one packet and hands it to its machine. Every failure is
// counted by reason and changes nothing.
func (n *Node) receive(now time.Time, p rxPacket) {
	fam := p.sock.key.fam
	var inst *instance
	drop := func(r DropReason, err error) {
		n.count(func(s *Stats) {
			s.Drops[r]++
			if inst != nil {
				is := s.Instances[inst.m.ID()]
				is.Drops++
				s.Instances[inst.m.ID()] = is
			}
		})
		if ce := n.log.Check(zap.DebugLevel, "vrrp drop"); ce != nil {
			ce.Write(zap.String("interface", p.sock.key.ifname), zap.Stringer("src", p.info.Src),
				zap.Stringer("reason", r), zap.Error(err))
		}
	}
	if p.info.TTL != TTL {
		drop(DropTTL, fmt.Errorf("vrrp: ttl %d", p.info.TTL))
		return
	}
	adv, err := Parse(p.b, fam)
	if err != nil {
		drop(ReasonOf(err), err)
		return
	}
	inst = p.sock.byVRID[adv.VRID]
	if inst == nil {
		drop(DropVRID, fmt.Errorf("vrrp: vrid %d not configured", adv.VRID))
		return
	}
	if err := VerifyChecksum(p.b, p.info.Src, p.info.Dst, inst.cfg.Checksum); err != nil {
		drop(DropChecksum, err)
		return
	}
	if p.info.Src == inst.m.primary {
		drop(DropOwnPacket, nil)
		return
	}
	if len(inst.cfg.UnicastPeers) > 0 && !slices.Contains(inst.cfg.UnicastPeers, p.info.Src) {
		drop(DropPeer, fmt.Errorf("vrrp: %v is not a unicast peer", p.info.Src))
		return
	}
	if adv.MaxAdvertInterval == 0 {
		drop(DropInterval, errors.New("vrrp: max advert interval 0"))
		return
	}
	mismatch := !sameAddrs(adv.Addresses, inst.cfg.VirtualIPs)
	n.count(func(s *Stats) {
		s.AdvertsReceived++
		is := s.Instances[inst.m.ID()]
		is.AdvertsReceived++
		if mismatch {
			s.AddressMismatches++
			is.AddressMismatches++
		}
		s.Instances[inst.m.ID()] = is
	})
	if mismatch && !inst.mismatch {
		n.log.Warn("advertisement address list differs from ours",
			zap.Stringer("instance", inst.m.ID()), zap.Stringer("src", p.info.Src),
			zap.Any("theirs", adv.Addresses), zap.Any("ours", inst.cfg.VirtualIPs))
	}
	inst.mismatch = mismatch
	if adv.Priority != PriorityStop && inst.master != p.info.Src {
		inst.master = p.info.Src
		n.dirty = true
	}
	n.do(now, n.set.Receive(now, inst.m.ID(), p.info.Src, adv))
}

func sameAddrs(got []netip.Addr, want []netip.Prefix) bool {
	if len(got) != len(want) {
		return false
	}
	for _, p := range want {
		if !slices.Contains(got, p.Addr()) {
			return false
		}
	}
	return true
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
			n.sendAdvert(inst, a.Priority)
		case ActionBecomeMaster:
			n.becomeMaster(now, inst)
		case ActionLeaveMaster:
			inst.annLeft, inst.annNext = 0, time.Time{}
			for _, p := range inst.cfg.VirtualIPs {
				if err := n.net.DelAddress(inst.cfg.Interface, p); err != nil {
					n.log.Error("remove virtual address", zap.Stringer("instance", inst.m.ID()),
						zap.Stringer("address", p), zap.Error(err))
				}
			}
			n.filterVIPs(inst, false)
		case ActionTransition:
			n.transition(inst, a.Event)
		}
	}
}

func (n *Node) sendAdvert(inst *instance, prio uint8) {
	src := inst.m.primary
	adv := Advertisement{
		VRID:              inst.cfg.VRID,
		Priority:          prio,
		MaxAdvertInterval: uint16(inst.cfg.AdvertInterval / (10 * time.Millisecond)),
	}
	for _, p := range inst.cfg.VirtualIPs {
		adv.Addresses = append(adv.Addresses, p.Addr())
	}
	var err error
	if !src.IsValid() {
		err = fmt.Errorf("vrrp: no %v source address on %s", inst.cfg.Family, inst.cfg.Interface)
	}
	for _, dst := range inst.dsts {
		if err != nil {
			break
		}
		var b []byte
		if b, err = adv.Marshal(src, dst, inst.cfg.Checksum); err == nil {
			err = inst.sock.conn.WriteTo(b, src, dst)
		}
	}
	if err != nil {
		n.count(func(s *Stats) { s.SendErrors++ })
		if ce := n.log.Check(zap.DebugLevel, "send advertisement"); ce != nil {
			ce.Write(zap.Stringer("instance", inst.m.ID()), zap.Error(err))
		}
		return
	}
	n.count(func(s *Stats) {
		s.AdvertsSent++
		is := s.Instances[inst.m.ID()]
		is.AdvertsSent++
		s.Instances[inst.m.ID()] = is
	})
}

func (n *Node) becomeMaster(now time.Time, inst *instance) {
	// Drop before adding, so no packet to a virtual address is accepted in between.
	n.filterVIPs(inst, true)
	for _, p := range inst.cfg.VirtualIPs {
		if err := n.net.AddAddress(inst.cfg.Interface, p); err != nil {
			n.log.Error("add virtual address", zap.Stringer("instance", inst.m.ID()),
				zap.Stringer("address", p), zap.Error(err))
		}
	}
	for _, p := range inst.cfg.VirtualIPs {
		n.announce(inst, p.Addr())
	}
	lat := n.clock.Now().Sub(now)
	n.count(func(s *Stats) {
		is := s.Instances[inst.m.ID()]
		is.LastMasterLatency = lat
		s.Instances[inst.m.ID()] = is
	})
	inst.master = inst.m.primary
	inst.annLeft = inst.cfg.GARP.Count - 1
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
			n.announce(inst, p.Addr())
		}
		inst.annNext = time.Time{}
		if inst.annLeft > 0 {
			inst.annLeft--
		}
		if inst.annLeft > 0 {
			inst.annNext = now.Add(inst.cfg.GARP.Interval)
		} else if inst.cfg.GARP.Refresh > 0 {
			inst.annNext = now.Add(inst.cfg.GARP.Refresh)
		}
	}
}

func (n *Node) announce(inst *instance, a netip.Addr) {
	s := inst.sock
	if s.ann == nil {
		ann, err := n.net.Announcer(inst.cfg.Interface, inst.cfg.Family)
		if err != nil {
			n.log.Warn("open announcer", zap.String("interface", inst.cfg.Interface), zap.Error(err))
			return
		}
		s.ann = ann
	}
	if err := s.ann.Announce(a); err != nil {
		n.log.Warn("announce", zap.Stringer("address", a), zap.Error(err))
		return
	}
	n.count(func(s *Stats) { s.Announcements++ })
}

// noAccept says whether inst, as master, must not accept packets to its virtual
// addresses: RFC 5798 section 6.4.3 lets only the address owner or Accept_Mode True do so.
func (inst *instance) noAccept() bool {
	return !inst.cfg.Accept && inst.cfg.Priority != PriorityOwner
}

// openFilter installs the Accept_Mode filter. A failure is logged and counted, and
// the next master transition tries again.
func (n *Node) openFilter() {
	f, err := n.net.AcceptFilter()
	if err != nil {
		n.count(func(s *Stats) { s.FilterErrors++ })
		n.log.Error("install accept mode filter: virtual addresses of masters with accept off stay reachable",
			zap.Error(err))
		return
	}
	n.filter = f
	n.log.Info("accept mode filter installed: masters with accept off drop packets to their virtual addresses")
	// After a failed start, masters may already hold addresses to drop.
	for a, c := range n.dropped {
		if c > 0 {
			if err := f.Drop(a); err != nil {
				n.count(func(s *Stats) { s.FilterErrors++ })
				n.log.Error("accept mode filter: drop", zap.Stringer("address", a), zap.Error(err))
			}
		}
	}
}

func (n *Node) closeFilter() {
	if n.filter == nil {
		return
	}
	if err := n.filter.Close(); err != nil {
		n.count(func(s *Stats) { s.FilterErrors++ })
		n.log.Error("remove accept mode filter", zap.Error(err))
	}
	n.filter = nil
}

// filterVIPs starts (drop) or stops dropping packets to the virtual addresses of inst
// when it does not accept them. Errors are logged and counted: a master keeps its
// addresses either way.
func (n *Node) filterVIPs(inst *instance, drop bool) {
	if !inst.noAccept() {
		return
	}
	if n.filter == nil && drop {
		n.openFilter()
	}
	for _, p := range inst.cfg.VirtualIPs {
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
			n.count(func(s *Stats) { s.FilterErrors++ })
			n.log.Error("accept mode filter: "+op, zap.Stringer("instance", inst.m.ID()),
				zap.Stringer("address", a), zap.Error(err))
		}
	}
}

func (n *Node) transition(inst *instance, ev Event) {
	n.dirty = true
	n.count(func(s *Stats) {
		s.Transitions++
		is := s.Instances[inst.m.ID()]
		is.Transitions++
		s.Instances[inst.m.ID()] = is
	})
	n.log.Info("vrrp transition", zap.Stringer("instance", ev.Instance), zap.Uint8("vrid", ev.VRID),
		zap.Stringer("from", ev.From), zap.Stringer("to", ev.To), zap.Stringer("reason", ev.Reason),
		zap.String("detail", ev.Detail), zap.Uint8("priority", ev.Priority))
	for {
		select {
		case n.events <- ev:
			return
		default:
		}
		// Full: drop the oldest so the newest state is always delivered.
		select {
		case <-n.events:
			n.count(func(s *Stats) { s.EventsDropped++ })
		default:
		}
	}
}

func (n *Node) count(f func(*Stats)) {
	n.mu.Lock()
	f(&n.stats)
	n.mu.Unlock()
}

func (n *Node) snapshot() {
	n.dirty = false
	st := make([]InstanceStatus, 0, len(n.set.Machines()))
	for _, m := range n.set.Machines() {
		s := InstanceStatus{ID: m.ID(), VRID: m.Config().VRID, State: m.State(), Priority: m.Priority(), Faults: m.Faults()}
		if inst := n.insts[m.ID()]; inst != nil && m.State() != Initialize {
			s.Master = inst.master
			if m.State() == Master {
				s.Master = m.primary
			}
		}
		st = append(st, s)
	}
	n.mu.Lock()
	n.status = st
	n.mu.Unlock()
}
