package bgp

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/osrg/gobgp/v4/api"
	bgppkt "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"go.uber.org/zap"
)

// Status is a snapshot of the Speaker for seesawctl and metrics. It is
// immutable once published.
type Status struct {
	Time     time.Time
	ASN      uint32
	RouterID netip.Addr
	Peers    []PeerStatus
	// Announced are the prefixes in the speaker's table: every established
	// peer of their family has been sent them.
	Announced []netip.Prefix
	// Requested are the VIPs the engine asks for.
	Requested []netip.Addr
	// Withheld says why Requested are not announced: "drained", "engine
	// loop stalled", "stopping", or "" when they are.
	Withheld string
}

// PeerStatus is one session.
type PeerStatus struct {
	Address netip.Addr
	ASN     uint32
	// State is idle, connect, active, opensent, openconfirm or established.
	State string
	// Since is when the session entered State: its uptime once established.
	Since time.Time
	// PrefixesSent counts the routes the peer has from us; PrefixesReceived
	// the routes it sent, every one rejected by the import policy.
	PrefixesSent     uint64
	PrefixesReceived uint64
	// Flaps counts sessions that went down after being established.
	Flaps int
	// LastError is why the last session ended or failed to open.
	LastError string
	// HeldUntil, when set, is when a peer held down by the backoff is
	// tried again.
	HeldUntil time.Time
}

// peerState is what the Speaker's loop knows of a peer.
type peerState struct {
	cfg       Peer
	state     string
	since     time.Time
	upSince   time.Time // zero unless established
	fails     int       // consecutive sessions that failed or did not last
	heldUntil time.Time
	flaps     int
	lastErr   string
	counters  peerCounters
}

// peerEvent applies a session change, and holds down a peer whose
// sessions keep failing.
func (s *Speaker) peerEvent(ev peerEvent) {
	p := s.peers[ev.addr]
	if p == nil {
		return // a peer removed since
	}
	now := s.clock.Now()
	name := stateName(ev.state)
	if name == p.state {
		return
	}
	prev := p.state
	p.state, p.since = name, now
	fields := []zap.Field{zap.Stringer("peer", ev.addr), zap.Uint32("asn", p.cfg.ASN), zap.String("from", prev), zap.String("to", name)}
	if ev.state == bgppkt.BGP_FSM_ESTABLISHED {
		p.upSince = now
		s.log.Info("BGP session established", fields...)
		return
	}
	if ev.reason == api.PeerState_DISCONNECT_REASON_ADMIN_DOWN || !p.heldUntil.IsZero() {
		return // our own hold-down
	}
	failed := prev == "established" || prev == "opensent" || prev == "openconfirm"
	if !failed {
		s.log.Debug("BGP session state", fields...)
		return
	}
	if ev.msg != "" {
		p.lastErr = ev.msg
		fields = append(fields, zap.String("reason", ev.msg))
	}
	if prev == "established" {
		p.flaps++
		if now.Sub(p.upSince) >= stableAfter {
			p.fails = 0
		}
	}
	p.upSince = time.Time{}
	p.fails++
	if p.fails < 2 {
		s.log.Warn("BGP session down; retrying", fields...)
		return
	}
	// Exponential from connect_retry: 5s, 10s, 20s, ... up to MaxBackoff.
	wait := min(p.cfg.ConnectRetry<<min(p.fails-2, 16), s.cfg.MaxBackoff)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := disablePeer(ctx, s.srv, ev.addr, "seesawd: backing off after repeated failures"); err != nil {
		s.log.Error("hold down peer", append(fields, zap.Error(err))...)
		return
	}
	p.heldUntil = now.Add(wait)
	s.log.Warn("BGP session keeps failing; holding the peer down", append(fields, zap.Int("failures", p.fails), zap.Duration("retry_in", wait))...)
}

// backoffs re-enables the peers whose hold-down is over.
func (s *Speaker) backoffs() {
	now := s.clock.Now()
	for a, p := range s.peers {
		if p.heldUntil.IsZero() || now.Before(p.heldUntil) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := enablePeer(ctx, s.srv, a)
		cancel()
		if err != nil {
			s.log.Error("re-enable peer", zap.Stringer("peer", a), zap.Error(err))
			p.heldUntil = now.Add(p.cfg.ConnectRetry)
			continue
		}
		p.heldUntil = time.Time{}
		s.log.Info("retrying a held-down BGP peer", zap.Stringer("peer", a), zap.Int("failures", p.fails))
	}
}

// publish rebuilds the snapshot, with GoBGP's counters.
func (s *Speaker) publish() {
	out := &Status{Time: s.clock.Now(), ASN: s.cfg.ASN, RouterID: s.cfg.RouterID}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		counters := listPeers(ctx, s.srv)
		cancel()
		for a, c := range counters {
			if p := s.peers[a]; p != nil {
				p.counters = c
			}
		}
	}
	for a, p := range s.peers {
		ps := PeerStatus{Address: a, ASN: p.cfg.ASN, State: p.state, Since: p.since, Flaps: p.flaps,
			LastError: p.lastErr, HeldUntil: p.heldUntil}
		if s.srv != nil {
			ps.PrefixesSent, ps.PrefixesReceived = p.counters.sent, p.counters.received
		}
		out.Peers = append(out.Peers, ps)
	}
	slices.SortFunc(out.Peers, func(a, b PeerStatus) int { return a.Address.Compare(b.Address) })
	for p := range s.announced {
		out.Announced = append(out.Announced, p)
	}
	slices.SortFunc(out.Announced, comparePrefix)
	s.mu.Lock()
	out.Requested = slices.Clone(s.requested)
	s.mu.Unlock()
	_, out.Withheld = s.want()
	s.status.Store(out)
}
