//go:build linux

package ipvs

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/seesawd/seesawd/test/vm"
)

// TestHostWithoutIPVS opens a real socket on a kernel without IPVS (this
// host, outside the VM lab) and expects ErrNoIPVS.
func TestHostWithoutIPVS(t *testing.T) {
	if vm.InGuest() || os.Geteuid() != 0 {
		t.Skip("needs root on a host kernel without IPVS")
	}
	c, err := New(nil)
	if err == nil {
		_, ierr := c.Info(context.Background())
		c.Close()
		t.Skipf("this kernel has IPVS (Info: %v)", ierr)
	}
	if !errors.Is(err, ErrNoIPVS) || !strings.Contains(err.Error(), "modprobe ip_vs") {
		t.Fatalf("New on a kernel without IPVS: %v, want ErrNoIPVS", err)
	}
}

func TestDialBadNamespace(t *testing.T) {
	_, err := New(&Config{NetNSPath: "/nonexistent/netns"})
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNoIPVS) {
		t.Fatalf("New in a missing namespace: %v", err)
	}
}
