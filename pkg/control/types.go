package control

import (
	"fmt"
	"net/netip"
	"time"
)

// Status is the whole state of a node: the answer to "status". Every read
// command of seesawctl renders a part of it.
type Status struct {
	// Node is the configured node name.
	Node string `json:"node"`
	// Version is seesawd's build.
	Version string    `json:"version"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	// Time is when the status was taken.
	Time time.Time `json:"time"`
	// Ready is false while seesawd starts: it has not programmed the
	// kernel's services yet.
	Ready  bool       `json:"ready"`
	Config ConfigInfo `json:"config"`
	// IPVS is false on a node that runs VRRP only (the kernel has no IPVS
	// and no services are configured).
	IPVS     bool       `json:"ipvs"`
	VRRP     []Instance `json:"vrrp"`
	Services []Service  `json:"services"`
	// Leaving are services removed from the configuration, draining away
	// from the kernel ("tcp 192.0.2.100:80").
	Leaving   []string  `json:"leaving,omitempty"`
	Reconcile Reconcile `json:"reconcile"`
	// NodeDrained is seesawctl drain-node's drain: every BGP announcement
	// withdrawn, IPVS still serving established flows.
	NodeDrained bool `json:"node_drained"`
	// BGP is the speaker and the sync daemons (nil when neither runs).
	BGP *BGP `json:"bgp,omitempty"`
}

// ConfigInfo says which configuration runs.
type ConfigInfo struct {
	Path string `json:"path"`
	// Hash is the SHA-256 of the running configuration, hex.
	Hash string `json:"hash"`
	// Loaded is when it was loaded (at start or by the last reload that
	// applied).
	Loaded time.Time `json:"loaded"`
}

// Reconcile describes the engine's last reconcile that changed something
// or failed, and its last success.
type Reconcile struct {
	// Reason is what started it: "start", "reload", "health", "resync",
	// "drain", "retry", "quorum".
	Reason      string    `json:"reason,omitempty"`
	Ops         int       `json:"ops"`
	Errors      int       `json:"errors"`
	Took        Duration  `json:"took"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastError is the last reconcile's error, "" when it succeeded.
	LastError string `json:"last_error,omitempty"`
}

// Instance is one VRRP instance of one address family.
type Instance struct {
	Name string `json:"name"`
	// Family is "ipv4" or "ipv6".
	Family    string `json:"family"`
	Interface string `json:"interface"`
	VRID      uint8  `json:"vrid"`
	// State is "initialize", "backup", "master" or "fault".
	State string `json:"state"`
	// Priority is the effective priority: configured, adjusted by tracked
	// interfaces and services.
	Priority uint8 `json:"priority"`
	// Master is the address of the last master heard (backup) or ours (master).
	Master string   `json:"master,omitempty"`
	Faults []string `json:"faults,omitempty"`
	// Since and Reason are those of the last transition, when known.
	Since           time.Time `json:"since,omitzero"`
	Reason          string    `json:"reason,omitempty"`
	Transitions     uint64    `json:"transitions"`
	AdvertsSent     uint64    `json:"adverts_sent"`
	AdvertsReceived uint64    `json:"adverts_received"`
	// Drops counts discarded packets, whatever the reason.
	Drops      uint64 `json:"drops"`
	SendErrors uint64 `json:"send_errors"`
}

// Service is one configured virtual service.
type Service struct {
	Name string `json:"name"`
	// Key is the kernel's identity of the service as ipvsadm writes it:
	// "tcp 192.0.2.100:80" or "fwmark 7 inet".
	Key       string `json:"key"`
	Protocol  string `json:"protocol,omitempty"`
	Address   string `json:"address,omitempty"`
	Port      uint16 `json:"port,omitempty"`
	FWMark    uint32 `json:"fwmark,omitempty"`
	Scheduler string `json:"scheduler,omitempty"`
	// State is "pending" (not enough checks have reported), "up" (the
	// service has its quorum) or "down".
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	// Healthy counts the backends that take new connections: healthy, not
	// drained, weight above 0. Total counts the configured backends.
	Healthy int `json:"healthy"`
	Total   int `json:"total"`
	Quorum  int `json:"quorum"`
	// InKernel says whether the kernel holds the service.
	InKernel bool `json:"in_kernel"`
	// SorryActive says the sorry server takes the new connections.
	SorryActive bool `json:"sorry_active"`
	// Track is the VRRP instance whose priority drops while the service is down.
	Track    string    `json:"track,omitempty"`
	Backends []Backend `json:"backends"`
}

// Backend is one real server of a service.
type Backend struct {
	// Address is "10.0.1.11:8080" or "[2001:db8::11]:8080".
	Address string `json:"address"`
	// Forward is "masq", "route", "tunnel" or "local".
	Forward string `json:"forward,omitempty"`
	// Health is "up", "down" or "unknown"; a backend without a check is up.
	Health string `json:"health"`
	// Weight is the configured weight; KernelWeight what the kernel holds,
	// meaningful when InKernel.
	Weight       uint32 `json:"weight"`
	InKernel     bool   `json:"in_kernel"`
	KernelWeight uint32 `json:"kernel_weight"`
	// Drained is "config" (drain: true in the file), "runtime" (seesawctl
	// drain, kept across reloads and restarts) or "".
	Drained       string `json:"drained,omitempty"`
	ActiveConns   uint32 `json:"active_conns"`
	InactiveConns uint32 `json:"inactive_conns"`
	// Leaving says the backend left the configuration and drains away.
	Leaving bool `json:"leaving,omitempty"`
	// Check is the backend's health check; nil without one.
	Check *Check `json:"check,omitempty"`
}

// Check is the state of a backend's health check.
type Check struct {
	// Type is "tcp", "http", "https", "udp", "dns" or "icmp".
	Type string `json:"type"`
	// State is the dampened state: "up", "down" or "unknown".
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	// Last is the most recent result, nil before the first.
	Last            *CheckResult `json:"last,omitempty"`
	ConsecutiveOK   int          `json:"consecutive_ok"`
	ConsecutiveFail int          `json:"consecutive_fail"`
	Runs            uint64       `json:"runs"`
	Failures        uint64       `json:"failures"`
}

// CheckResult is one run of a check.
type CheckResult struct {
	Time time.Time `json:"time"`
	OK   bool      `json:"ok"`
	// Outcome is "ok", "timeout", "refused", "unreachable", "mismatch",
	// "tls", "reset" or "other".
	Outcome string   `json:"outcome"`
	Latency Duration `json:"latency"`
	Error   string   `json:"error,omitempty"`
	// Detail is a short note: an HTTP status line, an RTT.
	Detail string `json:"detail,omitempty"`
}

// DrainResult answers "drain" and "undrain".
type DrainResult struct {
	Service string `json:"service"`
	Backend string `json:"backend"`
	// Drained is the backend's drain after the request: "runtime",
	// "config" or "".
	Drained string `json:"drained,omitempty"`
	// Changed is false when the backend already was as asked.
	Changed bool `json:"changed"`
}

// Reload outcomes.
const (
	ReloadApplied   = "applied"
	ReloadUnchanged = "unchanged"
	ReloadRefused   = "refused"
	// ReloadPartial means the VRRP changes applied and the services were
	// refused.
	ReloadPartial = "partial"
)

// ReloadResult answers "reload": what the SIGHUP path did with the file.
type ReloadResult struct {
	// Outcome is "applied", "unchanged", "refused" or "partial".
	Outcome string `json:"outcome"`
	// Problems are why the file was refused, "file:line: path: message".
	Problems []string `json:"problems,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Hash     string   `json:"hash,omitempty"`
	Took     Duration `json:"took"`
}

// Failed reports whether the reload left (part of) the new file unapplied.
func (r *ReloadResult) Failed() bool {
	return r.Outcome != ReloadApplied && r.Outcome != ReloadUnchanged
}

// Duration is a time.Duration written in JSON as Go writes durations:
// "1.5ms", "3m12s".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("control: duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// BGP is the node's BGP speaker and connection sync: what `seesawctl bgp`
// shows.
type BGP struct {
	// Enabled is false without a bgp section; the speaker fields are then
	// empty (SyncDaemons may not be).
	Enabled  bool       `json:"enabled"`
	ASN      uint32     `json:"asn,omitempty"`
	RouterID netip.Addr `json:"router_id,omitzero"`
	Peers    []BGPPeer  `json:"peers,omitempty"`
	// Announced are the prefixes sent to every established peer of their
	// family.
	Announced []netip.Prefix `json:"announced"`
	// Requested are the VIPs whose services are up; Withheld says why they
	// are not announced ("drained" by bgp.drain, "engine loop stalled",
	// "stopping"); NodeDrained is seesawctl drain-node's run-time drain,
	// under which the engine requests nothing.
	Requested   []netip.Addr `json:"requested"`
	Withheld    string       `json:"withheld,omitempty"`
	NodeDrained bool         `json:"node_drained"`
	// SyncDaemons are the IPVS sync daemons started: "master on eth1,
	// sync_id 51".
	SyncDaemons []string `json:"sync_daemons,omitempty"`
}

// BGPPeer is one BGP session.
type BGPPeer struct {
	Address netip.Addr `json:"address"`
	ASN     uint32     `json:"asn"`
	// State is the session's FSM state ("established", "active", ...).
	State string `json:"state"`
	// Uptime is how long the session has been in State.
	Uptime           Duration `json:"uptime"`
	PrefixesSent     uint64   `json:"prefixes_sent"`
	PrefixesReceived uint64   `json:"prefixes_received_rejected"`
	Flaps            int      `json:"flaps"`
	LastError        string   `json:"last_error,omitempty"`
	// RetryAt is when a session held back after errors is tried again.
	RetryAt time.Time `json:"retry_at,omitzero"`
}

// NodeDrainResult answers "drain-node" and "undrain-node".
type NodeDrainResult struct {
	// Drained is the node's drain after the request; Changed is false
	// when it was so already.
	Drained bool `json:"drained"`
	Changed bool `json:"changed"`
	// BGP is false on a node without a bgp section: the drain is kept
	// (and survives restarts) but there is nothing to withdraw.
	BGP bool `json:"bgp"`
}
