//go:build linux

package ipvs

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
)

// labelConn logs every datagram the kernel sends, prefixed by a label the
// test sets before each call. With SEESAW_IPVS_CAPTURE=1 the log lines
//
//	ipvs-capture: LABEL HEX
//
// are what testdata/kernel/*.hex were made from (see TestKernelCaptures).
type labelConn struct {
	Conn
	t     *testing.T
	label string
	n     int
}

func (c *labelConn) Receive(b []byte) (int, error) {
	n, err := c.Conn.Receive(b)
	if err == nil && os.Getenv("SEESAW_IPVS_CAPTURE") == "1" {
		c.n++
		c.t.Logf("ipvs-capture: %s-%d %s", c.label, c.n, hex.EncodeToString(b[:n]))
	}
	return n, err
}

func (c *labelConn) set(label string) { c.label, c.n = label, 0 }

// TestIntegrationCapture builds the state the captured replies describe
// (the expectations in capture_test.go) and checks it reads back.
func TestIntegrationCapture(t *testing.T) {
	testenv.Integration(t, "ipvsadm")
	ns := testenv.NewNetns(t)
	ns.Sh(t, "ip link add d0 type dummy && ip link set d0 multicast on && ip link set d0 up && ip addr add 10.77.0.1/24 dev d0")
	raw, err := dial(&Config{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	lc := &labelConn{Conn: raw, t: t}
	c, err := New(&Config{Conn: lc})
	if errors.Is(err, ErrNoIPVS) {
		testenv.Skip(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	for _, s := range captureServices {
		if err := c.CreateService(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel refuses a sync daemon while a destination's family differs
	// from its service's (the sync protocol cannot carry them), so the
	// daemon is captured before the IPv4-in-IPv6 destination exists.
	if err := c.StartDaemon(ctx, captureDaemon); err != nil {
		t.Fatal(err)
	}
	lc.set("daemons")
	if _, err := c.Daemons(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.StopDaemon(ctx, Master); err != nil {
		t.Fatal(err)
	}
	for _, d := range captureDests {
		if err := c.CreateDestination(ctx, captureServices[d.svc], d.d); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetTimeouts(ctx, Timeouts{TCP: 100 * time.Second, TCPFin: 20 * time.Second, UDP: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	lc.set("info")
	if _, err := c.Info(ctx); err != nil {
		t.Fatal(err)
	}
	lc.set("timeouts")
	if _, err := c.Timeouts(ctx); err != nil {
		t.Fatal(err)
	}
	lc.set("services")
	all, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmpDiff(captureServicesWant, all, ignoreStats, sortServices); d != "" {
		t.Errorf("Services (-want +got):\n%s", d)
	}
	for i, s := range captureServices {
		lc.set(fmt.Sprintf("dests%d", i))
		ds, err := c.Destinations(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		var want []Destination
		for _, d := range captureDestsWant {
			if d.svc == i {
				want = append(want, d.d)
			}
		}
		if d := cmpDiff(want, ds, ignoreDestCounters, sortDests); d != "" {
			t.Errorf("Destinations %d (-want +got):\n%s", i, d)
		}
	}
	lc.set("get-service")
	if _, err := c.Service(ctx, captureServices[0]); err != nil {
		t.Fatal(err)
	}
	lc.set("error-exist")
	if err := c.CreateService(ctx, captureServices[0]); !errors.Is(err, os.ErrExist) {
		t.Fatalf("duplicate: %v", err)
	}
	lc.set("error-dump-esrch")
	if _, err := c.Destinations(ctx, Service{Protocol: TCP, Address: mustAddr("10.9.9.9"), Port: 9}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dump of a missing service: %v", err)
	}
	lc.set("apply")
	errs, err := c.Apply(ctx, []Op{
		{Kind: OpCreateService, Service: captureServices[0]}, // exists
		{Kind: OpCreateService, Service: Service{Protocol: UDP, Address: mustAddr("10.0.0.9"), Port: 9}},
		{Kind: OpRemoveService, Service: Service{Protocol: UDP, Address: mustAddr("10.0.0.9"), Port: 9}},
	})
	if err != nil || !errors.Is(errs[0], os.ErrExist) || errs[1] != nil || errs[2] != nil {
		t.Fatalf("Apply = %v, %v", errs, err)
	}
}
