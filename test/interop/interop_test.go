package interop

import (
	"net/netip"
	"testing"
	"time"

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

// TestIntegrationSeesawMasterKeepalivedBackup runs seesawd as the higher
// priority node and keepalived as its backup.
func TestIntegrationSeesawMasterKeepalivedBackup(t *testing.T) {
	testenv.Integration(t, "keepalived", "sysctl")
	for _, f := range families() {
		t.Run(f.name, func(t *testing.T) {
			p := newPair(t, seesawdSpeaker(t), nettopo.Keepalived{}, f.vip, nettopo.ChecksumRFC5798)
			p.failover()
		})
	}
}

// TestIntegrationKeepalivedMasterSeesawBackup runs keepalived as the higher
// priority node and seesawd as its backup.
func TestIntegrationKeepalivedMasterSeesawBackup(t *testing.T) {
	testenv.Integration(t, "keepalived", "sysctl")
	for _, f := range families() {
		t.Run(f.name, func(t *testing.T) {
			p := newPair(t, nettopo.Keepalived{}, seesawdSpeaker(t), f.vip, nettopo.ChecksumRFC5798)
			p.failover()
		})
	}
}

// TestIntegrationSeesawPair runs two seesawd, including the IPv4 checksum
// without pseudo-header, which keepalived 2.2.7 cannot send.
func TestIntegrationSeesawPair(t *testing.T) {
	testenv.Integration(t, "sysctl")
	cases := []struct {
		name string
		vip  netip.Prefix
		sum  nettopo.Checksum
	}{
		{"ipv4", nettopo.VIPv4, nettopo.ChecksumRFC5798},
		{"ipv4-no-pseudo-header", nettopo.VIPv4, nettopo.ChecksumIPv4NoPseudoHeader},
		{"ipv6", nettopo.VIPv6, nettopo.ChecksumRFC5798},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := seesawdSpeaker(t)
			p := newPair(t, s, s, c.vip, c.sum)
			p.failover()
		})
	}
}

// TestIntegrationChecksumModeOnTheWire shows that seesawd's
// ipv4-no-pseudo-header mode really changes what it sends: keepalived,
// which only speaks the RFC 5798 checksum, rejects those adverts as
// "Invalid VRRPv3 checksum" and, hearing no valid master, takes the
// address itself. With the RFC 5798 mode the same pair agrees.
func TestIntegrationChecksumModeOnTheWire(t *testing.T) {
	testenv.Integration(t, "keepalived", "sysctl")
	s := seesawdSpeaker(t)
	p := newPair(t, s, nettopo.Keepalived{}, nettopo.VIPv4, nettopo.ChecksumIPv4NoPseudoHeader)
	p.lo.inst.Checksum = nettopo.ChecksumRFC5798 // keepalived has no other mode
	p.start(p.hi)
	p.waitHolder(p.hi, true, masterDown(hiPriority)+3*time.Second, "startup")
	p.start(p.lo)
	deadline := time.Now().Add(masterDown(loPriority) + 3*time.Second)
	for !outputHas(p.lo, "Invalid VRRPv3 checksum") {
		if time.Now().After(deadline) {
			t.Fatalf("keepalived never logged an invalid checksum for seesawd's ipv4-no-pseudo-header adverts")
		}
		p.checkAlive(p.hi, p.lo)
		time.Sleep(50 * time.Millisecond)
	}
	// Deaf to seesawd, keepalived becomes master as well.
	p.waitHolder(p.lo, false, masterDown(loPriority)+2*time.Second, "keepalived ignoring bad checksums")
}

// TestIntegrationNoPreempt checks that a returning higher priority node
// with preemption off leaves the address where it is, across
// implementations.
func TestIntegrationNoPreempt(t *testing.T) {
	testenv.Integration(t, "keepalived", "sysctl")
	cases := []struct {
		name   string
		hi, lo func(t *testing.T) nettopo.Speaker
	}{
		{"keepalived-keepalived", keepalived, keepalived},
		{"seesawd-keepalived", seesawdSpeaker, keepalived},
		{"keepalived-seesawd", keepalived, seesawdSpeaker},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, c.hi(t), c.lo(t), nettopo.VIPv4, nettopo.ChecksumRFC5798)
			p.noPreempt()
		})
	}
}

func keepalived(*testing.T) nettopo.Speaker { return nettopo.Keepalived{} }
