package bgp

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// This file is the whole translation between the Speaker and GoBGP's API.

// startBGP starts the global instance and installs the import policy
// that makes seesawd a speaker only.
func startBGP(ctx context.Context, srv *server.BgpServer, c *Config) error {
	port := int32(-1) // GoBGP's "do not listen"
	if c.ListenPort != 0 {
		port = int32(c.ListenPort)
	}
	g := &api.Global{Asn: c.ASN, RouterId: c.RouterID.String(), ListenPort: port}
	if c.GracefulRestart {
		g.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: 120}
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: g}); err != nil {
		return err
	}
	// Routes learned from peers are rejected before any RIB: seesawd
	// originates VIPs and must never route, nor hold a full table. The
	// global import policy sees our own paths too, so those are accepted
	// by route type.
	const name = "seesawd-originate-only"
	err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: &api.Policy{Name: name, Statements: []*api.Statement{{
		Name:       name + "-local",
		Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
	}}}})
	if err != nil {
		return err
	}
	return srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name:          "global",
		Direction:     api.PolicyDirection_POLICY_DIRECTION_IMPORT,
		Policies:      []*api.Policy{{Name: name}},
		DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
	}})
}

func familyOf(a netip.Addr) *api.Family {
	if a.Is4() {
		return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
}

func addPeer(ctx context.Context, srv *server.BgpServer, c *Config, p Peer) error {
	secs := func(d time.Duration) uint64 { return uint64(d / time.Second) }
	peer := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: secs(p.HoldTime), KeepaliveInterval: secs(p.HoldTime / 3), ConnectRetry: secs(p.ConnectRetry),
			// Withdrawals and announcements go at once, not batched
			// for the default 30s (eBGP) of RFC 4271's MRAI.
			MinimumAdvertisementInterval: 0,
			IdleHoldTimeAfterReset:       secs(p.ConnectRetry),
		}},
		Transport: &api.Transport{RemotePort: uint32(p.Port)},
		// The family of the peer's address: a VIP goes to the peers of
		// its own family, with the session's local address as next hop.
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: familyOf(p.Address), Enabled: true}}},
	}
	if p.Multihop > 0 {
		peer.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.Multihop)}
	}
	if c.GracefulRestart {
		peer.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: 120}
	}
	return srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peer})
}

func deletePeer(ctx context.Context, srv *server.BgpServer, a netip.Addr) error {
	return srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()})
}

// paths returns GoBGP paths for prefixes: origin IGP, an unspecified next
// hop (GoBGP puts the session's local address there, for eBGP and iBGP
// alike) and the communities.
func paths(prefixes []netip.Prefix, communities []uint32) []*apiutil.Path {
	out := make([]*apiutil.Path, 0, len(prefixes))
	for _, p := range prefixes {
		nlri, err := bgppkt.NewIPAddrPrefix(p)
		if err != nil {
			continue
		}
		attrs := []bgppkt.PathAttributeInterface{bgppkt.NewPathAttributeOrigin(bgppkt.BGP_ORIGIN_ATTR_TYPE_IGP)}
		fam := bgppkt.RF_IPv4_UC
		if p.Addr().Is4() {
			nh, _ := bgppkt.NewPathAttributeNextHop(netip.IPv4Unspecified())
			attrs = append(attrs, nh)
		} else {
			fam = bgppkt.RF_IPv6_UC
			mp, _ := bgppkt.NewPathAttributeMpReachNLRI(fam, []bgppkt.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
			attrs = append(attrs, mp)
		}
		if len(communities) > 0 {
			attrs = append(attrs, bgppkt.NewPathAttributeCommunities(communities))
		}
		out = append(out, &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs})
	}
	return out
}

func announceRequest(prefixes []netip.Prefix, communities []uint32) apiutil.AddPathRequest {
	return apiutil.AddPathRequest{Paths: paths(prefixes, communities)}
}

func withdrawRequest(prefixes []netip.Prefix, communities []uint32) apiutil.DeletePathRequest {
	return apiutil.DeletePathRequest{Paths: paths(prefixes, communities)}
}

// peerEvent is a session state change as GoBGP reports it.
type peerEvent struct {
	addr   netip.Addr
	state  bgppkt.FSMState
	reason api.PeerState_DisconnectReason
	msg    string
	admin  api.PeerState_AdminState
	at     time.Time
}

// onPeerUpdate runs on GoBGP's watcher goroutine; the Speaker's loop
// handles the event. If the loop is gone (stopping), the event is dropped.
func (s *Speaker) onPeerUpdate(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	st := ev.Peer.State
	pe := peerEvent{addr: ev.Peer.Conf.NeighborAddress.Unmap(), state: st.SessionState, reason: st.DisconnectReason,
		msg: st.DisconnectMessage, admin: st.AdminState, at: at}
	select {
	case s.events <- pe:
	case <-s.done:
	}
}

// peerCounters are what ListPeer adds to the events: prefixes sent and
// received, and the output queue.
type peerCounters struct {
	sent, received uint64
	outQ           uint32
}

func listPeers(ctx context.Context, srv *server.BgpServer) map[netip.Addr]peerCounters {
	out := map[netip.Addr]peerCounters{}
	_ = srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		a, err := netip.ParseAddr(p.GetConf().GetNeighborAddress())
		if err != nil {
			return
		}
		var c peerCounters
		for _, af := range p.GetAfiSafis() {
			c.sent += af.GetState().GetAdvertised()
			c.received += af.GetState().GetReceived()
		}
		c.outQ = p.GetState().GetQueues().GetOutput()
		out[a.Unmap()] = c
	})
	return out
}

// flush waits, at most flushWait, until GoBGP has nothing queued for any
// peer: withdrawals made just before a stop reach the routers.
func (s *Speaker) flush() {
	deadline := time.Now().Add(flushWait)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), flushWait)
		queued := uint32(0)
		for _, c := range listPeers(ctx, s.srv) {
			queued += c.outQ
		}
		cancel()
		if queued == 0 {
			return
		}
		t := time.NewTimer(10 * time.Millisecond)
		<-t.C
	}
}

func stateName(st bgppkt.FSMState) string {
	switch st {
	case bgppkt.BGP_FSM_IDLE:
		return "idle"
	case bgppkt.BGP_FSM_CONNECT:
		return "connect"
	case bgppkt.BGP_FSM_ACTIVE:
		return "active"
	case bgppkt.BGP_FSM_OPENSENT:
		return "opensent"
	case bgppkt.BGP_FSM_OPENCONFIRM:
		return "openconfirm"
	case bgppkt.BGP_FSM_ESTABLISHED:
		return "established"
	}
	return "state" + strconv.Itoa(int(st))
}

func disablePeer(ctx context.Context, srv *server.BgpServer, a netip.Addr, why string) error {
	return srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: a.String(), Communication: why})
}

func enablePeer(ctx context.Context, srv *server.BgpServer, a netip.Addr) error {
	return srv.EnablePeer(ctx, &api.EnablePeerRequest{Address: a.String()})
}
