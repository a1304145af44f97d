// Package config loads and validates the seesawd YAML configuration.
//
// Loading is parse, validate, return: Load returns a complete Config or one
// *Error naming every problem by its field path (vrrp[0].vrid: ...), and never
// a half-valid value. The file's shape is the daemon's contract:
//
//	node: { name: lb1 }                       # default: hostname
//	log: { level: info, format: auto }        # auto = console on a tty, json otherwise
//	vrrp:
//	  - name: front
//	    interface: eth0
//	    vrid: 51
//	    priority: 150                         # 1-255
//	    advert_interval: 100ms                # 10ms steps, up to 40.95s
//	    preempt: true
//	    preempt_delay: 0s
//	    accept: true
//	    unicast_peers: []                     # empty = multicast
//	    checksum: rfc5798                     # or ipv4-no-pseudo-header
//	    garp: { count: 3, interval: 100ms, refresh: 0s }
//	    track_interfaces: [{ name: eth1, weight: 0 }]   # weight 0 = fault when down
//	    virtual_ips: [192.0.2.100/24, "2001:db8::100/64"]
//	sync_groups: [{ name: g1, instances: [front] }]
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/seesawd/seesawd/pkg/vrrp"
)

// Config is the whole daemon configuration.
type Config struct {
	Node       Node           `mapstructure:"node"`
	Log        Log            `mapstructure:"log"`
	VRRP       []VRRPInstance `mapstructure:"vrrp"`
	SyncGroups []SyncGroup    `mapstructure:"sync_groups"`
}

// Node identifies this load balancer.
type Node struct {
	// Name defaults to the hostname.
	Name string `mapstructure:"name"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error (default info).
	Level string `mapstructure:"level"`
	// Format is auto (console on a terminal, json otherwise), console or json.
	Format string `mapstructure:"format"`
}

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
	Accept       *bool    `mapstructure:"accept"`
	UnicastPeers []string `mapstructure:"unicast_peers"`
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

// Problem is one configuration error at a field path.
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Error lists every problem found in a configuration.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	fmt.Fprintf(&b, "%d problem(s)", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// Load reads, parses and validates the YAML file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	var ce *Error
	if errors.As(err, &ce) {
		ce.File = path
	}
	return c, err
}

// Parse parses and validates a YAML document.
func Parse(data []byte) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, &Error{Problems: []Problem{{Msg: "yaml: " + err.Error()}}}
	}
	var c Config
	var probs []Problem
	err := v.UnmarshalExact(&c, func(dc *mapstructure.DecoderConfig) {
		dc.WeaklyTypedInput = false
		dc.DecodeHook = mapstructure.StringToTimeDurationHookFunc()
	})
	if err != nil {
		probs = append(probs, decodeProblems(err)...)
	}
	probs = append(probs, c.defaultsAndValidate()...)
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Path < probs[j].Path })
		return nil, &Error{Problems: probs}
	}
	return &c, nil
}

// decodeProblems turns mapstructure's joined errors into problems with paths.
func decodeProblems(err error) []Problem {
	var out []Problem
	var walk func(error)
	walk = func(err error) {
		if de, ok := err.(*mapstructure.DecodeError); ok {
			msg := de.Unwrap().Error()
			if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
				for _, k := range strings.Split(keys, ", ") {
					out = append(out, Problem{Path: joinPath(de.Name(), k), Msg: "unknown key"})
				}
				return
			}
			out = append(out, Problem{Path: de.Name(), Msg: msg})
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if u := errors.Unwrap(err); u != nil {
			walk(u)
			return
		}
		out = append(out, Problem{Msg: err.Error()})
	}
	walk(err)
	return out
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

const (
	maxInterval  = vrrp.MaxInterval * 10 * time.Millisecond
	intervalStep = 10 * time.Millisecond
)

// defaultsAndValidate fills defaults in place and returns every problem.
func (c *Config) defaultsAndValidate() []Problem {
	var probs []Problem
	bad := func(path, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Node.Name == "" {
		if h, err := os.Hostname(); err == nil {
			c.Node.Name = h
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
	switch c.Log.Format {
	case "auto", "console", "json":
	default:
		bad("log.format", "%q is not one of auto, console, json", c.Log.Format)
	}

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
			bad(p+".name", "required")
		} else if names[in.Name] {
			bad(p+".name", "%q used by another instance", in.Name)
		}
		names[in.Name] = true
		if in.Interface == "" {
			bad(p+".interface", "required")
		}
		if in.VRID < 1 || in.VRID > 255 {
			bad(p+".vrid", "%d out of range 1-255", in.VRID)
		}
		if in.Priority == nil {
			in.Priority = ptr(100)
		}
		if *in.Priority < 1 || *in.Priority > 255 {
			bad(p+".priority", "%d out of range 1-255", *in.Priority)
		}
		if in.AdvertInterval == 0 {
			in.AdvertInterval = time.Second
		}
		if in.AdvertInterval < intervalStep || in.AdvertInterval > maxInterval || in.AdvertInterval%intervalStep != 0 {
			bad(p+".advert_interval", "%v is not a multiple of 10ms between 10ms and 40.95s", in.AdvertInterval)
		}
		if in.Preempt == nil {
			in.Preempt = ptr(true)
		}
		if in.PreemptDelay < 0 {
			bad(p+".preempt_delay", "%v is negative", in.PreemptDelay)
		}
		if in.Accept == nil {
			in.Accept = ptr(true)
		}
		if in.Checksum == "" {
			in.Checksum = vrrp.ChecksumRFC5798.String()
		}
		if _, err := checksumMode(in.Checksum); err != nil {
			bad(p+".checksum", "%v", err)
		}
		if in.GARP.Count == nil {
			in.GARP.Count = ptr(3)
		}
		if *in.GARP.Count < 0 {
			bad(p+".garp.count", "%d is negative", *in.GARP.Count)
		}
		if in.GARP.Interval == 0 {
			in.GARP.Interval = 100 * time.Millisecond
		}
		if in.GARP.Interval < 0 {
			bad(p+".garp.interval", "%v is negative", in.GARP.Interval)
		}
		if in.GARP.Refresh < 0 {
			bad(p+".garp.refresh", "%v is negative", in.GARP.Refresh)
		}
		for j, t := range in.TrackInterfaces {
			tp := fmt.Sprintf("%s.track_interfaces[%d]", p, j)
			if t.Name == "" {
				bad(tp+".name", "required")
			}
			if t.Weight < 0 || t.Weight > 254 {
				bad(tp+".weight", "%d out of range 0-254", t.Weight)
			}
		}
		fams := map[vrrp.Family]bool{}
		if len(in.VirtualIPs) == 0 {
			bad(p+".virtual_ips", "at least one address required")
		}
		seen := map[netip.Addr]bool{}
		for j, s := range in.VirtualIPs {
			pfx, err := parsePrefix(s)
			if err != nil {
				bad(fmt.Sprintf("%s.virtual_ips[%d]", p, j), "%q is not an address: %v", s, err)
				continue
			}
			if seen[pfx.Addr()] {
				bad(fmt.Sprintf("%s.virtual_ips[%d]", p, j), "%v listed twice", pfx.Addr())
			}
			seen[pfx.Addr()] = true
			fams[vrrp.FamilyOf(pfx.Addr())] = true
		}
		for j, s := range in.UnicastPeers {
			a, err := netip.ParseAddr(s)
			if err != nil {
				bad(fmt.Sprintf("%s.unicast_peers[%d]", p, j), "%q is not an address", s)
				continue
			}
			if !fams[vrrp.FamilyOf(a)] && len(fams) > 0 {
				bad(fmt.Sprintf("%s.unicast_peers[%d]", p, j), "%v has no virtual IP of its family", a)
			}
		}
		for _, f := range []vrrp.Family{vrrp.IPv4, vrrp.IPv6} {
			if !fams[f] || in.Interface == "" || in.VRID < 1 || in.VRID > 255 {
				continue
			}
			k := vridKey{in.Interface, f, in.VRID}
			if other, dup := vrids[k]; dup {
				bad(p+".vrid", "%d already used on %s for %v by %s", in.VRID, in.Interface, f, other)
			}
			vrids[k] = p
		}
	}
	inGroup := map[string]string{}
	for i, g := range c.SyncGroups {
		p := fmt.Sprintf("sync_groups[%d]", i)
		if g.Name == "" {
			bad(p+".name", "required")
		}
		for j, n := range g.Instances {
			ip := fmt.Sprintf("%s.instances[%d]", p, j)
			if !names[n] {
				bad(ip, "unknown instance %q", n)
			} else if other, dup := inGroup[n]; dup {
				bad(ip, "instance %q is already in %s", n, other)
			}
			inGroup[n] = p
		}
	}
	return probs
}

func ptr[T any](v T) *T { return &v }

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
			GARP:           vrrp.GARPConfig{Count: *in.GARP.Count, Interval: in.GARP.Interval, Refresh: in.GARP.Refresh},
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
