package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seesawd/seesawd/internal/nettopo"
)

// goWorker is this binary in the worker role, in the checker namespace.
type goWorker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startWorker(ctx context.Context, topo *topology, dir, sc string, lt listenerTargets, p params, httpN int) (*goWorker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	tf := filepath.Join(dir, "targets")
	if err := os.WriteFile(tf, []byte("tcp="+joinAddrPorts(lt.tcp)+";http="+joinAddrPorts(lt.http)), 0o644); err != nil {
		return nil, err
	}
	// "tcp@alt" is the tcp scenario in another build's worker, and
	// "tcp/c=10ms" the tcp scenario with Config.Coalesce 10ms, so that
	// builds and settings can be compared in one run (one VM boot).
	bin, prof := self, ""
	if *cpuprof != "" {
		// One profile per scenario run: PREFIX.vm3.tcp.pprof.
		prof = fmt.Sprintf("%s.%s%d", *cpuprof, p.where, topoSeq.Load())
	}
	if base, ok := strings.CutSuffix(sc, "@alt"); ok {
		if *altBench == "" {
			return nil, fmt.Errorf("scenario %s needs -alt", sc)
		}
		bin, sc = *altBench, base
		if prof != "" {
			prof += "-alt"
		}
	}
	sc, co, ok := strings.Cut(sc, "/c=")
	if !ok {
		co = coalesce.String()
	}
	c := topo.cl.Command(ctx, bin, "-role=worker", "-scenario="+sc, "-targets="+tf,
		fmt.Sprintf("-checks=%d", p.checks), fmt.Sprintf("-http-checks=%d", httpN),
		"-interval="+interval.String(), "-timeout="+timeout.String(), "-coalesce="+co,
		"-cpuprofile="+prof)
	c.Stderr = os.Stderr
	w := &goWorker{cmd: c}
	if w.in, err = c.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	w.out = bufio.NewReader(out)
	if err := c.Start(); err != nil {
		return nil, err
	}
	if line, err := w.out.ReadString('\n'); err != nil || line != "READY\n" {
		return nil, errors.Join(fmt.Errorf("worker did not start: %q %v", line, err), w.close())
	}
	return w, nil
}

func joinAddrPorts(aps []netip.AddrPort) string {
	s := make([]string, len(aps))
	for i, a := range aps {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

func (w *goWorker) pid() int { return w.cmd.Process.Pid }

func (w *goWorker) begin() error {
	_, err := io.WriteString(w.in, "start\n")
	return err
}

func (w *goWorker) end() (workerReport, error) {
	var r workerReport
	if _, err := io.WriteString(w.in, "stop\n"); err != nil {
		return r, err
	}
	line, err := w.out.ReadBytes('\n')
	if err != nil {
		return r, fmt.Errorf("worker report: %w", err)
	}
	return r, json.Unmarshal(line, &r)
}

// close ends the worker by closing its stdin.
func (w *goWorker) close() error {
	w.in.Close()
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		// A Go worker dumps its goroutines on SIGQUIT: say where it hangs.
		_ = w.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = w.cmd.Process.Kill()
			<-done
		}
		return errors.New("worker did not exit within 10s")
	}
}

func loadIPVS(ctx context.Context, topo *topology, services [][]netip.AddrPort) error {
	c := topo.cl.Command(ctx, "ipvsadm", "-R")
	c.Stdin = strings.NewReader(ipvsRules(services))
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("ipvsadm -R: %w: %s", err, out)
	}
	return nil
}

// ipvsRealServers counts the real servers IPVS holds in the checker namespace.
func ipvsRealServers(ctx context.Context, topo *topology) (int, error) {
	out, err := topo.cl.Run(ctx, "ipvsadm", "-Sn")
	if err != nil {
		return 0, err
	}
	return strings.Count(out, "\n-a "), nil
}

// keepalived is keepalived 2.2.7 running only its checker (-C) in the
// foreground; the process measured is the checker child.
type keepalived struct {
	proc     *nettopo.Process
	syslog   *net.UnixConn
	checker  int
	conf     string
	services [][]netip.AddrPort

	failures    atomic.Uint64
	lastFailure atomic.Pointer[string]
	failed0     uint64
}

func startKeepalived(topo *topology, dir string, services [][]netip.AddrPort) (*keepalived, error) {
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(keepalivedConfig(services, *interval, *timeout)), 0o644); err != nil {
		return nil, err
	}
	// keepalived logs through syslog(3). With no syslog daemon (the VM
	// lab has none) and -l it would write every line to the serial
	// console, which takes milliseconds a line under TCG; a /dev/log
	// reader here gives it what a real system has and the benchmark its
	// failure lines (checker_log_all_failures logs every failed check).
	sl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "/dev/log", Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("keepalived's syslog: %w", err)
	}
	k := &keepalived{syslog: sl, conf: conf, services: services}
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := sl.Read(buf)
			if err != nil {
				return
			}
			if line := string(buf[:n]); keepalivedFailure(line) {
				k.failures.Add(1)
				k.lastFailure.Store(&line)
			}
		}
	}()
	checkerPid := filepath.Join(dir, "checkers.pid")
	k.proc, err = topo.cl.Start("keepalived", "keepalived", "-C", "-n", "-f", conf,
		"-p", filepath.Join(dir, "keepalived.pid"), "-c", checkerPid)
	if err != nil {
		sl.Close()
		os.Remove("/dev/log")
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		b, err := os.ReadFile(checkerPid)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
			k.checker = pid
			return k, nil
		}
		if time.Now().After(deadline) || k.proc.Exited() {
			return nil, errors.Join(fmt.Errorf("keepalived started no checker:\n%s", tail(k.proc.Output())), k.close())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (k *keepalived) pid() int { return k.checker }

// calibrate gives keepalived the schedule the other checkers keep. It
// waits delay_loop after a check ends before the next starts, so with
// delay_loop at the interval it runs fewer checks than the interval asks
// (under TCG, 874-961 of 1,000 a second), and a comparison per check with
// a checker that keeps the schedule compares different work. calibrate
// counts its checks for 8 s and, while it is more than 1 % short,
// shortens delay_loop by what each cycle overran, reloads it (SIGHUP) and
// lets it settle for two warm-ups (right after a reload it runs faster
// than it will), up to three times, as an operator tuning it would; the
// note says what it did.
func (k *keepalived) calibrate(ctx context.Context, listener int, p params) (string, error) {
	const window = 8 * time.Second
	rate := func() (float64, error) {
		a, err := takeSample(k.checker, listener)
		if err != nil {
			return 0, err
		}
		if err := sleepCtx(ctx, window); err != nil {
			return 0, err
		}
		b, err := takeSample(k.checker, listener)
		return float64(b.opens-a.opens) / window.Seconds(), err
	}
	target := float64(p.checks) / interval.Seconds()
	delay := *interval
	var steps []string
	for range 3 {
		r, err := rate()
		if err != nil {
			return "", err
		}
		steps = append(steps, fmt.Sprintf("%.0f checks/s at delay_loop %s", r, seconds(delay)))
		if r == 0 || r >= 0.99*target {
			break
		}
		// Each real server's cycle overran the interval by this much.
		over := time.Duration((float64(p.checks)/r - interval.Seconds()) * float64(time.Second))
		delay = max((delay - over).Round(time.Millisecond), *interval/2)
		if err := os.WriteFile(k.conf, []byte(keepalivedConfig(k.services, delay, *timeout)), 0o644); err != nil {
			return "", err
		}
		if err := k.proc.Signal(syscall.SIGHUP); err != nil {
			return "", fmt.Errorf("reloading keepalived: %w", err)
		}
		if err := sleepCtx(ctx, 2*p.warmup); err != nil {
			return "", err
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", k.checker)); err != nil {
			return "", fmt.Errorf("keepalived's checker is gone after its reload:\n%s", tail(k.proc.Output()))
		}
	}
	if len(steps) == 1 {
		return "", nil
	}
	return fmt.Sprintf("delay_loop calibrated (it waits delay_loop after each check ends): %s; measured at %s",
		strings.Join(steps, ", "), seconds(delay)), nil
}

func (k *keepalived) begin() error {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", k.checker)); err != nil {
		return fmt.Errorf("keepalived's checker is gone:\n%s", tail(k.proc.Output()))
	}
	k.failed0 = k.failures.Load()
	return nil
}

func (k *keepalived) end() (workerReport, error) {
	r := workerReport{Failed: k.failures.Load() - k.failed0}
	if l := k.lastFailure.Load(); r.Failed > 0 && l != nil {
		r.Note = "example failure: " + strings.TrimSpace(*l)
	}
	return r, nil
}

func (k *keepalived) close() error {
	defer os.Remove("/dev/log")
	defer k.syslog.Close()
	return k.proc.Stop(20 * time.Second)
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// cFloor is floor.c, compiled by the coordinator, in the checker namespace.
type cFloor struct {
	cmd *exec.Cmd
	out *bufio.Reader
}

func startCFloor(ctx context.Context, topo *topology, dir string, targets []netip.AddrPort, fin bool) (*cFloor, error) {
	tf := filepath.Join(dir, "floor-targets")
	if err := os.WriteFile(tf, []byte(joinAddrPorts(targets)), 0o644); err != nil {
		return nil, err
	}
	args := []string{tf, strconv.FormatInt(int64(*interval), 10)}
	if fin {
		args = append(args, "fin")
	}
	c := topo.cl.Command(ctx, *floorBin, args...)
	c.Stderr = os.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	f := &cFloor{cmd: c, out: bufio.NewReader(out)}
	if err := c.Start(); err != nil {
		return nil, err
	}
	if line, err := f.out.ReadString('\n'); err != nil || line != "READY\n" {
		return nil, errors.Join(fmt.Errorf("floor did not start: %q %v", line, err), f.close())
	}
	return f, nil
}

func (f *cFloor) pid() int     { return f.cmd.Process.Pid }
func (f *cFloor) begin() error { return f.cmd.Process.Signal(syscall.SIGUSR1) }

func (f *cFloor) end() (workerReport, error) {
	var r workerReport
	if err := f.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		return r, err
	}
	line, err := f.out.ReadBytes('\n')
	if err != nil {
		return r, fmt.Errorf("floor report: %w", err)
	}
	return r, json.Unmarshal(line, &r)
}

func (f *cFloor) close() error {
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	_ = f.cmd.Wait() // killed by the signal, as intended
	return nil
}
