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
	Where   string  `json:"where"`
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
	sc, _, _ = strings.Cut(sc, "/")
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
		fmt.Fprint(tw, "scenario\tchecks\tchecks/s\tfailed %\tCPU % core\tuser\tsys\tms/1k checks\tRSS MB\tfds\tp50 late ms\tp99 late ms\tmax late ms\t\n")
		for _, s := range host {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%d\t%s\t%s\t%s\t\n", s.Scenario, s.Checks, s.rate(), s.failedPct(),
				s.corePct(s.cpu()), s.corePct(s.UserS), s.corePct(s.SysS), s.perK(s.cpu()), s.RSSMB, s.FDs,
				late(s, s.P50MS), late(s, s.P99MS), late(s, s.MaxMS))
		}
		tw.Flush()
	}
	if len(guest) > 0 {
		fmt.Fprintln(w, "VM lab, same boot (ms CPU per 1,000 checks: the checker process, the listener process, the whole VM):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "scenario\tchecks\tchecks/s\tfailed %\tchecker\tuser\tsys\tlistener\twhole VM\tCPU % core\tRSS MB\tfds\tp50 late ms\tp99 late ms\t\n")
		for _, s := range guest {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\t%.0f\t%d\t%s\t%s\t\n", s.Scenario, s.Checks, s.rate(), s.failedPct(),
				s.perK(s.cpu()), s.perK(s.UserS), s.perK(s.SysS), s.perK(s.ListenerS), s.perK(s.MachineS),
				s.corePct(s.cpu()), s.RSSMB, s.FDs, late(s, s.P50MS), late(s, s.P99MS))
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
	if h, ok := find(host, "http"); ok {
		if n, ok := find(host, "http-naive"); ok {
			fmt.Fprintf(w, "http_vs_naive=%s\n", ratio(h, n))
		}
	}
	if t, ok := find(guest, "tcp"); ok {
		if k, ok := find(guest, "keepalived"); ok && k.MachineS > 0 {
			fmt.Fprintf(w, "vm: tcp_vs_keepalived_whole_vm=%.2f tcp_vs_keepalived_checker_plus_listener=%.2f\n",
				t.perK(t.MachineS)/k.perK(k.MachineS), t.perK(t.cpu()+t.ListenerS)/k.perK(k.cpu()+k.ListenerS))
		}
	}
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
		head = append(head, c.Where+" "+c.Scenario)
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

// ratio is a's CPU per check over b's, or "-" when either is missing.
func ratio(a, b Stats) string {
	if a.Checks == 0 || b.Checks == 0 || b.cpu() == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a.perK(a.cpu())/b.perK(b.cpu()))
}

// lastLine is the machine-readable summary. The ratios count only when
// naive_fail_pct, the worst baseline's failed share, is under 1 %.
func lastLine(host, guest []Stats) string {
	tcp, haveTCP := find(host, "tcp")
	get := func(rs []Stats, sc string) Stats { s, _ := find(rs, sc); return s }
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
		// work the others do (keepalived's own schedule drifts by the
		// few milliseconds a check takes, well within this).
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
		ratio(tcp, get(host, "tcp-naive")), ratio(tcp, get(host, "tcp-dialer")), ratio(tcp, get(host, "tcp-floor")),
		ratio(get(guest, "tcp"), get(guest, "keepalived")),
		num(haveTCP, "%.0f", tcp.RSSMB), num(haveTCP, "%.0f", tcp.P99MS), worst, num(haveTCP, "%.0f", tcp.rate()))
	return b.String()
}
