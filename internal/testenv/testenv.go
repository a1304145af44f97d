// Package testenv holds the helpers shared by seesawd's privileged tests:
// the skip-or-fail rule for integration tests and throwaway network
// namespaces built with iproute2.
//
// Integration tests are named TestIntegration*. They skip with a reason when
// the machine cannot run them (not root, a missing tool or kernel feature)
// and the skip turns into a failure when SEESAW_REQUIRE_INTEGRATION=1, so CI
// cannot go green by silently skipping.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// RequireEnv is the environment variable that turns integration skips into failures.
const RequireEnv = "SEESAW_REQUIRE_INTEGRATION"

// Required reports whether integration tests must run rather than skip.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Skip skips the test with the reason, or fails it when integration tests are required.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("integration test cannot run (%s=1): %s", RequireEnv, msg)
	}
	t.Skip(msg)
}

// Integration is called first in every TestIntegration* test. It skips (or
// fails, see Skip) unless the process is root, and skips under -short.
// Each named tool must be on PATH.
func Integration(t testing.TB, tools ...string) {
	t.Helper()
	if testing.Short() && !Required() {
		t.Skip("integration test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		Skip(t, "needs root (network namespaces, raw sockets)")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			Skip(t, "needs %s on PATH: %v", tool, err)
		}
	}
}

// Run runs a command on the host and returns its combined output, failing the test on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Sh runs a shell command line on the host, failing the test on error.
func Sh(t testing.TB, cmdline string) string {
	t.Helper()
	return Run(t, "sh", "-c", cmdline)
}

// Netns is a named network namespace created for one test and deleted by t.Cleanup.
type Netns struct {
	Name string
}

// NewNetns creates a fresh named namespace (ip netns add) with loopback up.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	n := &Netns{Name: "sst-" + hex.EncodeToString(b[:])}
	Run(t, "ip", "netns", "add", n.Name)
	t.Cleanup(func() {
		// Kill whatever a test left running inside before deleting it.
		if pids, err := exec.Command("ip", "netns", "pids", n.Name).Output(); err == nil {
			for _, p := range strings.Fields(string(pids)) {
				_ = exec.Command("kill", "-9", p).Run()
			}
		}
		_ = exec.Command("ip", "netns", "del", n.Name).Run()
	})
	n.Sh(t, "ip link set lo up")
	return n
}

// Cmd returns a command that runs inside the namespace (ip netns exec).
func (n *Netns) Cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Sh runs a shell command line inside the namespace, failing the test on error.
func (n *Netns) Sh(t testing.TB, cmdline string) string {
	t.Helper()
	var out bytes.Buffer
	c := n.Cmd(context.Background(), "sh", "-c", cmdline)
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		t.Fatalf("netns %s: %s: %v\n%s", n.Name, cmdline, err, out.String())
	}
	return out.String()
}

// Do runs f on a locked OS thread switched into the namespace, so sockets
// and netlink handles f opens belong to it. The thread is restored after.
func (n *Netns) Do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("testenv: current netns: %w", err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(n.Name)
	if err != nil {
		return fmt.Errorf("testenv: open netns %s: %w", n.Name, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("testenv: enter netns %s: %w", n.Name, err)
	}
	defer func() { _ = netns.Set(orig) }()
	return f()
}

// Handle opens a handle on the namespace; the caller closes it.
func (n *Netns) Handle() (netns.NsHandle, error) { return netns.GetFromName(n.Name) }

// Veth connects two namespaces with a veth pair named aName (in a) and bName (in b), both up.
func Veth(t testing.TB, a *Netns, aName string, b *Netns, bName string) {
	t.Helper()
	Run(t, "ip", "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name)
	a.Sh(t, "ip link set "+aName+" up")
	b.Sh(t, "ip link set "+bName+" up")
	// The kernel activates an up link's transmit queue asynchronously (its
	// linkwatch work, which also sets the operational state); until then
	// what is sent on it is dropped, and a test's first neighbour
	// solicitation would be retried only after the 1 s retransmit timer.
	// Wait for both ends to be operationally up.
	WaitFor(t, "veth "+aName+"/"+bName+" carrier", 5*time.Second, func() bool {
		return a.operUp(aName) && b.operUp(bName)
	})
}

// operUp reports whether the link's operational state is UP.
func (n *Netns) operUp(link string) bool {
	out, err := n.Cmd(context.Background(), "ip", "-o", "link", "show", "dev", link).Output()
	return err == nil && strings.Contains(string(out), " state UP ")
}

// LAN is a bridge in a namespace of its own, with one port per attached namespace.
type LAN struct {
	// Switch holds the bridge br0 and the bridge-side veth ports.
	Switch *Netns
	ports  int
}

// NewLAN creates the bridge namespace.
func NewLAN(t testing.TB) *LAN {
	t.Helper()
	sw := NewNetns(t)
	sw.Sh(t, "ip link add br0 type bridge && ip link set br0 up")
	return &LAN{Switch: sw}
}

// Attach creates a namespace whose eth0 (MAC mac, address addr4 in CIDR form)
// sits on the bridge, with IPv6 DAD off. It returns the namespace and the
// bridge-side port name: set that port down to cut the node's link.
func (l *LAN) Attach(t testing.TB, addr4, mac string) (*Netns, string) {
	t.Helper()
	ns := NewNetns(t)
	ns.Sh(t, "sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0")
	l.ports++
	port := fmt.Sprintf("p%d", l.ports)
	Veth(t, ns, "eth0", l.Switch, port)
	l.Switch.Sh(t, "ip link set "+port+" master br0")
	ns.Sh(t, fmt.Sprintf("ip link set eth0 address %s && ip addr add %s dev eth0", mac, addr4))
	return ns, port
}

// WaitFor polls cond every 5 ms until it holds, failing the test after
// timeout, and returns how long it took.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// HasAddr reports whether the namespace's eth0 carries addr (any prefix length).
func (n *Netns) HasAddr(t testing.TB, addr string) bool {
	t.Helper()
	return strings.Contains(n.Sh(t, "ip addr show dev eth0"), " "+addr+"/")
}
