package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/seesawd/seesawd/pkg/bgp"
	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/control"
	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

// scaleout is the daemon's BGP speaker and IPVS sync daemons: what lets
// more than one node serve (BGP/ECMP) or take over with the connections
// (sync). The run loop owns it; Status and drainNode are safe from any
// goroutine.
type scaleout struct {
	log *zap.Logger

	mu      sync.Mutex // guards speaker and the rest below
	speaker *bgp.Speaker
	cancel  context.CancelFunc // stops the speaker's Run
	ctx     context.Context    // the daemon's; speakers started at reload run under it
	sync    []ipvs.Daemon      // the sync daemons started

	// vips is the engine's latest announce set, kept for a speaker
	// started by a reload.
	vips []netip.Addr
}

// bgpLoopPing is how often the engine's loop pings at most; loop_timeout
// is at least three of them.
const bgpLoopPing = time.Second

// wireScaleout hooks the engine's announcements and loop pings to the
// speaker, composing with whatever opts already has (the watchdog's
// OnLoop). It must run before engine.New.
func (d *seesawd) wireScaleout(cfg *config.Config, opts *engine.Options) error {
	so := &scaleout{log: d.log.Named("bgp")}
	d.scaleout = so
	if cfg.BGP != nil {
		sp, err := bgp.New(so.speakerConfig(cfg))
		if err != nil {
			return err
		}
		so.speaker = sp
		if cfg.BGP.Drain {
			sp.SetDrain(true)
		}
	}
	prevAnnounce := opts.OnAnnounce
	opts.OnAnnounce = func(vips []netip.Addr) {
		if prevAnnounce != nil {
			prevAnnounce(vips)
		}
		so.announce(vips)
	}
	prevLoop := opts.OnLoop
	opts.OnLoop = func() {
		if prevLoop != nil {
			prevLoop()
		}
		so.ping()
	}
	ping := bgpLoopPing
	if cfg.BGP != nil {
		ping = min(ping, cfg.BGP.LoopTimeout/3)
	}
	if opts.LoopPing <= 0 || opts.LoopPing > ping {
		opts.LoopPing = ping
	}
	return nil
}

func (so *scaleout) announce(vips []netip.Addr) {
	so.mu.Lock()
	so.vips = slices.Clone(vips)
	sp := so.speaker
	so.mu.Unlock()
	if sp != nil {
		sp.Announce(vips)
	}
}

func (so *scaleout) ping() {
	so.mu.Lock()
	sp := so.speaker
	so.mu.Unlock()
	if sp != nil {
		sp.Ping()
	}
}

// startScaleout starts the sync daemons and the speaker, and returns the
// context the engine must run under: it ends only once the speaker has
// withdrawn every route after ctx ended, so at SIGTERM the routers stop
// sending before anything touches IPVS.
func (d *seesawd) startScaleout(ctx context.Context) context.Context {
	so := d.scaleout
	if so == nil {
		return ctx
	}
	if d.ipvs != nil {
		so.startSync(ctx, d.ipvs, d.cfg.IPVS.Sync)
	}
	so.mu.Lock()
	so.ctx = ctx
	if so.speaker != nil {
		so.run(so.speaker)
	}
	so.mu.Unlock()
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer cancel()
		<-ctx.Done()
		// The speaker of the moment: a reload may have added one.
		so.mu.Lock()
		sp := so.speaker
		so.mu.Unlock()
		if sp == nil {
			return
		}
		done := sp.Done()
		// Run withdraws and returns on ctx; wait for it, but never let a
		// stuck speaker keep the engine from stopping.
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			so.log.Error("BGP did not stop within 5s; stopping the engine anyway")
		}
	}()
	return ectx
}

// run starts sp under the daemon's context; so.mu is held.
func (so *scaleout) run(sp *bgp.Speaker) {
	ctx, cancel := context.WithCancel(so.ctx)
	so.cancel = cancel
	go func() {
		if err := sp.Run(ctx); err != nil {
			so.log.Error("BGP speaker stopped", zap.Error(err))
		}
	}()
}

// reloadScaleout applies a reloaded configuration's bgp and ipvs.sync
// sections. A bgp section added starts a speaker, one removed withdraws
// every route and stops it.
func (d *seesawd) reloadScaleout(ctx context.Context, old, cfg *config.Config) {
	so := d.scaleout
	if so == nil {
		return
	}
	if d.ipvs != nil && !reflect.DeepEqual(old.IPVS.Sync, cfg.IPVS.Sync) {
		so.stopSync(ctx, d.ipvs)
		so.startSync(ctx, d.ipvs, cfg.IPVS.Sync)
	}
	so.mu.Lock()
	defer so.mu.Unlock()
	sp := so.speaker
	switch {
	case cfg.BGP == nil && sp != nil:
		so.cancel()
		so.speaker = nil
		so.log.Info("bgp section removed: withdrawing every route")
	case cfg.BGP != nil && sp == nil:
		sp, err := bgp.New(so.speakerConfig(cfg))
		if err != nil {
			so.log.Error("bgp", zap.Error(err))
			return
		}
		sp.SetDrain(cfg.BGP.Drain)
		sp.Announce(so.vips)
		so.speaker = sp
		if so.ctx != nil {
			so.run(sp)
		}
	case cfg.BGP != nil:
		if err := sp.Update(so.speakerConfig(cfg)); err != nil {
			so.log.Error("bgp", zap.Error(err))
		}
		sp.SetDrain(cfg.BGP.Drain)
	}
}

// speakerConfig is the bgp section as the speaker takes it.
func (so *scaleout) speakerConfig(cfg *config.Config) *bgp.Config {
	b := cfg.BGP
	out := &bgp.Config{ASN: b.ASN, RouterID: b.Router, ListenPort: b.ListenPort, Communities: b.CommunityValues,
		GracefulRestart: b.GracefulRestart, LoopTimeout: b.LoopTimeout, Logger: so.log}
	if !out.RouterID.IsValid() {
		out.RouterID = firstIPv4()
		if !out.RouterID.IsValid() {
			// check() refuses it: the node has no IPv4 address to be named by.
			so.log.Error("bgp.router_id is not set and the node has no IPv4 address")
		}
	}
	for _, p := range b.Peers {
		out.Peers = append(out.Peers, bgp.Peer{Address: p.Addr, ASN: p.ASN, Password: p.Password, HoldTime: *p.HoldTime,
			ConnectRetry: p.ConnectRetry, Port: uint16(p.Port), Multihop: uint8(p.Multihop)})
	}
	return out
}

// firstIPv4 is the default router ID: the first IPv4 address of the first
// interface that has one, loopback last.
func firstIPv4() netip.Addr {
	ifs, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}
	}
	var lo netip.Addr
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok || !ip.Unmap().Is4() {
				continue
			}
			if ifi.Flags&net.FlagLoopback != 0 {
				if !lo.IsValid() {
					lo = ip.Unmap()
				}
				continue
			}
			return ip.Unmap()
		}
	}
	return lo
}

// startSync starts the master and backup sync daemons of sc. A daemon
// already running as configured (a restart after kill -9) is kept: its
// connection table is warm.
func (so *scaleout) startSync(ctx context.Context, k *ipvs.Client, sc *config.Sync) {
	want := sc.Daemons()
	if len(want) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var started []ipvs.Daemon
	defer func() {
		so.mu.Lock()
		so.sync = started
		so.mu.Unlock()
	}()
	running, err := k.Daemons(ctx)
	if err != nil {
		so.log.Error("list IPVS sync daemons", zap.Error(err))
	}
	for _, d := range want {
		i := slices.IndexFunc(running, func(r ipvs.Daemon) bool { return r.State == d.State })
		if i >= 0 && sameDaemon(running[i], d) {
			started = append(started, d)
			so.log.Info("IPVS sync daemon already running", zap.Stringer("state", d.State), zap.String("interface", d.Interface),
				zap.Uint32("sync_id", d.SyncID))
			continue
		}
		if i >= 0 {
			if err := k.StopDaemon(ctx, d.State); err != nil && !errors.Is(err, os.ErrNotExist) {
				so.log.Error("stop the IPVS sync daemon to change it", zap.Stringer("state", d.State), zap.Error(err))
			}
		}
		if err := k.StartDaemon(ctx, d); err != nil {
			so.log.Error("start the IPVS sync daemon: established connections will not survive a failover",
				zap.Stringer("state", d.State), zap.String("interface", d.Interface), zap.Error(err))
			continue
		}
		started = append(started, d)
		so.log.Info("IPVS sync daemon started", zap.Stringer("state", d.State), zap.String("interface", d.Interface),
			zap.Uint32("sync_id", d.SyncID))
	}
}

// sameDaemon compares what the configuration sets, with the kernel's
// defaults for what it leaves zero.
func sameDaemon(running, want ipvs.Daemon) bool {
	if running.Interface != want.Interface || running.SyncID != want.SyncID {
		return false
	}
	if want.MaxLen != 0 && running.MaxLen != want.MaxLen {
		return false
	}
	if want.Group.IsValid() && running.Group != want.Group {
		return false
	}
	if want.Port != 0 && running.Port != want.Port {
		return false
	}
	return want.TTL == 0 || running.TTL == want.TTL
}

func (so *scaleout) stopSync(ctx context.Context, k *ipvs.Client) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	so.mu.Lock()
	running := so.sync
	so.sync = nil
	so.mu.Unlock()
	for _, d := range running {
		if err := k.StopDaemon(ctx, d.State); err != nil && !errors.Is(err, os.ErrNotExist) {
			so.log.Error("stop the IPVS sync daemon", zap.Stringer("state", d.State), zap.Error(err))
			continue
		}
		so.log.Info("IPVS sync daemon stopped", zap.Stringer("state", d.State))
	}
}

// stopScaleout stops the sync daemons at exit. The kernel would run them
// on without a daemon that owns them.
func (d *seesawd) stopScaleout() {
	if d.scaleout != nil && d.ipvs != nil {
		d.scaleout.stopSync(context.Background(), d.ipvs)
	}
}

// BGPStatus implements metrics.BGP: the speaker of the moment's status,
// false when none runs.
func (so *scaleout) BGPStatus() (bgp.Status, bool) {
	so.mu.Lock()
	sp := so.speaker
	so.mu.Unlock()
	if sp == nil {
		return bgp.Status{}, false
	}
	return *sp.Status(), true
}

// bgpStatus returns the BGP snapshot for seesawctl bgp; it never blocks on
// the engine or the network.
func (d *seesawd) bgpStatus() control.BGP {
	var out control.BGP
	if d.engine != nil {
		out.NodeDrained = d.engine.Status().NodeDrained
	}
	so := d.scaleout
	if so == nil {
		return out
	}
	so.mu.Lock()
	sp := so.speaker
	for _, s := range so.sync {
		out.SyncDaemons = append(out.SyncDaemons, fmt.Sprintf("%v on %s, sync_id %d", s.State, s.Interface, s.SyncID))
	}
	so.mu.Unlock()
	if sp == nil {
		return out
	}
	st := sp.Status()
	out.Enabled, out.ASN, out.RouterID = true, st.ASN, st.RouterID
	out.Announced, out.Requested, out.Withheld = st.Announced, st.Requested, st.Withheld
	for _, p := range st.Peers {
		out.Peers = append(out.Peers, control.BGPPeer{Address: p.Address, ASN: p.ASN, State: p.State, Uptime: control.Duration(st.Time.Sub(p.Since)),
			PrefixesSent: p.PrefixesSent, PrefixesReceived: p.PrefixesReceived, Flaps: p.Flaps, LastError: p.LastError,
			RetryAt: p.HeldUntil})
	}
	return out
}

// drainNode is seesawctl drain-node: every announcement withdrawn (on) or
// restored, IPVS untouched so established flows keep being served. It
// survives restarts (the engine's state file).
func (d *seesawd) drainNode(ctx context.Context, on bool) (changed bool, err error) {
	if d.engine == nil {
		return false, errors.New("no IPVS engine runs: nothing is announced")
	}
	return d.engine.DrainNode(ctx, on)
}
