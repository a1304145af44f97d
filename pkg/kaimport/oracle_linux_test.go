package kaimport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/engine"
	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

// TestIntegrationKeepalivedOracle holds the translation to keepalived
// itself. For every test configuration with virtual servers it starts
// keepalived 2.2.7's checker (keepalived -C -d) in a fresh network
// namespace and, once the checkers are activated, freezes it and reads:
//
//   - the IPVS table it programmed (services and the destinations it adds
//     at start: every real server, alpha ones only at weight 0 with
//     inhibit_on_failure), which must equal what the translated
//     configuration makes seesawd program with its checked backends up
//     and its initial: down ones down;
//   - its dump of every checker's effective settings (the first checker
//     of each real server seesawd can run), which must be the translated
//     check: type, target, interval = delay_loop, fall = retries + 1,
//     timeout = connect_timeout (or 90% of the interval, noted),
//     initial: down = alpha.
func TestIntegrationKeepalivedOracle(t *testing.T) {
	testenv.Integration(t, "keepalived")
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		if out, err := exec.Command("modprobe", "ip_vs").CombinedOutput(); err != nil {
			testenv.Skip(t, "needs IPVS: modprobe ip_vs: %v %s", err, out)
		}
	}
	fsys := os.DirFS("testdata")
	ran := 0
	for _, c := range goldenCases(t) {
		res, err := Import(fsys, c.file, &Options{ConfigID: c.configID})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(res.YAML)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Services) == 0 {
			continue
		}
		ran++
		t.Run(c.golden, func(t *testing.T) {
			path, err := filepath.Abs(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			kernel, checkers := runKeepalived(t, path, c.configID)
			compareIPVS(t, cfg, kernel)
			compareChecks(t, cfg, checkers)
		})
	}
	if ran < 10 {
		t.Errorf("only %d configurations with virtual servers", ran)
	}
}

// kService is a service keepalived programmed, with its destinations.
type kService struct {
	svc   ipvs.Service
	dests []ipvs.Destination
}

// kChecker is one checker of keepalived's configuration dump.
type kChecker struct {
	vs, rs     string // as keepalived prints them: "[192.0.2.1]:tcp:80", "FWM 7"
	method     string
	dest       string
	timeout    time.Duration
	delayLoop  time.Duration
	retries    int
	alpha      bool
	hasTimeout bool
}

// runKeepalived starts keepalived's checker process on path in a fresh
// namespace, freezes it once its checkers are activated (before any has
// run: they start a second later at the earliest), and returns the IPVS
// table and the checker dump.
func runKeepalived(t *testing.T, path, configID string) ([]kService, []kChecker) {
	ns := testenv.NewNetns(t)
	dir := t.TempDir()
	pid, cpid := filepath.Join(dir, "keepalived.pid"), filepath.Join(dir, "checkers.pid")
	args := []string{"-C", "-n", "-l", "-G", "-d", "-I", "-f", path, "-p", pid, "-c", cpid}
	if configID != "" {
		args = append(args, "-i", configID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := ns.Cmd(ctx, "keepalived", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var log []string
	sc := bufio.NewScanner(out)
	activated := false
	for sc.Scan() {
		line := logLine(sc.Text())
		log = append(log, line)
		if strings.HasPrefix(line, "Activating BFD healthchecker") {
			activated = true
			break
		}
	}
	if !activated {
		t.Fatalf("keepalived never activated its checkers:\n%s", strings.Join(log, "\n"))
	}
	// Freeze the checker process so no check result changes the table.
	checker := readPid(t, cpid)
	if err := syscall.Kill(checker, syscall.SIGSTOP); err != nil {
		t.Fatalf("stop keepalived's checker: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(checker, syscall.SIGKILL) })
	go func() { _, _ = io.Copy(io.Discard, out) }()

	c, err := ipvs.New(&ipvs.Config{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	svcs, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kernel []kService
	for _, s := range svcs {
		d, err := c.Destinations(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		kernel = append(kernel, kService{svc: s, dests: d})
	}
	return kernel, parseDump(t, log)
}

var logPrefix = regexp.MustCompile(`^\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}: `)

func logLine(s string) string { return logPrefix.ReplaceAllString(s, "") }

func readPid(t *testing.T, file string) int {
	t.Helper()
	var pid int
	testenv.WaitFor(t, "keepalived's checker pid file", 10*time.Second, func() bool {
		b, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

var (
	dumpHeader = regexp.MustCompile(`^ (\S.*) -> (\S+)$`)
	dumpField  = regexp.MustCompile(`^\s+([A-Za-z ]+?) = (.*)$`)
)

// parseDump reads the "Health checkers" part of keepalived -d's dump.
func parseDump(t *testing.T, log []string) []kChecker {
	t.Helper()
	var out []kChecker
	in := false
	for _, l := range log {
		if strings.Contains(l, "< Health checkers >") {
			in = true
			continue
		}
		if !in {
			continue
		}
		if strings.HasPrefix(l, "Activating") || strings.HasPrefix(l, "------<") {
			break
		}
		if m := dumpHeader.FindStringSubmatch(l); m != nil {
			out = append(out, kChecker{vs: m[1], rs: m[2]})
			continue
		}
		m := dumpField.FindStringSubmatch(l)
		if m == nil || len(out) == 0 {
			continue
		}
		k := &out[len(out)-1]
		switch m[1] {
		case "Keepalive method":
			k.method, _, _ = strings.Cut(m[2], ",") // "HTTP_GET, http protocol 1.0"
		case "Dest":
			k.dest = m[2]
		case "Timeout":
			f, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatalf("dump: timeout %q", m[2])
			}
			k.timeout, k.hasTimeout = time.Duration(f*1e6)*time.Microsecond, true
		case "Delay loop":
			us, err := strconv.Atoi(strings.TrimSuffix(m[2], " us"))
			if err != nil {
				t.Fatalf("dump: delay loop %q", m[2])
			}
			k.delayLoop = time.Duration(us) * time.Microsecond
		case "Retries":
			k.retries, _ = strconv.Atoi(m[2])
		case "Alpha":
			k.alpha = m[2] == "yes"
		}
	}
	return out
}

// normService spells out what the kernel reads back by default.
func normService(s ipvs.Service) ipvs.Service {
	if s.Scheduler == "" {
		s.Scheduler = "wlc"
	}
	if s.Family == 0 {
		s.Family = s.Key().Family
	}
	if s.Netmask == 0 {
		s.Netmask = 32
		if s.Family == ipvs.IPv6 {
			s.Netmask = 128
		}
	}
	s.Stats = ipvs.Stats{}
	return s
}

func compareIPVS(t *testing.T, cfg *config.Config, kernel []kService) {
	t.Helper()
	var want, got []kService
	for _, s := range cfg.Engine().Services {
		w := kService{svc: normService(s.IPVS)}
		for _, b := range s.Backends {
			d := b.Dest
			if d.Family == 0 {
				d.Family = d.Key().Family
			}
			if b.Check != nil && b.Check.Initial == healthcheck.StateDown {
				if s.OnFailure != engine.FailWeight0 {
					continue
				}
				d.Weight = 0
			}
			w.dests = append(w.dests, d)
		}
		want = append(want, w)
	}
	for _, k := range kernel {
		g := kService{svc: normService(k.svc)}
		for _, d := range k.dests {
			d.Stats = ipvs.Stats{}
			g.dests = append(g.dests, d)
		}
		got = append(got, g)
	}
	byKey := func(a, b kService) int { return strings.Compare(a.svc.Key().String(), b.svc.Key().String()) }
	slices.SortFunc(want, byKey)
	slices.SortFunc(got, byKey)
	opts := cmp.Options{
		cmp.AllowUnexported(kService{}),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmpopts.SortSlices(func(a, b ipvs.Destination) bool { return a.Key().String() < b.Key().String() }),
		cmpopts.IgnoreFields(ipvs.Destination{}, "ActiveConns", "InactiveConns", "PersistentConns", "Stats"),
	}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("IPVS as seesawd would program it (-) and as keepalived did (+):\n%s", diff)
	}
}

// checkTypes maps keepalived's checkers to seesawd's check types.
var checkTypes = map[string]healthcheck.Type{"TCP_CHECK": healthcheck.TypeTCP, "HTTP_GET": healthcheck.TypeHTTP,
	"SSL_GET": healthcheck.TypeHTTPS, "SMTP_CHECK": healthcheck.TypeTCP, "DNS_CHECK": healthcheck.TypeDNS,
	"PING_CHECK": healthcheck.TypeICMP, "UDP_CHECK": healthcheck.TypeICMP}

func compareChecks(t *testing.T, cfg *config.Config, checkers []kChecker) {
	t.Helper()
	// The first checker seesawd can run, of each real server.
	first := map[string]kChecker{}
	for _, k := range checkers {
		if _, ok := checkTypes[k.method]; !ok {
			continue
		}
		key := k.vs + " " + k.rs
		if !strings.HasPrefix(k.vs, "FWM ") && ipOf(k.vs) == "" {
			// A virtual_server group: its services share the checkers.
			key = fmt.Sprintf("group %s %d", ipOf(k.rs), portOf(k.rs))
		}
		if _, seen := first[key]; !seen {
			first[key] = k
		}
	}
	compared := 0
	for _, s := range cfg.Engine().Services {
		vs := kaService(s.IPVS)
		for _, b := range s.Backends {
			name := vs + " " + kaDest(s.IPVS, b.Dest)
			k, ok := first[name]
			if !ok {
				k, ok = first[fmt.Sprintf("group %s %d", b.Dest.Address, b.Dest.Port)]
			}
			if !ok {
				if b.Check != nil {
					t.Errorf("%s: seesawd checks it (%v), keepalived has no checker it could run", name, b.Check.Type)
				}
				continue
			}
			compared++
			d := b.Check
			if d == nil {
				t.Errorf("%s: keepalived runs %s, the translation has no check", name, k.method)
				continue
			}
			want := checkTypes[k.method]
			if k.method == "UDP_CHECK" && d.UDP != nil {
				want = healthcheck.TypeUDP // with require_reply
			}
			if d.Type != want {
				t.Errorf("%s: %s became %v, want %v", name, k.method, d.Type, want)
			}
			// keepalived probes port 0 for a real server written without a
			// port (noted): the translation probes the backend's.
			kaddr, kport := ipOf(k.dest), portOf(k.dest)
			if d.Target.Addr().String() != kaddr ||
				d.Type != healthcheck.TypeICMP && kport != 0 && int(d.Target.Port()) != kport {
				t.Errorf("%s: check target %v, keepalived probes %s", name, d.Target, k.dest)
			}
			if d.Interval != k.delayLoop {
				t.Errorf("%s: interval %v, keepalived's delay_loop %v", name, d.Interval, k.delayLoop)
			}
			if d.Fall != k.retries+1 || d.Rise != 1 {
				t.Errorf("%s: rise %d fall %d, keepalived: up at one success, down after %d retries", name, d.Rise, d.Fall, k.retries)
			}
			if wantTimeout := k.timeout; k.hasTimeout {
				if wantTimeout >= k.delayLoop {
					wantTimeout = (k.delayLoop * 9 / 10).Truncate(time.Millisecond)
				}
				if d.Timeout != wantTimeout {
					t.Errorf("%s: timeout %v, keepalived's connect_timeout %v (delay_loop %v)", name, d.Timeout, k.timeout, k.delayLoop)
				}
			}
			if (d.Initial == healthcheck.StateDown) != k.alpha {
				t.Errorf("%s: initial %v, keepalived alpha %v", name, d.Initial, k.alpha)
			}
		}
	}
	if compared == 0 && len(first) > 0 {
		t.Errorf("no check compared: the dump or the names do not match:\n%+v", checkers)
	}
}

// ipOf returns the address of "[addr]:...", or "".
func ipOf(s string) string {
	inner, _, ok := strings.Cut(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(inner); ok && err == nil {
		return a.String()
	}
	return ""
}

// portOf returns the port ending "[addr]:port" or "[addr]:proto:port".
func portOf(s string) int {
	p, _ := strconv.Atoi(s[strings.LastIndex(s, ":")+1:])
	return p
}

// kaService names a service as keepalived's dump does.
func kaService(s ipvs.Service) string {
	if s.FWMark != 0 {
		return fmt.Sprintf("FWM %d", s.FWMark)
	}
	return fmt.Sprintf("[%s]:%s:%d", s.Address, strings.ToLower(s.Protocol.String()), s.Port)
}

// kaDest names a real server as keepalived's dump does.
func kaDest(s ipvs.Service, d ipvs.Destination) string {
	proto := strings.ToLower(s.Protocol.String())
	if s.FWMark != 0 {
		proto = "none"
	}
	return fmt.Sprintf("[%s]:%s:%d", d.Address, proto, d.Port)
}

// keepalivedComplaint matches what keepalived -t says of a configuration
// it does not understand (rather than of the machine it runs on).
var (
	keepalivedComplaint = regexp.MustCompile(`(?i)unknown keyword|missing '}'|extra '{'|invalid|not valid|unmatched|unexpected`)
	complaintAt         = regexp.MustCompile(`^\(([^:]+): Line (\d+)\)`)
)

// TestIntegrationKeepalivedReadsTestdata checks the hand-written test
// configurations are keepalived configurations: keepalived -t, in a
// namespace with the interfaces they name, must understand every line, or
// complain only where the importer has a note too.
func TestIntegrationKeepalivedReadsTestdata(t *testing.T) {
	testenv.Integration(t, "keepalived")
	ns := testenv.NewNetns(t)
	for i, name := range []string{"eth0", "eth1", "eth2", "bond0"} {
		ns.Sh(t, fmt.Sprintf("ip link add %s type veth peer name peer%d && ip link set %s up && ip link set peer%d up", name, i, name, i))
	}
	for _, c := range goldenCases(t) {
		if !strings.HasPrefix(c.file, "realworld/") {
			continue
		}
		t.Run(c.golden, func(t *testing.T) {
			path, err := filepath.Abs(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"-t", "-l", "-f", path}
			if c.configID != "" {
				args = append(args, "-i", c.configID)
			}
			res, err := Import(os.DirFS("testdata"), c.file, &Options{ConfigID: c.configID})
			if err != nil {
				t.Fatal(err)
			}
			out, _ := ns.Cmd(context.Background(), "keepalived", args...).CombinedOutput()
			for _, l := range strings.Split(string(out), "\n") {
				if !keepalivedComplaint.MatchString(l) {
					continue
				}
				m := complaintAt.FindStringSubmatch(l)
				noted := false
				for _, n := range res.Notes {
					noted = noted || m != nil && strings.HasSuffix(n.File, m[1]) && strconv.Itoa(n.Line) == m[2]
				}
				if !noted {
					t.Errorf("keepalived -t complains where the importer has no note: %s", l)
				}
			}
		})
	}
}
