package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/seesawd/seesawd/internal/nettopo"
)

// Addressing of every scenario's namespace pair: the checker at
// 10.77.0.254, the listeners on 10.77.0.1 onward, and 10.78.0.0/16 routed
// to the backend, which answers echo requests for all of it (ICMP checks
// need distinct addresses).
const (
	checkerAddr = "10.77.0.254"
	icmpRange   = "10.78.0.0/16"
	checkerMAC  = "02:68:63:62:00:01"
	backendMAC  = "02:68:63:62:00:02"
)

func backendAddr(i int) string { return fmt.Sprintf("10.77.0.%d", i+1) }

func icmpTarget(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 78, byte(i / 250), byte(i%250 + 1)})
}

// topology is a fresh namespace pair joined by a veth: the checker's
// namespace and the backend's.
type topology struct {
	cl, be nettopo.Netns
	addrs  []string
}

var topoSeq atomic.Int32

func newTopology(ctx context.Context, n int) (*topology, error) {
	if n < 1 || n > 250 {
		return nil, fmt.Errorf("-addrs must be 1-250, got %d", n)
	}
	prefix := fmt.Sprintf("hcb%d-%d", os.Getpid(), topoSeq.Add(1))
	t := &topology{cl: nettopo.Netns{Name: prefix + "-cl"}, be: nettopo.Netns{Name: prefix + "-be"}}
	for i := range n {
		t.addrs = append(t.addrs, backendAddr(i))
	}
	err := t.build(ctx)
	if err != nil {
		err = errors.Join(err, t.close())
	}
	return t, err
}

func (t *topology) build(ctx context.Context) error {
	for _, ns := range []string{t.cl.Name, t.be.Name} {
		if out, err := exec.CommandContext(ctx, "ip", "netns", "add", ns).CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns add %s: %w: %s", ns, err, out)
		}
	}
	if out, err := exec.CommandContext(ctx, "ip", "link", "add", "hcb0", "address", checkerMAC, "netns", t.cl.Name,
		"type", "veth", "peer", "name", "hcb0", "address", backendMAC, "netns", t.be.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link add: %w: %s", err, out)
	}
	// Permanent neighbour entries: no ARP exchanges (or entries going
	// stale and failing under load) in anybody's numbers.
	cl := []string{"link set lo up", "addr add " + checkerAddr + "/24 dev hcb0", "link set hcb0 up",
		"route add " + icmpRange + " via " + backendAddr(0)}
	be := []string{"link set lo up", "link set hcb0 up", "route add local " + icmpRange + " dev lo",
		"neigh replace " + checkerAddr + " lladdr " + checkerMAC + " dev hcb0 nud permanent"}
	for _, a := range t.addrs {
		be = append(be, "addr add "+a+"/24 dev hcb0")
		cl = append(cl, "neigh replace "+a+" lladdr "+backendMAC+" dev hcb0 nud permanent")
	}
	if err := ipBatch(ctx, t.cl.Name, cl); err != nil {
		return err
	}
	return ipBatch(ctx, t.be.Name, be)
}

func ipBatch(ctx context.Context, ns string, cmds []string) error {
	c := exec.CommandContext(ctx, "ip", "-n", ns, "-batch", "-")
	c.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch: %w: %s", ns, err, out)
	}
	return nil
}

// close kills what runs in the namespaces and deletes them.
func (t *topology) close() error { return errors.Join(t.cl.Delete(), t.be.Delete()) }

// runAll runs the scenarios one after another with an idle pause between,
// the whole list p.rounds times.
func runAll(ctx context.Context, list []string, p params) ([]Stats, error) {
	var out []Stats
	for round := 1; round <= max(p.rounds, 1); round++ {
		for _, sc := range list {
			if len(out) > 0 {
				if err := sleepCtx(ctx, p.pause); err != nil {
					return nil, err
				}
			}
			fmt.Fprintf(os.Stderr, "running %s %s (round %d)...\n", p.where, sc, round)
			st, err := runScenario(ctx, sc, p)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", p.where, sc, err)
			}
			if p.rounds > 1 {
				st.Round = round
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// checker is a process that checks the listeners: this binary as a
// worker, or keepalived.
type checker interface {
	pid() int
	begin() error
	end() (workerReport, error)
	close() error
}

func runScenario(ctx context.Context, sc string, p params) (st Stats, err error) {
	if sc == "keepalived" && !p.ipvs {
		return st, errors.New("keepalived's checker needs IPVS: it runs in the VM lab")
	}
	topo, err := newTopology(ctx, p.addrs)
	if err != nil {
		return st, err
	}
	defer func() { err = errors.Join(err, topo.close()) }()
	dir, err := os.MkdirTemp("", "hc-bench-")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(dir)

	httpN := 0
	if strings.HasPrefix(sc, "http") {
		httpN = p.httpChecks
	}
	srv, targets, err := startServer(ctx, topo, p.checks, httpN)
	if err != nil {
		return st, err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	services := group(targets.tcp[:min(p.checks, len(targets.tcp))])
	if p.ipvs && sc != "keepalived" {
		if err := loadIPVS(ctx, topo, services); err != nil {
			return st, err
		}
	}
	var ck checker
	var note string
	switch {
	case sc == "keepalived":
		ck, err = startKeepalived(topo, dir, services)
	case (sc == "tcp-floor" || sc == "tcp-floor-fin") && *floorBin != "":
		ck, err = startCFloor(ctx, topo, dir, targets.tcp[:p.checks], sc == "tcp-floor-fin")
	case sc == "tcp-floor-fin":
		return st, errors.New("tcp-floor-fin needs a C compiler")
	case sc == "tcp-floor":
		note = "the floor ran in Go (no C compiler)"
		ck, err = startWorker(ctx, topo, dir, "tcp-floor-go", targets, p, httpN)
	default:
		ck, err = startWorker(ctx, topo, dir, sc, targets, p, httpN)
	}
	if err != nil {
		return st, err
	}
	defer func() {
		// The measurement stands if the checker was slow to stop (main's
		// Manager, behind its schedule, finished a whole backlog first).
		if cerr := ck.close(); cerr != nil && err == nil {
			st.addNote("stopping it: " + cerr.Error())
		}
	}()

	if err := sleepCtx(ctx, p.warmup); err != nil {
		return st, err
	}
	if k, ok := ck.(*keepalived); ok {
		calNote, err := k.calibrate(ctx, srv.Process.Pid, p)
		if err != nil {
			return st, err
		}
		note = calNote
	}
	s0, err := takeSample(ck.pid(), srv.Process.Pid)
	if err != nil {
		return st, err
	}
	if err := ck.begin(); err != nil {
		return st, err
	}
	t0 := time.Now()
	fds := 0
	stalls := func() time.Duration { return 0 }
	if p.where == "host" {
		// Not in the guest: its wake-ups would cost the VM's CPU columns.
		stalls = watchWakeups()
	}
	for end := t0.Add(p.duration); time.Now().Before(end); {
		if err := sleepCtx(ctx, min(time.Second, time.Until(end))); err != nil {
			stalls()
			return st, err
		}
		fds = max(fds, countFDs(ck.pid()))
	}
	s1, err := takeSample(ck.pid(), srv.Process.Pid)
	el := time.Since(t0)
	if worst := stalls(); worst >= hostStallNote {
		// A checker late by about as much was not late on its own account.
		st.addNote(fmt.Sprintf("this benchmark's own 10ms timer woke up to %v late in the window: the machine did not run its threads", worst.Round(time.Millisecond)))
	}
	if err != nil {
		return st, err
	}
	rep, err := ck.end()
	if err != nil {
		return st, err
	}
	target := float64(p.checks)
	if httpN > 0 {
		target = float64(httpN)
	}
	st = Stats{Scenario: sc, Where: p.where, Seconds: el.Seconds(), Target: target / interval.Seconds(),
		Checks: rep.Checks, Failed: rep.Failed,
		Handshakes: s1.opens - s0.opens,
		UserS:      ticks(s1.utime - s0.utime), SysS: ticks(s1.stime - s0.stime),
		ListenerS: ticks(s1.listener - s0.listener), MachineS: ticks(s1.machine - s0.machine),
		RSSMB: rssMB(ck.pid()), FDs: fds, Lateness: sc != "keepalived",
		P50MS: rep.P50MS, P99MS: rep.P99MS, MaxMS: rep.MaxMS, MaxEarlyMS: rep.MaxEarlyMS, ICMPSockets: rep.ICMPSockets}
	st.addNote(note)
	st.addNote(rep.Note)
	if sc == "keepalived" {
		// keepalived does not say how many checks it ran: every success
		// is a handshake at the listeners, every failure a log line.
		st.Checks = st.Handshakes + rep.Failed
		if n, err := ipvsRealServers(ctx, topo); err == nil {
			st.addNote(fmt.Sprintf("IPVS holds %d of %d real servers at the end", n, len(targets.tcp)))
		}
	}
	if tw := timeWait(ck.pid()); tw > 0 {
		st.addNote(fmt.Sprintf("%d TIME_WAIT sockets in the checker's namespace", tw))
	}
	if p.syscalls > 0 {
		// The counts explain the CPU numbers; without perf they are
		// missing, not wrong.
		var perr error
		if st.Syscalls, perr = countSyscalls(ctx, ck.pid(), p.syscalls); perr != nil {
			st.addNote("system calls not counted: " + perr.Error())
		}
	}
	return st, nil
}

type listenerTargets struct{ tcp, http []netip.AddrPort }

// startServer starts the listener process in the backend namespace and
// returns it with the listeners it opened.
func startServer(ctx context.Context, topo *topology, n, httpN int) (*exec.Cmd, listenerTargets, error) {
	var lt listenerTargets
	self, err := os.Executable()
	if err != nil {
		return nil, lt, err
	}
	c := topo.be.Command(ctx, self, "-role=server", "-listen="+strings.Join(topo.addrs, ","),
		fmt.Sprintf("-checks=%d", n), fmt.Sprintf("-http-checks=%d", httpN))
	c.Stderr = os.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, lt, err
	}
	if err := c.Start(); err != nil {
		return nil, lt, err
	}
	line, err := bufio.NewReaderSize(out, 1<<20).ReadString('\n')
	if err == nil {
		tcpPart, httpPart, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "READY ")), ";")
		if lt.tcp, err = parseTargets(strings.TrimPrefix(tcpPart, "tcp=")); err == nil {
			lt.http, err = parseTargets(strings.TrimPrefix(httpPart, "http="))
		}
	}
	if err != nil {
		_ = c.Process.Kill()
		_ = c.Wait()
		return nil, lt, fmt.Errorf("listener process: %w", err)
	}
	return c, lt, nil
}

// hostStallNote is how late a wake-up of the coordinator must be for
// the scenario to carry a note: the machine, not the checker, stalled.
const hostStallNote = 100 * time.Millisecond

// watchWakeups wakes every 10ms until the returned func is called, which
// returns the latest wake-up. On a machine shared with other work, a
// checker that falls seconds behind while the coordinator's own wake-ups
// are as late is starved of CPU by the kernel's scheduler (its threads
// runnable and waiting for a CPU), not stuck.
func watchWakeups() (stop func() time.Duration) {
	const period = 10 * time.Millisecond
	done := make(chan struct{})
	result := make(chan time.Duration, 1)
	go func() {
		var worst time.Duration
		t := time.NewTicker(period)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				result <- worst
				return
			case now := <-t.C:
				worst = max(worst, now.Sub(last)-period)
				last = now
			}
		}
	}()
	return func() time.Duration {
		close(done)
		return <-result
	}
}
