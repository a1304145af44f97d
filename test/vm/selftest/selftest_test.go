// Package selftest exercises vm.Main end to end: its integration test runs
// in the guest, its unit test on the host. The vm package's own tests run it
// with SEESAW_VM_SELFTEST_FAIL=1 to prove a guest failure fails the host.
package selftest

import (
	"os"
	"testing"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/test/vm"
)

func TestMain(m *testing.M) { vm.Main(m) }

func TestRunsOnHost(t *testing.T) {
	if vm.InGuest() && !vm.HostHasIPVS() {
		t.Error("a unit test was sent to the guest")
	}
}

func TestIntegrationGuestHasIPVS(t *testing.T) {
	testenv.Integration(t)
	if !vm.HostHasIPVS() {
		testenv.Skip(t, "kernel has no IPVS and the VM lab did not run this test")
	}
	if os.Getenv("SEESAW_VM_SELFTEST_FAIL") == "1" {
		t.Fatal("failing on purpose (SEESAW_VM_SELFTEST_FAIL=1)")
	}
	t.Logf("in guest: %v", vm.InGuest())
}
