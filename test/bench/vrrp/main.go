// Command vrrp measures VRRP failover as a client sees it, for keepalived
// and seesawd side by side in the same run, topology and settings.
//
// For each implementation, advertisement interval (0.1 s and 1 s) and
// scenario (the master's link cut, the master stopped with SIGTERM) it
// builds a fresh namespace topology (lb1 priority 150, lb2 priority 100,
// a client, one bridge), pings the virtual address from the client every
// 10 ms on a raw ICMP socket, triggers the failover and reports the longest
// silence between consecutive echo replies: median, min and max over -n
// runs. Each run also captures lb2's interface with a packet socket and
// watches its addresses over netlink, giving the delay from lb2's first
// advertisement as master (the transition) to the virtual address being
// present and to its first gratuitous ARP / neighbour advertisement. Last,
// it measures the CPU an idle master with -instances instances at 0.1 s
// adverts uses (utime+stime of every process in its namespace over -cpu),
// and, for each kind of -floods, the CPU of a master and a backup while the
// client floods them with -flood-rate forged adverts per second for -flood
// (for a VRID neither has, and for theirs at a lower priority), with the
// number of adverts the master sent meanwhile.
//
// It needs root. Run it with: go run ./test/bench/vrrp
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/seesawd/seesawd/internal/nettopo"
)

type options struct {
	runs      int
	impls     []string
	adverts   []time.Duration
	scenarios []string
	family    string
	ping      time.Duration
	cpu       time.Duration
	instances int
	floodFor  time.Duration
	floodRate int
	floods    []string
	verbose   bool
}

func main() {
	var o options
	var impls, adverts, scenarios, floods string
	flag.IntVar(&o.runs, "n", 3, "runs per row (the median is reported)")
	flag.StringVar(&impls, "impl", "keepalived,seesawd", "implementations to measure")
	flag.StringVar(&adverts, "adverts", "100ms,1s", "advertisement intervals")
	flag.StringVar(&scenarios, "scenarios", "cut,stop", "failover scenarios: cut (master link down), stop (SIGTERM); empty for none")
	flag.StringVar(&o.family, "family", "ipv4", "address family of the virtual address: ipv4 or ipv6")
	flag.DurationVar(&o.ping, "ping", 10*time.Millisecond, "echo request interval")
	flag.DurationVar(&o.cpu, "cpu", 20*time.Second, "idle-master CPU sampling time (0 skips)")
	flag.IntVar(&o.instances, "instances", 100, "instances on the idle master")
	flag.DurationVar(&o.floodFor, "flood", 10*time.Second, "flood CPU sampling time (0 skips)")
	flag.IntVar(&o.floodRate, "flood-rate", 50000, "forged adverts per second in a flood")
	flag.StringVar(&floods, "floods", floodOtherVRID+","+floodLower, "floods: "+floodOtherVRID+" (VRID 99), "+floodLower+" (VRID 51, priority 50)")
	flag.BoolVar(&o.verbose, "v", false, "log every run")
	flag.Parse()
	o.impls = strings.Split(impls, ",")
	if scenarios != "" {
		o.scenarios = strings.Split(scenarios, ",")
	}
	if floods != "" {
		o.floods = strings.Split(floods, ",")
	}
	for _, a := range strings.Split(adverts, ",") {
		d, err := time.ParseDuration(a)
		if err != nil || d < 10*time.Millisecond || d%(10*time.Millisecond) != 0 {
			fatalf("bad advert interval %q: want a multiple of 10ms", a)
		}
		o.adverts = append(o.adverts, d)
	}
	if o.runs < 1 || (o.family != "ipv4" && o.family != "ipv6") {
		fatalf("need -n >= 1 and -family ipv4 or ipv6")
	}
	if os.Geteuid() != 0 {
		fatalf("needs root (network namespaces, raw sockets)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "vrrp-bench: "+format+"\n", args...)
	os.Exit(1)
}

// row is one line of the failover table.
type row struct {
	impl, scenario string
	advert         time.Duration
	gaps           []time.Duration
	vip, garp      []time.Duration // after the transition, per run
	// timed counts runs that saw both the VIP and the first announcement,
	// fast those where both came within 5 ms of the transition.
	timed, fast int
	failed      []string
}

type cpuRow struct {
	impl      string
	instances int
	percent   float64
	adverts   float64 // adverts per second seen by the client
	err       error
}

func run(ctx context.Context, o options) error {
	speakers := map[string]nettopo.Speaker{"keepalived": nettopo.Keepalived{}}
	unavailable := map[string]string{}
	if slices.Contains(o.impls, "seesawd") {
		dir, err := os.MkdirTemp("", "vrrp-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bin, err := nettopo.BuildSeesawd(ctx, dir)
		if err != nil {
			unavailable["seesawd"] = firstLine(err.Error())
		} else {
			speakers["seesawd"] = nettopo.Seesawd{Binary: bin, LogLevel: "info"}
		}
	}
	vip := nettopo.VIPv4
	if o.family == "ipv6" {
		vip = nettopo.VIPv6
	}

	var rows []*row
	for _, impl := range o.impls {
		spk, ok := speakers[impl]
		if !ok {
			if unavailable[impl] == "" {
				unavailable[impl] = "unknown implementation"
			}
			continue
		}
		for _, adv := range o.adverts {
			for _, sc := range o.scenarios {
				r := &row{impl: impl, scenario: sc, advert: adv}
				rows = append(rows, r)
				for i := 0; i < o.runs; i++ {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					res, err := failover(ctx, spk, sc, adv, vip, o.ping)
					if err != nil {
						r.failed = append(r.failed, err.Error())
						fmt.Fprintf(os.Stderr, "%s %s %v run %d: %v\n", impl, sc, adv, i+1, err)
						continue
					}
					r.gaps = append(r.gaps, res.gap)
					if res.vipOK {
						r.vip = append(r.vip, res.vip)
					}
					if res.garpOK {
						r.garp = append(r.garp, res.garp)
					}
					if res.vipOK && res.garpOK {
						r.timed++
						if res.vip <= 5*time.Millisecond && res.garp <= 5*time.Millisecond {
							r.fast++
						}
					}
					if o.verbose {
						fmt.Fprintf(os.Stderr, "%s %s %v run %d: gap %v, vip %+v, garp %+v (after transition)\n",
							impl, sc, adv, i+1, res.gap.Round(time.Millisecond), res.vip, res.garp)
					}
				}
			}
		}
	}

	var cpus []cpuRow
	if o.cpu > 0 {
		for _, impl := range o.impls {
			spk, ok := speakers[impl]
			if !ok {
				continue
			}
			c := cpuRow{impl: impl, instances: o.instances}
			c.percent, c.adverts, c.err = idleCPU(ctx, spk, o.instances, o.family, o.cpu)
			if c.err != nil {
				fmt.Fprintf(os.Stderr, "%s idle CPU: %v\n", impl, c.err)
			}
			cpus = append(cpus, c)
		}
	}
	var floodRows []floodRow
	if o.floodFor > 0 {
		for _, kind := range o.floods {
			for _, impl := range o.impls {
				spk, ok := speakers[impl]
				if !ok {
					continue
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r, err := flood(ctx, spk, kind, o.floodRate, o.floodFor)
				if err != nil {
					r.err = err
					fmt.Fprintf(os.Stderr, "%s %s flood: %v\n", impl, kind, err)
				}
				floodRows = append(floodRows, r)
			}
		}
	}
	report(os.Stdout, o, rows, cpus, floodRows, unavailable)
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

type result struct {
	gap           time.Duration
	vip, garp     time.Duration
	vipOK, garpOK bool
}

// failover measures one failover in a fresh topology.
func failover(ctx context.Context, spk nettopo.Speaker, scenario string, adv time.Duration, vip netip.Prefix, ping time.Duration) (res result, err error) {
	topo, err := nettopo.New(ctx, nil)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, topo.Close()) }()
	dir, err := os.MkdirTemp("", "vrrp-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	lb1, lb2, client := topo.Node("lb1"), topo.Node("lb2"), topo.Node("client")
	inst := nettopo.Instance{Name: "front", VRID: 51, Advert: adv, VIPs: []netip.Prefix{vip}}
	mdi := 3*adv + time.Duration(256-100)*adv/256

	hi := inst
	hi.Priority = 150
	p1, err := spk.Start(lb1, dir, []nettopo.Instance{hi})
	if err != nil {
		return res, err
	}
	defer p1.Kill()
	if err := waitAddr(ctx, lb1, vip.Addr(), true, mdi+5*time.Second, p1); err != nil {
		return res, fmt.Errorf("lb1 never became master: %w\n%s", err, tail(p1.Output()))
	}
	lo := inst
	lo.Priority = 100
	p2, err := spk.Start(lb2, dir, []nettopo.Instance{lo})
	if err != nil {
		return res, err
	}
	defer p2.Kill()
	// Let lb2 hear a few adverts and settle as backup.
	if err := sleep(ctx, 2*adv+300*time.Millisecond); err != nil {
		return res, err
	}
	if has, err := lb2.HasAddr(vip.Addr()); err != nil || has {
		return res, fmt.Errorf("lb2 holds the address while lb1 is master (err %v)", err)
	}

	capture, err := lb2.Capture(ctx)
	if err != nil {
		return res, err
	}
	defer capture.Stop()
	watch, err := lb2.WatchAddrs(ctx)
	if err != nil {
		return res, err
	}
	defer watch.Stop()
	pinger, err := client.StartPinger(ctx, vip.Addr(), ping)
	if err != nil {
		return res, err
	}
	defer pinger.Stop()
	start := time.Now()
	for pinger.Snapshot().RepliesBetween(start, time.Now()) < 20 {
		if time.Since(start) > 3*time.Second {
			return res, errors.New("client gets no echo replies from the master")
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return res, err
		}
	}

	t0 := time.Now()
	switch scenario {
	case "cut":
		err = lb1.Cut(ctx)
	case "stop":
		err = p1.Signal(syscall.SIGTERM)
	default:
		err = fmt.Errorf("unknown scenario %q", scenario)
	}
	if err != nil {
		return res, err
	}
	// Wait until lb2 holds the address and replies have flowed again for
	// 300 ms after the longest silence.
	deadline := t0.Add(2*mdi + 5*time.Second)
	for {
		snap := pinger.Snapshot()
		if n := len(snap.Replies); n > 0 {
			last := snap.Replies[n-1]
			gap, gapStart := snap.LongestGap(t0.Add(-100*time.Millisecond), last)
			if has, _ := lb2.HasAddr(vip.Addr()); has && last.Sub(gapStart.Add(gap)) >= 300*time.Millisecond {
				res.gap = gap
				break
			}
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("no failover within %v\nlb2:\n%s", deadline.Sub(t0), tail(p2.Output()))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return res, err
		}
	}

	frames, _ := capture.Stop()
	events := watch.Stop()
	var transition time.Time
	for _, f := range frames {
		if f.At.After(t0) && f.Src.String() == lb2.MAC.String() && f.Kind == nettopo.FrameVRRP && f.Priority > 0 {
			transition = f.At
			break
		}
	}
	if transition.IsZero() {
		return res, errors.New("no advertisement from lb2 as master in the capture")
	}
	for _, f := range frames {
		if f.At.After(t0) && f.Src.String() == lb2.MAC.String() && (f.Kind == nettopo.FrameGARP || f.Kind == nettopo.FrameNA) && f.Addr == vip.Addr() {
			res.garp, res.garpOK = f.At.Sub(transition), true
			break
		}
	}
	for _, e := range events {
		if e.At.After(t0) && e.Added && e.Addr == vip.Addr() {
			res.vip, res.vipOK = e.At.Sub(transition), true
			break
		}
	}
	return res, nil
}

func waitAddr(ctx context.Context, n *nettopo.Node, a netip.Addr, want bool, within time.Duration, p *nettopo.Process) error {
	deadline := time.Now().Add(within)
	for {
		has, err := n.HasAddr(a)
		if err != nil {
			return err
		}
		if has == want {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited", p.Name)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %v present=%t after %v", n.Short, a, has, within)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

func stats(ds []time.Duration) (median, lo, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	median = s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return median, s[0], s[len(s)-1]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func advName(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%dms", int(d/time.Millisecond))
}

func report(w io.Writer, o options, rows []*row, cpus []cpuRow, floods []floodRow, unavailable map[string]string) {
	if len(rows) > 0 {
		failoverReport(w, o, rows)
	}
	cpuReport(w, o, cpus)
	floodReport(w, o, floods)
	for impl, why := range unavailable {
		fmt.Fprintf(w, "\n%s not measured: %s\n", impl, why)
	}
	fmt.Fprintf(w, "\nvrrp-bench: %s\n", strings.Join(summary(o, rows, cpus, floods, unavailable), " "))
}

func failoverReport(w io.Writer, o options, rows []*row) {
	fmt.Fprintf(w, "VRRP failover, client-seen gap (longest silence of a %v ICMP echo stream to the %s VIP), %d runs per row\n\n",
		o.ping, o.family, o.runs)
	tw := newTable(w, "implementation\tscenario\tadvert\tgap median s\tmin s\tmax s\truns ok\t")
	for _, r := range rows {
		m, lo, hi := stats(r.gaps)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t\n", r.impl, r.scenario, advName(r.advert), secs(m), secs(lo), secs(hi),
			len(r.gaps), len(r.gaps)+len(r.failed))
	}
	_ = tw.Flush()

	fmt.Fprintf(w, "\nAfter the transition (lb2's first advert as master, packet socket on lb2): VIP present (netlink) and first GARP/NA sent, ms, over all runs\n\n")
	tw = newTable(w, "implementation\tVIP median\tmin\tmax\tGARP/NA median\tmin\tmax\t")
	for _, impl := range o.impls {
		var vips, garps []time.Duration
		for _, r := range rows {
			if r.impl == impl {
				vips, garps = append(vips, r.vip...), append(garps, r.garp...)
			}
		}
		if len(vips)+len(garps) == 0 {
			continue
		}
		vm, vl, vh := stats(vips)
		gm, gl, gh := stats(garps)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", impl, ms(vm), ms(vl), ms(vh), ms(gm), ms(gl), ms(gh))
	}
	_ = tw.Flush()
}

// newTable returns a right-aligned table writer with its header written.
func newTable(w io.Writer, header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, header)
	return tw
}

func cpuReport(w io.Writer, o options, cpus []cpuRow) {
	if len(cpus) > 0 {
		fmt.Fprintf(w, "\nIdle master CPU, 0.1 s adverts, utime+stime of all its processes over %v (%% of one core)\n\n", o.cpu)
		tw := newTable(w, "implementation\tinstances\tcpu %\tadverts/s seen\t")
		for _, c := range cpus {
			if c.err != nil {
				fmt.Fprintf(tw, "%s\t%d\terror\t-\t\n", c.impl, c.instances)
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t\n", c.impl, c.instances, c.percent, c.adverts)
		}
		_ = tw.Flush()
	}
}

func floodReport(w io.Writer, o options, floods []floodRow) {
	if len(floods) == 0 {
		return
	}
	fmt.Fprintf(w, "\nFlood of %d forged adverts/s from the client for %v: CPU of each node's processes (%% of one core) and adverts the master sent\n\n",
		o.floodRate, o.floodFor)
	tw := newTable(w, "implementation\tflood\tsent/s\tmaster cpu %\tbackup cpu %\tmaster adverts\t(one per interval)\tVIP at the end on\t")
	for _, f := range floods {
		if f.err != nil {
			fmt.Fprintf(tw, "%s\t%s\terror\t-\t-\t-\t-\t-\t\n", f.impl, f.kind)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.1f\t%.1f\t%d\t%d\t%s\t\n", f.impl, f.kind, f.rate, f.master, f.backup,
			f.adverts, f.expected, f.holders)
	}
	_ = tw.Flush()
}

// summary returns the machine-readable key=value pairs: seesawd's
// unprefixed, other implementations' prefixed with their name.
func summary(o options, rows []*row, cpus []cpuRow, floods []floodRow, unavailable map[string]string) []string {
	var kv []string
	for _, impl := range o.impls {
		prefix := impl + "_"
		if impl == "seesawd" {
			prefix = ""
		}
		for _, r := range rows {
			if r.impl != impl || len(r.gaps) == 0 {
				continue
			}
			m, _, _ := stats(r.gaps)
			kv = append(kv, fmt.Sprintf("%s%s%s=%.3f", prefix, r.scenario, advName(r.advert), m.Seconds()))
		}
		var vips, garps []time.Duration
		for _, r := range rows {
			if r.impl == impl {
				vips, garps = append(vips, r.vip...), append(garps, r.garp...)
			}
		}
		if len(vips) > 0 {
			m, _, _ := stats(vips)
			kv = append(kv, fmt.Sprintf("%svip_ms=%.2f", prefix, float64(m)/1e6))
		}
		if len(garps) > 0 {
			m, _, _ := stats(garps)
			kv = append(kv, fmt.Sprintf("%sgarp_ms=%.2f", prefix, float64(m)/1e6))
		}
		// The goal (issue 3): the VIP and the first announcement within 5 ms
		// of the transition, counted per failover.
		timed, fast := 0, 0
		for _, r := range rows {
			if r.impl == impl {
				timed, fast = timed+r.timed, fast+r.fast
			}
		}
		if timed > 0 {
			kv = append(kv, fmt.Sprintf("%swithin_5ms=%d/%d", prefix, fast, timed))
		}
		for _, c := range cpus {
			if c.impl == impl && c.err == nil {
				kv = append(kv, fmt.Sprintf("%scpu%d=%.2f", prefix, c.instances, c.percent))
			}
		}
		for _, f := range floods {
			if f.impl == impl && f.err == nil {
				k := strings.ReplaceAll(f.kind, "-", "_")
				kv = append(kv, fmt.Sprintf("%sflood_%s_master=%.1f", prefix, k, f.master),
					fmt.Sprintf("%sflood_%s_backup=%.1f", prefix, k, f.backup),
					fmt.Sprintf("%sflood_%s_adverts=%d", prefix, k, f.adverts))
			}
		}
		if why, ok := unavailable[impl]; ok && why != "" {
			kv = append(kv, prefix+"unavailable=1")
		}
	}
	return kv
}
