package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/seesawd/seesawd/pkg/clock"
	"go.uber.org/zap"
)

// InstanceConfig configures one protocol instance (one VRID, one family, one interface).
type InstanceConfig struct {
	// Name identifies the instance in events, logs and AdjustPriority. The IPv4 and
	// IPv6 instances of one configured virtual router share a name and fail over together.
	Name      string
	Family    Family
	Interface string
	VRID      uint8
	// Priority is 1-254, or 255 for the address owner.
	Priority uint8
	// AdvertInterval is a multiple of 10ms up to 40.95s.
	AdvertInterval time.Duration
	// Preempt lets a higher priority backup take over from a lower priority master.
	// RFC 5798 and pkg/config default it to true.
	Preempt bool
	// PreemptDelay holds preemption off until a lower priority master has been seen that long.
	PreemptDelay time.Duration
	// Accept is RFC 5798 Accept_Mode. When it is false and the instance is not the
	// address owner (priority 255), the Node, while master, drops incoming IP packets
	// addressed to the virtual addresses through Network.AcceptFilter (on Linux an
	// nftables table, see FilterTable); ARP and IPv6 neighbour discovery for them are
	// still answered. pkg/config defaults it to true.
	Accept bool
	// UnicastPeers replaces the multicast group with these destinations and only
	// accepts advertisements from them. Each advertisement goes to every peer: a
	// peer that cannot be reached is counted and logged, never skipped for the rest.
	UnicastPeers []netip.Addr
	Checksum     ChecksumMode
	GARP         GARPConfig
	// TrackInterfaces puts the instance in Fault (Weight 0) or lowers its priority by
	// Weight while one of them is down.
	TrackInterfaces []TrackInterface
	// VirtualIPs are all of Family.
	VirtualIPs []netip.Prefix
	// AcceptAddressMismatch restores RFC 5798 behaviour for advertisements whose
	// address list differs from VirtualIPs: they are then processed like any other.
	// By default they are discarded (DropAddresses), counted and logged, so a
	// router of another cluster that reuses the VRID cannot take the addresses
	// away (RFC 5798 section 7.1 lets a receiver check the list). Either way every
	// mismatch counts in Counters.AddressMismatches.
	AcceptAddressMismatch bool
}

// GARPConfig configures the announcements a new master sends: Count gratuitous ARPs
// (both request and reply forms) or unsolicited neighbour advertisements per address,
// Interval apart, then one more every Refresh (0 = never).
type GARPConfig struct {
	Count    int
	Interval time.Duration
	Refresh  time.Duration
}

// TrackInterface is an interface whose state affects an instance.
type TrackInterface struct {
	Name   string
	Weight int
}

// SyncGroup names instances (by InstanceConfig.Name) that fail over together.
type SyncGroup struct {
	Name      string
	Instances []string
}

// Config configures a Node.
type Config struct {
	Instances  []InstanceConfig
	SyncGroups []SyncGroup
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// Clock defaults to clock.System{}.
	Clock clock.Clock
	// Network defaults to the Linux kernel of the namespace Run is called in.
	Network Network

	// EventBuffer is the capacity of the Events channel (default 256). When the
	// channel is full the oldest events are dropped and counted, never blocking
	// the protocol; Event.Seq and States tell a consumer what it missed.
	EventBuffer int
}

// Validate checks one instance and returns every problem joined.
func (c *InstanceConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vrrp: instance %q: "+format, append([]any{c.Name}, args...)...))
	}
	if c.Name == "" {
		bad("empty name")
	}
	if c.Family != IPv4 && c.Family != IPv6 {
		bad("family %v", c.Family)
	}
	if c.Interface == "" {
		bad("empty interface")
	}
	if c.VRID == 0 {
		bad("vrid 0 out of range 1-255")
	}
	if c.Priority == 0 {
		bad("priority 0 out of range 1-255")
	}
	if c.AdvertInterval < 10*time.Millisecond || c.AdvertInterval > MaxInterval*10*time.Millisecond ||
		c.AdvertInterval%(10*time.Millisecond) != 0 {
		bad("advert interval %v is not a multiple of 10ms in 10ms-40.95s", c.AdvertInterval)
	}
	if c.PreemptDelay < 0 {
		bad("negative preempt delay")
	}
	for _, p := range c.UnicastPeers {
		if FamilyOf(p) != c.Family {
			bad("unicast peer %v is not %v", p, c.Family)
		}
	}
	if len(c.VirtualIPs) > 255 {
		bad("%d virtual IPs, at most 255", len(c.VirtualIPs))
	}
	for _, p := range c.VirtualIPs {
		if !p.IsValid() || FamilyOf(p.Addr()) != c.Family {
			bad("virtual IP %v is not %v", p, c.Family)
		}
	}
	if c.GARP.Count < 0 || c.GARP.Interval < 0 || c.GARP.Refresh < 0 {
		bad("negative garp setting")
	}
	for _, t := range c.TrackInterfaces {
		if t.Name == "" || t.Weight < 0 || t.Weight > 254 {
			bad("track interface %q weight %d (want a name and 0-254)", t.Name, t.Weight)
		}
	}
	return errors.Join(errs...)
}

// Validate checks every instance, the uniqueness of (interface, family, VRID)
// and of (name, family), and the sync groups.
func (c *Config) Validate() error {
	var errs []error
	type key struct {
		ifname string
		fam    Family
		vrid   uint8
	}
	seen := map[key]string{}
	ids := map[InstanceID]bool{}
	names := map[string]bool{}
	for i := range c.Instances {
		ic := &c.Instances[i]
		if err := ic.Validate(); err != nil {
			errs = append(errs, err)
		}
		k := key{ic.Interface, ic.Family, ic.VRID}
		if other, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("vrrp: instances %q and %q both use vrid %d for %v on %s",
				other, ic.Name, ic.VRID, ic.Family, ic.Interface))
		}
		seen[k] = ic.Name
		id := InstanceID{ic.Name, ic.Family}
		if ids[id] {
			errs = append(errs, fmt.Errorf("vrrp: instance %v defined twice", id))
		}
		ids[id] = true
		names[ic.Name] = true
	}
	grouped := map[string]string{}
	for _, g := range c.SyncGroups {
		for _, n := range g.Instances {
			if !names[n] {
				errs = append(errs, fmt.Errorf("vrrp: sync group %q: unknown instance %q", g.Name, n))
			}
			if other, dup := grouped[n]; dup {
				errs = append(errs, fmt.Errorf("vrrp: sync group %q: instance %q is already in group %q", g.Name, n, other))
				continue
			}
			grouped[n] = g.Name
		}
	}
	return errors.Join(errs...)
}
