// Package bgptest runs a BGP router for tests: a second GoBGP on a
// loopback address that accepts a speaker's routes, shows its table and can
// originate routes of its own.
package bgptest

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// ASN is the router's AS number.
const ASN = 65000

// Router is a GoBGP router listening on a loopback address.
type Router struct {
	t    testing.TB
	srv  *server.BgpServer
	Addr netip.Addr
	Port uint16
}

// Route is one path in the router's table.
type Route struct {
	Prefix      netip.Prefix
	NextHop     netip.Addr
	Communities []uint32
}

// New starts a router listening on addr (127.0.0.2, ::1) that expects a
// speaker connecting from neighbor with AS peerASN (and password, when
// set: TCP MD5). It is stopped at the test's cleanup. The test is skipped
// when addr cannot be bound.
func New(t testing.TB, addr, neighbor string, peerASN uint32, password string) *Router {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Skipf("no loopback %s: %v", addr, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := server.NewBgpServer()
	go srv.Serve()
	t.Cleanup(srv.Stop)
	ctx := context.Background()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: ASN, RouterId: "192.0.2.254",
		ListenPort: int32(port), ListenAddresses: []string{addr}}}); err != nil {
		t.Fatal(err)
	}
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if netip.MustParseAddr(neighbor).Is6() {
		fam.Afi = api.Family_AFI_IP6
	}
	if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: neighbor, PeerAsn: peerASN, AuthPassword: password},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 3, KeepaliveInterval: 1}},
		Transport: &api.Transport{PassiveMode: true},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
	}}); err != nil {
		t.Fatal(err)
	}
	return &Router{t: t, srv: srv, Addr: netip.MustParseAddr(addr), Port: uint16(port)}
}

// Routes returns the router's table, sorted by prefix.
func (r *Router) Routes() []Route {
	var out []Route
	for _, fam := range []bgppkt.Family{bgppkt.RF_IPv4_UC, bgppkt.RF_IPv6_UC} {
		_ = r.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam},
			func(nlri bgppkt.NLRI, paths []*apiutil.Path) {
				for _, p := range paths {
					rt := Route{Prefix: netip.MustParsePrefix(nlri.String())}
					for _, a := range p.Attrs {
						switch a := a.(type) {
						case *bgppkt.PathAttributeNextHop:
							rt.NextHop = a.Value
						case *bgppkt.PathAttributeMpReachNLRI:
							rt.NextHop = a.Nexthop
						case *bgppkt.PathAttributeCommunities:
							rt.Communities = a.Value
						}
					}
					out = append(out, rt)
				}
			})
	}
	slices.SortFunc(out, func(a, b Route) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}

// Prefixes returns the prefixes of the table, sorted.
func (r *Router) Prefixes() []string {
	var out []string
	for _, rt := range r.Routes() {
		out = append(out, rt.Prefix.String())
	}
	return out
}

// WaitPrefixes waits until the table holds exactly want (sorted), failing
// the test after timeout.
func (r *Router) WaitPrefixes(what string, timeout time.Duration, want ...string) {
	r.t.Helper()
	start := time.Now()
	for !slices.Equal(r.Prefixes(), want) {
		if time.Since(start) > timeout {
			r.t.Fatalf("timed out after %v waiting for %s: the router has %v, want %v", timeout, what, r.Prefixes(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Originate makes the router send prefix (IPv4) to its peers.
func (r *Router) Originate(prefix string) {
	r.t.Helper()
	p := netip.MustParsePrefix(prefix)
	nlri, err := bgppkt.NewIPAddrPrefix(p)
	if err != nil {
		r.t.Fatal(err)
	}
	nh, _ := bgppkt.NewPathAttributeNextHop(r.Addr)
	attrs := []bgppkt.PathAttributeInterface{bgppkt.NewPathAttributeOrigin(bgppkt.BGP_ORIGIN_ATTR_TYPE_IGP), nh}
	if _, err := r.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{{Family: bgppkt.RF_IPv4_UC, Nlri: nlri, Attrs: attrs}}}); err != nil {
		r.t.Fatal(err)
	}
}
