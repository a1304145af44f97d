package interop

import (
	"testing"

	"github.com/seesawd/seesawd/internal/nettopo"
	"github.com/seesawd/seesawd/internal/testenv"
)

// TestIntegrationKeepalivedPair validates the topology and the assertions
// against two keepalived speakers, the reference behaviour.
func TestIntegrationKeepalivedPair(t *testing.T) {
	testenv.Integration(t, "keepalived", "sysctl")
	for _, f := range families() {
		t.Run(f.name, func(t *testing.T) {
			p := newPair(t, nettopo.Keepalived{}, nettopo.Keepalived{}, f.vip, nettopo.ChecksumRFC5798)
			p.failover()
		})
	}
}
