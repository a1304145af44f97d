package vm

import (
	"bytes"
	"context"
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
		`uname -r; test "$SEESAW_VM_GUEST" = 1 || exit 9; ipvsadm -Ln >/dev/null || exit 8; grep -q '^ip_vs_mh ' /proc/modules || exit 6; touch /etc/x 2>/dev/null && exit 5; echo guest-ok; exit 7`)
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
	for _, want := range []string{strings.TrimSpace(string(kver)), "guest-ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("guest output lacks %q:\n%s", want, out.String())
		}
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
