package engine

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

// Config is the engine's whole desired configuration. It is a validated
// value (pkg/config builds it) and is swapped as one: the engine never holds
// half of one configuration and half of another.
type Config struct {
	Services []Service
	// ResyncInterval is how often the kernel is read again and drift repaired.
	ResyncInterval time.Duration
	// Timeouts are the IPVS connection timeouts to set; a zero field leaves
	// the kernel's value alone.
	Timeouts ipvs.Timeouts
	// RemoveOnStop deletes every owned service when the engine stops.
	RemoveOnStop bool
	// CheckMarks is the range of firewall marks the engine gives the
	// per-backend services of through_vip checks.
	CheckMarks MarkRange
}

// MarkRange is an inclusive range of firewall marks.
type MarkRange struct{ First, Last uint32 }

// Contains reports whether m is in the range.
func (r MarkRange) Contains(m uint32) bool { return m >= r.First && m <= r.Last }

// OnFailure is what happens to a backend whose health check fails.
type OnFailure uint8

const (
	// FailRemove deletes the failed backend from the kernel (keepalived's
	// default): its established connections break on their next packet.
	FailRemove OnFailure = iota
	// FailWeight0 keeps the failed backend at weight 0 (keepalived's
	// inhibit_on_failure): no new connections, established ones finish.
	FailWeight0
)

// String returns the configuration name.
func (f OnFailure) String() string {
	switch f {
	case FailRemove:
		return "remove"
	case FailWeight0:
		return "weight0"
	}
	return fmt.Sprintf("OnFailure(%d)", uint8(f))
}

// Service is one virtual service and its backends.
type Service struct {
	// Name is unique; logs, metrics and seesawctl use it.
	Name string
	// IPVS is the kernel service: its identity (Key) and its scheduler,
	// flags, persistence timeout, netmask and persistence engine.
	IPVS ipvs.Service
	// Backends are the real servers, in configuration order.
	Backends []Backend
	// Quorum is how many healthy backends the service needs to be up.
	Quorum int
	// Hysteresis widens the quorum line as keepalived's does: a service that
	// is up goes down below Quorum-Hysteresis healthy backends, and one that
	// is down comes up at Quorum+Hysteresis.
	Hysteresis int
	// UpDelay is how long a service that went down must hold its quorum
	// before it is up again; going down is immediate.
	UpDelay time.Duration
	// Sorry, when set, takes new connections while the service is down.
	Sorry *ipvs.Destination
	// OnFailure says what a failed backend becomes in the kernel.
	OnFailure OnFailure
	// DrainTimeout bounds how long a backend leaving the service (removed
	// from the configuration, drained) stays at weight 0 waiting for its
	// connections to end before it is deleted; 0 deletes at once.
	DrainTimeout time.Duration
	// Track, when set, lowers a VRRP instance's priority while the service
	// is down.
	Track *Track
	// Announce puts the VIP in the set the engine reports to
	// Options.OnAnnounce (BGP) while the service is up.
	Announce bool
	// Fingerprint, when not empty, names what the service was built from
	// (pkg/config: its text and the rest of the file's): a service of the
	// same name and fingerprint in the next configuration is equal to this
	// one in every field, so a reload skips its checks' rebuild and its
	// reconcile (its kernel state and health are unchanged by the reload;
	// resyncs and retries still cover it). Empty: always handled as changed.
	Fingerprint string
}

// Track names VRRP instances and how much to lower their priority.
type Track struct {
	// Instance is the configured instance; Instances are every instance
	// lowered with it: its sync group's members too, which must fail over
	// together (lowering one member alone makes the group flap between
	// nodes, each node's other members pulling it back).
	Instance  string
	Instances []string
	Weight    int
}

// Backend is one real server of a Service.
type Backend struct {
	// Dest is the kernel destination: address, port, forwarding method,
	// weight, thresholds and tunnel settings.
	Dest ipvs.Destination
	// Drain keeps the backend at weight 0 (configured, not from a check).
	Drain bool
	// Check is the backend's health check, or nil for a backend that is
	// always up. Its Target is the backend itself; with ThroughVIP the
	// engine points it at the VIP through a per-backend fwmark service.
	Check *healthcheck.Definition
	// ThroughVIP sends the check through IPVS to the VIP, so it proves the
	// backend serves the VIP (direct routing and tunnel services).
	ThroughVIP bool
}

// BackendKey identifies a backend within a service.
type BackendKey struct {
	Service string
	Addr    netip.AddrPort
}

// String returns "web/10.0.1.10:8080".
func (k BackendKey) String() string { return k.Service + "/" + k.Addr.String() }

// Key returns the backend's key within the named service.
func (b *Backend) Key(service string) BackendKey {
	return BackendKey{Service: service, Addr: netip.AddrPortFrom(b.Dest.Address.Unmap(), b.Dest.Port)}
}
