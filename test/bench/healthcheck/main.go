// Command healthcheck benchmarks pkg/healthcheck against two references on
// the same work: a naive checker (a goroutine, a ticker and net.DialTimeout
// per check, the design Seesaw used) and the floor (a bare paced loop of
// socket, connect and close syscalls: what the kernel alone costs).
//
// The loopback listeners run in a child process (this binary re-executed
// with -role=server) and every scenario runs in a fresh child process of
// its own (-role=worker), so CPU and RSS are measured per scenario.
//
//	go run ./test/bench/healthcheck               # full run, 30 s per scenario
//	go run ./test/bench/healthcheck -duration 5s  # quick try
//
// The last line is machine-readable:
//
//	healthcheck-bench: tcp_vs_naive=0.71 tcp_vs_floor=1.18 tcp_rss_mb=52 tcp_p99_late_ms=7 checks_per_s=10000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"
)

var (
	role      = flag.String("role", "", "internal: server or worker")
	scenario  = flag.String("scenario", "", "internal: the worker's scenario")
	targetsF  = flag.String("targets", "", "internal: file listing the server's listeners")
	duration  = flag.Duration("duration", 30*time.Second, "measurement window per scenario")
	warmup    = flag.Duration("warmup", 3*time.Second, "time to settle before measuring")
	checks    = flag.Int("checks", 10000, "checks per scenario")
	interval  = flag.Duration("interval", time.Second, "check interval")
	timeout   = flag.Duration("timeout", 500*time.Millisecond, "check timeout")
	coalesce  = flag.Duration("coalesce", 0, "healthcheck.Config.Coalesce (0: the default)")
	cpuprof   = flag.String("cpuprofile", "", "write a CPU profile of each scenario's measurement window to this prefix")
	scenarios = flag.String("scenarios", "tcp-floor,tcp,http,icmp,tcp-naive,http-naive", "scenarios to run, in order (the naive ones last: they leave TIME_WAIT sockets and a loaded listener behind)")
)

// Stats is what a worker reports.
type Stats struct {
	Scenario    string  `json:"scenario"`
	ChecksPerS  float64 `json:"checks_per_s"`
	FailedPerS  float64 `json:"failed_per_s"`
	CPUUser     float64 `json:"cpu_user_pct"`
	CPUSys      float64 `json:"cpu_sys_pct"`
	RSSMB       float64 `json:"rss_mb"`
	FDs         int     `json:"fds"`
	P50LateMS   float64 `json:"p50_late_ms"`
	P99LateMS   float64 `json:"p99_late_ms"`
	MaxLateMS   float64 `json:"max_late_ms"`
	ICMPSockets int     `json:"icmp_sockets,omitempty"`
	Note        string  `json:"note,omitempty"`
}

func (s Stats) cpu() float64 { return s.CPUUser + s.CPUSys }

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("healthcheck-bench: ")
	switch *role {
	case "server":
		serve()
	case "worker":
		st, err := work(*scenario, *targetsF)
		if err != nil {
			log.Fatal(err)
		}
		json.NewEncoder(os.Stdout).Encode(st)
	case "":
		coordinate()
	default:
		log.Fatalf("unknown role %q", *role)
	}
}

func coordinate() {
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := exec.CommandContext(ctx, self, "-role=server", fmt.Sprintf("-checks=%d", *checks))
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { cancel(); _ = srv.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		log.Fatalf("server: %v", err)
	}
	go io.Copy(io.Discard, out)
	// Ten thousand addresses exceed one argv string: hand them over in a file.
	tf, err := os.CreateTemp("", "hc-bench-targets-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(tf.Name())
	if _, err := tf.WriteString(strings.TrimSpace(strings.TrimPrefix(line, "READY "))); err != nil {
		log.Fatal(err)
	}
	tf.Close()
	targets := tf.Name()
	fmt.Printf("%d checks per scenario, interval %v, timeout %v, warm-up %v, measured over %v; listeners in child pid %d\n",
		*checks, *interval, *timeout, *warmup, *duration, srv.Process.Pid)

	var results []Stats
	for sc := range strings.SplitSeq(*scenarios, ",") {
		fmt.Fprintf(os.Stderr, "running %s...\n", sc)
		w := exec.CommandContext(ctx, self, "-role=worker", "-scenario="+sc, "-targets="+targets,
			fmt.Sprintf("-checks=%d", *checks), "-duration="+duration.String(), "-warmup="+warmup.String(),
			"-interval="+interval.String(), "-timeout="+timeout.String(), "-cpuprofile="+*cpuprof, "-coalesce="+coalesce.String())
		w.Stderr = os.Stderr
		b, err := w.Output()
		if err != nil {
			log.Fatalf("worker %s: %v", sc, err)
		}
		var st Stats
		if err := json.Unmarshal(b, &st); err != nil {
			log.Fatalf("worker %s: %v: %q", sc, err, b)
		}
		results = append(results, st)
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\tchecks/s\tfailed/s\tCPU %%core\tuser\tsys\tRSS MB\tfds\tp50 late ms\tp99 late ms\tmax late ms\t\n")
	by := map[string]Stats{}
	for _, s := range results {
		by[s.Scenario] = s
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t%.0f\t%d\t%.2f\t%.2f\t%.1f\t\n", s.Scenario, s.ChecksPerS, s.FailedPerS,
			s.cpu(), s.CPUUser, s.CPUSys, s.RSSMB, s.FDs, s.P50LateMS, s.P99LateMS, s.MaxLateMS)
	}
	tw.Flush()
	for _, s := range results {
		if s.Note != "" {
			fmt.Printf("%s: %s\n", s.Scenario, s.Note)
		}
		if s.ICMPSockets > 0 {
			fmt.Printf("%s: %d ICMP sockets for %d checks\n", s.Scenario, s.ICMPSockets, *checks)
		}
	}
	tcp, naive, floor := by["tcp"], by["tcp-naive"], by["tcp-floor"]
	if h, hn := by["http"], by["http-naive"]; h.Scenario != "" && hn.Scenario != "" && hn.cpu() > 0 {
		fmt.Printf("http_vs_naive=%.2f\n", h.cpu()/hn.cpu())
	}
	ratio := func(a, b Stats) float64 {
		if b.cpu() == 0 {
			return 0
		}
		return a.cpu() / b.cpu()
	}
	fmt.Printf("healthcheck-bench: tcp_vs_naive=%.2f tcp_vs_floor=%.2f tcp_rss_mb=%.0f tcp_p99_late_ms=%.0f checks_per_s=%.0f\n",
		ratio(tcp, naive), ratio(tcp, floor), tcp.RSSMB, tcp.P99LateMS, tcp.ChecksPerS)
}
