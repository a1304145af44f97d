package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// Stats is one scenario's measurement window.
type Stats struct {
	Scenario string `json:"scenario"`
	// Where is "host" or "vm".
	Where string `json:"where"`
	// Round numbers the runs of the scenario list, from 1, when there
	// are several (-rounds, -vm-rounds).
	Round   int     `json:"round,omitempty"`
	Seconds float64 `json:"seconds"`
	// Target is the check rate the schedule asks for.
	Target float64 `json:"target"`
	// Checks counts checks done in the window, Failed those that failed.
	Checks uint64 `json:"checks"`
	Failed uint64 `json:"failed"`
	// Handshakes counts TCP connections the listeners' namespace
	// completed in the window (TcpPassiveOpens): the checker-independent
	// count of TCP and HTTP checks.
	Handshakes uint64 `json:"handshakes"`
	// UserS and SysS are the checker process's CPU seconds in the window.
	UserS float64 `json:"user_s"`
	SysS  float64 `json:"sys_s"`
	// ListenerS is the listener process's CPU seconds; MachineS the
	// whole machine's busy CPU seconds, meaningful only in the VM, where
	// nothing else runs.
	ListenerS float64 `json:"listener_s"`
	MachineS  float64 `json:"machine_s"`
	RSSMB     float64 `json:"rss_mb"`
	FDs       int     `json:"fds"`
	// Lateness says whether the checker reports when each check started.
	Lateness    bool          `json:"lateness"`
	P50MS       float64       `json:"p50_ms"`
	P99MS       float64       `json:"p99_ms"`
	MaxMS       float64       `json:"max_ms"`
	MaxEarlyMS  float64       `json:"max_early_ms,omitempty"`
	ICMPSockets int           `json:"icmp_sockets,omitempty"`
	Note        string        `json:"note,omitempty"`
	Syscalls    *syscallCount `json:"syscalls,omitempty"`
}

// syscallCount is what perf counted while the checker ran on after the
// window, per check.
type syscallCount struct {
	Checks  uint64  `json:"checks"`
	Seconds float64 `json:"seconds"`
	// Total and ContextSwitches are per check; By holds each counted
	// system call's calls per check.
	Total           float64            `json:"total"`
	ContextSwitches float64            `json:"context_switches"`
	By              map[string]float64 `json:"by"`
}

func (s Stats) cpu() float64 { return s.UserS + s.SysS }

// addNote appends to the scenario's notes.
func (s *Stats) addNote(n string) {
	switch {
	case n == "":
	case s.Note == "":
		s.Note = n
	default:
		s.Note += "; " + n
	}
}

// perK converts CPU seconds into milliseconds per 1,000 checks.
func (s Stats) perK(sec float64) float64 {
	if s.Checks == 0 {
		return 0
	}
	return sec * 1e6 / float64(s.Checks)
}

func (s Stats) rate() float64 { return float64(s.Checks) / s.Seconds }

func (s Stats) failedPct() float64 {
	if s.Checks == 0 {
		return 100
	}
	return 100 * float64(s.Failed) / float64(s.Checks)
}

func (s Stats) corePct(sec float64) float64 { return 100 * sec / s.Seconds }

// baseline says whether the scenario is a reference rather than
// pkg/healthcheck itself.
func baseline(sc string) bool {
	sc, _, _ = strings.Cut(strings.TrimSuffix(sc, "@alt"), "/")
	return sc != "tcp" && sc != "http" && sc != "icmp"
}

func find(rs []Stats, sc string) (Stats, bool) {
	for _, s := range rs {
		if s.Scenario == sc {
			return s, true
		}
	}
	return Stats{}, false
}

// label names the scenario in the tables, with its round when there are several.
func (s Stats) label() string {
	if s.Round > 0 {
		return fmt.Sprintf("%s #%d", s.Scenario, s.Round)
	}
	return s.Scenario
}

func late(s Stats, v float64) string {
	if !s.Lateness {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

// report prints the host and VM tables, the system calls per check and
// the notes.
func report(w io.Writer, host, guest []Stats) {
	if len(host) > 0 {
		fmt.Fprintln(w, "host (CPU of the checker process; ms CPU per 1,000 checks):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "scenario\tchecks\tchecks/s\tfailed %\tCPU % core\tuser\tsys\tms/1k checks\tRSS MB\tfds\tp50 late ms\tp99 late ms\tmax late ms\tmax early ms\t\n")
		for _, s := range host {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%d\t%s\t%s\t%s\t%s\t\n", s.label(), s.Checks, s.rate(), s.failedPct(),
				s.corePct(s.cpu()), s.corePct(s.UserS), s.corePct(s.SysS), s.perK(s.cpu()), s.RSSMB, s.FDs,
				late(s, s.P50MS), late(s, s.P99MS), late(s, s.MaxMS), late(s, s.MaxEarlyMS))
		}
		tw.Flush()
	}
	if len(guest) > 0 {
		fmt.Fprintln(w, "VM lab, same boot (ms CPU per 1,000 checks: the checker process, the listener process, the whole VM):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "scenario\tchecks\tchecks/s\tfailed %\tchecker\tuser\tsys\tlistener\twhole VM\tCPU % core\tRSS MB\tfds\tp50 late ms\tp99 late ms\tmax early ms\t\n")
		for _, s := range guest {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\t%.0f\t%d\t%s\t%s\t%s\t\n", s.label(), s.Checks, s.rate(), s.failedPct(),
				s.perK(s.cpu()), s.perK(s.UserS), s.perK(s.SysS), s.perK(s.ListenerS), s.perK(s.MachineS),
				s.corePct(s.cpu()), s.RSSMB, s.FDs, late(s, s.P50MS), late(s, s.P99MS), late(s, s.MaxEarlyMS))
		}
		tw.Flush()
	}
	syscallTable(w, append(slices.Clip(host), guest...))
	for _, s := range append(slices.Clip(host), guest...) {
		if s.Note != "" {
			fmt.Fprintf(w, "%s %s: %s\n", s.Where, s.Scenario, s.Note)
		}
		if s.ICMPSockets > 0 {
			fmt.Fprintf(w, "%s %s: %d ICMP sockets for %.0f checks/s\n", s.Where, s.Scenario, s.ICMPSockets, s.rate())
		}
		if s.Handshakes > 0 && s.Scenario != "keepalived" {
			ok := s.Checks - s.Failed
			if d := float64(s.Handshakes) - float64(ok); d > 0.02*float64(ok) || -d > 0.02*float64(ok) {
				fmt.Fprintf(w, "%s %s: the listeners saw %d handshakes for %d successful checks\n", s.Where, s.Scenario, s.Handshakes, ok)
			}
		}
	}
	if r := medianRatio(host, "http", "http-naive", checkerCPU); r != "-" {
		fmt.Fprintf(w, "http_vs_naive=%s\n", r)
	}
	if k := medianRatio(guest, "tcp", "keepalived", machineCPU); k != "-" {
		fmt.Fprintf(w, "vm: tcp_vs_keepalived_whole_vm=%s tcp_vs_keepalived_checker_plus_listener=%s\n",
			k, medianRatio(guest, "tcp", "keepalived", checkerPlusListener))
	}
	// Every ratio to keepalived, round by round, and the builds compared.
	for _, sc := range scenarioNames(guest) {
		if sc == "keepalived" {
			continue
		}
		per := ratios(guest, sc, "keepalived", checkerCPU)
		if len(per) == 0 {
			continue
		}
		fmt.Fprintf(w, "vm: %s_vs_keepalived=%s", sc, medianRatio(guest, sc, "keepalived", checkerCPU))
		if len(per) > 1 {
			fmt.Fprintf(w, " (rounds: %s; whole VM %s)", joinRatios(per), joinRatios(ratios(guest, sc, "keepalived", machineCPU)))
		}
		fmt.Fprintln(w)
	}
	for _, rs := range [][]Stats{host, guest} {
		for _, sc := range scenarioNames(rs) {
			if base, ok := strings.CutSuffix(sc, "@alt"); ok {
				fmt.Fprintf(w, "%s: %s_vs_%s=%s\n", rs[0].Where, base, sc, medianRatio(rs, base, sc, checkerCPU))
			}
		}
	}
}

// The CPU a ratio compares, per 1,000 checks.
func checkerCPU(s Stats) float64          { return s.perK(s.cpu()) }
func machineCPU(s Stats) float64          { return s.perK(s.MachineS) }
func checkerPlusListener(s Stats) float64 { return s.perK(s.cpu() + s.ListenerS) }

// scenarioNames lists the scenarios in rs once each, in order.
func scenarioNames(rs []Stats) []string {
	var out []string
	for _, s := range rs {
		if !slices.Contains(out, s.Scenario) {
			out = append(out, s.Scenario)
		}
	}
	return out
}

// ratios returns cost(a)/cost(b) for every round that ran both.
func ratios(rs []Stats, a, b string, cost func(Stats) float64) []float64 {
	var out []float64
	pair := func(y, x Stats) bool { return y.Scenario == b && y.Round == x.Round && y.Checks > 0 && cost(y) > 0 }
	for i, x := range rs {
		if x.Scenario != a || x.Checks == 0 {
			continue
		}
		// The nearest b run before x in its round, else the first after:
		// a list that names both twice (keepalived,tcp,keepalived,tcp)
		// pairs each run with its neighbour, not every a with the first b.
		var y *Stats
		for k := i - 1; k >= 0 && y == nil; k-- {
			if pair(rs[k], x) {
				y = &rs[k]
			}
		}
		for k := i + 1; k < len(rs) && y == nil; k++ {
			if pair(rs[k], x) {
				y = &rs[k]
			}
		}
		if y != nil {
			out = append(out, cost(x)/cost(*y))
		}
	}
	return out
}

// medianRatio is the median of a's cost over b's across the rounds, or
// "-" when no round ran both. Single runs under load move by tens of per
// cent; the rounds alternate the scenarios, so a slow minute hits both.
func medianRatio(rs []Stats, a, b string, cost func(Stats) float64) string {
	r := ratios(rs, a, b, cost)
	if len(r) == 0 {
		return "-"
	}
	slices.Sort(r)
	m := r[len(r)/2]
	if len(r)%2 == 0 {
		m = (r[len(r)/2-1] + m) / 2
	}
	return fmt.Sprintf("%.2f", m)
}

func joinRatios(r []float64) string {
	s := make([]string, len(r))
	for i, v := range r {
		s[i] = fmt.Sprintf("%.2f", v)
	}
	return strings.Join(s, " ")
}

// syscallTable prints system calls per check, one column per scenario
// that was counted, one row per call that some scenario makes at least
// once per 50 checks.
func syscallTable(w io.Writer, rs []Stats) {
	var cols []Stats
	names := map[string]bool{}
	for _, s := range rs {
		if s.Syscalls == nil {
			continue
		}
		cols = append(cols, s)
		for n, v := range s.Syscalls.By {
			if v >= 0.02 {
				names[n] = true
			}
		}
	}
	if len(cols) == 0 {
		return
	}
	rows := slices.Sorted(maps.Keys(names))
	// The heaviest first, by the sum over the columns.
	sum := func(n string) (t float64) {
		for _, c := range cols {
			t += c.Syscalls.By[n]
		}
		return t
	}
	slices.SortStableFunc(rows, func(a, b string) int {
		switch sa, sb := sum(a), sum(b); {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	fmt.Fprintln(w, "system calls per check (perf stat on the checker process after the window):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"per check"}
	for _, c := range cols {
		head = append(head, c.Where+" "+c.label())
	}
	fmt.Fprint(tw, strings.Join(head, "\t")+"\t\n")
	line := func(label string, f func(*syscallCount) float64) {
		cells := []string{label}
		for _, c := range cols {
			cells = append(cells, fmt.Sprintf("%.2f", f(c.Syscalls)))
		}
		fmt.Fprint(tw, strings.Join(cells, "\t")+"\t\n")
	}
	line("all system calls", func(c *syscallCount) float64 { return c.Total })
	for _, n := range rows {
		line(n, func(c *syscallCount) float64 { return c.By[n] })
	}
	line("(others)", func(c *syscallCount) float64 {
		t := c.Total
		for _, v := range c.By {
			t -= v
		}
		return max(t, 0)
	})
	line("context switches", func(c *syscallCount) float64 { return c.ContextSwitches })
	cells := []string{"(checks counted)"}
	for _, c := range cols {
		cells = append(cells, fmt.Sprintf("%d", c.Syscalls.Checks))
	}
	fmt.Fprint(tw, strings.Join(cells, "\t")+"\t\n")
	tw.Flush()
}

// lastLine is the machine-readable summary. The ratios count only when
// naive_fail_pct, the worst baseline's failed share, is under 1 %.
func lastLine(host, guest []Stats) string {
	tcp, haveTCP := find(host, "tcp")
	worst := 0.0
	var bad []string
	for _, s := range append(slices.Clip(host), guest...) {
		if baseline(s.Scenario) {
			worst = max(worst, s.failedPct())
		}
		if s.failedPct() >= 1 {
			bad = append(bad, fmt.Sprintf("%s %s failed %.1f %%", s.Where, s.Scenario, s.failedPct()))
		}
		// A checker that falls behind its schedule is not doing the
		// work the others do (keepalived's delay_loop is calibrated for
		// it: keepalived.calibrate).
		if s.rate() < 0.95*s.Target {
			bad = append(bad, fmt.Sprintf("%s %s kept up with %.0f of %.0f checks/s", s.Where, s.Scenario, s.rate(), s.Target))
		}
	}
	var b strings.Builder
	if len(bad) > 0 {
		fmt.Fprintf(&b, "ratios do not count: %s\n", strings.Join(bad, ", "))
	}
	num := func(ok bool, format string, v float64) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	fmt.Fprintf(&b, "healthcheck-bench: tcp_vs_naive=%s tcp_vs_dialer=%s tcp_vs_floor=%s tcp_vs_keepalived=%s tcp_rss_mb=%s tcp_p99_late_ms=%s naive_fail_pct=%.2f checks_per_s=%s",
		medianRatio(host, "tcp", "tcp-naive", checkerCPU), medianRatio(host, "tcp", "tcp-dialer", checkerCPU),
		medianRatio(host, "tcp", "tcp-floor", checkerCPU), medianRatio(guest, "tcp", "keepalived", checkerCPU),
		num(haveTCP, "%.0f", tcp.RSSMB), num(haveTCP, "%.0f", tcp.P99MS), worst, num(haveTCP, "%.0f", tcp.rate()))
	return b.String()
}
