// Command healthcheck benchmarks pkg/healthcheck against references doing
// the same work: the floor (a bare paced loop of socket, connect and close
// system calls), the Manager with its checks over net.Dialer instead of the
// epoll connector, a naive checker (a goroutine, a timer and a dial per
// check, Seesaw's design) and, in the VM lab, keepalived 2.2.7's TCP_CHECK.
//
// Every scenario gets a fresh pair of network namespaces joined by a veth
// (the checker in one, a fresh listener process in the other), so no
// scenario inherits another's sockets, TIME_WAIT entries or listen queues,
// and an idle pause separates scenarios. Every checker closes the way
// pkg/healthcheck does (SO_LINGER 0, an RST), except keepalived, whose
// close is its own (FIN, with linger 5 s). Lateness is one definition for
// all: when a check started minus when it was due on a fixed schedule.
//
// The host scenarios run first; then the binary boots the VM lab (real
// IPVS, which keepalived's checker needs) and runs keepalived, the
// Manager, the dialer baseline and the floor against the same 1,000
// backends in the same boot, counting system calls per check with perf.
//
//	go run ./test/bench/healthcheck                 # everything, ~8 minutes
//	go run ./test/bench/healthcheck -vm=false       # host scenarios only
//	go run ./test/bench/healthcheck -duration 5s -vm-duration 10s
//
// It needs root (network namespaces). The last line is machine-readable:
//
//	healthcheck-bench: tcp_vs_naive=R tcp_vs_dialer=R tcp_vs_floor=R tcp_vs_keepalived=R tcp_rss_mb=N tcp_p99_late_ms=N naive_fail_pct=P checks_per_s=N
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/seesawd/seesawd/test/vm"
)

var (
	role     = flag.String("role", "", "internal: server, worker or guest")
	scenario = flag.String("scenario", "", "internal: the worker's scenario")
	targetsF = flag.String("targets", "", "internal: file listing the listeners")
	listenF  = flag.String("listen", "", "internal: the server's addresses, comma separated")
	floorBin = flag.String("floor", "", "internal: the compiled C floor (empty: the Go floor)")

	scenarios  = flag.String("scenarios", "tcp-floor,tcp,tcp-dialer,tcp-naive,http,http-naive,icmp", "host scenarios, in order (empty for none); a Manager scenario may carry its own coalescing window, as in tcp/c=10ms")
	checks     = flag.Int("checks", 10000, "TCP and ICMP checks per host scenario")
	httpChecks = flag.Int("http-checks", 2000, "HTTP checks per HTTP scenario (fewer than TCP: the naive HTTP client must keep up on 2 cores)")
	addrs      = flag.Int("addrs", 10, "backend addresses the listeners spread over")
	duration   = flag.Duration("duration", 20*time.Second, "measurement window per host scenario")
	warmup     = flag.Duration("warmup", 6*time.Second, "time to settle before measuring (the Manager runs new checks within 2s, then spreads them over their interval)")
	pause      = flag.Duration("pause", 3*time.Second, "idle pause between scenarios")
	interval   = flag.Duration("interval", time.Second, "check interval")
	timeout    = flag.Duration("timeout", 500*time.Millisecond, "check timeout")
	coalesce   = flag.Duration("coalesce", 0, "healthcheck.Config.Coalesce (0: the default)")
	cpuprof    = flag.String("cpuprofile", "", "write a CPU profile of each Go scenario's measurement window to this prefix")
	syscallsF  = flag.Duration("syscalls", 0, "count system calls per check with perf for this long after each window (0: off)")
	rounds     = flag.Int("rounds", 1, "run the host scenarios this many times, one list after another; each ratio is the median of the rounds'")
	altBench   = flag.String("alt", "", "another build of this benchmark (main's, say) whose worker runs the scenarios marked @alt, as in tcp@alt: two builds of pkg/healthcheck in one run and one VM boot")

	useVM       = flag.Bool("vm", true, "also run the keepalived comparison in the VM lab")
	vmScenarios = flag.String("vm-scenarios", "keepalived,tcp,tcp-dialer,tcp-floor", "VM scenarios, in order")
	vmChecks    = flag.Int("vm-checks", 1000, "checks per VM scenario (100 virtual servers x 10 real servers)")
	vmDuration  = flag.Duration("vm-duration", 20*time.Second, "measurement window per VM scenario")
	vmWarmup    = flag.Duration("vm-warmup", 6*time.Second, "time to settle before measuring in the VM")
	vmSyscalls  = flag.Duration("vm-syscalls", 6*time.Second, "perf system-call count per VM scenario (0: off)")
	vmRounds    = flag.Int("vm-rounds", 1, "run the VM scenarios this many times in the same boot, one list after another; each ratio is the median of the rounds'")
	vmAppend    = flag.String("vm-append", "", "extra guest kernel arguments (e.g. tsc=reliable)")
)

// params configures a series of scenarios.
type params struct {
	where                             string
	checks, httpChecks, addrs         int
	duration, warmup, pause, syscalls time.Duration
	rounds                            int
	// ipvs gives every checker namespace keepalived's 100 virtual
	// servers, so that all checkers pay for IPVS's hooks alike.
	ipvs bool
}

// guestMarker prefixes the guest's JSON results on the VM console,
// profileMarker each CPU profile the guest's workers wrote (a base name,
// then the file in base64), and guestProfiles is where they write them.
const (
	guestMarker   = "healthcheck-bench-guest: "
	profileMarker = "healthcheck-bench-profile: "
	guestProfiles = "/tmp/hc-bench-profiles/p"
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("healthcheck-bench: ")
	var err error
	switch *role {
	case "server":
		err = serve(strings.Split(*listenF, ","))
	case "worker":
		err = work(*scenario, *targetsF)
	case "guest":
		err = guest()
	case "":
		err = coordinate()
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// hostParams is the host scenarios' configuration.
func hostParams() params {
	return params{where: "host", checks: *checks, httpChecks: *httpChecks, addrs: *addrs, duration: *duration,
		warmup: *warmup, pause: *pause, syscalls: *syscallsF, rounds: *rounds}
}

func coordinate() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Geteuid() != 0 {
		return errors.New("needs root (a fresh network namespace pair per scenario)")
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "hc-bench-floor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *floorBin, err = buildFloor(dir); err != nil {
		fmt.Fprintf(os.Stderr, "the floor runs in Go: %v\n", err)
	}
	var host, guest []Stats
	if *scenarios != "" {
		p := hostParams()
		fmt.Printf("host: %d TCP/ICMP checks, %d HTTP checks per scenario, interval %v, timeout %v, warm-up %v, measured over %v, pause %v\n",
			p.checks, p.httpChecks, *interval, *timeout, p.warmup, p.duration, p.pause)
		var err error
		if host, err = runAll(ctx, strings.Split(*scenarios, ","), p); err != nil {
			return err
		}
	}
	if *useVM {
		var err error
		if guest, err = runGuest(ctx); err != nil {
			return err
		}
	}
	fmt.Println()
	report(os.Stdout, host, guest)
	fmt.Printf("(whole run %v)\n", time.Since(start).Round(time.Second))
	fmt.Println(lastLine(host, guest))
	return nil
}

// runGuest boots the VM lab with this binary and returns its results.
func runGuest(ctx context.Context) ([]Stats, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"/run/seesaw-vm/" + filepath.Base(self), "-role=guest",
		"-vm-scenarios=" + *vmScenarios, fmt.Sprintf("-vm-checks=%d", *vmChecks), fmt.Sprintf("-addrs=%d", *addrs),
		"-vm-duration=" + vmDuration.String(), "-vm-warmup=" + vmWarmup.String(), "-pause=" + pause.String(),
		"-vm-syscalls=" + vmSyscalls.String(), "-interval=" + interval.String(), "-timeout=" + timeout.String(),
		"-coalesce=" + coalesce.String(), fmt.Sprintf("-vm-rounds=%d", *vmRounds)}
	if *cpuprof != "" {
		args = append(args, "-cpuprofile="+guestProfiles)
	}
	files := []string{self}
	if *floorBin != "" {
		files = append(files, *floorBin)
		args = append(args, "-floor=/run/seesaw-vm/"+filepath.Base(*floorBin))
	}
	if *altBench != "" {
		// The guest finds the files by base name.
		if b := filepath.Base(*altBench); b == filepath.Base(self) || *floorBin != "" && b == filepath.Base(*floorBin) {
			return nil, fmt.Errorf("-alt %s: its base name is another file's in the VM", *altBench)
		}
		files = append(files, *altBench)
		args = append(args, "-alt=/run/seesaw-vm/"+filepath.Base(*altBench))
	}
	fmt.Fprintf(os.Stderr, "booting the VM lab for %s...\n", *vmScenarios)
	pr, pw := io.Pipe()
	var results []Stats
	parsed := make(chan error, 1)
	go func() {
		var perr error = errors.New("the guest printed no results")
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, guestMarker); ok {
				perr = json.Unmarshal([]byte(rest), &results)
				continue
			}
			if rest, ok := strings.CutPrefix(line, profileMarker); ok {
				if err := saveProfile(rest); err != nil {
					fmt.Fprintf(os.Stderr, "  vm: profile: %v\n", err)
				}
				continue
			}
			fmt.Fprintln(os.Stderr, "  vm: "+line)
		}
		_, _ = io.Copy(io.Discard, pr)
		parsed <- perr
	}()
	if *vmAppend != "" {
		// The lab reads the guest kernel's extra arguments from here.
		os.Setenv("SEESAW_VM_APPEND", *vmAppend)
	}
	rc, err := vm.Run(ctx, &vm.Config{Memory: "2G", CPUs: 2, Timeout: 20 * time.Minute, Files: files, Stdout: pw}, args...)
	pw.Close()
	perr := <-parsed
	switch {
	case err != nil:
		return nil, err
	case rc != 0:
		return nil, fmt.Errorf("the guest exited with status %d", rc)
	case perr != nil:
		return nil, fmt.Errorf("guest results: %w", perr)
	}
	return results, nil
}

// saveProfile writes a profile the guest handed over ("SUFFIX BASE64") to
// the -cpuprofile prefix plus the suffix.
func saveProfile(line string) error {
	name, data, ok := strings.Cut(line, " ")
	if !ok || strings.ContainsRune(name, '/') {
		return fmt.Errorf("malformed line %.40q", line)
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return err
	}
	return os.WriteFile(*cpuprof+name, b, 0o644)
}

// guest runs the VM scenarios inside the VM lab and prints their results
// as one JSON line for runGuest.
func guest() error {
	if !vm.InGuest() {
		return errors.New("-role=guest runs inside the VM lab")
	}
	p := params{where: "vm", checks: *vmChecks, addrs: *addrs, duration: *vmDuration, warmup: *vmWarmup,
		pause: *pause, syscalls: *vmSyscalls, ipvs: true, rounds: *vmRounds}
	fmt.Printf("vm: %d checks per scenario (100 virtual servers), interval %v, timeout %v, warm-up %v, measured over %v\n",
		p.checks, *interval, *timeout, p.warmup, p.duration)
	if *cpuprof != "" {
		if err := os.MkdirAll(filepath.Dir(*cpuprof), 0o755); err != nil {
			return err
		}
	}
	res, err := runAll(context.Background(), strings.Split(*vmScenarios, ","), p)
	if err != nil {
		return err
	}
	if *cpuprof != "" {
		// The guest's file systems vanish with it: hand the profiles over
		// on the console.
		files, _ := filepath.Glob(*cpuprof + ".*.pprof")
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			fmt.Println(profileMarker + strings.TrimPrefix(filepath.Base(f), filepath.Base(*cpuprof)) + " " + base64.StdEncoding.EncodeToString(b))
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Println(guestMarker + string(b))
	return nil
}
