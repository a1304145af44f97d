package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/pkg/bgp/bgptest"
	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/ipvs/ipvstest"
)

// noChecks is a health-check manager with no checks to run: the test's
// backends have none, so they are up.
type noChecks struct{ out chan []healthcheck.Transition }

func (noChecks) Update(context.Context, []healthcheck.Check) error { return nil }
func (c noChecks) Transitions() <-chan []healthcheck.Transition    { return c.out }
func scaleoutYAML(r *bgptest.Router, weight int) string {
	return fmt.Sprintf(`bgp:
  asn: 65001
  router_id: 192.0.2.1
  loop_timeout: 1s
  peers: [{ address: %v, asn: %d, port: %d, hold_time: 3s, connect_retry: 1s }]
ipvs:
  state_file: ""
  sync: { interface: eth1, sync_id: 51 }
services:
  - name: web
    vip: 198.51.100.10
    port: 80
    scheduler: mh
    forward: dr
    announce: bgp
    backends: [{ address: 10.0.1.10, weight: %d }]
`, r.Addr, bgptest.ASN, r.Port, weight)
}

// daemonRig is the daemon's engine and scale-out wiring on a fake kernel.
type daemonRig struct {
	d      *seesawd
	k      *ipvstest.Kernel
	cancel context.CancelFunc
	engErr chan error
}

func newRig(t *testing.T, yaml string) *daemonRig {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.IPVS.StateFile = ""
	k := ipvstest.NewKernel()
	c, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	d := &seesawd{log: zaptest.NewLogger(t), cfg: cfg, ipvs: c}
	opts := engine.Options{Kernel: c, Checks: noChecks{make(chan []healthcheck.Transition)}, Logger: d.log.Named("engine")}
	if err := d.wireScaleout(cfg, &opts); err != nil {
		t.Fatal(err)
	}
	if cfg.BGP != nil && opts.LoopPing != cfg.BGP.LoopTimeout/3 {
		t.Errorf("loop ping %v, want a third of loop_timeout %v", opts.LoopPing, cfg.BGP.LoopTimeout)
	}
	ecfg := cfg.Engine()
	d.engine, err = engine.New(opts, &ecfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rig := &daemonRig{d: d, k: k, cancel: cancel, engErr: make(chan error, 1)}
	ectx := d.startScaleout(ctx)
	go func() { rig.engErr <- d.engine.Run(ectx) }()
	t.Cleanup(func() {
		k.Unblock()
		cancel()
		<-rig.engErr
	})
	return rig
}

// TestEngineStallWithdraws: an IPVS call that hangs holds the engine's
// loop; after loop_timeout without a ping every route is withdrawn, and
// announced again once the loop runs.
func TestEngineStallWithdraws(t *testing.T) {
	r := bgptest.New(t, "127.0.0.2", "127.0.0.1", 65001, "")
	rig := newRig(t, scaleoutYAML(r, 1))
	r.WaitPrefixes("the VIP announced while its service is up", 15*time.Second, "198.51.100.10/32")

	rig.k.Block()
	next, err := config.Parse([]byte(scaleoutYAML(r, 2)))
	if err != nil {
		t.Fatal(err)
	}
	ecfg := next.Engine()
	reloaded := make(chan error, 1)
	go func() { reloaded <- rig.d.engine.Reload(context.Background(), &ecfg) }()
	<-rig.k.Waiting() // the engine's loop is inside Apply
	start := time.Now()
	r.WaitPrefixes("the VIP withdrawn while the engine's loop hangs", 10*time.Second)
	// The loop's last ping came at most a loop ping (1s/3) before it
	// entered Apply.
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("withdrawn %v after the loop stopped, before loop_timeout (1s) less a ping", took)
	}
	if st := rig.d.bgpStatus(); st.Withheld != "engine loop stalled" {
		t.Errorf("bgp status %+v, want withheld: engine loop stalled", st)
	}
	rig.k.Unblock()
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	r.WaitPrefixes("the VIP back once the loop runs", 10*time.Second, "198.51.100.10/32")
}

// TestStopWithdrawsBeforeTheEngineStops: at SIGTERM the speaker has
// withdrawn and closed its sessions before the engine's Run returns.
func TestStopWithdrawsBeforeTheEngineStops(t *testing.T) {
	r := bgptest.New(t, "127.0.0.2", "127.0.0.1", 65001, "")
	rig := newRig(t, scaleoutYAML(r, 1))
	r.WaitPrefixes("the VIP announced", 15*time.Second, "198.51.100.10/32")
	rig.cancel()
	if err := <-rig.engErr; err != nil {
		t.Fatal(err)
	}
	rig.engErr <- nil // for the cleanup
	select {
	case <-rig.d.scaleout.speaker.Done():
	default:
		t.Fatal("the engine stopped before the speaker had withdrawn")
	}
	r.WaitPrefixes("the VIP withdrawn", 5*time.Second)
}

func TestDrainNodeAndConfigDrain(t *testing.T) {
	r := bgptest.New(t, "127.0.0.2", "127.0.0.1", 65001, "")
	rig := newRig(t, scaleoutYAML(r, 1))
	r.WaitPrefixes("the VIP announced", 15*time.Second, "198.51.100.10/32")
	ctx := context.Background()
	if _, err := rig.d.drainNode(ctx, true); err != nil {
		t.Fatal(err)
	}
	r.WaitPrefixes("the VIP withdrawn by drain-node", 5*time.Second)
	testenv.WaitFor(t, "the status to say drained at run time", 5*time.Second, func() bool {
		st := rig.d.bgpStatus()
		return st.NodeDrained && len(st.Requested) == 0 && st.Enabled && len(st.Peers) == 1
	})
	// IPVS keeps serving: the service and its backend stay.
	if got := rig.k.State(); len(got) != 1 || len(got[0].Destinations) != 1 {
		t.Errorf("kernel after drain-node: %+v", got)
	}
	if _, err := rig.d.drainNode(ctx, false); err != nil {
		t.Fatal(err)
	}
	r.WaitPrefixes("the VIP back", 5*time.Second, "198.51.100.10/32")

	// bgp.drain in the configuration, applied by a reload.
	drained, err := config.Parse([]byte(scaleoutYAML(r, 1)))
	if err != nil {
		t.Fatal(err)
	}
	drained.BGP.Drain = true
	rig.d.reloadScaleout(ctx, rig.d.cfg, drained)
	r.WaitPrefixes("the VIP withdrawn by bgp.drain", 5*time.Second)
	// The engine publishes its status at most every 100ms.
	testenv.WaitFor(t, "the status to say drained by the configuration", 5*time.Second, func() bool {
		st := rig.d.bgpStatus()
		return st.Withheld == "drained" && !st.NodeDrained && len(st.Requested) == 1
	})
}

func TestSyncDaemonsMasterAndBackup(t *testing.T) {
	r := bgptest.New(t, "127.0.0.2", "127.0.0.1", 65001, "")
	rig := newRig(t, scaleoutYAML(r, 1))
	ctx := context.Background()
	got, err := rig.d.ipvs.Daemons(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states := map[ipvs.DaemonState]ipvs.Daemon{}
	for _, d := range got {
		states[d.State] = d
	}
	if m, b := states[ipvs.Master], states[ipvs.Backup]; len(got) != 2 || m.Interface != "eth1" || m.SyncID != 51 ||
		b.Interface != "eth1" || b.SyncID != 51 {
		t.Fatalf("sync daemons %+v, want master and backup on eth1, sync_id 51", got)
	}
	if st := rig.d.bgpStatus(); len(st.SyncDaemons) != 2 {
		t.Errorf("status sync daemons %v", st.SyncDaemons)
	}
	// A restart finds them running as configured and keeps them.
	rig.d.scaleout.startSync(ctx, rig.d.ipvs, rig.d.cfg.IPVS.Sync)
	if n := rig.k.Count(ipvstest.CmdNewDaemon); n != 2 {
		t.Errorf("%d daemon starts, want 2 (running ones kept)", n)
	}
	rig.d.stopScaleout()
	if got, err := rig.d.ipvs.Daemons(ctx); err != nil || len(got) != 0 {
		t.Errorf("after stop: %+v, %v", got, err)
	}
}

// TestReloadAddsAndRemovesBGP: a bgp section added by a reload starts a
// speaker with what the engine already announces; removed, it withdraws.
func TestReloadAddsAndRemovesBGP(t *testing.T) {
	r := bgptest.New(t, "127.0.0.2", "127.0.0.1", 65001, "")
	full := scaleoutYAML(r, 1)
	// The same services without announcing: no bgp section.
	plain := full[strings.Index(full, "ipvs:"):]
	plain = strings.Replace(plain, "    announce: bgp\n", "", 1)
	rig := newRig(t, plain)
	ctx := context.Background()
	withBGP, err := config.Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	ecfg := withBGP.Engine()
	if err := rig.d.engine.Reload(ctx, &ecfg); err != nil {
		t.Fatal(err)
	}
	rig.d.reloadScaleout(ctx, rig.d.cfg, withBGP)
	rig.d.cfg = withBGP
	r.WaitPrefixes("the VIP announced by the speaker a reload started", 15*time.Second, "198.51.100.10/32")
	without, err := config.Parse([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	rig.d.reloadScaleout(ctx, rig.d.cfg, without)
	r.WaitPrefixes("the VIP withdrawn with the bgp section", 10*time.Second)
	if st := rig.d.bgpStatus(); st.Enabled {
		t.Errorf("bgp status after removal: %+v", st)
	}
}
