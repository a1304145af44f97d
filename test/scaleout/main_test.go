package scaleout

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
const binEnv = "SEESAW_SCALEOUT_SEESAWD"

// TestMain builds seesawd on the host, then runs the tests: the
// TestIntegration* ones in the VM.
func TestMain(m *testing.M) {
	flag.Parse()
	if !vm.InGuest() && os.Getenv(binEnv) == "" && !testing.Short() && os.Geteuid() == 0 {
		bin, err := lab.BuildSeesawd(filepath.Join(vm.CacheDir(), "scaleout"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "scaleout:", err)
			os.Exit(2)
		}
		os.Setenv(binEnv, bin)
	}
	vm.Main(m)
}
