//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seesawd/seesawd/internal/nettopo"
)

// FRR's daemons, as Debian installs them.
const (
	zebraBin = "/usr/lib/frr/zebra"
	bgpdBin  = "/usr/lib/frr/bgpd"
)

// HaveFRR reports why the scale-out lab cannot run its router, "" when it can.
func HaveFRR() string {
	for _, b := range []string{zebraBin, bgpdBin} {
		if _, err := os.Stat(b); err != nil {
			return "no FRR (" + b + "): apt-get install frr (scripts/deps.sh)"
		}
	}
	return ""
}

// ScaleConfig configures NewScale.
type ScaleConfig struct {
	// Seesawd is the daemon binary the LBs run.
	Seesawd string
	// Dir holds configuration files, state files and logs.
	Dir string
	// Prefix starts every namespace name; empty picks a random one.
	Prefix string
	// LBs is the number of LB nodes (default 2).
	LBs int
	// NAT routes the backends' replies through PassiveGateway (the VRRP
	// master), as NAT needs; otherwise they go to the router, as direct
	// routing needs.
	NAT bool
}

// ScaleLab is the running scale-out topology.
type ScaleLab struct {
	cfg      ScaleConfig
	Client   *Node
	Router   *nettopo.Netns
	Back     *nettopo.Netns // the back bridge's namespace
	LBs      []*ScaleLB
	Backends []*Backend
	all      []*nettopo.Netns
	frrDir   string
	frr      []*nettopo.Process
	frrLog   *os.File
}

// Node is a namespace the tests dial from.
type Node struct{ NS *nettopo.Netns }

// ScaleLB is one LB node of the scale-out lab.
type ScaleLB struct {
	N          int
	Name       string
	NS         *nettopo.Netns
	Link       netip.Addr // on its link to the router
	Back       netip.Addr // on the back bridge
	ConfigPath string
	StatePath  string
	lab        *ScaleLab
	daemon
}

// NewScale builds the scale-out lab and starts the router's FRR. On error
// everything built so far is removed.
func NewScale(ctx context.Context, cfg ScaleConfig) (*ScaleLab, error) {
	if why := HaveFRR(); why != "" {
		return nil, errors.New("lab: " + why)
	}
	cfg.Prefix = prefixOr(cfg.Prefix, "sl")
	if cfg.LBs == 0 {
		cfg.LBs = 2
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	s := &ScaleLab{cfg: cfg}
	if err := s.build(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	if err := s.startFRR(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *ScaleLab) netns(ctx context.Context, name string) (*nettopo.Netns, error) {
	n, err := nettopo.NewNetns(ctx, s.cfg.Prefix+"-"+name)
	if err != nil {
		return nil, err
	}
	s.all = append(s.all, n)
	return n, nil
}

// script runs lines in n as one shell command: under emulation each exec
// costs a good part of a second, and the lab is built in tens of them.
func script(ctx context.Context, n *nettopo.Netns, lines []string) error {
	_, err := n.Sh(ctx, "set -e\n"+strings.Join(lines, "\n"))
	return err
}

func (s *ScaleLab) build(ctx context.Context) error {
	var err error
	if s.Router, err = s.netns(ctx, "router"); err != nil {
		return err
	}
	client, err := s.netns(ctx, "client")
	if err != nil {
		return err
	}
	s.Client = &Node{NS: client}
	if s.Back, err = s.netns(ctx, "back"); err != nil {
		return err
	}
	for n := 1; n <= s.cfg.LBs; n++ {
		name := fmt.Sprintf("lb%d", n)
		lb := &ScaleLB{N: n, Name: name, Link: lbLink(n, 1), Back: netip.AddrFrom4([4]byte{10, 0, 1, byte(n)}), lab: s,
			ConfigPath: filepath.Join(s.cfg.Dir, name+".conf"), StatePath: filepath.Join(s.cfg.Dir, name+"-state.json"),
			daemon: daemon{name: name, LogPath: filepath.Join(s.cfg.Dir, name+".log")}}
		if lb.NS, err = s.netns(ctx, name); err != nil {
			return err
		}
		s.LBs = append(s.LBs, lb)
	}
	for i := range 3 {
		b := &Backend{Name: fmt.Sprintf("b%d", i+1), Addr: netip.AddrFrom4([4]byte{10, 0, 1, byte(11 + i)}), srvs: map[uint16]*http.Server{}}
		if b.NS, err = s.netns(ctx, b.Name); err != nil {
			return err
		}
		s.Backends = append(s.Backends, b)
	}

	// The router's links: to the client and to each LB.
	router := []string{
		"ip link add eth0 type veth peer name eth0 netns " + client.Name,
		"ip addr add 203.0.113.1/24 dev eth0", "ip link set eth0 up",
		// L4 hashing spreads one client's connections over the next hops.
		"sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.fib_multipath_hash_policy=1",
	}
	for _, lb := range s.LBs {
		dev := fmt.Sprintf("eth%d", lb.N)
		router = append(router, "ip link add "+dev+" type veth peer name eth0 netns "+lb.NS.Name,
			"ip addr add "+lbLink(lb.N, 254).String()+"/24 dev "+dev, "ip link set "+dev+" up")
	}
	// The back bridge: a port for the router, each LB and each backend.
	back := []string{"ip link add br0 type bridge mcast_snooping 0 stp_state 0", "ip link set br0 up"}
	port := func(name string, peer *nettopo.Netns, ifname, mac string) {
		cmd := "ip link add " + name + " type veth peer name " + ifname + " netns " + peer.Name
		if mac != "" {
			cmd += " address " + mac
		}
		back = append(back, cmd, "ip link set "+name+" master br0 up")
	}
	port("router", s.Router, "eth9", "")
	for _, lb := range s.LBs {
		port(lb.Name, lb.NS, "eth1", fmt.Sprintf("02:5e:00:00:01:%02x", lb.N))
	}
	for i, b := range s.Backends {
		port(b.Name, b.NS, "eth0", fmt.Sprintf("02:5e:00:00:02:%02x", i+1))
	}
	if err := script(ctx, s.Router, router); err != nil {
		return err
	}
	if err := script(ctx, s.Back, back); err != nil {
		return err
	}
	if err := script(ctx, s.Router, []string{"ip addr add " + RouterBackIP.String() + "/24 dev eth9", "ip link set eth9 up"}); err != nil {
		return err
	}
	if err := script(ctx, client, []string{"ip addr add " + ScaleClientIP.String() + "/24 dev eth0", "ip link set eth0 up",
		"ip route add default via 203.0.113.1"}); err != nil {
		return err
	}
	for _, lb := range s.LBs {
		// The anycast VIP is local to every LB (IPVS serves local
		// addresses); its replies to the client go through the router.
		if err := script(ctx, lb.NS, []string{
			"ip addr add " + lb.Link.String() + "/24 dev eth0", "ip link set eth0 up",
			"ip addr add " + lb.Back.String() + "/24 dev eth1", "ip link set eth1 up",
			"ip addr add " + AnycastVIP.String() + "/32 dev lo",
			"ip route add default via " + lbLink(lb.N, 254).String(),
			"sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0",
		}); err != nil {
			return err
		}
	}
	gw := RouterBackIP
	if s.cfg.NAT {
		gw = PassiveGateway
	}
	for _, b := range s.Backends {
		// Direct routing: the VIP on loopback, never answered for on the wire.
		if err := script(ctx, b.NS, []string{
			"ip addr add " + b.Addr.String() + "/24 dev eth0", "ip link set eth0 up",
			"ip addr add " + AnycastVIP.String() + "/32 dev lo", "ip route add default via " + gw.String(),
			"sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0",
		}); err != nil {
			return err
		}
		for _, p := range []uint16{EchoPort, CheckPort} {
			if err := b.ServeEcho(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// startFRR runs zebra and bgpd in the router namespace with files in a
// directory of their own (the guest's /etc is read-only), as user frr
// (whose group may use the vty sockets).
func (s *ScaleLab) startFRR(ctx context.Context) error {
	// A directory of its own that user frr can reach: a test's Dir sits
	// under a directory only root may enter.
	dir, err := os.MkdirTemp("", "seesaw-frr-")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	s.frrDir = dir
	if err := os.Chmod(s.frrDir, 0o777); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "hostname router\nrouter bgp %d\n bgp router-id 203.0.113.1\n no bgp ebgp-requires-policy\n", RouterASN)
	b.WriteString(" no bgp network import-check\n timers bgp 1 3\n")
	for _, lb := range s.LBs {
		fmt.Fprintf(&b, " neighbor %v remote-as %d\n neighbor %v timers 1 3\n neighbor %v timers connect 1\n neighbor %v advertisement-interval 0\n",
			lbLink(lb.N, 1), LBASN, lbLink(lb.N, 1), lbLink(lb.N, 1), lbLink(lb.N, 1))
	}
	b.WriteString(" address-family ipv4 unicast\n  maximum-paths 16\n exit-address-family\n")
	// Classic multipath routes, not kernel nexthop objects: the kernel
	// drops the objects of a device that goes down, and zebra 8.4 then
	// left an LB out of the ECMP route after its link came back (seen in
	// the link cut test).
	files := map[string]string{"zebra.conf": "hostname router\nno zebra nexthop kernel enable\n", "bgpd.conf": b.String()}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(s.frrDir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	f, err := os.OpenFile(filepath.Join(s.cfg.Dir, "frr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	s.frrLog = f
	zserv := filepath.Join(s.frrDir, "zserv.api")
	common := func(daemon string) []string {
		return []string{"-f", filepath.Join(s.frrDir, daemon+".conf"), "-i", filepath.Join(s.frrDir, daemon+".pid"),
			"-z", zserv, "--vty_socket", s.frrDir, "-u", "frr", "-g", "frr"}
	}
	z, err := s.Router.StartTo(f, "zebra", zebraBin, common("zebra")...)
	if err != nil {
		return err
	}
	s.frr = append(s.frr, z)
	if err := waitFile(ctx, zserv, 10*time.Second); err != nil {
		return fmt.Errorf("lab: zebra did not start: %w\n%s", err, s.FRRLog())
	}
	bg, err := s.Router.StartTo(f, "bgpd", bgpdBin, common("bgpd")...)
	if err != nil {
		return err
	}
	s.frr = append(s.frr, bg)
	if err := waitFile(ctx, filepath.Join(s.frrDir, "bgpd.vty"), 10*time.Second); err != nil {
		return fmt.Errorf("lab: bgpd did not start: %w\n%s", err, s.FRRLog())
	}
	return nil
}

func waitFile(ctx context.Context, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s after %v", path, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops every daemon and server and deletes the namespaces.
func (s *ScaleLab) Close() error {
	for _, lb := range s.LBs {
		lb.close()
	}
	for _, p := range s.frr {
		p.Kill()
	}
	if s.frrLog != nil {
		s.frrLog.Close()
	}
	if s.frrDir != "" {
		os.RemoveAll(s.frrDir)
	}
	for _, b := range s.Backends {
		b.closeAll()
	}
	var errs []error
	for i := len(s.all) - 1; i >= 0; i-- {
		errs = append(errs, s.all[i].Delete())
	}
	return errors.Join(errs...)
}

// FRRLog returns what zebra and bgpd logged.
func (s *ScaleLab) FRRLog() string {
	b, _ := os.ReadFile(filepath.Join(s.cfg.Dir, "frr.log"))
	return string(b)
}

// Vtysh runs one vtysh command on the router.
func (s *ScaleLab) Vtysh(ctx context.Context, cmd string) (string, error) {
	return s.Router.Run(ctx, "vtysh", "--vty_socket", s.frrDir, "-c", cmd)
}

// Nexthops returns the next hops of the router's kernel route to dst,
// sorted: what zebra installed, one per LB in the ECMP set.
func (s *ScaleLab) Nexthops(ctx context.Context, dst netip.Addr) ([]netip.Addr, error) {
	out, err := s.Router.Run(ctx, "ip", "route", "show", dst.String()+"/32")
	if err != nil {
		return nil, err
	}
	hops := viaAddrs(out)
	if len(hops) == 0 {
		// A route through a nexthop group lists the group's id only.
		if id := fieldAfter(out, "nhid"); id != "" {
			grp, err := s.Router.Run(ctx, "ip", "nexthop", "show", "id", id)
			if err != nil {
				return nil, err
			}
			if g := fieldAfter(grp, "group"); g != "" {
				for _, m := range strings.Split(g, "/") {
					m, _, _ = strings.Cut(m, ",")
					one, err := s.Router.Run(ctx, "ip", "nexthop", "show", "id", m)
					if err != nil {
						return nil, err
					}
					hops = append(hops, viaAddrs(one)...)
				}
			} else {
				hops = viaAddrs(grp)
			}
		}
	}
	slices.SortFunc(hops, netip.Addr.Compare)
	return slices.Compact(hops), nil
}

func viaAddrs(out string) []netip.Addr {
	var hops []netip.Addr
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			if a, err := netip.ParseAddr(f[i+1]); err == nil {
				hops = append(hops, a)
			}
		}
	}
	return hops
}

func fieldAfter(out, key string) string {
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == key {
			return f[i+1]
		}
	}
	return ""
}

// LBOf returns the LB whose router-side link address is hop.
func (s *ScaleLab) LBOf(hop netip.Addr) *ScaleLB {
	for _, lb := range s.LBs {
		if lb.Link == hop {
			return lb
		}
	}
	return nil
}

// Dial opens a TCP connection from the client.
func (n *Node) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := n.NS.Do(func() error {
		var err error
		c, err = (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, "tcp4", addr.String())
		return err
	})
	return c, err
}

// Start runs the LB's seesawd on its configuration file, appending to LogPath.
func (lb *ScaleLB) Start() error {
	return lb.start(lb.NS, "seesawd "+lb.Name, lb.lab.cfg.Seesawd, "--config", lb.ConfigPath)
}

// StartProgram runs any program in the LB (keepalived, say) as its daemon,
// its output appended to LogPath.
func (lb *ScaleLB) StartProgram(label, bin string, args ...string) error {
	return lb.start(lb.NS, label, bin, args...)
}

// WriteConfig writes the LB's configuration file.
func (lb *ScaleLB) WriteConfig(text string) error {
	return os.WriteFile(lb.ConfigPath, []byte(text), 0o644)
}

// Cut takes the LB off its link to the router (the router sees its port
// go down) and off the back bridge.
func (lb *ScaleLB) Cut(ctx context.Context) error {
	if _, err := lb.lab.Router.IP(ctx, "link", "set", fmt.Sprintf("eth%d", lb.N), "down"); err != nil {
		return err
	}
	_, err := lb.lab.Back.IP(ctx, "link", "set", lb.Name, "down")
	return err
}

// Restore undoes Cut.
func (lb *ScaleLB) Restore(ctx context.Context) error {
	if _, err := lb.lab.Router.IP(ctx, "link", "set", fmt.Sprintf("eth%d", lb.N), "up"); err != nil {
		return err
	}
	_, err := lb.lab.Back.IP(ctx, "link", "set", lb.Name, "up")
	return err
}

// Blackhole silently drops everything the LB receives from the router, its
// link staying up: the router notices only when the hold time runs out.
func (lb *ScaleLB) Blackhole(ctx context.Context) error {
	_, err := lb.NS.Sh(ctx, "nft add table inet blackhole && nft add chain inet blackhole in '{ type filter hook ingress device eth0 priority 0; policy drop; }'")
	return err
}

// Unblackhole undoes Blackhole.
func (lb *ScaleLB) Unblackhole(ctx context.Context) error {
	_, err := lb.NS.Sh(ctx, "nft delete table inet blackhole")
	return err
}

// Ipvsadm runs ipvsadm in the LB.
func (lb *ScaleLB) Ipvsadm(ctx context.Context, args ...string) (string, error) {
	return lb.NS.Run(ctx, "ipvsadm", args...)
}

// ClientPorts returns the client ports of the LB's IPVS connection entries
// for vip:port in state (ESTABLISHED, say), each with the time left on its
// timer: the entry that saw the flow's last packet has the most.
func (lb *ScaleLB) ClientPorts(ctx context.Context, vip netip.AddrPort, state string) (map[uint16]time.Duration, error) {
	out, err := lb.Ipvsadm(ctx, "-Lnc")
	if err != nil {
		return nil, err
	}
	ports := map[uint16]time.Duration{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		// TCP 14:59  ESTABLISHED 203.0.113.10:41234 198.51.100.10:9000 10.0.1.11:9000
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[2] != state || f[4] != vip.String() {
			continue
		}
		ap, err := netip.ParseAddrPort(f[3])
		if err != nil {
			continue
		}
		var m, sec int
		if _, err := fmt.Sscanf(f[1], "%d:%d", &m, &sec); err != nil {
			continue
		}
		ports[ap.Port()] = time.Duration(m)*time.Minute + time.Duration(sec)*time.Second
	}
	return ports, nil
}

// ServeEcho starts a TCP server on port of the backend that echoes every
// byte back, for long-lived connections and TCP checks.
func (b *Backend) ServeEcho(port uint16) error {
	var ln net.Listener
	err := b.NS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", ":"+strconv.Itoa(int(port)))
		return err
	})
	if err != nil {
		return fmt.Errorf("lab: %s listen :%d: %w", b.Name, port, err)
	}
	b.mu.Lock()
	b.closers = append(b.closers, ln)
	b.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.closers = append(b.closers, c)
			b.mu.Unlock()
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return nil
}

// closeAll stops the backend's servers and connections.
func (b *Backend) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for p, s := range b.srvs {
		_ = s.Close()
		delete(b.srvs, p)
	}
	for _, c := range b.closers {
		_ = c.Close()
	}
	b.closers = nil
}
