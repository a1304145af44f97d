//go:build linux

package nettopo

import (
	"context"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
)

func TestIntegrationTopology(t *testing.T) {
	testenv.Integration(t, "sysctl", "ping")
	ctx := context.Background()
	topo, err := New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Error(err)
		}
	})
	client, lb1 := topo.Node("client"), topo.Node("lb1")
	if !lb1.LinkLocal.IsLinkLocalUnicast() || lb1.MAC.String() != "02:5e:00:00:00:01" {
		t.Fatalf("lb1 link = %v %v, want a link-local address and MAC 02:5e:00:00:00:01", lb1.LinkLocal, lb1.MAC)
	}
	for _, dst := range []string{lb1.IPv4.Addr().String(), lb1.IPv6.Addr().String(), lb1.LinkLocal.String() + "%eth0"} {
		if out, err := client.Run(ctx, "ping", "-c1", "-W1", dst); err != nil {
			t.Fatalf("ping %s: %v\n%s", dst, err, out)
		}
	}
	mac, _, err := client.Neighbor(lb1.IPv4.Addr())
	if err != nil || topo.NodeOf(mac) != lb1 {
		t.Fatalf("client neighbour for lb1 = %v, %v; want lb1's MAC %v", mac, err, lb1.MAC)
	}

	// A Go echo stream sees replies, then silence while lb1 is cut, then replies again.
	p, err := client.StartPinger(ctx, lb1.IPv4.Addr(), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	cut := time.Now()
	if err := lb1.Cut(ctx); err != nil {
		t.Fatal(err)
	}
	// Running ip takes a while on a loaded machine: the link is down from
	// here, and replies already in flight get a few ms more.
	cutDone := time.Now()
	time.Sleep(300 * time.Millisecond)
	restored := time.Now()
	if err := lb1.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	res, err := p.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if n := res.RepliesBetween(cutDone.Add(20*time.Millisecond), restored); n != 0 {
		t.Errorf("%d replies while lb1 was cut, want 0", n)
	}
	if n := res.RepliesBetween(cut.Add(-150*time.Millisecond), cut); n < 10 {
		t.Errorf("%d replies in the 150 ms before the cut, want >= 10 (of %d sent)", n, res.Sent)
	}
	if n := res.RepliesBetween(restored.Add(150*time.Millisecond), restored.Add(300*time.Millisecond)); n < 10 {
		t.Errorf("%d replies in 150-300 ms after restore, want >= 10", n)
	}
	gap, _ := res.LongestGap(cut.Add(-100*time.Millisecond), restored.Add(300*time.Millisecond))
	if gap < 300*time.Millisecond || gap > 600*time.Millisecond {
		t.Errorf("longest gap = %v, want about the 300 ms cut", gap)
	}
	t.Logf("sent %d, replies %d, gap %v", res.Sent, len(res.Replies), gap)

	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range topo.Namespaces() {
		if _, err := n.Pids(); err == nil {
			t.Errorf("namespace %s still exists after Close", n.Name)
		}
	}
}
