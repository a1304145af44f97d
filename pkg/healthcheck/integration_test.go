//go:build linux

package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/pkg/clock"
)

// topo is a client namespace and a server namespace joined by a veth pair:
// client 10.99.0.1 and 10.99.0.3 (fd00:99::1), server 10.99.0.2
// (fd00:99::2), and a VIP 192.0.2.10 routed via the server.
type topo struct {
	client, server *testenv.Netns
}

var (
	clientIP2 = netip.MustParseAddr("10.99.0.3")
	serverIP  = netip.MustParseAddr("10.99.0.2")
	server6   = netip.MustParseAddr("fd00:99::2")
	vip       = netip.MustParseAddr("192.0.2.10")
)

func newTopo(t *testing.T) *topo {
	t.Helper()
	tp := &topo{client: testenv.NewNetns(t), server: testenv.NewNetns(t)}
	testenv.Veth(t, tp.client, "hc0", tp.server, "hc1")
	tp.client.Sh(t, "ip addr add 10.99.0.1/24 dev hc0 && ip addr add 10.99.0.3/24 dev hc0 && ip -6 addr add fd00:99::1/64 dev hc0 nodad && ip route add 192.0.2.10/32 via 10.99.0.2")
	tp.server.Sh(t, "ip addr add 10.99.0.2/24 dev hc1 && ip -6 addr add fd00:99::2/64 dev hc1 nodad && ip addr add 192.0.2.10/32 dev lo")
	return tp
}

// inClient runs f with sockets created in the client namespace.
func (tp *topo) inClient(t *testing.T, f func()) {
	t.Helper()
	if err := tp.client.Do(func() error { f(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// serveTCP listens in the server namespace; handle runs per connection.
// It returns the port and records the peers' addresses.
func (tp *topo) serveTCP(t *testing.T, addr string, handle func(net.Conn)) (port uint16, peers func() []netip.Addr) {
	t.Helper()
	var l net.Listener
	if err := tp.server.Do(func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mu sync.Mutex
	var seen []netip.Addr
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap())
			mu.Unlock()
			go func() {
				defer c.Close()
				if handle != nil {
					handle(c)
				}
			}()
		}
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port), func() []netip.Addr {
		mu.Lock()
		defer mu.Unlock()
		return append([]netip.Addr(nil), seen...)
	}
}

func TestIntegrationICMP(t *testing.T) {
	testenv.Integration(t, "nft", "sysctl")
	for _, mode := range []string{"raw", "ping-socket"} {
		t.Run(mode, func(t *testing.T) {
			tp := newTopo(t)
			if mode == "ping-socket" {
				tp.client.Sh(t, "sysctl -qw net.ipv4.ping_group_range='0 2147483647'")
			}
			var kernelIDs []bool
			p := NewPinger(&PingerConfig{Listen: func(v6 bool, src netip.Addr, mark uint32) (net.PacketConn, bool, error) {
				c, k, err := listenICMP(v6, src, mark)
				kernelIDs = append(kernelIDs, k)
				return c, k, err
			}})
			defer p.Close()
			tp.inClient(t, func() {
				for _, dst := range []netip.Addr{serverIP, server6} {
					// The first ping waits for neighbour resolution, whose
					// retransmit timer is 1 s: this asserts reachability,
					// not latency, so it gets room for a lost solicitation
					// on a loaded machine.
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					r := p.Ping(ctx, dst, netip.Addr{}, 0)
					cancel()
					if !r.OK() {
						t.Fatalf("ping %s: %v", dst, r.Err)
					}
					if r.Latency > 500*time.Millisecond {
						t.Logf("first ping %s took %v", dst, r.Latency)
					}
				}
			})
			if mode == "ping-socket" && !kernelIDs[0] || mode == "raw" && kernelIDs[0] {
				t.Errorf("%s mode opened sockets with kernel ids %v", mode, kernelIDs)
			}
			// Many concurrent pings share the one socket per family.
			const n = 2000
			var wg sync.WaitGroup
			var failed sync.Map
			for i := range n {
				dst := serverIP
				if i%2 == 1 {
					dst = server6
				}
				wg.Add(1)
				p.start(dst, netip.Addr{}, 0, 2*time.Second, func(r Result) {
					if !r.OK() {
						failed.Store(i, r.Err)
					}
					wg.Done()
				})
			}
			wg.Wait()
			failed.Range(func(k, v any) bool { t.Errorf("ping %v: %v", k, v); return false })
			if s := p.Sockets(); s != 2 {
				t.Errorf("%d pings used %d sockets, want 2 (one per family)", n, s)
			}
			// A dead host: no reply is a timeout.
			tp.server.Sh(t, "nft add table inet f && nft add chain inet f in '{ type filter hook input priority 0; }' && nft add rule inet f in meta l4proto '{ icmp, ipv6-icmp }' drop")
			ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel2()
			r := p.Ping(ctx2, serverIP, netip.Addr{}, 0)
			wantFail(t, r, ErrTimeout, "echo")
			r = runAsyncPing(t, p, server6, 200*time.Millisecond)
			wantFail(t, r, ErrTimeout, "no echo reply")
		})
	}
}

func runAsyncPing(t *testing.T, p *Pinger, dst netip.Addr, timeout time.Duration) Result {
	ch := make(chan Result, 1)
	p.start(dst, netip.Addr{}, 0, timeout, func(r Result) { ch <- r })
	select {
	case r := <-ch:
		if r.Latency < timeout || r.Latency > timeout+150*time.Millisecond {
			t.Errorf("timeout reported after %v, want about %v", r.Latency, timeout)
		}
		return r
	case <-time.After(timeout + time.Second):
		t.Fatal("ping never timed out")
	}
	return Result{}
}

func TestIntegrationTCPFailures(t *testing.T) {
	testenv.Integration(t, "nft")
	tp := newTopo(t)
	port, _ := tp.serveTCP(t, "10.99.0.2:0", func(c net.Conn) { io.Copy(io.Discard, c) })
	target := netip.AddrPortFrom(serverIP, port).String()
	d := def(TypeTCP, target)
	d.Timeout = 300 * time.Millisecond
	both := func(t *testing.T, check func(r Result)) {
		t.Helper()
		tp.inClient(t, func() { check(runCheck(t, d)) })
		tp.inClient(t, func() { check(runAsync(t, d)) })
	}
	both(t, func(r Result) { wantOK(t, r) })

	// Refused: nothing listens on the port.
	closed := d
	closed.Target = netip.AddrPortFrom(serverIP, port+1)
	tp.inClient(t, func() { wantFail(t, runAsync(t, closed), ErrRefused, "connect") })

	// Timeout: the server drops SYNs.
	tp.server.Sh(t, fmt.Sprintf("nft add table inet f && nft add chain inet f in '{ type filter hook input priority 0; }' && nft add rule inet f in tcp dport %d drop", port))
	both(t, func(r Result) {
		wantFail(t, r, ErrTimeout, "connect")
		if r.Latency < 290*time.Millisecond || r.Latency > 500*time.Millisecond {
			t.Errorf("timeout after %v, want ~300ms", r.Latency)
		}
	})
	tp.server.Sh(t, "nft delete table inet f")
	both(t, func(r Result) { wantOK(t, r) })

	// Timeout: the link is down.
	tp.server.Sh(t, "ip link set hc1 down")
	both(t, func(r Result) { wantFail(t, r, ErrTimeout, "connect") })
}

func TestIntegrationSourceMarkVIP(t *testing.T) {
	testenv.Integration(t, "nft")
	tp := newTopo(t)
	port, peers := tp.serveTCP(t, ":0", nil)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })}
	var hl net.Listener
	if err := tp.server.Do(func() (err error) { hl, err = net.Listen("tcp", ":0"); return err }); err != nil {
		t.Fatal(err)
	}
	go srv.Serve(hl)
	t.Cleanup(func() { srv.Close() })
	hport := uint16(hl.Addr().(*net.TCPAddr).Port)

	// IPv6 through both paths, TCP and HTTP.
	tp.inClient(t, func() {
		wantOK(t, runAsync(t, def(TypeTCP, netip.AddrPortFrom(server6, port).String())))
		h6 := def(TypeHTTP, netip.AddrPortFrom(server6, hport).String())
		h6.HTTP = &HTTPOptions{BodyRegexp: `^\[fd00:99::1\]:`}
		wantOK(t, runAsync(t, h6))
		wantOK(t, runCheck(t, h6))
	})

	// Source address: the server sees the probe come from 10.99.0.3.
	d := def(TypeTCP, netip.AddrPortFrom(serverIP, port).String())
	d.Source = clientIP2
	tp.inClient(t, func() { wantOK(t, runAsync(t, d)); wantOK(t, runCheck(t, d)) })
	// Spare sockets keep their bound source and go only to probes with
	// the same: on one connector with an unsourced probe's spare (to the
	// HTTP server, whose peers are not looked at), the sourced probes
	// come from 10.99.0.3, the second and third on the first's socket.
	cn := newConnector(clock.System{})
	defer cn.close()
	other := def(TypeTCP, netip.AddrPortFrom(serverIP, hport).String())
	sourced := asyncOf(t, d)
	tp.inClient(t, func() {
		wantOK(t, runAsyncOn(t, cn, asyncOf(t, other), other))
		for range 3 {
			wantOK(t, runAsyncOn(t, cn, sourced, d))
		}
	})
	h := def(TypeHTTP, netip.AddrPortFrom(serverIP, hport).String())
	h.Source = clientIP2
	h.HTTP = &HTTPOptions{BodyRegexp: `^10\.99\.0\.3:`}
	tp.inClient(t, func() { wantOK(t, runCheck(t, h)) })
	for _, p := range peers() {
		if p.Is4() && p != clientIP2 {
			t.Errorf("server saw a probe from %s, want %s", p, clientIP2)
		}
	}

	// Fwmark: marked probes hit a reject rule in the client, unmarked pass.
	tp.client.Sh(t, "nft add table inet m && nft add chain inet m out '{ type filter hook output priority 0; }' && "+
		"nft add rule inet m out meta mark 0x2a meta l4proto tcp reject with tcp reset && "+
		"nft add rule inet m out meta mark 0x2a meta l4proto icmp drop")
	d = def(TypeTCP, netip.AddrPortFrom(serverIP, port).String())
	marked := d
	marked.Mark = 0x2a
	tp.inClient(t, func() {
		wantOK(t, runAsync(t, d))
		wantFail(t, runAsync(t, marked), ErrRefused, "connect")
		wantFail(t, runCheck(t, marked), ErrRefused, "connect")
		// On one connector, a marked probe never takes the unmarked
		// probe's spare socket, nor the other way round.
		plain, mk := asyncOf(t, d), asyncOf(t, marked)
		wantOK(t, runAsyncOn(t, cn, plain, d))
		wantFail(t, runAsyncOn(t, cn, mk, marked), ErrRefused, "connect")
		wantOK(t, runAsyncOn(t, cn, plain, d))
	})
	p := NewPinger(nil)
	defer p.Close()
	tp.inClient(t, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		wantOK(t, p.Ping(ctx, serverIP, netip.Addr{}, 0))
		// nft drops the marked echo on output, which fails the send at once.
		wantFail(t, p.Ping(ctx, serverIP, netip.Addr{}, 0x2a), nil, "send")
	})
	if s := p.Sockets(); s != 2 {
		t.Errorf("pinger with two marks has %d sockets, want 2", s)
	}

	// ICMP source address: the server counts echo requests from 10.99.0.3.
	tp.server.Sh(t, "nft add table inet c && nft add chain inet c in '{ type filter hook input priority 0; }' && "+
		"nft add rule inet c in ip saddr 10.99.0.3 icmp type echo-request counter")
	tp.inClient(t, func() {
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			wantOK(t, p.Ping(ctx, serverIP, clientIP2, 0))
			cancel()
		}
	})
	if out := tp.server.Sh(t, "nft list chain inet c in"); !strings.Contains(out, "packets 3 ") {
		t.Errorf("server did not see 3 echo requests from %s:\n%s", clientIP2, out)
	}

	// Target other than the backend: the VIP, routed to the backend,
	// answers only while the backend holds it.
	v := def(TypeTCP, netip.AddrPortFrom(vip, port).String())
	tp.inClient(t, func() { wantOK(t, runAsync(t, v)) })
	tp.server.Sh(t, "ip addr del 192.0.2.10/32 dev lo")
	v.Timeout = 200 * time.Millisecond
	tp.inClient(t, func() { wantFail(t, runAsync(t, v), nil, "connect") })
}

// inChild re-runs the current test inside ns (so every thread, including
// the Manager's, lives there) and reports whether this is the child.
func inChild(t *testing.T, ns *testenv.Netns, env ...string) bool {
	t.Helper()
	if os.Getenv("HC_CHILD") == t.Name() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := ns.Cmd(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(append(os.Environ(), "HC_CHILD="+t.Name()), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("child in %s:\n%s", ns.Name, out)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("child failed: %v", err)
		}
	}
	return false
}

// TestIntegrationDetection checks that a backend that dies is reported down
// within fall x interval + timeout, both when it refuses and when it goes silent.
func TestIntegrationDetection(t *testing.T) {
	testenv.Integration(t, "nft")
	if os.Getenv("HC_CHILD") == "" {
		tp := newTopo(t)
		port, _ := tp.serveTCP(t, "10.99.0.2:0", nil)
		if !inChild(t, tp.client, fmt.Sprintf("HC_PORT=%d", port), "HC_SERVER_NS="+tp.server.Name) {
			return
		}
	}
	var port uint16
	fmt.Sscan(os.Getenv("HC_PORT"), &port)
	serverNS := os.Getenv("HC_SERVER_NS")
	nft := func(rule string) {
		if out, err := exec.Command("ip", "netns", "exec", serverNS, "sh", "-c", rule).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", rule, err, out)
		}
	}
	nft("nft add table inet f && nft add chain inet f in '{ type filter hook input priority 0; }'")
	const interval, timeout, fall = 200 * time.Millisecond, 100 * time.Millisecond, 3
	reject := fmt.Sprintf("nft add rule inet f in tcp dport %d reject with tcp reset", port)

	// A flapping backend (down one interval in two) never makes fall
	// consecutive failures: the state must hold steady at up.
	t.Run("flap", func(t *testing.T) {
		nft("nft flush chain inet f in")
		m := New(nil)
		defer m.Close()
		d := Definition{Type: TypeTCP, Target: netip.AddrPortFrom(serverIP, port), Interval: interval, Timeout: timeout, Rise: 2, Fall: fall}
		if err := m.Update(context.Background(), []Check{{"tcp", d}}); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-m.Transitions():
			if b[0].To != StateUp {
				t.Fatalf("first transition %+v, want up", b[0])
			}
		case <-time.After(2 * interval):
			t.Fatal("not up")
		}
		// Toggle right after each run, so that the runs see the backend
		// alternately down and up whatever nft's latency.
		lastRuns := uint64(0)
		nextRun := func() {
			t.Helper()
			deadline := time.Now().Add(3 * interval)
			for time.Now().Before(deadline) {
				st, err := m.Snapshot(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if st[0].Runs > lastRuns {
					lastRuns = st[0].Runs
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
			t.Fatal("no run for 3 intervals")
		}
		nextRun()
		for i := range 10 {
			if i%2 == 0 {
				nft(reject)
			} else {
				nft("nft flush chain inet f in")
			}
			nextRun()
		}
		nft("nft flush chain inet f in")
		time.Sleep(interval)
		select {
		case b := <-m.Transitions():
			t.Errorf("flapping backend caused transitions %+v", b)
		default:
		}
		st, err := m.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st[0].State != StateUp || st[0].Failures < 3 {
			t.Errorf("after flapping: %+v; want up with the failures seen", st[0])
		}
		t.Logf("flapping: %d runs, %d failures, state %s", st[0].Runs, st[0].Failures, st[0].State)
	})
	for _, mode := range []string{"refuse", "drop"} {
		t.Run(mode, func(t *testing.T) {
			nft("nft flush chain inet f in")
			m := New(nil)
			defer m.Close()
			d := Definition{Type: TypeTCP, Target: netip.AddrPortFrom(serverIP, port), Interval: interval, Timeout: timeout, Rise: 2, Fall: fall}
			if err := m.Update(context.Background(), []Check{{"tcp", d}}); err != nil {
				t.Fatal(err)
			}
			waitFor := func(want State, within time.Duration) time.Time {
				t.Helper()
				deadline := time.After(within)
				for {
					select {
					case b := <-m.Transitions():
						for _, tr := range b {
							if tr.To == want {
								return time.Now()
							}
							t.Logf("transition %+v", tr)
						}
					case <-deadline:
						t.Fatalf("not %s within %v", want, within)
					}
				}
			}
			waitFor(StateUp, 2*interval)
			time.Sleep(interval / 3) // die at an arbitrary phase
			died := time.Now()
			if mode == "refuse" {
				nft(reject)
			} else {
				nft(fmt.Sprintf("nft add rule inet f in tcp dport %d drop", port))
			}
			bound := fall*interval + timeout
			// The connector completes timeouts on a 5ms tick.
			at := waitFor(StateDown, 2*bound)
			took := at.Sub(died)
			t.Logf("%s: down %v after the backend died (bound %v)", mode, took, bound)
			if took > bound+connectorTick {
				t.Errorf("detected after %v, want within fall x interval + timeout = %v", took, bound)
			}
			st, err := m.Snapshot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st[0].ConsecutiveFail < fall {
				t.Errorf("snapshot %+v: fewer than %d failures", st[0], fall)
			}
		})
	}
}

// TestIntegrationICMPUnreachable: an ICMP destination unreachable for an
// echo request fails the ping at once with ErrUnreachable, on raw and ping
// sockets, IPv4 and IPv6. The client pings through a router namespace that
// answers host unreachable (an unreachable route) and administratively
// prohibited (an nft reject rule), while pings to the router itself go on.
func TestIntegrationICMPUnreachable(t *testing.T) {
	testenv.Integration(t, "nft", "sysctl")
	router4, router6 := netip.MustParseAddr("10.98.0.2"), netip.MustParseAddr("fd00:98::2")
	type target struct {
		dst  netip.Addr
		op   string // the CheckError op
		text string // what the error says
	}
	targets := []target{
		{netip.MustParseAddr("192.0.2.77"), "echo", "host unreachable (from 10.98.0.2)"},
		{netip.MustParseAddr("2001:db8::77"), "echo", "no route to destination (from fd00:98::2)"},
		{netip.MustParseAddr("192.0.2.78"), "echo", "communication administratively prohibited (from 10.98.0.2)"},
		{netip.MustParseAddr("2001:db8::78"), "echo", "communication administratively prohibited (from fd00:98::2)"},
		// The client itself has no route: the send fails.
		{netip.MustParseAddr("198.51.100.77"), "send", "sendto: no route to host"},
		{netip.MustParseAddr("2001:db8:1::77"), "send", "sendto: no route to host"},
	}
	for _, mode := range []string{"raw", "ping-socket"} {
		t.Run(mode, func(t *testing.T) {
			client, router := testenv.NewNetns(t), testenv.NewNetns(t)
			testenv.Veth(t, client, "hc0", router, "hc1")
			client.Sh(t, "ip addr add 10.98.0.1/24 dev hc0 && ip -6 addr add fd00:98::1/64 dev hc0 nodad && "+
				"ip route add default via 10.98.0.2 && ip -6 route add default via fd00:98::2 && "+
				"ip route add unreachable 198.51.100.77/32 && ip -6 route add unreachable 2001:db8:1::77/128")
			// No ICMP rate limits in the router: the test sends a handful
			// of errors in a burst.
			router.Sh(t, "ip addr add 10.98.0.2/24 dev hc1 && ip -6 addr add fd00:98::2/64 dev hc1 nodad && "+
				"sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv4.icmp_ratemask=0 net.ipv6.icmp.ratelimit=0 && "+
				"ip route add unreachable 192.0.2.77/32 && ip -6 route add unreachable 2001:db8::77/128 && "+
				"ip route add 192.0.2.78/32 dev hc1 && ip -6 route add 2001:db8::78/128 dev hc1 && "+
				"nft add table inet f && nft add chain inet f fw '{ type filter hook forward priority 0; }' && "+
				"nft add rule inet f fw ip daddr 192.0.2.78 reject with icmp type admin-prohibited && "+
				"nft add rule inet f fw ip6 daddr 2001:db8::78 reject with icmpv6 type admin-prohibited")
			if mode == "ping-socket" {
				client.Sh(t, "sysctl -qw net.ipv4.ping_group_range='0 2147483647'")
			}
			var mu sync.Mutex
			var kernelIDs []bool
			p := NewPinger(&PingerConfig{Listen: func(v6 bool, src netip.Addr, mark uint32) (net.PacketConn, bool, error) {
				c, k, err := listenICMP(v6, src, mark)
				mu.Lock()
				kernelIDs = append(kernelIDs, k)
				mu.Unlock()
				return c, k, err
			}})
			defer p.Close()
			const timeout = 2 * time.Second
			check := func(t *testing.T, r Result, tg target) {
				t.Helper()
				wantFail(t, r, ErrUnreachable, tg.op)
				if !strings.HasSuffix(r.Err.Error(), ": "+tg.op+": "+tg.text) {
					t.Errorf("ping %s: error %q, want it to end in %q", tg.dst, r.Err, tg.op+": "+tg.text)
				}
				if r.Latency > 500*time.Millisecond {
					t.Errorf("ping %s failed after %v, want at once (timeout %v)", tg.dst, r.Latency, timeout)
				}
			}
			if err := client.Do(func() error {
				for _, dst := range []netip.Addr{router4, router6} {
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					wantOK(t, p.Ping(ctx, dst, netip.Addr{}, 0))
					cancel()
				}
				// One at a time, through Ping and through start.
				for _, tg := range targets {
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					r := p.Ping(ctx, tg.dst, netip.Addr{}, 0)
					cancel()
					check(t, r, tg)
					t.Logf("ping %s: %v after %v", tg.dst, r.Err, r.Latency)
				}
				// Many at once, the router's own address among rejected
				// ones: each ping gets its own verdict over the shared
				// sockets, and a send right after an error still goes out.
				type verdict struct {
					i int
					r Result
				}
				var wg sync.WaitGroup
				results := make(chan verdict, 64)
				var dsts []netip.Addr
				for range 6 {
					dsts = append(dsts, targets[2].dst, router4, targets[3].dst, router6)
				}
				for i, dst := range dsts {
					wg.Add(1)
					p.start(dst, netip.Addr{}, 0, timeout, func(r Result) { results <- verdict{i, r}; wg.Done() })
				}
				wg.Wait()
				close(results)
				n := 0
				for v := range results {
					n++
					switch dst := dsts[v.i]; dst {
					case router4, router6:
						if !v.r.OK() {
							t.Errorf("ping %s: %v", dst, v.r.Err)
						}
					default:
						check(t, v.r, targets[2+v.i%4/2])
					}
				}
				if n != len(dsts) {
					t.Errorf("%d verdicts for %d pings", n, len(dsts))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(kernelIDs) != 2 || mode == "ping-socket" != kernelIDs[0] || mode == "ping-socket" != kernelIDs[1] {
				t.Errorf("%s mode opened sockets with kernel ids %v", mode, kernelIDs)
			}
		})
	}
}
