package ipvs

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seesawd/seesawd/test/vm"
)

// TestMain runs the TestIntegration* tests in the VM lab when the host
// kernel has no IPVS, and everything else on the host.
func TestMain(m *testing.M) { vm.Main(m) }

// cmpDiff is cmp.Diff that compares netip.Addr by value.
func cmpDiff(want, got any, opts ...cmp.Option) string {
	opts = append(opts, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }))
	return cmp.Diff(want, got, opts...)
}
