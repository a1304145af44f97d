//go:build linux

package vrrp

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
)

// serveTCP accepts and closes TCP connections on port 8080 (IPv4 and IPv6) in ns.
func serveTCP(t *testing.T, ns *testenv.Netns) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", ":8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
}

// dialFrom connects to addr port 8080 from ns.
func dialFrom(t *testing.T, ns *testenv.Netns, addr string) error {
	t.Helper()
	return ns.Do(func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "8080"), time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
}

// pingFrom reports whether addr answers one echo request from ns.
func pingFrom(ns *testenv.Netns, addr string) bool {
	args := []string{"-c1", "-W1", addr}
	if strings.Contains(addr, ":") {
		args = append([]string{"-6"}, args...)
	}
	return ns.Cmd(context.Background(), "ping", args...).Run() == nil
}

var nftDropCounter = regexp.MustCompile(`counter packets (\d+) bytes \d+ drop`)

// TestIntegrationAcceptModeOff runs a master with Accept false (A) and a backup with
// Accept true (B) on a bridge with a client. While A is master the client resolves the
// virtual addresses to A (ARP, and IPv6 neighbour discovery including unicast
// unreachability probes) but its pings and TCP connections to them are dropped, while
// A's own address answers. When B is master the same probes are answered. A's
// nftables table holds the addresses only while A is master and is gone after A stops;
// B never creates one.
func TestIntegrationAcceptModeOff(t *testing.T) {
	testenv.Integration(t, "nft", "ping")
	l := testenv.NewLAN(t)
	const macA, macB = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
	const vip4, vip6 = "192.0.2.100", "2001:db8::100"
	nsA, _ := l.Attach(t, "192.0.2.1/24", macA)
	nsB, _ := l.Attach(t, "192.0.2.2/24", macB)
	client, _ := l.Attach(t, "192.0.2.10/24", "02:00:00:00:00:0c")
	client.Sh(t, "ip addr add 2001:db8::10/64 dev eth0")
	serveTCP(t, nsA)
	serveTCP(t, nsB)

	cfgA := frontInstances(200, 100*time.Millisecond)
	for i := range cfgA {
		cfgA[i].Accept = false
	}
	a := startNode(t, nsA, &Config{Instances: cfgA})
	testenv.WaitFor(t, "A master", 2*time.Second, func() bool {
		return a.state("front", IPv4) == Master && a.state("front", IPv6) == Master &&
			nsA.HasAddr(t, vip4) && nsA.HasAddr(t, vip6)
	})
	b := startNode(t, nsB, &Config{Instances: frontInstances(100, 100*time.Millisecond)})
	testenv.WaitFor(t, "B backup", 2*time.Second, func() bool {
		return b.state("front", IPv4) == Backup && b.state("front", IPv6) == Backup
	})

	table := func(ns *testenv.Netns) string { return ns.Sh(t, "nft list table inet "+FilterTable) }
	if out := table(nsA); !strings.Contains(out, vip4) || !strings.Contains(out, vip6) {
		t.Fatalf("A's filter does not hold both virtual addresses:\n%s", out)
	}
	// A itself is reachable: only its virtual addresses are filtered.
	if !pingFrom(client, "192.0.2.1") {
		t.Fatal("client cannot ping A's own address")
	}
	if err := dialFrom(t, client, "192.0.2.1"); err != nil {
		t.Fatalf("client cannot connect to A's own address: %v", err)
	}
	// Neighbour resolution of the virtual addresses still reaches A.
	if got := neighMAC(t, client, vip4); got != macA {
		t.Errorf("client neighbour for %s = %q, want A %s", vip4, got, macA)
	}
	if got := neighMAC(t, client, vip6); got != macA {
		t.Errorf("client neighbour for %s = %q, want A %s", vip6, got, macA)
	}
	for _, vip := range []string{vip4, vip6} {
		if pingFrom(client, vip) {
			t.Errorf("ping %s answered by a master with accept off", vip)
		}
		err := dialFrom(t, client, vip)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("connect to %s with accept off: %v, want a timeout (SYN dropped)", vip, err)
		}
	}
	out := table(nsA)
	t.Logf("A's filter while master:\n%s", out)
	counters := nftDropCounter.FindAllStringSubmatch(out, -1)
	if len(counters) != 2 || counters[0][1] == "0" || counters[1][1] == "0" {
		t.Errorf("drop counters %v, want two non-zero:\n%s", counters, out)
	}
	// A unicast neighbour solicitation to the virtual address (unreachability
	// detection of a stale entry) is answered: the entry becomes reachable again
	// instead of failing after the probes.
	client.Sh(t, "sysctl -qw net.ipv6.neigh.eth0.delay_first_probe_time=1 && "+
		"ip -6 neigh replace "+vip6+" lladdr "+macA+" nud stale dev eth0")
	pingFrom(client, vip6) // dropped, but moves the entry to DELAY then PROBE
	testenv.WaitFor(t, "stale IPv6 neighbour confirmed by unicast probe", 5*time.Second, func() bool {
		return strings.Contains(client.Sh(t, "ip -6 neigh show "+vip6+" dev eth0"), "REACHABLE")
	})

	// A drops to priority 50: B (accept on) preempts and answers; A's filter is emptied.
	if err := a.AdjustPriority(context.Background(), "front", -150); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "B master, A backup", 3*time.Second, func() bool {
		return b.state("front", IPv4) == Master && b.state("front", IPv6) == Master &&
			a.state("front", IPv4) == Backup && a.state("front", IPv6) == Backup
	})
	if out := table(nsA); strings.Contains(out, vip4) || strings.Contains(out, vip6) {
		t.Errorf("A's filter still holds a virtual address as backup:\n%s", out)
	}
	testenv.WaitFor(t, "client neighbours move to B", 3*time.Second, func() bool {
		return neighMAC(t, client, vip4) == macB && neighMAC(t, client, vip6) == macB
	})
	for _, vip := range []string{vip4, vip6} {
		if !pingFrom(client, vip) {
			t.Errorf("ping %s not answered by a master with accept on", vip)
		}
		if err := dialFrom(t, client, vip); err != nil {
			t.Errorf("connect to %s with accept on: %v", vip, err)
		}
	}
	if out := nsB.Sh(t, "nft list tables"); strings.Contains(out, FilterTable) {
		t.Errorf("B (accept on) created a filter:\n%s", out)
	}

	// A takes over again (addresses back in its filter), then stops: the table goes.
	if err := a.AdjustPriority(context.Background(), "front", 0); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "A master again", 3*time.Second, func() bool {
		return a.state("front", IPv4) == Master && a.state("front", IPv6) == Master
	})
	if out := table(nsA); !strings.Contains(out, vip4) || !strings.Contains(out, vip6) {
		t.Errorf("A's filter lacks the virtual addresses after taking over again:\n%s", out)
	}
	if err := a.stop(); err != nil {
		t.Fatalf("A Run: %v", err)
	}
	if out := nsA.Sh(t, "nft list tables"); strings.Contains(out, FilterTable) {
		t.Errorf("A's table is left after stop:\n%s", out)
	}
	if st := a.Stats(); st.FilterErrors != 0 {
		t.Errorf("A FilterErrors = %d", st.FilterErrors)
	}
	testenv.WaitFor(t, "B master after A stops", 2*time.Second, func() bool { return b.state("front", IPv4) == Master })
	testenv.WaitFor(t, "VIP answered by B after A stops", 3*time.Second, func() bool { return pingFrom(client, vip4) })
}

// TestIntegrationAcceptFilterReplacesLeftover starts a node with accept off where a
// crashed run left the table with a stale address: the node replaces it, so the stale
// address is no longer dropped, and deletes it at stop.
func TestIntegrationAcceptFilterReplacesLeftover(t *testing.T) {
	testenv.Integration(t, "nft")
	ns, _ := testenv.NewLAN(t).Attach(t, "192.0.2.1/24", "02:00:00:00:00:0a")
	ns.Sh(t, "nft add table inet "+FilterTable+" && nft add set inet "+FilterTable+
		" vrrp-noaccept4 '{ type ipv4_addr; }' && nft add element inet "+FilterTable+" vrrp-noaccept4 '{ 192.0.2.200 }'")
	ic := frontInstances(100, 100*time.Millisecond)[0]
	ic.Accept = false
	n := startNode(t, ns, &Config{Instances: []InstanceConfig{ic}})
	testenv.WaitFor(t, "master", 2*time.Second, func() bool { return n.state("front", IPv4) == Master })
	out := ns.Sh(t, "nft list table inet "+FilterTable)
	if strings.Contains(out, "192.0.2.200") || !strings.Contains(out, "192.0.2.100") {
		t.Errorf("table after start, want only 192.0.2.100:\n%s", out)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	if out := ns.Sh(t, "nft list tables"); strings.Contains(out, FilterTable) {
		t.Errorf("table left after stop:\n%s", out)
	}
}
