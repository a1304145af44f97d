// Command ipvs-bench measures the same IPVS work through pkg/ipvs (batched and
// one request at a time), github.com/moby/ipvs, github.com/cloudflare/ipvs and
// ipvsadm -R, in one run on one kernel, and prints a table. It needs root and
// a kernel with IPVS: run it in the VM lab with `make bench-ipvs`.
//
// The work: create S TCP services with D NAT destinations each, dump every
// service and its destinations, remove every service. Between steps the
// kernel's state is checked independently with `ipvsadm -Sn`, so an
// implementation that silently does less cannot look fast.
//
// Each implementation runs in a child process in a fresh network namespace:
// the kernel keeps removed destinations in a holding list for a while, and
// whoever re-creates 10,000 of them next in the same namespace is 10-20x
// slower, so sharing one namespace would rank by order, not by code.
//
// pkg/ipvs runs in two modes: "batched" is how seesawd uses it (creates and
// removes in Apply batches, the dump with DumpAll), "single" one call per
// change, like the peers.
// Each figure is the median of the rounds, with the spread (min-max) beside
// it: a difference between two runs of the same code within that spread is
// noise.
//
// The last line is machine readable: the ratios of the batched mode to
// moby/ipvs in this run, medians over medians (time for create and dump,
// Go bytes allocated over all three steps):
//
//	ipvs-bench: mode=batched create=X dump=Y alloc=Z
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// work is the set of services and destinations every implementation creates.
type work struct {
	services []netip.AddrPort
	dests    [][]netip.AddrPort
}

func newWork(nsvc, ndst int) work {
	var w work
	for i := 0; i < nsvc; i++ {
		// 198.18.0.0/15 is the benchmarking range (RFC 2544): nothing is sent.
		svc := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 80)
		w.services = append(w.services, svc)
		var ds []netip.AddrPort
		for j := 0; j < ndst; j++ {
			k := i*ndst + j
			ds = append(ds, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(k >> 8), byte(k)}), 8080))
		}
		w.dests = append(w.dests, ds)
	}
	return w
}

// impl is one way of doing the work.
type impl struct {
	name   string
	create func(work) error
	dump   func() (nsvc, ndst int, err error)
	remove func(work) error
}

// sample is one measured step.
type sample struct {
	D      time.Duration
	Bytes  uint64
	Allocs uint64
}

func measure(f func() error) (sample, error) {
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	t0 := time.Now()
	err := f()
	d := time.Since(t0)
	runtime.ReadMemStats(&b)
	return sample{D: d, Bytes: b.TotalAlloc - a.TotalAlloc, Allocs: b.Mallocs - a.Mallocs}, err
}

// kernelCounts reads the kernel's state through ipvsadm, independently of every library.
func kernelCounts() (nsvc, ndst int, err error) {
	out, err := exec.Command("ipvsadm", "-Sn").Output()
	if err != nil {
		return 0, 0, fmt.Errorf("ipvsadm -Sn: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		switch {
		case strings.HasPrefix(sc.Text(), "-A "):
			nsvc++
		case strings.HasPrefix(sc.Text(), "-a "):
			ndst++
		}
	}
	return nsvc, ndst, sc.Err()
}

func expectKernel(what string, nsvc, ndst int) error {
	s, d, err := kernelCounts()
	if err != nil {
		return err
	}
	if s != nsvc || d != ndst {
		return fmt.Errorf("after %s the kernel has %d services and %d destinations, want %d and %d", what, s, d, nsvc, ndst)
	}
	return nil
}

type result struct {
	create, dump, remove []sample
}

// stat is the median and the spread of one figure over the rounds.
type stat struct{ med, min, max float64 }

func statOf(vs []float64) stat {
	if len(vs) == 0 {
		return stat{}
	}
	c := append([]float64(nil), vs...)
	sort.Float64s(c)
	m := c[len(c)/2]
	if len(c)%2 == 0 {
		m = (c[len(c)/2-1] + c[len(c)/2]) / 2
	}
	return stat{med: m, min: c[0], max: c[len(c)-1]}
}

// times returns the step's durations in milliseconds, one per round.
func times(ss []sample) []float64 {
	var out []float64
	for _, s := range ss {
		out = append(out, float64(s.D)/1e6)
	}
	return out
}

// allocs returns the Go bytes and allocation counts of whole runs (all
// three steps), one per round.
func allocs(r *result) (bytes, count []float64) {
	for i := range r.create {
		bytes = append(bytes, float64(r.create[i].Bytes+r.dump[i].Bytes+r.remove[i].Bytes))
		count = append(count, float64(r.create[i].Allocs+r.dump[i].Allocs+r.remove[i].Allocs))
	}
	return bytes, count
}

func main() {
	nsvc := flag.Int("services", 1000, "TCP services to create")
	ndst := flag.Int("dests", 10, "NAT destinations per service")
	rounds := flag.Int("rounds", 5, "rounds (each implementation once per round, order rotated); medians and spreads are reported")

	only := flag.String("only", "", "comma-separated implementation names to run (default all)")
	child := flag.String("child", "", "internal: run one implementation in this process and print its samples")
	estimation := flag.Bool("estimation", false, "leave the kernel's rate estimator on (net.ipv4.vs.run_estimation): its timer walks every service and destination each 2 s, billing kernel work at random to whichever step is running")
	flag.Parse()

	w := newWork(*nsvc, *ndst)
	if *child != "" {
		os.Exit(runChild(*child, w, *estimation))
	}
	names := []string{"seesaw batched", "seesaw single", "moby/ipvs", "cloudflare/ipvs", "ipvsadm -R"}
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	results := map[string]*result{}
	for _, n := range names {
		results[n] = &result{}
	}
	fmt.Printf("ipvs-bench: %d services x %d destinations, %d rounds, kernel %s, %d CPUs, fresh netns per run, rate estimator %s\n",
		*nsvc, *ndst, *rounds, kernelRelease(), runtime.NumCPU(), map[bool]string{true: "on", false: "off"}[*estimation])
	// One small unmeasured run each first: the first exec of a binary over
	// the lab's 9p root and the first use of each kernel path are slow.
	for _, n := range names {
		if _, err := runInNetns(n, max(*nsvc/10, 1), *ndst, *estimation); err != nil {
			fmt.Fprintf(os.Stderr, "ipvs-bench: warm-up %s: %v\n", n, err)
			os.Exit(1)
		}
	}
	for r := 0; r < *rounds; r++ {
		for k := range names {
			n := names[(k+r)%len(names)]
			res, err := runInNetns(n, *nsvc, *ndst, *estimation)
			if err != nil {
				fmt.Fprintf(os.Stderr, "ipvs-bench: %s: %v\n", n, err)
				os.Exit(1)
			}
			results[n].create = append(results[n].create, res.create...)
			results[n].dump = append(results[n].dump, res.dump...)
			results[n].remove = append(results[n].remove, res.remove...)
		}
	}
	report(names, results)
}

// childResult is what a child prints: one sample per step.
type childResult struct {
	Create, Dump, Remove sample
}

// waitIdle waits (up to 30 s) until the machine has been idle for 300 ms:
// tearing down the previous run's namespace (its services, destinations
// and their trash) happens in kernel workers after `ip netns del` returns,
// and would otherwise be billed to whoever runs next.
func waitIdle() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		busy0, total0 := cpuTicks()
		time.Sleep(300 * time.Millisecond)
		busy1, total1 := cpuTicks()
		if total1 > total0 && float64(busy1-busy0)/float64(total1-total0) < 0.05 {
			return
		}
	}
}

// cpuTicks returns the busy and total jiffies of the "cpu" line of /proc/stat.
func cpuTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		var v uint64
		fmt.Sscan(f, &v)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// runInNetns runs one implementation in a child process in a new namespace.
func runInNetns(name string, nsvc, ndst int, estimation bool) (*result, error) {
	waitIdle()
	ns := fmt.Sprintf("ipvs-bench-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add: %w: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", ns, self, "-child", name, "-services", fmt.Sprint(nsvc), "-dests", fmt.Sprint(ndst),
		fmt.Sprintf("-estimation=%v", estimation))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("child: %w", err)
	}
	var cr childResult
	if err := json.Unmarshal(out, &cr); err != nil {
		return nil, fmt.Errorf("child output %q: %w", out, err)
	}
	return &result{create: []sample{cr.Create}, dump: []sample{cr.Dump}, remove: []sample{cr.Remove}}, nil
}

func runChild(name string, w work, estimation bool) int {
	// Destination creates fail with EINVAL in a namespace whose lo is down.
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "ip link set lo up: %v: %s\n", err, out)
		return 1
	}
	if !estimation {
		if err := os.WriteFile("/proc/sys/net/ipv4/vs/run_estimation", []byte("0"), 0); err != nil {
			fmt.Fprintf(os.Stderr, "turn the rate estimator off: %v\n", err)
			return 1
		}
	}
	impls, err := implementations()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, im := range impls {
		if im.name != name {
			continue
		}
		var res result
		if err := runOne(im, w, &res); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		b, _ := json.Marshal(childResult{Create: res.create[0], Dump: res.dump[0], Remove: res.remove[0]})
		os.Stdout.Write(b)
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown implementation %q\n", name)
	return 2
}

func runOne(im impl, w work, res *result) error {
	if err := exec.Command("ipvsadm", "-C").Run(); err != nil {
		return fmt.Errorf("ipvsadm -C: %w", err)
	}
	total := len(w.services) * len(w.dests[0])
	s, err := measure(func() error { return im.create(w) })
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if err := expectKernel("create", len(w.services), total); err != nil {
		return err
	}
	res.create = append(res.create, s)
	var gotS, gotD int
	s, err = measure(func() (err error) { gotS, gotD, err = im.dump(); return err })
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	if gotS != len(w.services) || gotD != total {
		return fmt.Errorf("dump returned %d services and %d destinations, want %d and %d", gotS, gotD, len(w.services), total)
	}
	res.dump = append(res.dump, s)
	s, err = measure(func() error { return im.remove(w) })
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if err := expectKernel("remove", 0, 0); err != nil {
		return err
	}
	res.remove = append(res.remove, s)
	return nil
}

func report(names []string, results map[string]*result) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "implementation\tcreate ms\t(min-max)\tdump ms\t(min-max)\tremove ms\t(min-max)\tGo alloc MB\t(min-max)\tGo allocs\tcreate/moby\tdump/moby\talloc/moby\t")
	type figures struct{ c, d, r, bytes, count stat }
	fig := map[string]figures{}
	for _, name := range names {
		r := results[name]
		b, n := allocs(r)
		fig[name] = figures{c: statOf(times(r.create)), d: statOf(times(r.dump)), r: statOf(times(r.remove)), bytes: statOf(b), count: statOf(n)}
	}
	moby, haveMoby := fig["moby/ipvs"]
	ratio := func(a, b float64) string {
		if !haveMoby || b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	for _, name := range names {
		f := fig[name]
		mb, mbSpread, count, allocR := "n/a (C)", "", "n/a", "-"
		if name != "ipvsadm -R" {
			mb = fmt.Sprintf("%.1f", f.bytes.med/1e6)
			mbSpread = fmt.Sprintf("(%.1f-%.1f)", f.bytes.min/1e6, f.bytes.max/1e6)
			count = fmt.Sprintf("%.0f", f.count.med)
			allocR = ratio(f.bytes.med, moby.bytes.med)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name,
			ms(f.c.med), spread(f.c), ms(f.d.med), spread(f.d), ms(f.r.med), spread(f.r), mb, mbSpread, count,
			ratio(f.c.med, moby.c.med), ratio(f.d.med, moby.d.med), allocR)
	}
	tw.Flush()
	b, ok := fig["seesaw batched"]
	if !ok || !haveMoby {
		return
	}
	// The same ratios round by round (each round runs both once), for their spread.
	rb, rm := results["seesaw batched"], results["moby/ipvs"]
	var rc, rd []float64
	for i := range min(len(rb.create), len(rm.create)) {
		rc = append(rc, float64(rb.create[i].D)/float64(rm.create[i].D))
		rd = append(rd, float64(rb.dump[i].D)/float64(rm.dump[i].D))
	}
	c, d := statOf(rc), statOf(rd)
	fmt.Printf("ipvs-bench: batched/moby round by round: create %.2f-%.2f, dump %.2f-%.2f\n", c.min, c.max, d.min, d.max)
	fmt.Printf("ipvs-bench: mode=batched create=%.2f dump=%.2f alloc=%.2f\n",
		b.c.med/moby.c.med, b.d.med/moby.d.med, b.bytes.med/moby.bytes.med)
}

func ms(v float64) string { return fmt.Sprintf("%.0f", v) }

func spread(s stat) string { return fmt.Sprintf("(%.0f-%.0f)", s.min, s.max) }

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
