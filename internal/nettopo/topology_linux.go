//go:build linux

package nettopo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// New builds the topology described by cfg (nil means the default). On
// error everything already created is removed.
func New(ctx context.Context, cfg *Config) (*Topology, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	prefix := cfg.Prefix
	if prefix == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		prefix = "nt" + hex.EncodeToString(b[:])
	}
	nodes := cfg.Nodes
	if nodes == nil {
		nodes = DefaultNodes()
	}
	iface := cfg.Iface
	if iface == "" {
		iface = "eth0"
	}
	t := &Topology{Switch: &Netns{Name: prefix + "-sw"}, Bridge: "br0"}
	if err := t.build(ctx, prefix, iface, nodes); err != nil {
		return nil, errors.Join(err, t.Close())
	}
	return t, nil
}

func (t *Topology) build(ctx context.Context, prefix, iface string, nodes []NodeConfig) error {
	if err := addNetns(ctx, t.Switch); err != nil {
		return err
	}
	sw := t.Switch
	// Snooping off: VRRP's 224.0.0.18 and ff02::12 must reach every port
	// whether or not an MLD querier exists.
	if _, err := sw.IP(ctx, "link", "add", t.Bridge, "type", "bridge", "mcast_snooping", "0", "stp_state", "0"); err != nil {
		return err
	}
	if _, err := sw.IP(ctx, "link", "set", t.Bridge, "up"); err != nil {
		return err
	}
	for _, nc := range nodes {
		if nc.Name == "" || len(nc.Name) > 15 {
			return fmt.Errorf("nettopo: node name %q must be 1-15 bytes", nc.Name)
		}
		n := &Node{Netns: Netns{Name: prefix + "-" + nc.Name}, Short: nc.Name, Iface: iface, Port: nc.Name,
			IPv4: nc.IPv4, IPv6: nc.IPv6, topo: t}
		if err := addNetns(ctx, &n.Netns); err != nil {
			return err
		}
		t.Nodes = append(t.Nodes, n)
		args := []string{"link", "add", n.Port, "netns", sw.Name, "type", "veth", "peer", "name", iface, "netns", n.Name}
		if nc.MAC != nil {
			args = append(args, "address", nc.MAC.String())
		}
		if _, err := run(ctx, "ip", args...); err != nil {
			return err
		}
		if _, err := sw.IP(ctx, "link", "set", n.Port, "master", t.Bridge, "up"); err != nil {
			return err
		}
		if nc.IPv4.IsValid() {
			if _, err := n.IP(ctx, "addr", "add", nc.IPv4.String(), "dev", iface); err != nil {
				return err
			}
		}
		if nc.IPv6.IsValid() {
			if _, err := n.IP(ctx, "addr", "add", nc.IPv6.String(), "dev", iface, "nodad"); err != nil {
				return err
			}
		}
		if _, err := n.IP(ctx, "link", "set", iface, "up"); err != nil {
			return err
		}
	}
	for _, n := range t.Nodes {
		if err := n.learnLink(ctx); err != nil {
			return err
		}
	}
	return nil
}

// addNetns creates the namespace with loopback up and IPv6 duplicate
// address detection off, so addresses (link-local included) are usable at
// once: VRRP over IPv6 must source its adverts from the link-local address.
func addNetns(ctx context.Context, n *Netns) error {
	if _, err := run(ctx, "ip", "netns", "add", n.Name); err != nil {
		return err
	}
	if _, err := n.IP(ctx, "link", "set", "lo", "up"); err != nil {
		return err
	}
	_, err := n.Run(ctx, "sysctl", "-q",
		"-w", "net.ipv6.conf.all.accept_dad=0",
		"-w", "net.ipv6.conf.default.accept_dad=0",
		"-w", "net.ipv6.conf.default.dad_transmits=0",
		// Keep IPv6 addresses when an interface goes administratively
		// down, as keepalived's manual advises for VRRP over IPv6.
		"-w", "net.ipv6.conf.all.keep_addr_on_down=1",
		"-w", "net.ipv6.conf.default.keep_addr_on_down=1")
	return err
}

// learnLink records the node's MAC, index and link-local address, waiting
// briefly for the kernel to assign the latter.
func (n *Node) learnLink(ctx context.Context) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := n.WithHandle(func(h *netlink.Handle) error {
			l, err := h.LinkByName(n.Iface)
			if err != nil {
				return err
			}
			n.MAC, n.Index = l.Attrs().HardwareAddr, l.Attrs().Index
			addrs, err := h.AddrList(l, netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				ip, ok := netip.AddrFromSlice(a.IP)
				if ok && ip.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
					n.LinkLocal = ip
					return nil
				}
			}
			return errors.New("no link-local address yet")
		})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nettopo: %s: %w", n.Name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close kills every process left in the topology's namespaces and deletes
// them (which deletes their veths and the bridge).
func (t *Topology) Close() error {
	var errs []error
	for _, n := range t.Namespaces() {
		errs = append(errs, n.Delete())
	}
	return errors.Join(errs...)
}

// Delete kills every process in the namespace and deletes it. A namespace
// that does not exist is not an error.
func (n *Netns) Delete() error {
	pids, _ := n.Pids()
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	// Wait (bounded) for the killed processes to go, so that the delete
	// really frees the namespace.
	for i := 0; i < 100 && len(pids) > 0; i++ {
		time.Sleep(10 * time.Millisecond)
		pids, _ = n.Pids()
	}
	out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such file") {
		return fmt.Errorf("nettopo: ip netns del %s: %w: %s", n.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Pids returns the processes running in the namespace (ip netns pids).
func (n *Netns) Pids() ([]int, error) {
	out, err := exec.Command("ip", "netns", "pids", n.Name).Output()
	if err != nil {
		return nil, fmt.Errorf("nettopo: ip netns pids %s: %w", n.Name, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// Do runs f on a locked OS thread switched into the namespace, so sockets
// f opens belong to it (a socket keeps its namespace for life). The
// thread's namespace is restored afterwards; if that fails the thread stays
// locked and dies with the goroutine rather than leak into other code.
func (n *Netns) Do(f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("nettopo: current netns: %w", err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(n.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("nettopo: open netns %s: %w", n.Name, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("nettopo: enter netns %s: %w", n.Name, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("nettopo: restore netns: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// WithHandle runs f with a netlink handle bound to the namespace.
func (n *Netns) WithHandle(f func(*netlink.Handle) error) error {
	ns, err := netns.GetFromName(n.Name)
	if err != nil {
		return fmt.Errorf("nettopo: open netns %s: %w", n.Name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("nettopo: netlink handle in %s: %w", n.Name, err)
	}
	defer h.Close()
	return f(h)
}

// Cut takes the node off the network the way a pulled cable does: its
// port on the bridge goes down, so nothing it sends arrives anywhere and its
// own interface loses carrier.
func (n *Node) Cut(ctx context.Context) error {
	_, err := n.topo.Switch.IP(ctx, "link", "set", n.Port, "down")
	return err
}

// Restore undoes Cut.
func (n *Node) Restore(ctx context.Context) error {
	_, err := n.topo.Switch.IP(ctx, "link", "set", n.Port, "up")
	return err
}

// Addrs returns the addresses on the node's interface.
func (n *Node) Addrs() ([]netip.Addr, error) {
	var out []netip.Addr
	err := n.WithHandle(func(h *netlink.Handle) error {
		var addrs []netlink.Addr
		err := retryDump(func() (err error) {
			addrs, err = h.AddrList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: n.Index}}, netlink.FAMILY_ALL)
			return err
		})
		if err != nil {
			return fmt.Errorf("nettopo: addresses of %s: %w", n.Name, err)
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
		return nil
	})
	return out, err
}

// HasAddr reports whether ip is on the node's interface.
func (n *Node) HasAddr(ip netip.Addr) (bool, error) {
	addrs, err := n.Addrs()
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if a == ip {
			return true, nil
		}
	}
	return false, nil
}

// Neighbor returns the link-layer address and NUD state ("REACHABLE",
// "STALE", ...) of ip in the node's neighbour table; a nil address with no
// error means no usable entry.
func (n *Node) Neighbor(ip netip.Addr) (net.HardwareAddr, string, error) {
	var mac net.HardwareAddr
	var state string
	err := n.WithHandle(func(h *netlink.Handle) error {
		fam := netlink.FAMILY_V4
		if ip.Is6() {
			fam = netlink.FAMILY_V6
		}
		var neighs []netlink.Neigh
		err := retryDump(func() (err error) {
			neighs, err = h.NeighList(n.Index, fam)
			return err
		})
		if err != nil {
			return fmt.Errorf("nettopo: neighbours of %s: %w", n.Name, err)
		}
		for _, nb := range neighs {
			if a, ok := netip.AddrFromSlice(nb.IP); ok && a.Unmap() == ip && nb.HardwareAddr != nil {
				mac, state = nb.HardwareAddr, nudString(nb.State)
			}
		}
		return nil
	})
	return mac, state, err
}

func nudString(s int) string {
	switch s {
	case netlink.NUD_INCOMPLETE:
		return "INCOMPLETE"
	case netlink.NUD_REACHABLE:
		return "REACHABLE"
	case netlink.NUD_STALE:
		return "STALE"
	case netlink.NUD_DELAY:
		return "DELAY"
	case netlink.NUD_PROBE:
		return "PROBE"
	case netlink.NUD_FAILED:
		return "FAILED"
	case netlink.NUD_NOARP:
		return "NOARP"
	case netlink.NUD_PERMANENT:
		return "PERMANENT"
	}
	return "0x" + strconv.FormatInt(int64(s), 16)
}

// retryDump repeats a netlink dump the kernel interrupted because the table
// changed meanwhile (NLM_F_DUMP_INTR): its partial result must not be used,
// and a daemon adding many addresses at once makes that common.
func retryDump(dump func() error) error {
	var err error
	for i := 0; i < 20; i++ {
		if err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	return err
}
