//go:build linux

package lab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seesawd/seesawd/internal/nettopo"
)

// Config configures New.
type Config struct {
	// Seesawd is the daemon binary the LBs run.
	Seesawd string
	// Dir holds the LBs' configuration files, state files and logs.
	Dir string
	// Prefix starts every namespace name; empty picks a random one.
	Prefix string
	// AdvertInterval is the VRRP advertisement interval (default 300ms: the
	// lab runs under emulation, where 100ms adverts are late often enough to
	// flap).
	AdvertInterval time.Duration
}

// Lab is the running topology.
type Lab struct {
	cfg      Config
	Front    *nettopo.Netns // the front bridge's namespace
	Back     *nettopo.Netns // the back bridge's namespace
	Client   *nettopo.Netns
	LBs      []*LB
	Backends []*Backend
	all      []*nettopo.Netns
}

// LB is one load-balancer node.
type LB struct {
	Name       string
	NS         *nettopo.Netns
	Front      netip.Addr
	Back       netip.Addr
	Priority   int
	ConfigPath string
	StatePath  string
	// ControlSocket is the LB's seesawctl socket.
	ControlSocket string
	lab           *Lab
	daemon
}

// daemon is the one daemon an LB node runs (seesawd, keepalived), its
// output appended to LogPath.
type daemon struct {
	name    string // the node's, for errors
	LogPath string
	proc    *nettopo.Process
	log     *os.File
}

// start runs bin in ns as the node's daemon.
func (d *daemon) start(ns *nettopo.Netns, label, bin string, args ...string) error {
	if d.proc != nil && !d.proc.Exited() {
		return fmt.Errorf("lab: %s already runs a daemon", d.name)
	}
	f, err := os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if d.log != nil {
		d.log.Close()
	}
	d.log = f
	p, err := ns.StartTo(f, label, bin, args...)
	if err != nil {
		return err
	}
	d.proc = p
	return nil
}

// Running reports whether the node's daemon runs.
func (d *daemon) Running() bool { return d.proc != nil && !d.proc.Exited() }

// Signal sends sig to the node's daemon.
func (d *daemon) Signal(sig syscall.Signal) error {
	if d.proc == nil {
		return fmt.Errorf("lab: %s runs no daemon", d.name)
	}
	return d.proc.Signal(sig)
}

// Stop stops the daemon with SIGTERM and returns an error if it does not
// exit cleanly within grace.
func (d *daemon) Stop(grace time.Duration) error {
	if d.proc == nil {
		return nil
	}
	return d.proc.Stop(grace)
}

// Kill kills the daemon with SIGKILL.
func (d *daemon) Kill() {
	if d.proc != nil {
		d.proc.Kill()
	}
}

// close kills the daemon and closes its log.
func (d *daemon) close() {
	d.Kill()
	if d.log != nil {
		d.log.Close()
	}
}

// Log returns what the node's daemons logged so far (every run).
func (d *daemon) Log() string {
	b, _ := os.ReadFile(d.LogPath)
	return string(b)
}

// Backend is one HTTP real server.
type Backend struct {
	Name string
	NS   *nettopo.Netns
	Addr netip.Addr
	mu   sync.Mutex
	srvs map[uint16]*http.Server
	// closers are echo listeners and connections (ServeEcho).
	closers []io.Closer
}

// New builds the lab. On error everything built so far is removed.
func New(ctx context.Context, cfg Config) (*Lab, error) {
	cfg.Prefix = prefixOr(cfg.Prefix, "lab")
	if cfg.AdvertInterval == 0 {
		cfg.AdvertInterval = 300 * time.Millisecond
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l := &Lab{cfg: cfg}
	if err := l.build(ctx); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return l, nil
}

// prefixOr returns prefix, or base and random hex digits when it is empty:
// labs of concurrent runs must not share namespace names.
func prefixOr(prefix, base string) string {
	if prefix != "" {
		return prefix
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return base + hex.EncodeToString(b[:])
}

func (l *Lab) netns(ctx context.Context, name string) (*nettopo.Netns, error) {
	n, err := nettopo.NewNetns(ctx, l.cfg.Prefix+"-"+name)
	if err != nil {
		return nil, err
	}
	l.all = append(l.all, n)
	return n, nil
}

// sh runs each command line in n, stopping at the first failure.
func sh(ctx context.Context, n *nettopo.Netns, lines ...string) error {
	for _, line := range lines {
		if _, err := n.Sh(ctx, line); err != nil {
			return err
		}
	}
	return nil
}

// attach wires n's interface ifname to the bridge in sw through a port named port.
func attach(ctx context.Context, sw, n *nettopo.Netns, port, ifname, addr, mac string) error {
	args := []string{"link", "add", port, "netns", sw.Name, "type", "veth", "peer", "name", ifname, "netns", n.Name}
	if mac != "" {
		args = append(args, "address", mac)
	}
	if _, err := n.IP(ctx, args...); err != nil {
		return err
	}
	if _, err := sw.IP(ctx, "link", "set", port, "master", "br0", "up"); err != nil {
		return err
	}
	return sh(ctx, n, "ip addr add "+addr+" dev "+ifname, "ip link set "+ifname+" up")
}

func (l *Lab) build(ctx context.Context) error {
	var err error
	for _, sw := range []**nettopo.Netns{&l.Front, &l.Back} {
		name := "front"
		if sw == &l.Back {
			name = "back"
		}
		if *sw, err = l.netns(ctx, name); err != nil {
			return err
		}
		// Snooping off: VRRP multicast must reach every port.
		if err := sh(ctx, *sw, "ip link add br0 type bridge mcast_snooping 0 stp_state 0", "ip link set br0 up"); err != nil {
			return err
		}
	}
	if l.Client, err = l.netns(ctx, "client"); err != nil {
		return err
	}
	if err := attach(ctx, l.Front, l.Client, "client", "eth0", ClientIP.String()+"/24", "02:5e:00:00:00:0a"); err != nil {
		return err
	}
	for i, prio := range []int{150, 100} {
		name := fmt.Sprintf("lb%d", i+1)
		lb := &LB{Name: name, Front: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}),
			Back: netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 1)}), Priority: prio, lab: l,
			ConfigPath: filepath.Join(l.cfg.Dir, name+".yaml"), StatePath: filepath.Join(l.cfg.Dir, name+"-state.json"),
			ControlSocket: filepath.Join(l.cfg.Dir, name+".sock"),
			daemon:        daemon{name: name, LogPath: filepath.Join(l.cfg.Dir, name+".log")}}
		if lb.NS, err = l.netns(ctx, name); err != nil {
			return err
		}
		if err := attach(ctx, l.Front, lb.NS, name, "eth0", lb.Front.String()+"/24", fmt.Sprintf("02:5e:00:00:00:%02x", i+1)); err != nil {
			return err
		}
		if err := attach(ctx, l.Back, lb.NS, name, "eth1", lb.Back.String()+"/24", fmt.Sprintf("02:5e:00:00:01:%02x", i+1)); err != nil {
			return err
		}
		// A router between the client and the backends; IPVS keeps its
		// connection table per namespace.
		if err := sh(ctx, lb.NS, "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0",
			"sysctl -qw net.ipv4.vs.conntrack=1 2>/dev/null || true"); err != nil {
			return err
		}
		l.LBs = append(l.LBs, lb)
	}
	for i := range 3 {
		name := fmt.Sprintf("b%d", i+1)
		b := &Backend{Name: name, Addr: netip.AddrFrom4([4]byte{10, 0, 1, byte(11 + i)}), srvs: map[uint16]*http.Server{}}
		if b.NS, err = l.netns(ctx, name); err != nil {
			return err
		}
		if err := attach(ctx, l.Back, b.NS, name, "eth0", b.Addr.String()+"/24", fmt.Sprintf("02:5e:00:00:02:%02x", i+1)); err != nil {
			return err
		}
		// The VIP on loopback (direct routing) must not be announced or
		// answered for on the wire.
		if err := sh(ctx, b.NS, "ip route add default via "+Gateway.String(),
			"sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0"); err != nil {
			return err
		}
		l.Backends = append(l.Backends, b)
	}
	return nil
}

// Close stops every daemon and server and deletes the namespaces.
func (l *Lab) Close() error {
	for _, lb := range l.LBs {
		lb.close()
	}
	for _, b := range l.Backends {
		b.mu.Lock()
		for p, s := range b.srvs {
			_ = s.Close()
			delete(b.srvs, p)
		}
		b.mu.Unlock()
	}
	var errs []error
	for i := len(l.all) - 1; i >= 0; i-- {
		errs = append(errs, l.all[i].Delete())
	}
	return errors.Join(errs...)
}

// Render returns the LB's configuration: node, log, VRRP (front and back in a
// sync group) and ipvs settings, followed by services, a YAML list (the
// text after "services:").
func (lb *LB) Render(ipvsYAML, servicesYAML string) string {
	adv := lb.lab.cfg.AdvertInterval
	var b strings.Builder
	fmt.Fprintf(&b, "node: { name: %s }\nlog: { level: debug, format: json }\ncontrol: { socket: %s }\n", lb.Name, lb.ControlSocket)
	fmt.Fprintf(&b, "ipvs:\n  state_file: %s\n", lb.StatePath)
	for _, line := range strings.Split(strings.TrimRight(ipvsYAML, "\n"), "\n") {
		if line != "" {
			b.WriteString("  " + line + "\n")
		}
	}
	fmt.Fprintf(&b, `vrrp:
  - { name: front, interface: eth0, vrid: %d, priority: %d, advert_interval: %v, virtual_ips: [%v/24],
      garp: { count: 4, interval: 500ms } }
  - { name: back, interface: eth1, vrid: %d, priority: %d, advert_interval: %v, virtual_ips: [%v/24],
      garp: { count: 4, interval: 500ms } }
sync_groups: [{ name: lb, instances: [front, back] }]
`, FrontVRID, lb.Priority, adv, VIP, BackVRID, lb.Priority, adv, Gateway)
	if strings.TrimSpace(servicesYAML) != "" {
		b.WriteString("services:\n" + servicesYAML)
	}
	return b.String()
}

// WriteConfig writes the LB's configuration file.
func (lb *LB) WriteConfig(ipvsYAML, servicesYAML string) error {
	return os.WriteFile(lb.ConfigPath, []byte(lb.Render(ipvsYAML, servicesYAML)), 0o644)
}

// Start runs seesawd on the LB with its configuration file, appending its
// log to LogPath.
func (lb *LB) Start() error {
	return lb.start(lb.NS, "seesawd "+lb.Name, lb.lab.cfg.Seesawd, "--config", lb.ConfigPath)
}

// Cut takes the LB off both networks, as pulled cables would.
func (lb *LB) Cut(ctx context.Context) error {
	if _, err := lb.lab.Front.IP(ctx, "link", "set", lb.Name, "down"); err != nil {
		return err
	}
	_, err := lb.lab.Back.IP(ctx, "link", "set", lb.Name, "down")
	return err
}

// Restore undoes Cut.
func (lb *LB) Restore(ctx context.Context) error {
	if _, err := lb.lab.Front.IP(ctx, "link", "set", lb.Name, "up"); err != nil {
		return err
	}
	_, err := lb.lab.Back.IP(ctx, "link", "set", lb.Name, "up")
	return err
}

// MAC returns the hardware address of the LB's interface ifname.
func (lb *LB) MAC(ctx context.Context, ifname string) string {
	out, err := lb.NS.Sh(ctx, "cat /sys/class/net/"+ifname+"/address")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// neighbor returns the MAC n resolves ip to, "" when it has no entry.
func neighbor(ctx context.Context, n *nettopo.Netns, ip netip.Addr) string {
	out, err := n.IP(ctx, "neigh", "show", ip.String())
	if err != nil {
		return ""
	}
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// SendsTo reports whether traffic goes through master: the client's
// neighbour entry for the VIP and every backend's for the gateway name
// master's interfaces (or are not there yet, so they will be resolved to
// the only holder). After a failover, nodes that cached the old master keep
// sending to it until an announcement or their own probe corrects them.
func (l *Lab) SendsTo(ctx context.Context, master *LB) bool {
	if n := neighbor(ctx, l.Client, VIP); n != "" && n != master.MAC(ctx, "eth0") {
		return false
	}
	back := master.MAC(ctx, "eth1")
	for _, b := range l.Backends {
		if n := neighbor(ctx, b.NS, Gateway); n != "" && n != back {
			return false
		}
	}
	return true
}

// HoldsVIP reports whether the LB carries the front VIP.
func (lb *LB) HoldsVIP(ctx context.Context) bool {
	out, err := lb.NS.IP(ctx, "-br", "addr", "show", "dev", "eth0")
	return err == nil && strings.Contains(out, VIP.String()+"/")
}

// IPVS returns `ipvsadm -Sn` in the LB: the kernel's table as an
// independent tool reads it.
func (lb *LB) IPVS(ctx context.Context) (string, error) {
	return lb.NS.Run(ctx, "ipvsadm", "-Sn")
}

// Ipvsadm runs ipvsadm with args in the LB.
func (lb *LB) Ipvsadm(ctx context.Context, args ...string) (string, error) {
	return lb.NS.Run(ctx, "ipvsadm", args...)
}

// Stats are a service's or destination's counters as `ipvsadm -Ln --stats --exact` prints them.
type Stats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

// Stats returns the counters of every service ("TCP 192.0.2.100:80") and
// destination ("TCP 192.0.2.100:80 -> 10.0.1.11:8080") of the LB.
func (lb *LB) Stats(ctx context.Context) (map[string]Stats, error) {
	out, err := lb.NS.Run(ctx, "ipvsadm", "-Ln", "--stats", "--exact")
	if err != nil {
		return nil, err
	}
	res := map[string]Stats{}
	var svc string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		var key string
		var nums []string
		switch {
		case f[0] == "TCP" || f[0] == "UDP" || f[0] == "SCTP" || f[0] == "FWM":
			svc = f[0] + " " + f[1]
			key, nums = svc, f[2:]
		case f[0] == "->" && svc != "":
			key, nums = svc+" -> "+f[1], f[2:]
		default:
			continue
		}
		if len(nums) < 5 {
			continue
		}
		var s Stats
		vals := []*uint64{&s.Conns, &s.InPkts, &s.OutPkts, &s.InBytes, &s.OutBytes}
		ok := true
		for i, p := range vals {
			v, err := strconv.ParseUint(nums[i], 10, 64)
			if err != nil {
				ok = false
				break
			}
			*p = v
		}
		if ok {
			res[key] = s
		}
	}
	return res, nil
}

// Serve starts an HTTP server on port of the backend's every address,
// answering every request with the backend's name and a newline, and
// /healthz with 200.
func (b *Backend) Serve(port uint16) error { return b.ServeText(port, b.Name) }

// ServeText is Serve answering with text instead of the backend's name.
func (b *Backend) ServeText(port uint16, text string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srvs[port] != nil {
		return nil
	}
	var ln net.Listener
	err := b.NS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", ":"+strconv.Itoa(int(port)))
		return err
	})
	if err != nil {
		return fmt.Errorf("lab: %s listen :%d: %w", b.Name, port, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(30 * time.Second)
		}
		io.WriteString(w, text+"\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	b.srvs[port] = srv
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Halt stops the server on port: new connections are refused.
func (b *Backend) Halt(port uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.srvs[port]; s != nil {
		_ = s.Close()
		delete(b.srvs, port)
	}
}

// AddVIP puts addr on the backend's loopback, as direct routing needs.
func (b *Backend) AddVIP(ctx context.Context, addr netip.Addr) error {
	_, err := b.NS.IP(ctx, "addr", "add", addr.String()+"/32", "dev", "lo")
	return err
}

// client is an HTTP client whose connections are opened in the client
// namespace, one fresh connection per request.
func (l *Lab) client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := l.Client.Do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
}

// Get fetches url from the client namespace over a fresh connection and
// returns the body without its newline.
func (l *Lab) Get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := l.client(2 * time.Second).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("lab: GET %s: %s", url, resp.Status)
	}
	return strings.TrimSpace(string(body)), nil
}

// Dial opens a TCP connection from the client namespace.
func (l *Lab) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := l.Client.Do(func() error {
		var err error
		c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp4", addr)
		return err
	})
	return c, err
}

// Spread sends n requests to url, one connection each, and counts the
// answers by backend name; failures are counted under "error".
func (l *Lab) Spread(ctx context.Context, url string, n int) map[string]int {
	out := map[string]int{}
	for range n {
		body, err := l.Get(ctx, url)
		if err != nil {
			out["error"]++
			continue
		}
		out[body]++
	}
	return out
}
