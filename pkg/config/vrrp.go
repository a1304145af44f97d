package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/seesawd/seesawd/pkg/vrrp"
)

// VRRPInstance is one virtual router. Its virtual IPs may mix IPv4 and IPv6: each
// family runs as its own VRRPv3 instance with the same VRID, failing over together.
type VRRPInstance struct {
	Name      string `mapstructure:"name"`
	Interface string `mapstructure:"interface"`
	VRID      int    `mapstructure:"vrid"`
	// Priority defaults to 100.
	Priority *int `mapstructure:"priority"`
	// AdvertInterval defaults to 1s.
	AdvertInterval time.Duration `mapstructure:"advert_interval"`
	// Preempt defaults to true.
	Preempt      *bool         `mapstructure:"preempt"`
	PreemptDelay time.Duration `mapstructure:"preempt_delay"`
	// Accept defaults to true.
	Accept *bool `mapstructure:"accept"`
	// AcceptAddressMismatch lets an advertisement whose address list differs
	// from ours decide elections (RFC behaviour). Off by default: another
	// cluster reusing the VRID must not take the VIP away.
	AcceptAddressMismatch bool     `mapstructure:"accept_address_mismatch"`
	UnicastPeers          []string `mapstructure:"unicast_peers"`
	// Checksum is rfc5798 (default) or ipv4-no-pseudo-header.
	Checksum        string           `mapstructure:"checksum"`
	GARP            GARP             `mapstructure:"garp"`
	TrackInterfaces []TrackInterface `mapstructure:"track_interfaces"`
	VirtualIPs      []string         `mapstructure:"virtual_ips"`
}

// GARP configures announcements on becoming master (defaults: 3 every 100ms, no refresh).
type GARP struct {
	Count    *int          `mapstructure:"count"`
	Interval time.Duration `mapstructure:"interval"`
	Refresh  time.Duration `mapstructure:"refresh"`
}

// TrackInterface is an interface whose loss faults the instance (weight 0) or lowers
// its priority by weight.
type TrackInterface struct {
	Name   string `mapstructure:"name"`
	Weight int    `mapstructure:"weight"`
}

// SyncGroup lists instances that fail over together.
type SyncGroup struct {
	Name      string   `mapstructure:"name"`
	Instances []string `mapstructure:"instances"`
}

const (
	maxInterval  = vrrp.MaxInterval * 10 * time.Millisecond
	intervalStep = 10 * time.Millisecond
	// maxVIPs is how many addresses of one family an advertisement carries.
	maxVIPs = 255
)

func (c *Config) validateVRRP(v *validator) {
	type vridKey struct {
		ifname string
		fam    vrrp.Family
		vrid   int
	}
	vrids := map[vridKey]string{}
	names := map[string]bool{}
	for i := range c.VRRP {
		in := &c.VRRP[i]
		p := fmt.Sprintf("vrrp[%d]", i)
		if in.Name == "" {
			v.bad(p+".name", "required")
		} else if names[in.Name] {
			v.bad(p+".name", "%q used by another instance", in.Name)
		}
		names[in.Name] = true
		if in.Interface == "" {
			v.bad(p+".interface", "required")
		}
		if in.VRID < 1 || in.VRID > 255 {
			v.bad(p+".vrid", "%d out of range 1-255", in.VRID)
		}
		if in.Priority == nil {
			in.Priority = ptr(100)
		}
		if *in.Priority < 1 || *in.Priority > 255 {
			v.bad(p+".priority", "%d out of range 1-255", *in.Priority)
		}
		if in.AdvertInterval == 0 {
			in.AdvertInterval = time.Second
		}
		if in.AdvertInterval < intervalStep || in.AdvertInterval > maxInterval || in.AdvertInterval%intervalStep != 0 {
			v.bad(p+".advert_interval", "%v is not a multiple of 10ms between 10ms and 40.95s", in.AdvertInterval)
		}
		if in.Preempt == nil {
			in.Preempt = ptr(true)
		}
		if in.PreemptDelay < 0 {
			v.bad(p+".preempt_delay", "%v is negative", in.PreemptDelay)
		}
		if in.Accept == nil {
			in.Accept = ptr(true)
		}
		if in.Checksum == "" {
			in.Checksum = vrrp.ChecksumRFC5798.String()
		}
		if _, err := checksumMode(in.Checksum); err != nil {
			v.bad(p+".checksum", "%v", err)
		}
		if in.GARP.Count == nil {
			in.GARP.Count = ptr(3)
		}
		if *in.GARP.Count < 0 {
			v.bad(p+".garp.count", "%d is negative", *in.GARP.Count)
		}
		if in.GARP.Interval == 0 {
			in.GARP.Interval = 100 * time.Millisecond
		}
		if in.GARP.Interval < 0 {
			v.bad(p+".garp.interval", "%v is negative", in.GARP.Interval)
		}
		if in.GARP.Refresh < 0 {
			v.bad(p+".garp.refresh", "%v is negative", in.GARP.Refresh)
		}
		for j, t := range in.TrackInterfaces {
			tp := fmt.Sprintf("%s.track_interfaces[%d]", p, j)
			if t.Name == "" {
				v.bad(tp+".name", "required")
			}
			if t.Weight < 0 || t.Weight > 254 {
				v.bad(tp+".weight", "%d out of range 0-254", t.Weight)
			}
		}
		fams := map[vrrp.Family]int{}
		if len(in.VirtualIPs) == 0 {
			v.bad(p+".virtual_ips", "at least one address required")
		}
		seen := map[netip.Addr]bool{}
		for j, s := range in.VirtualIPs {
			pfx, err := parsePrefix(s)
			if err != nil {
				v.bad(fmt.Sprintf("%s.virtual_ips[%d]", p, j), "%q is not an address: %v", s, err)
				continue
			}
			if seen[pfx.Addr()] {
				v.bad(fmt.Sprintf("%s.virtual_ips[%d]", p, j), "%v listed twice", pfx.Addr())
			}
			seen[pfx.Addr()] = true
			fams[vrrp.FamilyOf(pfx.Addr())]++
		}
		for f, n := range fams {
			if n > maxVIPs {
				v.bad(p+".virtual_ips", "%d %v addresses; one VRRP advertisement carries at most %d", n, f, maxVIPs)
			}
		}
		for j, s := range in.UnicastPeers {
			a, err := netip.ParseAddr(s)
			if err != nil {
				v.bad(fmt.Sprintf("%s.unicast_peers[%d]", p, j), "%q is not an address", s)
				continue
			}
			if fams[vrrp.FamilyOf(a)] == 0 && len(fams) > 0 {
				v.bad(fmt.Sprintf("%s.unicast_peers[%d]", p, j), "%v has no virtual IP of its family", a)
			}
		}
		for _, f := range []vrrp.Family{vrrp.IPv4, vrrp.IPv6} {
			if fams[f] == 0 || in.Interface == "" || in.VRID < 1 || in.VRID > 255 {
				continue
			}
			k := vridKey{in.Interface, f, in.VRID}
			if other, dup := vrids[k]; dup {
				v.bad(p+".vrid", "%d already used on %s for %v by %s", in.VRID, in.Interface, f, other)
			}
			vrids[k] = p
		}
	}
	inGroup := map[string]string{}
	for i, g := range c.SyncGroups {
		p := fmt.Sprintf("sync_groups[%d]", i)
		if g.Name == "" {
			v.bad(p+".name", "required")
		}
		for j, n := range g.Instances {
			ip := fmt.Sprintf("%s.instances[%d]", p, j)
			if !names[n] {
				v.bad(ip, "unknown instance %q", n)
			} else if other, dup := inGroup[n]; dup {
				v.bad(ip, "instance %q is already in %s", n, other)
			}
			inGroup[n] = p
		}
	}
	if len(v.probs) > 0 {
		return
	}
	// pkg/vrrp's own checks are what vrrp.New applies at start: run them
	// here too, so a file --check-config accepts always starts.
	insts, groups := c.VRRPInstances()
	if err := (&vrrp.Config{Instances: insts, SyncGroups: groups}).Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			v.bad("vrrp", "%s", line)
		}
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return netip.PrefixFrom(p.Addr(), p.Bits()), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func checksumMode(s string) (vrrp.ChecksumMode, error) {
	switch s {
	case vrrp.ChecksumRFC5798.String():
		return vrrp.ChecksumRFC5798, nil
	case vrrp.ChecksumIPv4NoPseudoHeader.String():
		return vrrp.ChecksumIPv4NoPseudoHeader, nil
	}
	return 0, fmt.Errorf("%q is not rfc5798 or ipv4-no-pseudo-header", s)
}

// VRRPInstances returns the protocol instances (one per family of each configured instance)
// and sync groups of a validated Config.
func (c *Config) VRRPInstances() ([]vrrp.InstanceConfig, []vrrp.SyncGroup) {
	var out []vrrp.InstanceConfig
	for _, in := range c.VRRP {
		mode, _ := checksumMode(in.Checksum)
		base := vrrp.InstanceConfig{
			Name:           in.Name,
			Interface:      in.Interface,
			VRID:           uint8(in.VRID),
			Priority:       uint8(*in.Priority),
			AdvertInterval: in.AdvertInterval,
			Preempt:        *in.Preempt,
			PreemptDelay:   in.PreemptDelay,
			Accept:         *in.Accept,
			Checksum:       mode,

			AcceptAddressMismatch: in.AcceptAddressMismatch,
			GARP:                  vrrp.GARPConfig{Count: *in.GARP.Count, Interval: in.GARP.Interval, Refresh: in.GARP.Refresh},
		}
		for _, t := range in.TrackInterfaces {
			base.TrackInterfaces = append(base.TrackInterfaces, vrrp.TrackInterface{Name: t.Name, Weight: t.Weight})
		}
		for _, f := range []vrrp.Family{vrrp.IPv4, vrrp.IPv6} {
			ic := base
			ic.Family = f
			ic.TrackInterfaces = append([]vrrp.TrackInterface(nil), base.TrackInterfaces...)
			for _, s := range in.VirtualIPs {
				if p, err := parsePrefix(s); err == nil && vrrp.FamilyOf(p.Addr()) == f {
					ic.VirtualIPs = append(ic.VirtualIPs, p)
				}
			}
			for _, s := range in.UnicastPeers {
				if a, err := netip.ParseAddr(s); err == nil && vrrp.FamilyOf(a) == f {
					ic.UnicastPeers = append(ic.UnicastPeers, a)
				}
			}
			if len(ic.VirtualIPs) > 0 {
				out = append(out, ic)
			}
		}
	}
	var groups []vrrp.SyncGroup
	for _, g := range c.SyncGroups {
		groups = append(groups, vrrp.SyncGroup{Name: g.Name, Instances: append([]string(nil), g.Instances...)})
	}
	return out, groups
}

// vipHolders returns every virtual address the VRRP instances hold.
func (c *Config) vipHolders() map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, in := range c.VRRP {
		for _, s := range in.VirtualIPs {
			if p, err := parsePrefix(s); err == nil {
				out[p.Addr()] = in.Name
			}
		}
	}
	return out
}
