package e2e

import (
	"testing"

	"github.com/seesawd/seesawd/internal/lab"
)

// binEnv carries the path of the seesawd binary built on the host into the
// VM guest.
const binEnv = "SEESAW_E2E_SEESAWD"

// ctlEnv carries the seesawctl binary the same way.
const ctlEnv = "SEESAW_E2E_SEESAWCTL"

// TestMain builds seesawd and seesawctl on the host, where the Go toolchain
// is fast, then runs the tests: the TestIntegration* ones in the VM.
func TestMain(m *testing.M) {
	lab.Main(m, "e2e", map[string]string{binEnv: "seesawd", ctlEnv: "seesawctl"})
}
