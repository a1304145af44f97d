package lab

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/seesawd/seesawd/test/vm"
)

// Main is the TestMain of a package whose tests run this module's commands
// in the VM lab: on the host (as root, not -short) it builds each command
// of bins (environment variable → command under ./cmd) into the lab's cache
// under sub, where the guest sees it at the same path, and passes its path
// in that variable (the vm package carries SEESAW_* variables into the
// guest); then vm.Main runs the tests, the TestIntegration* ones in the VM.
func Main(m *testing.M, sub string, bins map[string]string) {
	flag.Parse()
	if !vm.InGuest() && !testing.Short() && os.Geteuid() == 0 {
		envs := make([]string, 0, len(bins))
		for env := range bins {
			envs = append(envs, env)
		}
		sort.Strings(envs)
		for _, env := range envs {
			if os.Getenv(env) != "" {
				continue
			}
			bin, err := Build(filepath.Join(vm.CacheDir(), sub), bins[env])
			if err != nil {
				fmt.Fprintln(os.Stderr, sub+":", err)
				os.Exit(2)
			}
			os.Setenv(env, bin)
		}
	}
	vm.Main(m)
}

// BuildSeesawd builds the seesawd binary of this module into dir; see Build.
func BuildSeesawd(dir string) (string, error) { return Build(dir, "seesawd") }

// Build builds the command ./cmd/name of this module into dir (static, so
// it runs in the VM guest) and returns its path. The test binaries that
// drive the lab call it on the host, where the toolchain is fast; binaries
// older than an hour are removed, newer ones may be in use by a run in
// progress.
func Build(dir, name string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
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
