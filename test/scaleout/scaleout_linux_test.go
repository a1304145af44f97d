//go:build linux

package scaleout

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/lab"
	"github.com/seesawd/seesawd/internal/testenv"
)

// setup builds the scale-out lab with n LBs; nat routes the backends
// through the VRRP master.
func setup(t *testing.T, n int, nat bool) (*lab.ScaleLab, context.Context) {
	t.Helper()
	testenv.Integration(t, "ipvsadm", "nft", "vtysh")
	bin := os.Getenv(binEnv)
	if bin == "" {
		testenv.Skip(t, "no seesawd binary (%s): the host builds it before booting the VM", binEnv)
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		testenv.Skip(t, "no IPVS in this kernel (the VM lab has it)")
	}
	if why := lab.HaveFRR(); why != "" {
		testenv.Skip(t, "%s", why)
	}
	ctx := context.Background()
	start := time.Now()
	s, err := lab.NewScale(ctx, lab.ScaleConfig{Seesawd: bin, Dir: t.TempDir(), LBs: n, NAT: nat})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lab with %d LBs built in %v", n, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			for _, lb := range s.LBs {
				t.Logf("%s log:\n%s", lb.Name, tail(lb.Log(), 40))
				if out, err := lb.Ipvsadm(ctx, "-Ln"); err == nil {
					t.Logf("%s ipvsadm -Ln:\n%s", lb.Name, out)
				}
			}
			for _, cmd := range []string{"show bgp summary", "show bgp ipv4 unicast 198.51.100.10", "show interface brief", "show ip route"} {
				if out, err := s.Vtysh(ctx, cmd); err == nil {
					t.Logf("router: %s:\n%s", cmd, out)
				}
			}
			t.Logf("FRR log:\n%s", tail(s.FRRLog(), 30))
		}
		if err := s.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	return s, ctx
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startAnycast starts seesawd on every LB announcing the anycast service,
// and waits until the router has a next hop per LB.
func startAnycast(t *testing.T, s *lab.ScaleLab, ctx context.Context) {
	t.Helper()
	for _, lb := range s.LBs {
		if err := lb.WriteConfig(lb.AnycastConfig(lab.AnycastService())); err != nil {
			t.Fatal(err)
		}
		if err := lb.Start(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := s.WaitNexthops(ctx, lab.AnycastVIP, s.LBs, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("router: %v through %d LBs %v after start", lab.AnycastVIP, len(s.LBs), time.Since(start).Round(time.Millisecond))
}

// established returns the router's peers in state Established.
func established(t *testing.T, s *lab.ScaleLab, ctx context.Context) int {
	t.Helper()
	out, err := s.Vtysh(ctx, "show bgp ipv4 unicast summary json")
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Peers map[string]struct {
			State       string `json:"state"`
			PfxRcd      int    `json:"pfxRcd"`
			RemoteAs    int    `json:"remoteAs"`
			PeerUptimeS int    `json:"peerUptimeMsec"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("show bgp summary json: %v\n%s", err, out)
	}
	n := 0
	for addr, p := range sum.Peers {
		if p.State == "Established" && p.PfxRcd == 1 && p.RemoteAs == lab.LBASN {
			n++
		} else {
			t.Logf("peer %s: %+v", addr, p)
		}
	}
	return n
}

// TestIntegrationBGPAnycast: three LBs peer with FRR and announce the VIP;
// the router's kernel has one next hop per LB. A service below quorum on
// one LB, a bgp.drain reload and a SIGTERM each take that LB's next hop
// away, and IPVS keeps serving on it.
func TestIntegrationBGPAnycast(t *testing.T) {
	s, ctx := setup(t, 3, false)
	startAnycast(t, s, ctx)
	if n := established(t, s, ctx); n != 3 {
		t.Errorf("%d sessions established with one prefix each, want 3", n)
	}
	lb1, lb2, lb3 := s.LBs[0], s.LBs[1], s.LBs[2]

	t.Run("below quorum withdraws", func(t *testing.T) {
		took, err := s.BelowQuorum(ctx, lb2)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("service down to route withdrawn at the router: %v", took.Round(time.Millisecond))
		if took < 0 || took > 3*time.Second {
			t.Errorf("withdrawal reached the router %v after the service went down, want within the hold time (3s)", took)
		}
	})

	t.Run("bgp.drain withdraws, IPVS keeps serving", func(t *testing.T) {
		cfg := lb3.AnycastConfig(lab.AnycastService())
		drained := strings.Replace(cfg, "  loop_timeout: 3s\n", "  loop_timeout: 3s\n  drain: true\n", 1)
		if err := lb3.WriteConfig(drained); err != nil {
			t.Fatal(err)
		}
		if err := lb3.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WaitNexthops(ctx, lab.AnycastVIP, []*lab.ScaleLB{lb1, lb2}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if out, err := lb3.Ipvsadm(ctx, "-Ln"); err != nil || !strings.Contains(out, "198.51.100.10:9000") {
			t.Errorf("lb3's IPVS after the drain (%v):\n%s", err, out)
		}
		if err := lb3.WriteConfig(cfg); err != nil {
			t.Fatal(err)
		}
		if err := lb3.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WaitNexthops(ctx, lab.AnycastVIP, s.LBs, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("seesawctl drain-node withdraws, IPVS keeps serving", func(t *testing.T) {
		ctl := os.Getenv(ctlEnv)
		if ctl == "" {
			testenv.Skip(t, "no seesawctl binary (%s): the host builds it before booting the VM", ctlEnv)
		}
		run := func(args ...string) string {
			t.Helper()
			out, err := exec.CommandContext(ctx, ctl, append([]string{"--socket", lb3.ControlSocket()}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("seesawctl %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		if out := run("drain-node"); !strings.Contains(out, "node drained: every BGP route withdrawn") {
			t.Errorf("seesawctl drain-node said:\n%s", out)
		}
		if _, err := s.WaitNexthops(ctx, lab.AnycastVIP, []*lab.ScaleLB{lb1, lb2}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		var st struct {
			Announced   []string `json:"announced"`
			NodeDrained bool     `json:"node_drained"`
			Peers       []struct {
				State string `json:"state"`
			} `json:"peers"`
		}
		if err := json.Unmarshal([]byte(run("bgp", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		if !st.NodeDrained || len(st.Announced) != 0 || len(st.Peers) != 1 || st.Peers[0].State != "established" {
			t.Errorf("seesawctl bgp --json while drained: %+v, want drained, nothing announced, the session up", st)
		}
		if out, err := lb3.Ipvsadm(ctx, "-Ln"); err != nil || !strings.Contains(out, "198.51.100.10:9000") {
			t.Errorf("lb3's IPVS while drained (%v):\n%s", err, out)
		}
		if out := run("undrain-node"); !strings.Contains(out, "node undrained") {
			t.Errorf("seesawctl undrain-node said:\n%s", out)
		}
		if _, err := s.WaitNexthops(ctx, lab.AnycastVIP, s.LBs, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("seesawctl bgp:\n%s", run("bgp"))
	})

	t.Run("link cut and restored: the LB leaves and rejoins", func(t *testing.T) {
		if err := lb2.Cut(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WaitNexthops(ctx, lab.AnycastVIP, []*lab.ScaleLB{lb1, lb3}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		restored := time.Now()
		if err := s.Recover(ctx, lb2, lab.EventCut); err != nil {
			for _, line := range strings.Split(lb2.Log(), "\n") {
				if strings.Contains(line, `"logger":"bgp`) {
					t.Log(line)
				}
			}
			t.Fatal(err)
		}
		t.Logf("lb2 back in the ECMP set %v after its links came back", time.Since(restored).Round(time.Millisecond))
	})

	t.Run("SIGTERM withdraws before IPVS", func(t *testing.T) {
		start := time.Now()
		if err := lb1.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		// The session is closed by then; the router drops its next hop.
		if _, err := s.WaitNexthops(ctx, lab.AnycastVIP, []*lab.ScaleLB{lb2, lb3}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		withdrawn, ok1 := lb1.LogTime(start, "BGP stopped: routes withdrawn, sessions closed")
		engine, ok2 := lb1.LogTime(start, "seesawd stopped")
		if !ok1 || !ok2 || engine.Before(withdrawn) {
			t.Errorf("withdrawn at %v (logged %v), stopped at %v (logged %v): want the withdrawal first", withdrawn, ok1, engine, ok2)
		}
		if out, err := lb1.Ipvsadm(ctx, "-Ln"); err != nil || !strings.Contains(out, "198.51.100.10:9000") {
			t.Errorf("lb1's IPVS after SIGTERM (%v), want the service left serving:\n%s", err, out)
		}
	})
}

// TestIntegrationActiveActive: 200 long-lived connections spread over
// three LBs by the router's ECMP; one LB is killed (kill -9 and its links
// cut). The connections through the survivors never break, and those ECMP
// moves from the dead LB to a survivor continue there (mh picks the same
// backend on every LB; sloppy_tcp lets a mid-connection packet in).
func TestIntegrationActiveActive(t *testing.T) {
	s, ctx := setup(t, 3, false)
	startAnycast(t, s, ctx)
	for _, lb := range s.LBs {
		if out, err := lb.NS.Run(ctx, "sysctl", "-n", "net.ipv4.vs.sloppy_tcp"); err != nil || strings.TrimSpace(out) != "1" {
			t.Errorf("%s: net.ipv4.vs.sloppy_tcp = %q (%v), want 1 with an mh service", lb.Name, out, err)
		}
	}
	r, err := s.ActiveActive(ctx, 200, s.LBs[0], lab.EventKillCut)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("spread %v; killed lb1: router updated in %v; through survivors %d/%d alive, moved from lb1 %d/%d alive; max stall %v",
		r.PerLB, r.RouteUpdate.Round(time.Millisecond), r.OnOthersAlive, r.OnOthers, r.OnVictimAlive, r.OnVictim, r.MaxStall.Round(time.Millisecond))
	for name, n := range r.PerLB {
		if n == 0 {
			t.Errorf("ECMP gave %s no flow: %v", name, r.PerLB)
		}
	}
	if r.OnOthersAlive != r.OnOthers {
		t.Errorf("%d of %d flows through the surviving LBs broke: %v", r.OnOthers-r.OnOthersAlive, r.OnOthers, r.Errors)
	}
	if r.OnVictimAlive != r.OnVictim {
		t.Errorf("%d of %d flows moved from the dead LB broke: %v", r.OnVictim-r.OnVictimAlive, r.OnVictim, r.Errors)
	}
}

// TestIntegrationSyncFailoverFailback: 200 long-lived NAT connections
// through the VRRP master; its links are cut and the backup takes over;
// 100 more connections open through the new master; the old master's
// links are restored and it preempts. With ipvs.sync every connection
// survives both: the backup had the master's, and the old master learns
// the new ones while it is back. keepalived 2.2.7 with lvs_sync_daemon
// runs the same scenario for comparison.
func TestIntegrationSyncFailoverFailback(t *testing.T) {
	run := func(t *testing.T, sync bool) (*lab.ScaleLab, lab.SyncResult) {
		s, ctx := setup(t, 2, true)
		for i, lb := range s.LBs {
			if err := lb.WriteConfig(lb.PassiveConfig(150-50*i, sync, lab.PassiveService())); err != nil {
				t.Fatal(err)
			}
			if err := lb.Start(); err != nil {
				t.Fatal(err)
			}
		}
		r, err := s.FailoverFailback(ctx, 200, 100, s.LBs[0], s.LBs[1])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seesawd (sync %v): synced %d/%d before the cut; failover %d/%d (takeover %v), failback %d/%d (retake %v); max stall %v",
			sync, r.Synced, r.Total, r.Failover, r.Total, r.Takeover.Round(time.Millisecond), r.Failback, r.Total+r.During,
			r.Retake.Round(time.Millisecond), r.MaxStall.Round(time.Millisecond))
		return s, r
	}
	t.Run("seesawd", func(t *testing.T) {
		s, r := run(t, true)
		if r.Failover != r.Total || r.Failback != r.Total+r.During {
			t.Errorf("connections lost: failover %d/%d, failback %d/%d: %v", r.Failover, r.Total, r.Failback, r.Total+r.During, r.Errors)
		}
		for _, lb := range s.LBs {
			out, err := lb.Ipvsadm(context.Background(), "-Ln", "--daemon")
			if err != nil || !strings.Contains(out, "master sync daemon") || !strings.Contains(out, "backup sync daemon") {
				t.Errorf("%s: sync daemons after failover and failback (%v):\n%s", lb.Name, err, out)
			}
		}
	})
	// The control: without the sync daemon the backup has no entry for
	// an established flow and the flows break at the failover, so the
	// scenario can tell.
	t.Run("seesawd without sync", func(t *testing.T) {
		_, r := run(t, false)
		if r.Synced != 0 || r.Failover == r.Total {
			t.Errorf("without sync: %d synced, %d/%d survived the failover; want none synced and flows lost", r.Synced, r.Failover, r.Total)
		}
	})
	t.Run("keepalived", func(t *testing.T) {
		testenv.Integration(t, "keepalived")
		s, ctx := setup(t, 2, true)
		for i, lb := range s.LBs {
			if err := lb.StartKeepalived(150 - 50*i); err != nil {
				t.Fatal(err)
			}
		}
		r, err := s.FailoverFailback(ctx, 200, 100, s.LBs[0], s.LBs[1])
		if err != nil {
			t.Fatal(err)
		}
		// keepalived is the comparison, not under test.
		t.Logf("keepalived 2.2.7: synced %d/%d before the cut; failover %d/%d (takeover %v), failback %d/%d (retake %v); max stall %v; %v",
			r.Synced, r.Total, r.Failover, r.Total, r.Takeover.Round(time.Millisecond), r.Failback, r.Total+r.During,
			r.Retake.Round(time.Millisecond), r.MaxStall.Round(time.Millisecond), r.Errors)
	})
}
