//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/seesawd/seesawd/internal/testenv"
)

// TestIntegrationStartRefusals: the two ways a node cannot run seesawd at
// all say what to do.
func TestIntegrationStartRefusals(t *testing.T) {
	testenv.Integration(t, "go")
	bin := seesawdBinary(t)
	// A directory nobody can reach (t.TempDir's parent is private).
	dir, err := os.MkdirTemp("", "seesawd-preflight-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "svc.yaml")
	if err := os.WriteFile(cfg, []byte(`services:
  - { name: web, vip: 192.0.2.100, port: 80, backends: [{ address: 10.0.1.10 }] }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// The unprivileged run must reach the binary and the file.
	for _, d := range []string{dir, filepath.Dir(bin)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(cred *syscall.Credential) (string, int) {
		t.Helper()
		c := exec.Command(bin, "--config", cfg)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	// Not root: the capabilities it lacks are named.
	out, code := run(&syscall.Credential{Uid: 65534, Gid: 65534})
	if code != exitFail || !strings.Contains(out, "CAP_NET_ADMIN") || !strings.Contains(out, "CAP_NET_RAW") {
		t.Errorf("as nobody: exit %d, output:\n%s", code, out)
	}
	// Services on a kernel without IPVS (this host's, when it has none).
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Log("this kernel has IPVS: the no-IPVS message is not checked here")
		return
	}
	out, code = run(nil)
	if code != exitFail || !strings.Contains(out, "load the ip_vs module (modprobe ip_vs)") {
		t.Errorf("without IPVS: exit %d, output:\n%s", code, out)
	}
}
