//go:build linux

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/seesawd/seesawd/pkg/healthcheck"
	"golang.org/x/sys/unix"
)

// hist is a lateness histogram in 100µs buckets up to 10 s.
type hist struct {
	b        [100001]atomic.Uint64
	ok, fail atomic.Uint64
	on       atomic.Bool // only count inside the measurement window
	max      atomic.Int64
	firstErr atomic.Pointer[string]
}

func (h *hist) record(late time.Duration, ok bool) {
	if !h.on.Load() {
		return
	}
	if ok {
		h.ok.Add(1)
	} else {
		h.fail.Add(1)
	}
	if late < 0 {
		late = 0
	}
	for {
		m := h.max.Load()
		if int64(late) <= m || h.max.CompareAndSwap(m, int64(late)) {
			break
		}
	}
	i := min(int(late/(100*time.Microsecond)), len(h.b)-1)
	h.b[i].Add(1)
}

// noteErr keeps one example error message for the report.
func (h *hist) noteErr(err error) {
	if h.on.Load() && h.firstErr.Load() == nil {
		msg := err.Error()
		h.firstErr.CompareAndSwap(nil, &msg)
	}
}

func (h *hist) quantile(q float64) float64 {
	var total uint64
	for i := range h.b {
		total += h.b[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := uint64(q * float64(total))
	var acc uint64
	for i := range h.b {
		acc += h.b[i].Load()
		if acc >= want && acc > 0 {
			return float64(i+1) / 10 // upper edge of the bucket, ms
		}
	}
	return float64(len(h.b)) / 10
}

func work(sc, targetFile string) (Stats, error) {
	raw, err := os.ReadFile(targetFile)
	if err != nil {
		return Stats{}, err
	}
	tcpPart, httpPart, _ := strings.Cut(string(raw), ";")
	tcpTargets := strings.Fields(strings.TrimPrefix(tcpPart, "tcp="))
	httpTargets := strings.Fields(strings.TrimPrefix(httpPart, "http="))
	if len(tcpTargets) < *checks {
		return Stats{}, fmt.Errorf("%d tcp listeners for %d checks", len(tcpTargets), *checks)
	}
	h := &hist{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var extra func(*Stats)
	switch sc {
	case "tcp", "http", "icmp":
		m, p, err := startManager(ctx, sc, tcpTargets, httpTargets, h)
		if err != nil {
			return Stats{}, err
		}
		defer m.Close()
		if p != nil {
			extra = func(s *Stats) { s.ICMPSockets = p.Sockets() }
		}
	case "tcp-naive":
		for i := range *checks {
			go naive(ctx, h, func() error {
				c, err := net.DialTimeout("tcp", tcpTargets[i], *timeout)
				if err == nil {
					c.Close()
				}
				return err
			})
		}
	case "http-naive":
		client := &http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for i := range *checks {
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
	case "tcp-floor":
		go floor(ctx, h, tcpTargets[:*checks])
	default:
		return Stats{}, fmt.Errorf("unknown scenario %q", sc)
	}

	time.Sleep(*warmup)
	maxFDs := 0
	sample := func() {
		if n := countFDs(); n > maxFDs {
			maxFDs = n
		}
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof + "." + sc + ".pprof")
		if err != nil {
			return Stats{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return Stats{}, err
		}
		defer pprof.StopCPUProfile()
	}
	h.on.Store(true)
	t0, ru0 := time.Now(), rusage()
	for end := t0.Add(*duration); time.Now().Before(end); {
		time.Sleep(min(time.Second, time.Until(end)))
		sample()
	}
	ru1, el := rusage(), time.Since(t0)
	h.on.Store(false)
	st := Stats{
		Scenario:   sc,
		ChecksPerS: float64(h.ok.Load()+h.fail.Load()) / el.Seconds(),
		FailedPerS: float64(h.fail.Load()) / el.Seconds(),
		CPUUser:    100 * (tv(ru1.Utime) - tv(ru0.Utime)) / el.Seconds(),
		CPUSys:     100 * (tv(ru1.Stime) - tv(ru0.Stime)) / el.Seconds(),
		RSSMB:      rssMB(),
		FDs:        maxFDs,
		P50LateMS:  h.quantile(0.50),
		P99LateMS:  h.quantile(0.99),
		MaxLateMS:  float64(h.max.Load()) / 1e6,
	}
	if e := h.firstErr.Load(); e != nil {
		st.Note = "example failure: " + *e
	}
	if extra != nil {
		extra(&st)
	}
	return st, nil
}

func startManager(ctx context.Context, sc string, tcpTargets, httpTargets []string, h *hist) (*healthcheck.Manager, *healthcheck.Pinger, error) {
	var p *healthcheck.Pinger
	cfg := &healthcheck.Config{OnResult: func(ri healthcheck.RunInfo) {
		h.record(ri.Result.Time.Sub(ri.Scheduled), ri.Result.OK())
		if ri.Result.Err != nil {
			h.noteErr(ri.Result.Err)
		}
	}}
	cfg.Coalesce = *coalesce
	if sc == "icmp" {
		p = healthcheck.NewPinger(nil)
		cfg.Pinger = p
	}
	m := healthcheck.New(cfg)
	cs := make([]healthcheck.Check, *checks)
	for i := range cs {
		d := healthcheck.Definition{Interval: *interval, Timeout: *timeout, Rise: 2, Fall: 3}
		switch sc {
		case "tcp":
			d.Type = healthcheck.TypeTCP
			d.Target = netip.MustParseAddrPort(tcpTargets[i])
		case "http":
			d.Type = healthcheck.TypeHTTP
			d.Target = netip.MustParseAddrPort(httpTargets[i%len(httpTargets)])
			d.HTTP = &healthcheck.HTTPOptions{Path: fmt.Sprintf("/check/%d", i)}
		case "icmp":
			d.Type = healthcheck.TypeICMP
			d.Target = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, byte(i / 250), byte(i%250 + 1)}), 0)
		}
		cs[i] = healthcheck.Check{ID: fmt.Sprintf("c%d", i), Definition: d}
	}
	if err := m.Update(ctx, cs); err != nil {
		return nil, nil, err
	}
	go func() {
		for range m.Transitions() {
		}
	}()
	return m, p, nil
}

// naive is one check the Seesaw way: its own goroutine and ticker.
func naive(ctx context.Context, h *hist, check func() error) {
	time.Sleep(rand.N(*interval))
	next := time.Now()
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		start := time.Now()
		err := check()
		h.record(start.Sub(next), err == nil)
		if err != nil {
			h.noteErr(err)
		}
		next = next.Add(*interval)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// floor connects to every target once per interval with nothing but
// socket, setsockopt(SO_LINGER 0), connect and close, paced in 1 ms slots.
func floor(ctx context.Context, h *hist, targets []string) {
	runtime.LockOSThread()
	sas := make([]unix.SockaddrInet4, len(targets))
	for i, t := range targets {
		ap := netip.MustParseAddrPort(t)
		sas[i] = unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	linger := &unix.Linger{Onoff: 1, Linger: 0}
	slots := int(*interval / time.Millisecond)
	per := (len(sas) + slots - 1) / slots
	start := time.Now()
	for k := 0; ; k++ {
		slot := start.Add(time.Duration(k) * time.Millisecond)
		if d := time.Until(slot); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil {
			return
		}
		base := (k % slots) * per
		for i := base; i < min(base+per, len(sas)); i++ {
			late := time.Since(slot)
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				h.record(late, false)
				continue
			}
			_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, linger)
			err = unix.Connect(fd, &sas[i])
			unix.Close(fd)
			h.record(late, err == nil)
		}
	}
}

func rusage() unix.Rusage {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru
}

func tv(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb / 1024
		}
	}
	return 0
}

func countFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(es)
}
