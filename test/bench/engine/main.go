// Command engine-bench measures seesawd's engine and daemon against
// keepalived 2.2.7 on one table, 1,000 services x 10 backends by default:
//
//   - reload: one backend's weight changed in the file; the operations the
//     reload issued and the time from SIGHUP to the kernel holding it;
//   - start-up on a kernel that already holds the table (a restart): the
//     operations issued, the time to programmed, and whether the services'
//     counters survived (they do only if nothing was recreated);
//   - a health transition to the kernel applying it (p99);
//   - steady state with 10,000 TCP checks every 60 s (keepalived's default
//     delay_loop): resident memory, CPU, and the time each resync takes.
//
// The host part runs the engine in process on an in-memory kernel: reload
// (config file read, parse, validation, the health checks' Update and the
// reconcile, as the daemon's SIGHUP does) and transitions. The VM part runs
// the seesawd binary and keepalived on the real kernel in the VM lab, where
// QEMU's emulation makes CPU-bound work several times slower than on the
// host: the in-process reload runs there too, so the factor is in the table.
//
// Run it with `make bench-engine` (as root: the VM lab).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/seesawd/seesawd/test/vm"
)

type options struct {
	services, backends int
	reloads, flips     int
	steady             time.Duration
	seesawd            string
	part               string
}

// vmResult is what the VM part reports, as one JSON line.
type vmResult struct {
	Seesawd    daemonResult
	Keepalived daemonResult
	// FlipsReal are transition-to-kernel latencies on the real kernel.
	FlipsReal []time.Duration
	// Reload is the in-process reload measured in the VM.
	Reload reloadResult
}

type daemonResult struct {
	// Programmed is how long a fresh start took until the kernel held
	// every backend; Adopt is a restart on a kernel holding the table.
	Programmed   time.Duration
	AdoptOps     []int
	AdoptTimes   []time.Duration
	StatsKept    bool
	ReloadOps    []int
	ReloadTimes  []time.Duration
	RSSMB        float64
	CPUPct       float64
	ResyncTimes  []time.Duration
	Checks       int
	ChecksPerSec float64
}

const resultPrefix = "ENGINE-BENCH-RESULT "

func main() {
	var o options
	flag.IntVar(&o.services, "services", 1000, "services")
	flag.IntVar(&o.backends, "backends", 10, "backends per service")
	flag.IntVar(&o.reloads, "reloads", 5, "reload rounds")
	flag.IntVar(&o.flips, "flips", 1000, "health transitions measured")
	flag.DurationVar(&o.steady, "steady", 60*time.Second, "steady-state sampling time (a whole check interval)")
	flag.StringVar(&o.seesawd, "seesawd", "bin/seesawd", "seesawd binary (built by make bench-engine)")
	flag.StringVar(&o.part, "part", "all", "all, host or vm (the VM part runs inside the lab)")
	cpuprofile := flag.String("cpuprofile", "", "write the host part's CPU profile to `file`")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l := layout{services: o.services, backends: o.backends}
	if o.part == "vm" {
		res, err := runVM(ctx, l, o)
		if err != nil {
			fatalf("vm part: %v", err)
		}
		b, _ := json.Marshal(res)
		fmt.Println(resultPrefix + string(b))
		return
	}
	dir, err := os.MkdirTemp("", "engine-bench-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "engine-bench: host part, %d services x %d backends\n", o.services, o.backends)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatalf("%v", err)
		}
		_ = pprof.StartCPUProfile(f)
	}
	hostReload, err := measureReload(ctx, l, newMapKernel(), o.reloads, dir)
	if err != nil {
		fatalf("host reload: %v", err)
	}
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	hostFlips, err := measureFlips(ctx, l, newMapKernel(), o.flips)
	if err != nil {
		fatalf("host flips: %v", err)
	}
	var vmr *vmResult
	if o.part == "all" {
		vmr, err = bootVM(ctx, o)
		if err != nil {
			fatalf("%v", err)
		}
	}
	report(os.Stdout, o, hostReload, hostFlips, vmr)
}

// bootVM runs this binary's VM part in the lab and reads its result.
func bootVM(ctx context.Context, o options) (*vmResult, error) {
	if _, err := os.Stat(o.seesawd); err != nil {
		return nil, fmt.Errorf("seesawd binary: %w (make bench-engine builds it)", err)
	}
	fmt.Fprintln(os.Stderr, "engine-bench: booting the VM lab for the real-kernel part")
	var r vmResult
	err := vm.RunSelfResult(ctx, &vm.Config{Memory: "2G", CPUs: 2, Timeout: 30 * time.Minute, Files: []string{o.seesawd}},
		os.Stderr, resultPrefix, &r, "-part", "vm", "-seesawd", vm.GuestPath(o.seesawd),
		"-services", fmt.Sprint(o.services), "-backends", fmt.Sprint(o.backends), "-reloads", fmt.Sprint(o.reloads),
		"-flips", fmt.Sprint(o.flips), "-steady", o.steady.String())
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

// spread renders "median (min-max)".
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%s-%s)", ms(quantile(ds, 0.5)), strings.TrimSuffix(ms(quantile(ds, 0)), " ms"), ms(quantile(ds, 1)))
}

func ints(xs []int) string {
	if len(xs) == 0 {
		return "-"
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

func report(w io.Writer, o options, hostReload reloadResult, hostFlips []time.Duration, v *vmResult) {
	fmt.Fprintf(w, "engine-bench: %d services x %d backends, %d reloads, %d transitions; %s, %d CPUs\n",
		o.services, o.backends, o.reloads, o.flips, runtime.GOOS, runtime.NumCPU())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measure\tseesawd\tkeepalived 2.2.7\t")
	fmt.Fprintf(tw, "reload, in process, host: ops\t%s\t-\t\n", ints(hostReload.Ops))
	fmt.Fprintf(tw, "reload, in process, host: time\t%s\t-\t\n", spread(hostReload.Times))
	fmt.Fprintf(tw, "  of which file (read, parse, validate)\t%s\t-\t\n", spread(hostReload.Parse))
	fmt.Fprintf(tw, "  of which engine (checks' Update, reconcile)\t%s\t-\t\n", spread(hostReload.Engine))
	fmt.Fprintf(tw, "transition to kernel, host fake kernel: p50 / p99\t%s / %s\t-\t\n", ms(quantile(hostFlips, 0.5)), ms(quantile(hostFlips, 0.99)))
	if v != nil {
		s, k := v.Seesawd, v.Keepalived
		fmt.Fprintf(tw, "reload, in process, VM: time\t%s\t-\t\n", spread(v.Reload.Times))
		fmt.Fprintf(tw, "reload, daemon, VM: ops\t%s\t-\t\n", ints(s.ReloadOps))
		fmt.Fprintf(tw, "reload, daemon, VM: SIGHUP to kernel\t%s\t%s\t\n", spread(s.ReloadTimes), spread(k.ReloadTimes))
		fmt.Fprintf(tw, "fresh start, VM: until every backend is in\t%s\t%s\t\n", ms(s.Programmed), ms(k.Programmed))
		fmt.Fprintf(tw, "restart on the table, VM: ops\t%s\t-\t\n", ints(s.AdoptOps))
		fmt.Fprintf(tw, "restart on the table, VM: to programmed\t%s\t%s\t\n", spread(s.AdoptTimes), spread(k.AdoptTimes))
		fmt.Fprintf(tw, "restart on the table, VM: counters kept\t%v\t%v\t\n", s.StatsKept, k.StatsKept)
		fmt.Fprintf(tw, "transition to kernel, VM real kernel: p50 / p99\t%s / %s\t-\t\n", ms(quantile(v.FlipsReal, 0.5)), ms(quantile(v.FlipsReal, 0.99)))
		fmt.Fprintf(tw, "steady, VM: checks/s\t%.0f\t%.0f\t\n", s.ChecksPerSec, k.ChecksPerSec)
		fmt.Fprintf(tw, "steady, VM: RSS\t%.1f MB\t%.1f MB\t\n", s.RSSMB, k.RSSMB)
		fmt.Fprintf(tw, "steady, VM: CPU\t%.1f %%\t%.1f %%\t\n", s.CPUPct, k.CPUPct)
		fmt.Fprintf(tw, "steady, VM: each resync (dump + diff)\t%s\t-\t\n", spread(s.ResyncTimes))
	}
	tw.Flush()
	line := fmt.Sprintf("engine-bench: reload_ops=%s reload_ms=%.1f flip_p99_ms=%.3f", ints(hostReload.Ops),
		float64(quantile(hostReload.Times, 0.5))/1e6, float64(quantile(hostFlips, 0.99))/1e6)
	if v != nil {
		line += fmt.Sprintf(" adopt_ops=%s rss_mb=%.0f", ints(v.Seesawd.AdoptOps), v.Seesawd.RSSMB)
	}
	fmt.Fprintln(w, line)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "engine-bench: "+format+"\n", args...)
	os.Exit(1)
}
