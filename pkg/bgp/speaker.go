package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v4/pkg/server"
	"go.uber.org/zap"

	"github.com/seesawd/seesawd/pkg/clock"
)

// Peer is one router the Speaker announces to.
type Peer struct {
	Address netip.Addr
	ASN     uint32
	// Password turns on TCP MD5 signatures (RFC 2385).
	Password string
	// HoldTime is proposed in OPEN; 0 means no keepalives.
	HoldTime time.Duration
	// ConnectRetry is the interval between connection attempts (default 5s).
	ConnectRetry time.Duration
	// Port is the peer's port (default 179).
	Port uint16
	// Multihop is the TTL of an eBGP session to a peer not directly
	// connected; 0 is directly connected (TTL 1).
	Multihop uint8
}

// Config configures a Speaker.
type Config struct {
	ASN uint32
	// RouterID is an IPv4 address, required.
	RouterID netip.Addr
	// ListenPort, when non-zero, accepts the peers' connections there too.
	ListenPort int
	Peers      []Peer
	// Communities are attached to every announced route.
	Communities []uint32
	// GracefulRestart advertises the capability (RFC 4724); off, a
	// stopped speaker's routes go at once.
	GracefulRestart bool
	// LoopTimeout withdraws every route when Ping has not been called for
	// that long (after the first Ping or Announce); 0 turns the guard off.
	LoopTimeout time.Duration
	// MaxBackoff bounds how long a peer whose sessions keep failing is
	// held down between attempts (default 60s).
	MaxBackoff time.Duration
	// Logger defaults to zap.NewNop(); Clock to the system clock. Update
	// ignores both.
	Logger *zap.Logger
	Clock  clock.Clock
}

// Errors.
var (
	ErrStopped = errors.New("bgp: stopped")
	ErrConfig  = errors.New("bgp: invalid configuration")
)

const (
	defaultConnectRetry = 5 * time.Second
	defaultMaxBackoff   = time.Minute
	// stableAfter is how long a session must stay up for its failures to
	// be forgiven.
	stableAfter = 30 * time.Second
	// statusEvery refreshes the counters in Status.
	statusEvery = time.Second
	// flushWait bounds how long Stop waits for withdrawals to leave.
	flushWait = time.Second
)

func (c *Config) check() error {
	var errs []error
	if c.ASN == 0 {
		errs = append(errs, errors.New("no AS number"))
	}
	if !c.RouterID.Is4() {
		errs = append(errs, fmt.Errorf("router ID %v is not IPv4", c.RouterID))
	}
	if c.ListenPort < 0 || c.ListenPort > 65535 {
		errs = append(errs, fmt.Errorf("listen port %d", c.ListenPort))
	}
	seen := map[netip.Addr]bool{}
	for _, p := range c.Peers {
		switch {
		case !p.Address.IsValid():
			errs = append(errs, errors.New("a peer without an address"))
		case seen[p.Address.Unmap()]:
			errs = append(errs, fmt.Errorf("peer %v twice", p.Address))
		case p.ASN == 0:
			errs = append(errs, fmt.Errorf("peer %v has no AS number", p.Address))
		case p.HoldTime != 0 && p.HoldTime < 3*time.Second:
			errs = append(errs, fmt.Errorf("peer %v: hold time %v below 3s", p.Address, p.HoldTime))
		}
		seen[p.Address.Unmap()] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxBackoff == 0 {
		c.MaxBackoff = defaultMaxBackoff
	}
	c.Peers = slices.Clone(c.Peers)
	for i := range c.Peers {
		p := &c.Peers[i]
		p.Address = p.Address.Unmap()
		if p.ConnectRetry == 0 {
			p.ConnectRetry = defaultConnectRetry
		}
		if p.Port == 0 {
			p.Port = 179
		}
	}
	c.Communities = slices.Clone(c.Communities)
	return c
}

// Speaker announces VIPs to BGP peers. Its methods never block on the
// network; Run does the work.
type Speaker struct {
	log   *zap.Logger
	clock clock.Clock
	kick  chan struct{}
	done  chan struct{}

	mu        sync.Mutex // guards the requests below
	requested []netip.Addr
	drain     bool
	update    *Config

	lastPing atomic.Int64 // Clock time, unix ns; 0 before the first
	stalled  atomic.Bool
	status   atomic.Pointer[Status]
	started  atomic.Bool

	// Owned by Run's goroutine.
	cfg       Config
	srv       *server.BgpServer
	srvCancel context.CancelFunc
	announced map[netip.Prefix]bool
	peers     map[netip.Addr]*peerState
	events    chan peerEvent
	stopping  bool
}

// New returns a Speaker for cfg; nothing runs until Run.
func New(cfg *Config) (*Speaker, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: no configuration", ErrConfig)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	s := &Speaker{
		log:       c.Logger,
		clock:     c.Clock,
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		cfg:       c,
		announced: map[netip.Prefix]bool{},
		peers:     map[netip.Addr]*peerState{},
		events:    make(chan peerEvent, 256),
	}
	s.status.Store(&Status{ASN: c.ASN, RouterID: c.RouterID})
	return s, nil
}

func (s *Speaker) nudge() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Announce sets the VIPs to announce, replacing the previous set. It
// never blocks: the latest set wins. Being called is a sign of life too,
// as Ping.
func (s *Speaker) Announce(vips []netip.Addr) {
	v := make([]netip.Addr, 0, len(vips))
	for _, a := range vips {
		if a.IsValid() {
			v = append(v, a.Unmap())
		}
	}
	slices.SortFunc(v, netip.Addr.Compare)
	v = slices.Compact(v)
	s.mu.Lock()
	s.requested = v
	s.mu.Unlock()
	s.Ping()
	s.nudge()
}

// Ping tells the Speaker the engine's loop is alive. It never blocks.
func (s *Speaker) Ping() {
	s.lastPing.Store(s.clock.Now().UnixNano())
	if s.stalled.Load() {
		s.nudge()
	}
}

// SetDrain withdraws every route (on) or restores them; established
// connections are none of BGP's business and keep being served.
func (s *Speaker) SetDrain(on bool) {
	s.mu.Lock()
	s.drain = on
	s.mu.Unlock()
	s.nudge()
}

// Update applies a new configuration: peers added, removed or changed are
// reconnected, others keep their sessions; a new AS, router ID, listen
// port or graceful-restart setting restarts every session.
func (s *Speaker) Update(cfg *Config) error {
	if cfg == nil {
		return fmt.Errorf("%w: no configuration", ErrConfig)
	}
	if err := cfg.check(); err != nil {
		return err
	}
	c := cfg.withDefaults()
	s.mu.Lock()
	s.update = &c
	s.mu.Unlock()
	s.nudge()
	return nil
}

// Status returns the latest snapshot; it never blocks.
func (s *Speaker) Status() *Status { return s.status.Load() }

// Done is closed when Run has returned: every route was withdrawn and the
// sessions closed.
func (s *Speaker) Done() <-chan struct{} { return s.done }

// Run starts the BGP speaker and serves until ctx ends; then it withdraws
// every route, closes the sessions and returns.
func (s *Speaker) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("bgp: Run called twice")
	}
	defer close(s.done)
	if err := s.startServer(); err != nil {
		return err
	}
	s.publish()
	timer := s.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.armTimer(timer)
		select {
		case <-ctx.Done():
			s.stop()
			return nil
		case <-s.kick:
		case ev := <-s.events:
			s.peerEvent(ev)
		case <-timer.C():
		}
		s.applyUpdate()
		s.watchdog()
		s.backoffs()
		s.sync()
		s.publish()
	}
}

// armTimer wakes the loop for the watchdog, a held-down peer and the
// status refresh, whichever is first.
func (s *Speaker) armTimer(t clock.Timer) {
	now := s.clock.Now()
	next := now.Add(statusEvery)
	if d, ok := s.deadline(); ok && !s.stalled.Load() && d.Before(next) {
		next = d
	}
	for _, p := range s.peers {
		if !p.heldUntil.IsZero() && p.heldUntil.Before(next) {
			next = p.heldUntil
		}
	}
	t.Reset(max(next.Sub(now), 0))
}

// deadline is when the engine's loop counts as stalled.
func (s *Speaker) deadline() (time.Time, bool) {
	last := s.lastPing.Load()
	if s.cfg.LoopTimeout <= 0 || last == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, last).Add(s.cfg.LoopTimeout), true
}

// watchdog withdraws everything while the engine's loop is silent and
// restores it when it pings again.
func (s *Speaker) watchdog() {
	d, ok := s.deadline()
	now := s.clock.Now()
	late := ok && !now.Before(d)
	if late == s.stalled.Load() {
		return
	}
	s.stalled.Store(late)
	if late {
		s.log.Error("the engine's loop has not run for loop_timeout: withdrawing every route (a hung daemon must not attract traffic)",
			zap.Duration("loop_timeout", s.cfg.LoopTimeout), zap.Duration("silent_for", now.Sub(d.Add(-s.cfg.LoopTimeout))))
	} else {
		s.log.Warn("the engine's loop runs again: announcing", zap.Duration("loop_timeout", s.cfg.LoopTimeout))
	}
}

// want returns the prefixes to announce now, and why the requested ones
// are withheld.
func (s *Speaker) want() (map[netip.Prefix]bool, string) {
	s.mu.Lock()
	req, drain := s.requested, s.drain
	s.mu.Unlock()
	switch {
	case s.stopping:
		return nil, "stopping"
	case drain:
		return nil, "drained"
	case s.stalled.Load():
		return nil, "engine loop stalled"
	}
	out := make(map[netip.Prefix]bool, len(req))
	for _, a := range req {
		out[netip.PrefixFrom(a, a.BitLen())] = true
	}
	return out, ""
}

// sync brings GoBGP's RIB to the wanted set.
func (s *Speaker) sync() {
	want, why := s.want()
	var add, del []netip.Prefix
	for p := range want {
		if !s.announced[p] {
			add = append(add, p)
		}
	}
	for p := range s.announced {
		if !want[p] {
			del = append(del, p)
		}
	}
	if len(add) == 0 && len(del) == 0 {
		return
	}
	slices.SortFunc(add, comparePrefix)
	slices.SortFunc(del, comparePrefix)
	if len(del) > 0 {
		if err := s.srv.DeletePath(withdrawRequest(del, s.cfg.Communities)); err != nil {
			s.log.Error("withdraw", zap.Stringers("prefixes", del), zap.Error(err))
		} else {
			for _, p := range del {
				delete(s.announced, p)
			}
			s.log.Info("withdrawn", zap.Stringers("prefixes", del), zap.String("reason", orDefault(why, "services below quorum")))
		}
	}
	if len(add) > 0 {
		if _, err := s.srv.AddPath(announceRequest(add, s.cfg.Communities)); err != nil {
			// Tried again at the next turn of the loop (a second at most).
			s.log.Error("announce", zap.Stringers("prefixes", add), zap.Error(err))
		} else {
			for _, p := range add {
				s.announced[p] = true
			}
			s.log.Info("announced", zap.Stringers("prefixes", add))
		}
	}
}

// applyUpdate takes a configuration given to Update.
func (s *Speaker) applyUpdate() {
	s.mu.Lock()
	c := s.update
	s.update = nil
	s.mu.Unlock()
	if c == nil {
		return
	}
	old := s.cfg
	c.Logger, c.Clock = old.Logger, old.Clock
	s.cfg = *c
	if old.ASN != c.ASN || old.RouterID != c.RouterID || old.ListenPort != c.ListenPort || old.GracefulRestart != c.GracefulRestart {
		s.log.Warn("BGP identity changed: restarting every session", zap.Uint32("asn", c.ASN), zap.Stringer("router_id", c.RouterID))
		s.stopServer()
		if err := s.startServer(); err != nil {
			s.log.Error("restart BGP", zap.Error(err))
		}
		return
	}
	s.updatePeers(old.Peers, c.Peers)
	if !slices.Equal(old.Communities, c.Communities) && len(s.announced) > 0 {
		// AddPath on an announced prefix replaces its attributes.
		var all []netip.Prefix
		for p := range s.announced {
			all = append(all, p)
		}
		slices.SortFunc(all, comparePrefix)
		if _, err := s.srv.AddPath(announceRequest(all, c.Communities)); err != nil {
			s.log.Error("re-announce with new communities", zap.Error(err))
		}
	}
}

// startServer starts GoBGP with the current configuration and every peer;
// the announced set starts empty.
func (s *Speaker) startServer() error {
	lvl := &slog.LevelVar{}
	lvl.Set(slog.LevelWarn)
	glog := s.log.Named("gobgp").WithOptions(zap.IncreaseLevel(zap.WarnLevel))
	srv := server.NewBgpServer(server.LoggerOption(slog.New(&zapHandler{log: glog}), lvl))
	go srv.Serve()
	ctx, cancel := context.WithCancel(context.Background())
	if err := startBGP(ctx, srv, &s.cfg); err != nil {
		cancel()
		srv.Stop()
		return fmt.Errorf("bgp: start: %w", err)
	}
	err := srv.WatchEvent(ctx, server.WatchEventMessageCallbacks{OnPeerUpdate: s.onPeerUpdate}, server.WatchPeer())
	if err != nil {
		cancel()
		srv.Stop()
		return fmt.Errorf("bgp: watch peers: %w", err)
	}
	s.srv, s.srvCancel = srv, cancel
	clear(s.announced)
	clear(s.peers)
	s.updatePeers(nil, s.cfg.Peers)
	s.log.Info("BGP speaker started", zap.Uint32("asn", s.cfg.ASN), zap.Stringer("router_id", s.cfg.RouterID),
		zap.Int("peers", len(s.cfg.Peers)), zap.Int("listen_port", s.cfg.ListenPort))
	return nil
}

func (s *Speaker) stopServer() {
	if s.srv == nil {
		return
	}
	s.srvCancel()
	s.srv.Stop()
	s.srv = nil
}

// stop withdraws every route, waits (a little) for the withdrawals to
// leave, and closes the sessions.
func (s *Speaker) stop() {
	s.stopping = true
	if s.srv == nil {
		return
	}
	start := time.Now()
	n := len(s.announced)
	s.sync()
	s.flush()
	s.stopServer()
	s.publish()
	s.log.Info("BGP stopped: routes withdrawn, sessions closed", zap.Int("withdrawn", n), zap.Duration("took", time.Since(start)))
}

// updatePeers adds, removes and replaces peers from old to new.
func (s *Speaker) updatePeers(old, new []Peer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	before := map[netip.Addr]Peer{}
	for _, p := range old {
		before[p.Address] = p
	}
	after := map[netip.Addr]bool{}
	for _, p := range new {
		after[p.Address] = true
		if o, ok := before[p.Address]; ok && o == p {
			continue
		}
		if _, ok := before[p.Address]; ok {
			if err := deletePeer(ctx, s.srv, p.Address); err != nil {
				s.log.Error("remove changed peer", zap.Stringer("peer", p.Address), zap.Error(err))
			}
		}
		if err := addPeer(ctx, s.srv, &s.cfg, p); err != nil {
			s.log.Error("add peer", zap.Stringer("peer", p.Address), zap.Error(err))
			continue
		}
		s.peers[p.Address] = &peerState{cfg: p, state: "idle", since: s.clock.Now()}
	}
	for a := range before {
		if !after[a] {
			if err := deletePeer(ctx, s.srv, a); err != nil {
				s.log.Error("remove peer", zap.Stringer("peer", a), zap.Error(err))
			}
			delete(s.peers, a)
		}
	}
}

func comparePrefix(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
