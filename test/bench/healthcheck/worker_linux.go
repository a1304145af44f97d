package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/seesawd/seesawd/pkg/healthcheck"
	"golang.org/x/sys/unix"
)

// workerReport is what a worker tells the coordinator at the end of the
// window; the coordinator measures CPU, memory and descriptors itself.
type workerReport struct {
	Checks      uint64  `json:"checks"`
	Failed      uint64  `json:"failed"`
	P50MS       float64 `json:"p50_ms"`
	P99MS       float64 `json:"p99_ms"`
	MaxMS       float64 `json:"max_ms"`
	MaxEarlyMS  float64 `json:"max_early_ms,omitempty"`
	ICMPSockets int     `json:"icmp_sockets,omitempty"`
	Note        string  `json:"note,omitempty"`
}

// work runs one scenario's checker in this process. It prints READY once
// every check is registered, counts from "start" to "stop" on stdin, then
// prints its report and returns.
func work(sc, targetFile string) error {
	raw, err := os.ReadFile(targetFile)
	if err != nil {
		return err
	}
	tcpPart, httpPart, _ := strings.Cut(string(raw), ";")
	tcpTargets, err := parseTargets(strings.TrimPrefix(tcpPart, "tcp="))
	if err != nil {
		return err
	}
	httpTargets, err := parseTargets(strings.TrimPrefix(httpPart, "http="))
	if err != nil {
		return err
	}
	if len(tcpTargets) < *checks {
		return fmt.Errorf("%d tcp listeners for %d checks", len(tcpTargets), *checks)
	}
	tcpTargets = tcpTargets[:*checks]
	h := &hist{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var icmpSockets func() int
	switch sc {
	case "tcp", "tcp-dialer", "http", "icmp":
		m, p, err := startManager(ctx, sc, tcpTargets, httpTargets, h)
		if err != nil {
			return err
		}
		defer m.Close()
		if p != nil {
			defer p.Close()
			icmpSockets = p.Sockets
		}
	case "tcp-naive":
		d := rstDialer(*timeout)
		for _, t := range tcpTargets {
			go naive(ctx, h, func() error {
				c, err := d.Dial("tcp", t.String())
				if err == nil {
					c.Close()
				}
				return err
			})
		}
	case "http-naive":
		if len(httpTargets) == 0 {
			return errors.New("no http listeners")
		}
		client := &http.Client{Timeout: *timeout,
			Transport:     &http.Transport{DisableKeepAlives: true, DialContext: rstDialer(0).DialContext},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for i := range *httpChecks {
			url := fmt.Sprintf("http://%s/check/%d", httpTargets[i%len(httpTargets)], i)
			go naive(ctx, h, func() error {
				resp, err := client.Get(url)
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			})
		}
	case "tcp-floor", "tcp-floor-go":
		go floor(ctx, h, tcpTargets)
	default:
		return fmt.Errorf("unknown scenario %q", sc)
	}
	fmt.Println("READY")

	// Wait for commands in the netpoller, not in a blocking read: a
	// thread parked in read(2) holds a P, and the runtime's sysmon then
	// keeps retaking the floor's P from its sleeps (a futex wake-up per
	// millisecond) because no P is idle.
	if err := unix.SetNonblock(0, true); err != nil {
		return err
	}
	in := bufio.NewScanner(os.NewFile(0, "stdin"))
	if !in.Scan() || in.Text() != "start" {
		return errors.New("worker: expected start")
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof + "." + sc + ".pprof")
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	h.on.Store(true)
	if !in.Scan() || in.Text() != "stop" {
		return errors.New("worker: expected stop")
	}
	h.on.Store(false)
	pprof.StopCPUProfile()
	r := workerReport{Checks: h.ok.Load() + h.fail.Load(), Failed: h.fail.Load(),
		P50MS: h.quantile(0.50), P99MS: h.quantile(0.99), MaxMS: float64(h.max.Load()) / 1e6,
		MaxEarlyMS: float64(h.maxEarly.Load()) / 1e6}
	if e := h.firstErr.Load(); e != nil {
		r.Note = "example failure: " + *e
	}
	if icmpSockets != nil {
		r.ICMPSockets = icmpSockets()
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return err
	}
	// Keep checking until the coordinator has counted system calls and
	// closes stdin.
	for in.Scan() {
	}
	return nil
}

func parseTargets(s string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for f := range strings.FieldsSeq(s) {
		ap, err := netip.ParseAddrPort(f)
		if err != nil {
			return nil, err
		}
		out = append(out, ap)
	}
	return out, nil
}

func startManager(ctx context.Context, sc string, tcpTargets, httpTargets []netip.AddrPort, h *hist) (*healthcheck.Manager, *healthcheck.Pinger, error) {
	var p *healthcheck.Pinger
	sw := newStallWatch()
	cfg := &healthcheck.Config{
		OnResult: func(ri healthcheck.RunInfo) {
			h.record(ri.Result.Time.Sub(ri.Scheduled), ri.Result.Err)
			sw.record(ri.Result.Time.Sub(ri.Scheduled))
		},
		Coalesce: *coalesce,
	}
	n := *checks
	switch sc {
	case "icmp":
		p = healthcheck.NewPinger(nil)
		cfg.Pinger = p
	case "tcp-dialer":
		d := rstDialer(0)
		cfg.NewChecker = func(def healthcheck.Definition) (healthcheck.Checker, error) {
			return dialChecker{target: def.Target.String(), d: d}, nil
		}
	case "http":
		if len(httpTargets) == 0 {
			return nil, nil, errors.New("no http listeners")
		}
		n = *httpChecks
	}
	m := healthcheck.New(cfg)
	cs := make([]healthcheck.Check, n)
	for i := range cs {
		d := healthcheck.Definition{Interval: *interval, Timeout: *timeout, Rise: 2, Fall: 3}
		switch sc {
		case "tcp", "tcp-dialer":
			d.Type, d.Target = healthcheck.TypeTCP, tcpTargets[i]
		case "http":
			d.Type, d.Target = healthcheck.TypeHTTP, httpTargets[i%len(httpTargets)]
			d.HTTP = &healthcheck.HTTPOptions{Path: fmt.Sprintf("/check/%d", i)}
		case "icmp":
			d.Type, d.Target = healthcheck.TypeICMP, netip.AddrPortFrom(icmpTarget(i), 0)
		}
		cs[i] = healthcheck.Check{ID: fmt.Sprintf("c%d", i), Definition: d}
	}
	if err := m.Update(ctx, cs); err != nil {
		m.Close()
		return nil, nil, err
	}
	go func() {
		for range m.Transitions() {
		}
	}()
	return m, p, nil
}

// dialChecker is pkg/healthcheck's TCP connect check done with net.Dialer.
// The Manager runs checkers it does not know on its worker pool, so the
// only difference from the real check is the epoll connector.
type dialChecker struct {
	target string
	d      *net.Dialer
}

func (c dialChecker) Check(ctx context.Context) healthcheck.Result {
	start := time.Now()
	conn, err := c.d.DialContext(ctx, "tcp", c.target)
	if err == nil {
		conn.Close()
	}
	return healthcheck.Result{Time: start, Latency: time.Since(start), Err: err}
}

// rstDialer closes the way pkg/healthcheck does (SO_LINGER 0: an RST, no
// TIME_WAIT) and, like it, sets no keep-alive options.
func rstDialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: -1, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
		}); err != nil {
			return err
		}
		return serr
	}}
}

// naive is one check the Seesaw way: its own goroutine and timer, on the
// Manager's schedule (a random phase, then a fixed grid).
func naive(ctx context.Context, h *hist, check func() error) {
	due := time.Now().Add(rand.N(*interval))
	t := time.NewTimer(time.Until(due))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		start := time.Now()
		err := check()
		h.record(start.Sub(due), err)
		due = nextDue(due, time.Now(), *interval)
		t.Reset(time.Until(due))
	}
}

// floor is floor.c's loop in Go (tcp-floor-go, and tcp-floor without a C
// compiler): one goroutine, no runtime timers, waking every millisecond with clock_nanosleep and doing nothing
// per check but socket, setsockopt(SO_LINGER 0), a blocking connect and
// close, as a minimal C loop would. Checks keep the Manager's schedule (a
// random phase each, a fixed grid, those due within the next millisecond
// started together). It reads the clock once per wake-up, so a check's
// start is taken as its batch's.
func floor(ctx context.Context, h *hist, targets []netip.AddrPort) {
	// One P and a yield per wake-up keep the Go runtime out of the way.
	// A goroutine that holds its P for 10 ms is preempted by sysmon even
	// while asleep in a system call, and with a second P (or a locked
	// thread) each preemption wakes another thread: futex calls and
	// context switches a C loop would not make. Yielding with no other P
	// to hand work to costs no system call and resets that clock.
	runtime.GOMAXPROCS(1)
	type target struct {
		sa    unix.SockaddrInet4
		phase time.Duration
	}
	ts := make([]target, len(targets))
	for i, t := range targets {
		ts[i] = target{sa: unix.SockaddrInet4{Addr: t.Addr().As4(), Port: int(t.Port())}, phase: rand.N(*interval)}
	}
	slices.SortFunc(ts, func(a, b target) int { return int(a.phase - b.phase) })
	linger := &unix.Linger{Onoff: 1}
	const tick = time.Millisecond
	var base unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &base); err != nil {
		h.on.Store(true)
		h.record(0, err)
		return
	}
	t0 := time.Now()
	next, cycle := 0, time.Duration(0)
	for k := int64(1); ctx.Err() == nil; k++ {
		wake := unix.NsecToTimespec(base.Nano() + k*int64(tick))
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &wake, nil) == unix.EINTR {
		}
		runtime.Gosched()
		now := time.Since(t0)
		for {
			due := cycle + ts[next].phase
			if due > now+tick {
				break
			}
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err == nil {
				_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, linger)
				err = unix.Connect(fd, &ts[next].sa)
				unix.Close(fd)
			}
			h.record(now-due, err)
			if next++; next == len(ts) {
				next, cycle = 0, cycle+*interval
			}
		}
	}
}
