// Package selftest exercises vm.Main end to end: its integration test runs
// in the guest, its unit test on the host. The vm package's own tests run it
// with SEESAW_VM_SELFTEST_FAIL=1 to prove a guest failure fails the host,
// and run TestRunsOnHost in the guest to prove that test can fail.
package selftest

import (
	"os"
	"testing"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/test/vm"
)

func TestMain(m *testing.M) { vm.Main(m) }

// guestHostname is the hostname test/vm/init.sh gives the guest. It and
// vm.GuestEnv (exported by the job script) are set apart from each other,
// so each test checks both.
const guestHostname = "seesaw-vm"

func where(t *testing.T) (hostname string, inGuest bool) {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if (h == guestHostname) != vm.InGuest() {
		t.Errorf("hostname %q disagrees with %s=%q", h, vm.GuestEnv, os.Getenv(vm.GuestEnv))
	}
	return h, h == guestHostname || vm.InGuest()
}

// TestRunsOnHost fails when vm.Main sends a unit test to the guest.
func TestRunsOnHost(t *testing.T) {
	if h, inGuest := where(t); inGuest {
		t.Errorf("unit test ran in the VM lab (hostname %q)", h)
	}
}

// TestIntegrationGuestHasIPVS needs IPVS, so on a host without it vm.Main
// must have sent it to the guest; the vm package's tests look for the
// "in guest: true" line it logs.
func TestIntegrationGuestHasIPVS(t *testing.T) {
	testenv.Integration(t)
	if !vm.HostHasIPVS() {
		testenv.Skip(t, "kernel has no IPVS and the VM lab did not run this test")
	}
	h, inGuest := where(t)
	if os.Getenv("SEESAW_VM_SELFTEST_FAIL") == "1" {
		t.Fatal("failing on purpose (SEESAW_VM_SELFTEST_FAIL=1)")
	}
	t.Logf("in guest: %v (hostname %s)", inGuest, h)
}
