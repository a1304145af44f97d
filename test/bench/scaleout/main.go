// Command scaleout-bench measures seesawd beyond one active node, in the
// VM lab's scale-out topology (internal/lab: a client behind FRR, LBs on
// point-to-point links, echo backends):
//
//   - withdraw: the time from a service going below quorum on one LB (its
//     log) to the router's kernel route losing that LB's next hop;
//   - LB death: the time from the event to the router's ECMP set updated,
//     for kill -9 (the kernel closes the BGP session), a cut link (the
//     router's port goes down) and a silent LB (the hold time, 3s), with 200
//     long-lived flows each time, counting those that survive;
//   - sync: 200 long-lived NAT flows through a VRRP master, cut and then
//     restored (100 more opened through the backup meanwhile), counting the
//     flows that survive the failover and the failback: seesawd with
//     ipvs.sync, keepalived 2.2.7 with lvs_sync_daemon, and keepalived with
//     the kernel settings seesawd's refresh_period makes.
//
// Its last line is
//
//	scaleout-bench: withdraw_ms=X aa_survived=N/M sync_failover=N/M sync_failback=N/M ka_failback=N/M
//
// Run it with `make bench-scaleout` (as root: the VM lab).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/seesawd/seesawd/test/vm"
)

type options struct {
	rounds, flows, during int
	seesawd, part         string
}

// result is what the VM part reports, as one JSON line.
type result struct {
	Withdraw []time.Duration
	// Events by name: route update times and flows kept.
	Events map[string]*eventResult
	// Sync by daemon: "seesawd", "keepalived", "keepalived+refresh".
	Sync map[string]*syncResult
}

type eventResult struct {
	Update                  []time.Duration
	Alive, Total            int
	VictimAlive, VictimFlow int
	MaxStall                time.Duration
}

type syncResult struct {
	Failover, FailoverTotal int
	Failback, FailbackTotal int
	Takeover, Retake        []time.Duration
	Errors                  []string
}

const resultPrefix = "SCALEOUT-BENCH-RESULT "

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of each measurement")
	flag.IntVar(&o.flows, "flows", 200, "long-lived flows per event")
	flag.IntVar(&o.during, "during", 100, "flows opened through the backup during a failover")
	flag.StringVar(&o.seesawd, "seesawd", "bin/seesawd", "seesawd binary (built by make bench-scaleout)")
	flag.StringVar(&o.part, "part", "host", "host, or vm (the part that runs inside the lab)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.part == "vm" {
		r, err := runVM(ctx, o)
		if err != nil {
			fatalf("vm part: %v", err)
		}
		b, _ := json.Marshal(r)
		fmt.Println(resultPrefix + string(b))
		return
	}
	r, err := bootVM(ctx, o)
	if err != nil {
		fatalf("%v", err)
	}
	report(os.Stdout, o, r)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scaleout-bench: "+format+"\n", args...)
	os.Exit(1)
}

// bootVM runs this binary's VM part in the lab and reads its result.
func bootVM(ctx context.Context, o options) (*result, error) {
	if _, err := os.Stat(o.seesawd); err != nil {
		return nil, fmt.Errorf("seesawd binary: %w (make bench-scaleout builds it)", err)
	}
	fmt.Fprintln(os.Stderr, "scaleout-bench: booting the VM lab")
	var r result
	err := vm.RunSelfResult(ctx, &vm.Config{Memory: "2G", CPUs: 2, Timeout: 60 * time.Minute, Files: []string{o.seesawd}},
		os.Stderr, resultPrefix, &r, "-part", "vm", "-seesawd", vm.GuestPath(o.seesawd),
		"-rounds", fmt.Sprint(o.rounds), "-flows", fmt.Sprint(o.flows), "-during", fmt.Sprint(o.during))
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// events are the ways an LB leaves the ECMP set, in the table's order.
var events = []string{"kill", "cut", "kill+cut", "silent"}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/1e6) }

// spread renders "median (min-max) ms".
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%s-%s) ms", ms(median(ds)), ms(slices.Min(ds)), ms(slices.Max(ds)))
}

func report(w io.Writer, o options, r *result) {
	fmt.Fprintf(w, "scale-out in the VM lab (QEMU TCG, 2 vCPUs): %d round(s), %d flows per event, hold time 3s\n\n", o.rounds, o.flows)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tseesawd\t")
	fmt.Fprintf(tw, "service below quorum -> route withdrawn at the router\t%s\t\n", spread(r.Withdraw))
	for _, name := range events {
		e := r.Events[name]
		if e == nil {
			continue
		}
		fmt.Fprintf(tw, "LB %s -> router ECMP set updated\t%s\t\n", name, spread(e.Update))
		fmt.Fprintf(tw, "  flows kept (moved from the LB / all)\t%d/%d / %d/%d, max stall %s ms\t\n",
			e.VictimAlive, e.VictimFlow, e.Alive, e.Total, ms(e.MaxStall))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "active/passive NAT, master cut then restored\tfailover kept\tfailback kept\ttakeover\tretake\t")
	for _, name := range []string{"seesawd", "keepalived", "keepalived+refresh"} {
		s := r.Sync[name]
		if s == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%d/%d\t%s\t%s\t\n", name, s.Failover, s.FailoverTotal, s.Failback, s.FailbackTotal,
			spread(s.Takeover), spread(s.Retake))
	}
	tw.Flush()
	aa := r.Events["kill+cut"]
	if aa == nil {
		aa = &eventResult{}
	}
	sw, ka := r.Sync["seesawd"], r.Sync["keepalived"]
	if sw == nil {
		sw = &syncResult{}
	}
	if ka == nil {
		ka = &syncResult{}
	}
	fmt.Fprintf(w, "scaleout-bench: withdraw_ms=%s aa_survived=%d/%d sync_failover=%d/%d sync_failback=%d/%d ka_failback=%d/%d\n",
		ms(median(r.Withdraw)), aa.Alive, aa.Total, sw.Failover, sw.FailoverTotal, sw.Failback, sw.FailbackTotal,
		ka.Failback, ka.FailbackTotal)
}
