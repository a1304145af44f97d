package kaimport

import (
	"testing"

	"github.com/seesawd/seesawd/test/vm"
)

// TestMain runs TestIntegrationKeepalivedOracle in the VM lab when the host
// kernel has no IPVS (keepalived's checker needs it), everything else here.
func TestMain(m *testing.M) { vm.Main(m) }
