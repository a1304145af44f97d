package bgp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"go.uber.org/zap/zaptest"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/pkg/bgp/bgptest"
	"github.com/seesawd/seesawd/pkg/clock"
)

const ourASN = 65001

func newRouter(t *testing.T, addr, neighbor string, peerASN uint32, password string) *bgptest.Router {
	return bgptest.New(t, addr, neighbor, peerASN, password)
}

func peerOf(r *bgptest.Router) Peer {
	return Peer{Address: r.Addr, ASN: bgptest.ASN, HoldTime: 3 * time.Second, ConnectRetry: time.Second, Port: r.Port}
}

// run starts a speaker and stops it at cleanup.
func run(t *testing.T, cfg *Config) *Speaker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

func waitEstablished(t *testing.T, s *Speaker) {
	t.Helper()
	testenv.WaitFor(t, "the session to establish", 15*time.Second, func() bool {
		st := s.Status()
		return len(st.Peers) > 0 && st.Peers[0].State == "established"
	})
}

func TestAnnounceAndWithdraw(t *testing.T) {
	r := newRouter(t, "127.0.0.2", "127.0.0.1", ourASN, "")
	s := run(t, &Config{ASN: ourASN, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{peerOf(r)},
		Communities: []uint32{ourASN<<16 | 100}})
	waitEstablished(t, s)
	s.Announce([]netip.Addr{netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("198.51.100.11"), netip.MustParseAddr("2001:db8::10")})
	// The IPv6 VIP has no IPv6 peer: it is in the table, sent to nobody.
	r.WaitPrefixes("both IPv4 VIPs at the router", 15*time.Second, "198.51.100.10/32", "198.51.100.11/32")
	got := r.Routes()[0]
	if got.NextHop != netip.MustParseAddr("127.0.0.1") || !slices.Equal(got.Communities, []uint32{ourASN<<16 | 100}) {
		t.Errorf("route = %+v, want next hop 127.0.0.1 (the session's address) and community 65001:100", got)
	}
	testenv.WaitFor(t, "the status to count 2 prefixes sent", 5*time.Second, func() bool {
		st := s.Status()
		return len(st.Announced) == 3 && st.Peers[0].PrefixesSent == 2 && st.Withheld == ""
	})
	s.Announce([]netip.Addr{netip.MustParseAddr("198.51.100.11")})
	r.WaitPrefixes("one VIP withdrawn", 15*time.Second, "198.51.100.11/32")
	s.Announce(nil)
	r.WaitPrefixes("every VIP withdrawn", 15*time.Second)
}

func TestIPv6PeerGetsIPv6VIPs(t *testing.T) {
	r := newRouter(t, "::1", "::1", ourASN, "")
	s := run(t, &Config{ASN: ourASN, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{peerOf(r)}})
	s.Announce([]netip.Addr{netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("2001:db8::10")})
	r.WaitPrefixes("the IPv6 VIP alone at an IPv6 router", 15*time.Second, "2001:db8::10/128")
	if nh := r.Routes()[0].NextHop; nh != netip.MustParseAddr("::1") {
		t.Errorf("next hop %v, want ::1", nh)
	}
}

func TestRoutesFromPeersAreRejected(t *testing.T) {
	r := newRouter(t, "127.0.0.2", "127.0.0.1", ourASN, "")
	r.Originate("10.9.0.0/16")
	s := run(t, &Config{ASN: ourASN, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{peerOf(r)}})
	testenv.WaitFor(t, "the router's route to arrive", 15*time.Second, func() bool {
		st := s.Status()
		return len(st.Peers) == 1 && st.Peers[0].PrefixesReceived == 1
	})
	// The status was published after s.srv was set: reading it is safe.
	var rib []string
	for _, fam := range []bgppkt.Family{bgppkt.RF_IPv4_UC, bgppkt.RF_IPv6_UC} {
		err := s.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam},
			func(nlri bgppkt.NLRI, _ []*apiutil.Path) { rib = append(rib, nlri.String()) })
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(rib) != 0 {
		t.Errorf("our table holds %v from the router, want nothing (import policy)", rib)
	}
	// Our own routes still pass the same policy.
	s.Announce([]netip.Addr{netip.MustParseAddr("198.51.100.10")})
	r.WaitPrefixes("our VIP at the router beside its own route", 15*time.Second, "10.9.0.0/16", "198.51.100.10/32")
}

func TestMD5Password(t *testing.T) {
	r := newRouter(t, "127.0.0.2", "127.0.0.1", ourASN, "s3cret")
	p := peerOf(r)
	p.Password = "s3cret"
	s := run(t, &Config{ASN: ourASN, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{p}})
	waitEstablished(t, s)
}

// TestWrongASNBacksOff: the router expects another AS and refuses every
// OPEN. Nothing blocks, the failure is in the status, and after the second
// failure the peer is held down.
func TestWrongASNBacksOff(t *testing.T) {
	r := newRouter(t, "127.0.0.2", "127.0.0.1", 65099, "")
	s := run(t, &Config{ASN: ourASN, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{peerOf(r)}})
	start := time.Now()
	s.Announce([]netip.Addr{netip.MustParseAddr("198.51.100.10")})
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Announce took %v with a failing peer", d)
	}
	testenv.WaitFor(t, "the peer to be held down", 30*time.Second, func() bool {
		st := s.Status()
		return len(st.Peers) == 1 && !st.Peers[0].HeldUntil.IsZero()
	})
	p := s.Status().Peers[0]
	if p.LastError == "" || p.State == "established" {
		t.Errorf("peer status = %+v, want a last error and no session", p)
	}
	if len(r.Routes()) != 0 {
		t.Errorf("the router has routes: %v", r.Routes())
	}
}

// TestLoopStallWithdraws: when the engine's loop stops pinging for
// LoopTimeout every route goes, and comes back with the next ping.
func TestLoopStallWithdraws(t *testing.T) {
	r := newRouter(t, "127.0.0.2", "127.0.0.1", ourASN, "")
	fake := clock.NewFake(time.Unix(1_000_000, 0))
	s := run(t, &Config{ASN: ourASN, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{peerOf(r)},
		LoopTimeout: 3 * time.Second, Clock: fake})
	s.Announce([]netip.Addr{netip.MustParseAddr("198.51.100.10")})
	r.WaitPrefixes("the VIP announced", 15*time.Second, "198.51.100.10/32")
	fake.Advance(2 * time.Second)
	s.Ping()
	fake.Advance(2 * time.Second) // 2s since the last ping: still alive
	if st := s.Status(); st.Withheld != "" {
		t.Fatalf("withheld %q 2s after a ping", st.Withheld)
	}
	fake.Advance(time.Second)
	r.WaitPrefixes("the VIP withdrawn after 3s without a ping", 15*time.Second)
	if st := s.Status(); st.Withheld != "engine loop stalled" || len(st.Announced) != 0 {
		t.Errorf("status = %+v", st)
	}
	s.Ping()
	r.WaitPrefixes("the VIP back after a ping", 15*time.Second, "198.51.100.10/32")
}

func TestDrain(t *testing.T) {
	r := newRouter(t, "127.0.0.2", "127.0.0.1", ourASN, "")
	s := run(t, &Config{ASN: ourASN, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{peerOf(r)}})
	s.Announce([]netip.Addr{netip.MustParseAddr("198.51.100.10")})
	r.WaitPrefixes("the VIP announced", 15*time.Second, "198.51.100.10/32")
	s.SetDrain(true)
	r.WaitPrefixes("the VIP withdrawn by the drain", 15*time.Second)
	if st := s.Status(); st.Withheld != "drained" || len(st.Requested) != 1 {
		t.Errorf("status = %+v", st)
	}
	s.SetDrain(false)
	r.WaitPrefixes("the VIP back", 15*time.Second, "198.51.100.10/32")
}

// TestStopWithdrawsFirst: when Run's context ends, the routes are gone
// from the router by the time Run returns.
func TestStopWithdrawsFirst(t *testing.T) {
	r := newRouter(t, "127.0.0.2", "127.0.0.1", ourASN, "")
	s, err := New(&Config{ASN: ourASN, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{peerOf(r)},
		Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	s.Announce([]netip.Addr{netip.MustParseAddr("198.51.100.10")})
	r.WaitPrefixes("the VIP announced", 15*time.Second, "198.51.100.10/32")
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The withdrawal (or the session's end) was sent before Run returned;
	// the router processes it at once.
	r.WaitPrefixes("the VIP withdrawn at stop", 15*time.Second)
	if st := s.Status(); st.Withheld != "stopping" || len(st.Announced) != 0 {
		t.Errorf("status after stop = %+v", st)
	}
}

func TestUpdatePeersAndCommunities(t *testing.T) {
	r1 := newRouter(t, "127.0.0.2", "127.0.0.1", ourASN, "")
	r2 := newRouter(t, "::1", "::1", ourASN, "")
	cfg := &Config{ASN: ourASN, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{peerOf(r1)}}
	s := run(t, cfg)
	s.Announce([]netip.Addr{netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("2001:db8::10")})
	r1.WaitPrefixes("r1 has the IPv4 VIP", 15*time.Second, "198.51.100.10/32")
	next := *cfg
	next.Peers = []Peer{peerOf(r1), peerOf(r2)}
	next.Communities = []uint32{ourASN<<16 | 7}
	if err := s.Update(&next); err != nil {
		t.Fatal(err)
	}
	r2.WaitPrefixes("r2 added, with the IPv6 VIP", 15*time.Second, "2001:db8::10/128")
	testenv.WaitFor(t, "r1 to see the new community", 10*time.Second, func() bool {
		rs := r1.Routes()
		return len(rs) == 1 && slices.Equal(rs[0].Communities, []uint32{ourASN<<16 | 7})
	})
	next.Peers = []Peer{peerOf(r2)}
	if err := s.Update(&next); err != nil {
		t.Fatal(err)
	}
	r1.WaitPrefixes("r1 removed: its session and routes gone", 15*time.Second)
}

func TestConfigErrors(t *testing.T) {
	good := Peer{Address: netip.MustParseAddr("192.0.2.254"), ASN: 1}
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{RouterID: netip.MustParseAddr("192.0.2.1")}, "no AS number"},
		{Config{ASN: 1, RouterID: netip.MustParseAddr("2001:db8::1")}, "router ID 2001:db8::1 is not IPv4"},
		{Config{ASN: 1, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{good, good}}, "peer 192.0.2.254 twice"},
		{Config{ASN: 1, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []Peer{{Address: good.Address, ASN: 1, HoldTime: time.Second}}}, "hold time 1s below 3s"},
	} {
		_, err := New(&tt.cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
