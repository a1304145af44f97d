package ipvs

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

var (
	ignoreStats        = cmpopts.IgnoreFields(Service{}, "Stats")
	ignoreDestCounters = cmpopts.IgnoreFields(Destination{}, "Stats", "ActiveConns", "InactiveConns", "PersistentConns")
	sortServices       = cmpopts.SortSlices(func(a, b Service) bool { return a.Key().String() < b.Key().String() })
	sortDests          = cmpopts.SortSlices(func(a, b Destination) bool { return a.Address.Less(b.Address) })
)
