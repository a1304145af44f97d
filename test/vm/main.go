package vm

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// integrationPrefix names the tests that Main sends to the VM.
const integrationPrefix = "TestIntegration"

// listingEnv marks the child process Main starts to list tests.
const listingEnv = "SEESAW_VM_LISTING"

// Main is TestMain for packages whose TestIntegration* tests need a kernel
// feature the host lacks (IPVS). Use it as
//
//	func TestMain(m *testing.M) { vm.Main(m) }
//
// In the guest, or on a host whose kernel has IPVS (or with SEESAW_VM=never),
// it simply runs the tests. Otherwise it runs every other test on the host,
// then boots the VM lab and runs the TestIntegration* tests selected by -run
// in it, with the same flags (-v, -count, -timeout, -failfast, -short...).
// The process fails if either run fails, so a failing test in the guest
// fails `go test` on the host. It never boots the lab under -short, when
// only listing tests (-list) or in a fuzz worker, and when the lab cannot
// run (not root, not linux/amd64): then every test runs on the host, where
// the integration tests skip — or fail under SEESAW_REQUIRE_INTEGRATION=1.
func Main(m *testing.M) {
	if InGuest() || os.Getenv(listingEnv) == "1" {
		os.Exit(m.Run())
	}
	flag.Parse()
	boot, why := decide(situation{
		short:      flagValue("test.short") == "true",
		list:       flagValue("test.list") != "",
		fuzzWorker: flagValue("test.fuzzworker") == "true",
		mode:       os.Getenv(ModeEnv),
		hostIPVS:   HostHasIPVS(),
		available:  Available,
	})
	if !boot {
		if why != "" {
			fmt.Fprintf(os.Stderr, "vm: running integration tests on the host: %s\n", why)
		}
		os.Exit(m.Run())
	}
	names, err := listIntegration()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vm: %v\n", err)
		os.Exit(2)
	}

	skip := flag.Lookup("test.skip")
	switch cur := skip.Value.String(); {
	case cur == "":
		_ = skip.Value.Set("^" + integrationPrefix)
	case !strings.Contains(cur, "/"):
		_ = skip.Value.Set("(" + cur + ")|^" + integrationPrefix)
	}
	code := m.Run()
	if len(names) == 0 {
		os.Exit(code)
	}

	timeout := 10 * time.Minute
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 0 {
			timeout = d
		}
	}
	bin := os.Args[0]
	// The guest works in the package directory; sharing the whole module
	// lets a test reach the module's other files wherever the checkout is.
	var share []string
	if root := moduleRoot(); root != "" {
		share = append(share, root)
	}
	run := "^(" + strings.Join(names, "|") + ")$"
	if r := flag.Lookup("test.run").Value.String(); strings.Contains(r, "/") {
		run += r[strings.Index(r, "/"):]
	}
	args := append([]string{filepath.Join(jobMount, filepath.Base(bin)), "-test.run=" + run}, guestFlags(os.Args[1:])...)
	fmt.Printf("vm: booting the VM lab for %d integration test(s)\n", len(names))
	rc, err := Run(context.Background(), &Config{
		Timeout: timeout + 2*time.Minute,
		CPUs:    2,
		Files:   []string{bin},
		Share:   share,
		Stdout:  dropLine{w: os.Stdout, line: "PASS"},
	}, args...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vm: %v\n", err)
		os.Exit(2)
	}
	if rc != 0 {
		fmt.Printf("vm: integration tests failed in the guest (exit %d)\n", rc)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// situation is what decides where Main runs the integration tests.
type situation struct {
	short, list, fuzzWorker bool
	mode                    string // ModeEnv's value
	hostIPVS                bool
	available               func() error
}

// decide reports whether Main boots the lab for the integration tests and,
// when it does not for a reason the user may not expect, why.
func decide(s situation) (boot bool, why string) {
	// Listing runs no test, a fuzz worker only fuzzes for its coordinator, and
	// -short promises a quick run with neither root nor the VM (make test-unit).
	if s.list || s.fuzzWorker || s.short || s.mode == "never" || s.mode != "always" && s.hostIPVS {
		return false, ""
	}
	if err := s.available(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// moduleRoot is the directory of the go.mod above the working directory,
// or "" when there is none.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// HostHasIPVS reports whether the running kernel has IPVS loaded.
func HostHasIPVS() bool {
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}

// listIntegration asks the test binary which TestIntegration* tests -run selects.
func listIntegration() ([]string, error) {
	pattern := flag.Lookup("test.run").Value.String()
	if i := strings.Index(pattern, "/"); i >= 0 {
		pattern = pattern[:i]
	}
	if pattern == "" {
		pattern = "."
	}
	cmd := exec.Command(os.Args[0], "-test.list="+pattern)
	cmd.Env = append(os.Environ(), listingEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list tests: %w", err)
	}
	var skipRe *regexp.Regexp
	if s := flag.Lookup("test.skip").Value.String(); s != "" && !strings.Contains(s, "/") {
		skipRe, _ = regexp.Compile(s)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, integrationPrefix) && (skipRe == nil || !skipRe.MatchString(l)) {
			names = append(names, regexp.QuoteMeta(l))
		}
	}
	return names, nil
}

// guestFlags keeps the test flags that mean the same in the guest and drops
// the ones naming host files or selecting tests.
func guestFlags(args []string) []string {
	keep := map[string]bool{
		"test.v": true, "test.count": true, "test.timeout": true, "test.failfast": true,
		"test.short": true, "test.paniconexit0": true, "test.parallel": true, "test.cpu": true,
		"test.shuffle": true, "test.fullpath": true,
	}
	var out []string
	for _, a := range args {
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		if keep[name] {
			out = append(out, a)
		}
	}
	return out
}

// dropLine is a writer that drops one exact line (the guest's closing
// "PASS", which would otherwise precede the host's own).
type dropLine struct {
	w    interface{ Write([]byte) (int, error) }
	line string
}

func (d dropLine) Write(p []byte) (int, error) {
	if strings.TrimRight(string(p), "\r\n") == d.line {
		return len(p), nil
	}
	return d.w.Write(p)
}
