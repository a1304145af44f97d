package e2e

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/seesawd/seesawd/internal/lab"
	"github.com/seesawd/seesawd/test/vm"
)

// binEnv carries the path of the seesawd binary built on the host into the
// VM guest (the vm package passes SEESAW_* variables through).
const binEnv = "SEESAW_E2E_SEESAWD"

// TestMain builds seesawd on the host, where the Go toolchain is fast, into
// the VM lab's cache, which the guest sees at the same path, then runs the
// tests: the TestIntegration* ones in the VM.
func TestMain(m *testing.M) {
	flag.Parse()
	if !vm.InGuest() && os.Getenv(binEnv) == "" && !testing.Short() && os.Geteuid() == 0 {
		bin, err := lab.BuildSeesawd(filepath.Join(vm.CacheDir(), "e2e"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(2)
		}
		os.Setenv(binEnv, bin)
	}
	vm.Main(m)
}
