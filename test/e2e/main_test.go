package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/seesawd/seesawd/test/vm"
)

// binEnv carries the path of the seesawd binary built on the host into the
// VM guest (the vm package passes SEESAW_* variables through).
const binEnv = "SEESAW_E2E_SEESAWD"

// ctlEnv carries the seesawctl binary the same way.
const ctlEnv = "SEESAW_E2E_SEESAWCTL"

// TestMain builds seesawd and seesawctl on the host, where the Go toolchain
// is fast, into the VM lab's cache, which the guest sees at the same path,
// then runs the tests: the TestIntegration* ones in the VM.
func TestMain(m *testing.M) {
	flag.Parse()
	if !vm.InGuest() && os.Getenv(binEnv) == "" && !testing.Short() && os.Geteuid() == 0 {
		for env, cmd := range map[string]string{binEnv: "seesawd", ctlEnv: "seesawctl"} {
			bin, err := build(cmd)
			if err != nil {
				fmt.Fprintln(os.Stderr, "e2e:", err)
				os.Exit(2)
			}
			os.Setenv(env, bin)
		}
	}
	vm.Main(m)
}

func build(name string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := filepath.Join(vm.CacheDir(), "e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Binaries of earlier runs: the newest few may be in use by a run in
	// progress, older ones are not.
	if old, _ := filepath.Glob(filepath.Join(dir, name+"-*")); len(old) > 0 {
		for _, p := range old {
			if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > time.Hour {
				os.Remove(p)
			}
		}
	}
	f, err := os.CreateTemp(dir, name+"-")
	if err != nil {
		return "", err
	}
	f.Close()
	cmd := exec.Command("go", "build", "-trimpath", "-o", f.Name(), "./cmd/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v\n%s", name, err, out)
	}
	return f.Name(), nil
}
