package nettopo

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Checksum selects how an IPv4 VRRPv3 checksum is computed.
type Checksum int

const (
	// ChecksumRFC5798 includes the IPv4 pseudo-header (RFC 5798 section 5.2.8).
	ChecksumRFC5798 Checksum = iota
	// ChecksumIPv4NoPseudoHeader leaves the pseudo-header out, as VRRPv2 did.
	ChecksumIPv4NoPseudoHeader
)

// String returns the seesawd configuration spelling of the mode.
func (c Checksum) String() string {
	switch c {
	case ChecksumRFC5798:
		return "rfc5798"
	case ChecksumIPv4NoPseudoHeader:
		return "ipv4-no-pseudo-header"
	}
	return fmt.Sprintf("Checksum(%d)", int(c))
}

// Instance is one VRRP instance, rendered for either speaker.
type Instance struct {
	// Name names the instance in both configurations.
	Name string
	// VRID is the virtual router ID, 1-255.
	VRID int
	// Priority is 1-255.
	Priority int
	// Advert is the advertisement interval, a multiple of 10 ms.
	Advert time.Duration
	// NoPreempt turns preemption off (on by default in both speakers).
	NoPreempt bool
	// VIPs are the virtual addresses, all of one family.
	VIPs []netip.Prefix
	// Checksum is the IPv4 checksum mode. keepalived 2.2.7 has no option
	// for ChecksumIPv4NoPseudoHeader (see Keepalived.Config).
	Checksum Checksum
}

// IPv6 reports whether the instance's addresses are IPv6.
func (i Instance) IPv6() bool { return len(i.VIPs) > 0 && i.VIPs[0].Addr().Is6() }

// Speaker is a VRRP implementation the tests and benchmark drive.
type Speaker interface {
	// Name is "keepalived" or "seesawd".
	Name() string
	// Start runs the speaker with the instances on the node's interface,
	// keeping its files in dir.
	Start(node *Node, dir string, insts []Instance) (*Process, error)
}

// Keepalived runs keepalived (2.2.7 is what the tests were written against).
type Keepalived struct {
	// Binary is the keepalived path; empty means "keepalived" on PATH.
	Binary string
}

// Name returns "keepalived".
func (Keepalived) Name() string { return "keepalived" }

// Config renders keepalived.conf for the instances on iface. It fails for
// ChecksumIPv4NoPseudoHeader: keepalived 2.2.7 rejects "v3_checksum_as_v2"
// as an unknown keyword, and its one checksum switch, old_unicast_checksum,
// only changes the pseudo-header's destination for unicast peers.
func (Keepalived) Config(routerID, iface string, insts []Instance) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id %s\n  vrrp_version 3\n  vrrp_garp_master_delay 0\n}\n", routerID)
	for _, in := range insts {
		if in.Checksum != ChecksumRFC5798 {
			return "", fmt.Errorf("nettopo: keepalived 2.2.7 cannot send VRRPv3 checksum %v", in.Checksum)
		}
		if len(in.VIPs) == 0 {
			return "", fmt.Errorf("nettopo: instance %s has no virtual addresses", in.Name)
		}
		fmt.Fprintf(&b, "vrrp_instance %s {\n  state BACKUP\n  interface %s\n", in.Name, iface)
		fmt.Fprintf(&b, "  virtual_router_id %d\n  priority %d\n  advert_int %s\n", in.VRID, in.Priority, seconds(in.Advert))
		if in.IPv6() {
			b.WriteString("  native_ipv6\n")
		}
		if in.NoPreempt {
			b.WriteString("  nopreempt\n")
		}
		b.WriteString("  garp_master_delay 0\n  virtual_ipaddress {\n")
		for _, v := range in.VIPs {
			fmt.Fprintf(&b, "    %s\n", v)
		}
		b.WriteString("  }\n}\n")
	}
	return b.String(), nil
}

func seconds(d time.Duration) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", d.Seconds()), "0"), ".")
}

// Start writes the configuration and runs keepalived in the foreground
// (-n), logging to its output (-l -D), VRRP only (-P), with pid files in dir
// so several copies run side by side.
func (k Keepalived) Start(node *Node, dir string, insts []Instance) (*Process, error) {
	conf, err := k.Config(node.Short, node.Iface, insts)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "keepalived-"+node.Short+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("nettopo: %w", err)
	}
	bin := k.Binary
	if bin == "" {
		bin = "keepalived"
	}
	return node.Start("keepalived "+node.Short, bin, "-n", "-l", "-D", "-P", "-f", path,
		"-p", filepath.Join(dir, "keepalived-"+node.Short+".pid"),
		"-r", filepath.Join(dir, "vrrp-"+node.Short+".pid"))
}

// Seesawd runs a seesawd binary.
type Seesawd struct {
	// Binary is the seesawd path (see BuildSeesawd).
	Binary string
	// LogLevel is the daemon's log level; empty means "debug".
	LogLevel string
}

// Name returns "seesawd".
func (Seesawd) Name() string { return "seesawd" }

// Config renders the daemon's YAML for the instances on iface.
func (s Seesawd) Config(nodeName, iface string, insts []Instance) (string, error) {
	level := s.LogLevel
	if level == "" {
		level = "debug"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "node: { name: %s }\nlog: { level: %s, format: json }\nvrrp:\n", nodeName, level)
	for _, in := range insts {
		if len(in.VIPs) == 0 {
			return "", fmt.Errorf("nettopo: instance %s has no virtual addresses", in.Name)
		}
		vips := make([]string, len(in.VIPs))
		for i, v := range in.VIPs {
			vips[i] = fmt.Sprintf("%q", v.String())
		}
		fmt.Fprintf(&b, "  - name: %s\n    interface: %s\n    vrid: %d\n    priority: %d\n", in.Name, iface, in.VRID, in.Priority)
		fmt.Fprintf(&b, "    advert_interval: %s\n    preempt: %t\n    preempt_delay: 0s\n    accept: true\n", in.Advert, !in.NoPreempt)
		fmt.Fprintf(&b, "    unicast_peers: []\n    checksum: %s\n", in.Checksum)
		b.WriteString("    garp: { count: 3, interval: 100ms, refresh: 0s }\n    track_interfaces: []\n")
		fmt.Fprintf(&b, "    virtual_ips: [%s]\n", strings.Join(vips, ", "))
	}
	b.WriteString("sync_groups: []\n")
	return b.String(), nil
}

// Start writes the configuration and runs seesawd --config FILE.
func (s Seesawd) Start(node *Node, dir string, insts []Instance) (*Process, error) {
	conf, err := s.Config(node.Short, node.Iface, insts)
	if err != nil {
		return nil, err
	}
	// A control socket of its own: nodes share the host's /run.
	conf += fmt.Sprintf("control: { socket: %s }\n", filepath.Join(dir, "seesawd-"+node.Short+".sock"))
	path := filepath.Join(dir, "seesawd-"+node.Short+".yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("nettopo: %w", err)
	}
	return node.Start("seesawd "+node.Short, s.Binary, "--config", path)
}

// BuildSeesawd builds ./cmd/seesawd of the enclosing module into dir and
// returns the binary's path.
func BuildSeesawd(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("nettopo: go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" {
		return "", fmt.Errorf("nettopo: not inside a Go module")
	}
	bin := filepath.Join(dir, "seesawd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/seesawd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("nettopo: go build ./cmd/seesawd: %w\n%s", err, out)
	}
	return bin, nil
}
