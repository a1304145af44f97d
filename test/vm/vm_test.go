package vm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seesawd/seesawd/internal/testenv"
)

func requireLab(t *testing.T) {
	t.Helper()
	testenv.Integration(t)
	if InGuest() {
		t.Skip("already inside the VM lab")
	}
	if err := Available(); err != nil {
		testenv.Skip(t, "%v", err)
	}
}

// TestIntegrationLabExitStatus checks that the guest's exit status, output
// and kernel reach the host: the property every VM test relies on.
func TestIntegrationLabExitStatus(t *testing.T) {
	requireLab(t)
	var out bytes.Buffer
	rc, err := Run(context.Background(), &Config{Stdout: &out},
		`uname -r; test "$SEESAW_VM_GUEST" = 1 || exit 9; ipvsadm -Ln >/dev/null || exit 8; grep -q '^ip_vs_mh ' /proc/modules || exit 6; touch /etc/x 2>/dev/null && exit 5; echo guest-ok
echo 'selftest: a harmless kernel line' >/dev/kmsg; echo 'selftest: BUG: soft lockup - CPU#9 stuck for 22s! (injected)' >/dev/kmsg; sleep 1; exit 7`)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rc != 7 {
		t.Fatalf("exit status = %d, want 7; output:\n%s", rc, out.String())
	}
	kver, err := os.ReadFile(filepath.Join(CacheDir(), "kernel-version"))
	if err != nil {
		t.Fatal(err)
	}
	// init.sh copies a kernel lockup report, and what follows it, to the
	// console; other kernel lines stay off it (loglevel 1).
	for _, want := range []string{strings.TrimSpace(string(kver)), "guest-ok", "seesaw-vm kmsg: selftest: BUG: soft lockup - CPU#9 stuck for 22s! (injected)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("guest output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "harmless") {
		t.Errorf("a kernel line that reports no lockup reached the console:\n%s", out.String())
	}
}

// TestIntegrationLabSeesHiddenDirs runs guest jobs from checkouts under
// /tmp and /root, where the guest mounts tmpfs of its own: the guest must see
// the host's files there (read-only) and still have a writable /tmp and /root.
func TestIntegrationLabSeesHiddenDirs(t *testing.T) {
	requireLab(t)
	for _, base := range []string{"/tmp", "/root"} {
		t.Run(strings.TrimPrefix(base, "/"), func(t *testing.T) {
			// A space in the name checks the path survives the trip to init.
			dir, err := os.MkdirTemp(base, "vm lab dir-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			marker := filepath.Base(dir) + " was here"
			if err := os.WriteFile(filepath.Join(dir, "marker"), []byte(marker), 0o644); err != nil {
				t.Fatal(err)
			}
			// A sibling the job does not need stays hidden by the guest's tmpfs.
			sibling, err := os.CreateTemp(base, "vm-lab-sibling-")
			if err != nil {
				t.Fatal(err)
			}
			sibling.Close()
			t.Cleanup(func() { os.Remove(sibling.Name()) })
			var out bytes.Buffer
			rc, err := Run(context.Background(), &Config{Dir: dir, Stdout: &out}, `set -e
echo "pwd=$(pwd)"
cat marker; echo
if touch marker-from-guest 2>/dev/null; then echo "host dir writable"; exit 3; fi
echo x > /tmp/guest-tmp && echo x > /root/guest-home
if test -e `+shellQuote(sibling.Name())+`; then echo "sibling visible"; exit 4; fi
echo guest-done`)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if rc != 0 {
				t.Fatalf("guest exit status %d, want 0; output:\n%s", rc, out.String())
			}
			for _, want := range []string{"pwd=" + dir, marker, "guest-done"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("guest output lacks %q:\n%s", want, out.String())
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "marker-from-guest")); err == nil {
				t.Error("the guest wrote into the host's directory")
			}
		})
	}
}

func TestJobScriptQuoting(t *testing.T) {
	s := string(jobScript("/c", "6.1", &Config{Dir: "/w d", Env: []string{"A=it's"}}, []string{"/bin/echo", "a b", "c'd"}))
	for _, want := range []string{`export 'A=it'\''s'`, `cd '/w d'`, `exec '/bin/echo' 'a b' 'c'\''d' 2>&1`, "modprobe -d '/c/root' -S 6.1 -a ip_vs "} {
		if !strings.Contains(s, want) {
			t.Errorf("job script lacks %q:\n%s", want, s)
		}
	}
}

func TestDecide(t *testing.T) {
	ok := func() error { return nil }
	noRoot := func() error { return errors.New("vm: lab needs root") }
	for _, tc := range []struct {
		name string
		s    situation
		boot bool
		why  string
	}{
		{"host lacks IPVS", situation{available: ok}, true, ""},
		{"always", situation{mode: "always", hostIPVS: true, available: ok}, true, ""},
		{"short", situation{short: true, available: ok}, false, ""},
		{"short always", situation{short: true, mode: "always", available: ok}, false, ""},
		{"list", situation{list: true, available: ok}, false, ""},
		{"fuzz worker", situation{fuzzWorker: true, available: ok}, false, ""},
		{"never", situation{mode: "never", available: ok}, false, ""},
		{"host has IPVS", situation{hostIPVS: true, available: ok}, false, ""},
		{"not root", situation{available: noRoot}, false, "vm: lab needs root"},
	} {
		boot, why := decide(tc.s)
		if boot != tc.boot || why != tc.why {
			t.Errorf("%s: decide = %v, %q; want %v, %q", tc.name, boot, why, tc.boot, tc.why)
		}
	}
}

func TestShareList(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b", "a b", "real"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "real"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	got, err := shareList(filepath.Join(root, "a/b"), []string{filepath.Join(root, "link"), filepath.Join(root, "a b"), filepath.Join(root, "a"), filepath.Join(root, "a/b")})
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(root)
	want := strings.Join([]string{real + "/a", real + "/a b", real + "/a/b", real + "/real"}, "\n") + "\n"
	if string(got) != want {
		t.Errorf("shareList =\n%s\nwant\n%s", got, want)
	}
	if _, err := shareList(filepath.Join(root, "missing"), nil); err == nil {
		t.Error("shareList of a missing directory: no error")
	}
}

func TestGuestFlags(t *testing.T) {
	got := strings.Join(guestFlags([]string{"-test.v=true", "-test.testlogfile=/tmp/x", "-test.timeout=10m0s", "-test.run=X", "-test.coverprofile=c.out", "-test.count=2", "-test.paniconexit0"}), " ")
	if want := "-test.v=true -test.timeout=10m0s -test.count=2 -test.paniconexit0"; got != want {
		t.Errorf("guestFlags = %q, want %q", got, want)
	}
}

// TestIntegrationMainPropagatesFailure runs the selftest package through
// `go test` twice: a passing guest test must pass, a failing one must fail
// the host's go test.
func TestIntegrationMainPropagatesFailure(t *testing.T) {
	requireLab(t)
	testenv.Integration(t, "go")
	for _, tc := range []struct {
		fail string
		ok   bool
	}{{"0", true}, {"1", false}} {
		cmd := exec.Command("go", "test", "-count=1", "-v", "-run", "TestIntegrationGuestHasIPVS|TestRunsOnHost", "./selftest")
		cmd.Env = append(os.Environ(), "SEESAW_VM_SELFTEST_FAIL="+tc.fail)
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok {
			t.Fatalf("SEESAW_VM_SELFTEST_FAIL=%s: go test err=%v, want ok=%v\n%s", tc.fail, err, tc.ok, out)
		}
		for _, want := range []string{"--- PASS: TestRunsOnHost", "in guest: true"} {
			if tc.ok && !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if !tc.ok && !strings.Contains(string(out), "failing on purpose") {
			t.Errorf("guest failure text did not reach the host:\n%s", out)
		}
	}
}

// TestIntegrationRunsOnHostCanFail runs the selftest's TestRunsOnHost in the
// guest, where it must fail: the check TestIntegrationMainPropagatesFailure
// relies on to prove vm.Main keeps unit tests on the host.
func TestIntegrationRunsOnHostCanFail(t *testing.T) {
	requireLab(t)
	testenv.Integration(t, "go")
	bin := filepath.Join(t.TempDir(), "selftest.test")
	if out, err := exec.Command("go", "test", "-c", "-o", bin, "./selftest").CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	var out bytes.Buffer
	rc, err := Run(context.Background(), &Config{Stdout: &out, Files: []string{bin}},
		filepath.Join(jobMount, "selftest.test"), "-test.v", "-test.run=^TestRunsOnHost$")
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rc == 0 || !strings.Contains(out.String(), "--- FAIL: TestRunsOnHost") || !strings.Contains(out.String(), `unit test ran in the VM lab (hostname "seesaw-vm")`) {
		t.Errorf("TestRunsOnHost in the guest: exit %d, want a failure naming the guest; output:\n%s", rc, out.String())
	}
}

// TestIntegrationMainStaysOnHost checks that, even as root on a host without
// IPVS, vm.Main boots no guest for -short (make test-unit) or -list (make
// fuzz lists targets that way).
func TestIntegrationMainStaysOnHost(t *testing.T) {
	requireLab(t)
	testenv.Integration(t, "go")
	for _, args := range [][]string{
		{"-short", "-v", "-run", "TestIntegrationGuestHasIPVS|TestRunsOnHost"},
		{"-list", "."},
	} {
		cmd := exec.Command("go", append(append([]string{"test", "-count=1"}, args...), "./selftest")...)
		cmd.Env = append(os.Environ(), "SEESAW_REQUIRE_INTEGRATION=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go test %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if strings.Contains(string(out), "vm: booting") {
			t.Errorf("go test %s booted the VM lab:\n%s", strings.Join(args, " "), out)
		}
		if args[0] == "-short" && !strings.Contains(string(out), "--- SKIP: TestIntegrationGuestHasIPVS") {
			t.Errorf("go test -short did not skip the integration test:\n%s", out)
		}
	}
}
