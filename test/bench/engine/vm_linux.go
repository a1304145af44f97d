//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seesawd/seesawd/internal/nettopo"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

// vmCheck is the daemons' health check: a TCP connect every 60 s with a 5 s
// timeout, keepalived's defaults (delay_loop, connect_timeout). Under the
// VM's emulation a system call costs ~50 times what it does on the host,
// and 10,000 checks every 10 s saturate a virtual CPU for either daemon.
const vmCheck = "{ type: tcp, interval: 60s, timeout: 5s }"

// bench is the VM part's topology: the LB namespace (where the daemons and
// their IPVS table live) and the backends' namespace, on one veth.
type bench struct {
	l      layout
	o      options
	dir    string
	lb, be *nettopo.Netns
	ipvs   *ipvs.Client
	lns    []net.Listener
	accept chan struct{}
}

func progress(format string, args ...any) { fmt.Printf("engine-bench: "+format+"\n", args...) }

func runVM(ctx context.Context, l layout, o options) (res vmResult, err error) {
	b := &bench{l: l, o: o}
	if b.dir, err = os.MkdirTemp("", "engine-bench-vm-"); err != nil {
		return res, err
	}
	defer os.RemoveAll(b.dir)
	progress("in-process reload in the VM")
	if res.Reload, err = measureReload(ctx, l, newMapKernel(), o.reloads, b.dir); err != nil {
		return res, fmt.Errorf("in-process reload: %w", err)
	}
	if err := b.setup(ctx); err != nil {
		return res, err
	}
	defer b.close()
	progress("seesawd")
	if res.Seesawd, err = b.seesawd(ctx); err != nil {
		logTail(filepath.Join(b.dir, "seesawd.log"))
		return res, fmt.Errorf("seesawd: %w", err)
	}
	progress("keepalived")
	if res.Keepalived, err = b.keepalived(ctx); err != nil {
		logTail(filepath.Join(b.dir, "keepalived.log"))
		return res, fmt.Errorf("keepalived: %w", err)
	}
	progress("transitions on the real kernel")
	flipNS, err := nettopo.NewNetns(ctx, "eb-flip")
	if err != nil {
		return res, err
	}
	defer flipNS.Delete()
	k, err := ipvs.New(&ipvs.Config{NetNSPath: "/run/netns/" + flipNS.Name})
	if err != nil {
		return res, err
	}
	defer k.Close()
	res.FlipsReal, err = measureFlips(ctx, layout{services: 100, backends: l.backends}, k, o.flips)
	return res, err
}

// logTail prints the end of a daemon's log, for a failed run.
func logTail(path string) {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var keep []string
	for _, l := range lines {
		if !strings.Contains(l, `"backend health"`) {
			keep = append(keep, l)
		}
	}
	if len(keep) > 60 {
		keep = keep[len(keep)-60:]
	}
	fmt.Printf("--- %s (without health lines):\n%s\n", path, strings.Join(keep, "\n"))
}

func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.lb, err = nettopo.NewNetns(ctx, "eb-lb"); err != nil {
		return err
	}
	if b.be, err = nettopo.NewNetns(ctx, "eb-be"); err != nil {
		return err
	}
	if _, err := b.lb.IP(ctx, "link", "add", "lb0", "type", "veth", "peer", "name", "be0", "netns", b.be.Name); err != nil {
		return err
	}
	cmds := []struct {
		n    *nettopo.Netns
		line string
	}{
		// A route to the VIPs, so the LB namespace can be a client of its own
		// IPVS services (IPVS takes the packets before they leave).
		{b.lb, "ip addr add 10.1.0.254/24 dev lb0 && ip link set lb0 up && ip route add 10.200.0.0/16 dev lb0 && sysctl -qw net.ipv4.vs.conntrack=1"},
	}
	for j := range b.l.backends {
		cmds = append(cmds, struct {
			n    *nettopo.Netns
			line string
		}{b.be, fmt.Sprintf("ip addr add %v/24 dev be0", b.l.backend(j))})
	}
	cmds = append(cmds, struct {
		n    *nettopo.Netns
		line string
	}{b.be, "ip link set be0 up && ip route add default via 10.1.0.254"})
	for _, c := range cmds {
		if _, err := c.n.Sh(ctx, c.line); err != nil {
			return err
		}
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 65536 {
		lim.Cur = min(65536, lim.Max)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	b.accept = make(chan struct{}, 1<<16)
	err = b.be.Do(func() error {
		for i := range b.l.services {
			ln, err := net.Listen("tcp4", ":"+strconv.Itoa(b.l.port(i)))
			if err != nil {
				return err
			}
			b.lns = append(b.lns, ln)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backend listeners: %w", err)
	}
	for _, ln := range b.lns {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
				select {
				case b.accept <- struct{}{}:
				default:
				}
			}
		}()
	}
	b.ipvs, err = ipvs.New(&ipvs.Config{NetNSPath: "/run/netns/" + b.lb.Name})
	return err
}

func (b *bench) close() {
	for _, ln := range b.lns {
		ln.Close()
	}
	if b.ipvs != nil {
		b.ipvs.Close()
	}
	for _, n := range []*nettopo.Netns{b.lb, b.be} {
		if n != nil {
			_ = n.Delete()
		}
	}
}

// dests counts the destinations the kernel holds.
func (b *bench) dests(ctx context.Context) int {
	all, err := b.ipvs.DumpAll(ctx)
	if err != nil {
		return -1
	}
	n := 0
	for _, s := range all {
		n += len(s.Destinations)
	}
	return n
}

// waitProgrammed waits until the kernel holds every backend.
func (b *bench) waitProgrammed(ctx context.Context, start time.Time, limit time.Duration) (time.Duration, error) {
	want := b.l.services * b.l.backends
	for {
		if n := b.dests(ctx); n >= want {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("the kernel holds %d of %d destinations after %v", b.dests(ctx), want, limit)
		}
		time.Sleep(5 * time.Second) // a dump of the whole table is not free under emulation
	}
}

// traffic makes n connections through service 0 from the LB namespace
// (IPVS serves local clients), so its counters are not zero.
func (b *bench) traffic(ctx context.Context, n int) error {
	return b.lb.Do(func() error {
		for range n {
			c, err := net.DialTimeout("tcp4", b.l.vip(0).String()+":80", 2*time.Second)
			if err != nil {
				return fmt.Errorf("connect through the VIP: %w", err)
			}
			c.Close()
		}
		return nil
	})
}

// conns returns service 0's connection counter, after the kernel's next
// fold of its per-CPU counters (every 2 s).
func (b *bench) conns(ctx context.Context) (uint64, error) {
	time.Sleep(2500 * time.Millisecond)
	s, err := b.ipvs.Service(ctx, ipvs.Service{Protocol: ipvs.TCP, Address: b.l.vip(0), Port: 80})
	return s.Stats.Connections, err
}

// procStats returns the RSS (MB) and CPU ticks of the processes in the LB namespace.
func (b *bench) procStats() (rss float64, ticks uint64, err error) {
	pids, err := b.lb.Pids()
	if err != nil {
		return 0, 0, err
	}
	for _, p := range pids {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
		u, _ := strconv.ParseUint(f[11], 10, 64)
		s, _ := strconv.ParseUint(f[12], 10, 64)
		ticks += u + s
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
				rss += kb / 1024
			}
		}
	}
	return rss, ticks, nil
}

// steady samples RSS, CPU and check rate over o.steady.
func (b *bench) steady(r *daemonResult) error {
	drain(b.accept)
	_, t0, err := b.procStats()
	if err != nil {
		return err
	}
	start := time.Now()
	time.Sleep(b.o.steady)
	rss, t1, err := b.procStats()
	if err != nil {
		return err
	}
	el := time.Since(start)
	r.RSSMB = rss
	r.CPUPct = float64(t1-t0) / 100 / el.Seconds() * 100
	r.Checks = drain(b.accept)
	r.ChecksPerSec = float64(r.Checks) / el.Seconds()
	return nil
}

func drain(c chan struct{}) int {
	n := 0
	for {
		select {
		case <-c:
			n++
		default:
			return n
		}
	}
}

// logWatch reads a JSON log file.
type logWatch struct{ path string }

// lines returns the log records with message msg.
func (l logWatch) lines(msg string) []map[string]any {
	f, err := os.Open(l.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"msg":"`+msg+`"`) {
			continue
		}
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitText waits until the log has more than n lines containing text.
func (l logWatch) waitText(text string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(l.path)
		if strings.Count(string(b), text) > n {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no %q in %s after %v", text, l.path, limit)
}

// wait waits for the count of msg lines to exceed n and returns the last.
func (l logWatch) wait(msg string, n int, limit time.Duration) (map[string]any, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if ls := l.lines(msg); len(ls) > n {
			return ls[len(ls)-1], nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil, fmt.Errorf("no %q in %s after %v", msg, l.path, limit)
}

func seconds(v any) time.Duration {
	f, _ := v.(float64)
	return time.Duration(f * float64(time.Second))
}

func (b *bench) seesawd(ctx context.Context) (daemonResult, error) {
	var r daemonResult
	cfgPath := filepath.Join(b.dir, "seesawd.yaml")
	state := filepath.Join(b.dir, "state.json")
	bump := map[[2]int]int{}
	write := func() error { return os.WriteFile(cfgPath, []byte(b.l.seesawd(vmCheck, bump, state)), 0o644) }
	if err := write(); err != nil {
		return r, err
	}
	logPath := filepath.Join(b.dir, "seesawd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return r, err
	}
	defer logf.Close()
	lw := logWatch{logPath}
	start := func() (*nettopo.Process, time.Time, error) {
		t := time.Now()
		p, err := b.lb.StartTo(logf, "seesawd", b.o.seesawd, "--config", cfgPath)
		return p, t, err
	}
	p, t0, err := start()
	if err != nil {
		return r, err
	}
	defer func() { _ = p.Stop(10 * time.Second) }()
	if r.Programmed, err = b.waitProgrammed(ctx, t0, 5*time.Minute); err != nil {
		return r, err
	}
	progress("seesawd: every backend in after %v", r.Programmed)
	progress("seesawd: fresh start: %s", freshStart(lw, t0))
	if err := b.steady(&r); err != nil {
		return r, err
	}
	for _, m := range lw.lines("resync") {
		r.ResyncTimes = append(r.ResyncTimes, seconds(m["took"]))
	}
	for i := range b.o.reloads {
		bump[[2]int{(i * 37) % b.l.services, i % b.l.backends}]++
		if err := write(); err != nil {
			return r, err
		}
		n := len(lw.lines("reload applied"))
		t := time.Now()
		if err := p.Signal(syscall.SIGHUP); err != nil {
			return r, err
		}
		if _, err := lw.wait("reload applied", n, time.Minute); err != nil {
			return r, err
		}
		r.ReloadTimes = append(r.ReloadTimes, time.Since(t))
		rec := lw.lines("reconciled")
		ops := -1
		for _, m := range rec {
			if m["reason"] == "reload" {
				ops = int(m["ops"].(float64))
			}
		}
		r.ReloadOps = append(r.ReloadOps, ops)
	}
	// Restarts on the table, after kill -9: what a crash or an upgrade does.
	if err := b.traffic(ctx, 5); err != nil {
		return r, err
	}
	before, err := b.conns(ctx)
	if err != nil {
		return r, err
	}
	for range 3 {
		p.Kill()
		n := len(lw.lines("services programmed"))
		if p, _, err = start(); err != nil {
			return r, err
		}
		m, err := lw.wait("services programmed", n, 5*time.Minute)
		if err != nil {
			return r, err
		}
		r.AdoptOps = append(r.AdoptOps, int(m["ops"].(float64)))
		r.AdoptTimes = append(r.AdoptTimes, seconds(m["since_start"]))
	}
	after, err := b.conns(ctx)
	r.StatsKept = err == nil && before > 0 && after >= before
	return r, p.Stop(10 * time.Second)
}

func (b *bench) keepalived(ctx context.Context) (daemonResult, error) {
	var r daemonResult
	cfgPath := filepath.Join(b.dir, "keepalived.conf")
	bump := map[[2]int]int{}
	write := func() error { return os.WriteFile(cfgPath, []byte(b.l.keepalived(bump)), 0o644) }
	if err := write(); err != nil {
		return r, err
	}
	logf, err := os.OpenFile(filepath.Join(b.dir, "keepalived.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return r, err
	}
	defer logf.Close()
	start := func() (*nettopo.Process, time.Time, error) {
		t := time.Now()
		p, err := b.lb.StartTo(logf, "keepalived", "keepalived", "-n", "-l", "-C", "-f", cfgPath,
			"-p", filepath.Join(b.dir, "ka.pid"), "-c", filepath.Join(b.dir, "ka-checkers.pid"))
		return p, t, err
	}
	// The kernel still holds the table seesawd left (with counters): a
	// restart of keepalived on it.
	if err := b.traffic(ctx, 5); err != nil {
		return r, err
	}
	before, err := b.conns(ctx)
	if err != nil {
		return r, err
	}
	lw := logWatch{filepath.Join(b.dir, "keepalived.log")}
	p, t0, err := start()
	if err != nil {
		return r, err
	}
	defer stopKeepalived(p)
	if err := lw.waitText("Startup complete", 0, 5*time.Minute); err != nil {
		return r, err
	}
	r.AdoptTimes = append(r.AdoptTimes, time.Since(t0))
	after, err := b.conns(ctx)
	r.StatsKept = err == nil && before > 0 && after >= before
	// A fresh start, on an empty table.
	stopKeepalived(p)
	if err := b.ipvs.Flush(ctx); err != nil {
		return r, err
	}
	if p, t0, err = start(); err != nil {
		return r, err
	}
	if r.Programmed, err = b.waitProgrammed(ctx, t0, 5*time.Minute); err != nil {
		return r, err
	}
	progress("keepalived: every backend in after %v", r.Programmed)
	if err := b.steady(&r); err != nil {
		return r, err
	}
	for i := range b.o.reloads {
		si, bi := (i*37)%b.l.services, i%b.l.backends
		bump[[2]int{si, bi}]++
		if err := write(); err != nil {
			return r, err
		}
		want := uint32(b.l.weight(si, bi, bump))
		svc := ipvs.Service{Protocol: ipvs.TCP, Address: b.l.vip(si), Port: 80}
		t := time.Now()
		if err := p.Signal(syscall.SIGHUP); err != nil {
			return r, err
		}
		for {
			ds, err := b.ipvs.Destinations(ctx, svc)
			if err == nil && weightOf(ds, b.l.backend(bi).String(), want) {
				break
			}
			if time.Since(t) > 2*time.Minute {
				return r, errors.New("keepalived did not apply the reload in 2 minutes")
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.ReloadTimes = append(r.ReloadTimes, time.Since(t))
	}
	stopKeepalived(p)
	return r, nil
}

// stopKeepalived stops keepalived with SIGTERM; its exit status is not ours
// to judge.
func stopKeepalived(p *nettopo.Process) { _ = p.Stop(30 * time.Second) }

func weightOf(ds []ipvs.Destination, addr string, want uint32) bool {
	for _, d := range ds {
		if d.Address.String() == addr {
			return d.Weight == want
		}
	}
	return false
}

// freshStart summarises the first verdicts of a fresh start from seesawd's
// log: how many backends went from unknown to up or down, and when the last
// of each came, then the reconciles that followed.
func freshStart(lw logWatch, t0 time.Time) string {
	counts := map[string]int{}
	last := map[string]time.Duration{}
	for _, m := range lw.lines("backend health") {
		if m["from"] != "unknown" {
			continue
		}
		to, _ := m["to"].(string)
		counts[to]++
		if ts, ok := m["ts"].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, ts); err == nil && t.Sub(t0) > last[to] {
				last[to] = t.Sub(t0)
			}
		}
	}
	var took time.Duration
	n := 0
	for _, m := range lw.lines("reconciled") {
		if m["reason"] == "health" {
			n++
			took += seconds(m["took"])
		}
	}
	return fmt.Sprintf("first verdicts up %d (last at %v), down %d (last at %v); %d health reconciles, %v in all",
		counts["up"], last["up"].Round(time.Millisecond), counts["down"], last["down"].Round(time.Millisecond), n, took.Round(time.Millisecond))
}
