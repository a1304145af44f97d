package healthcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Definition describes one health check: what to probe, how, and how results
// are dampened. Two checks with equal Definitions are the same check and run
// once, whichever IDs they are registered under.
type Definition struct {
	// Type selects the checker.
	Type Type `json:"type"`
	// Target is the address probed: usually the backend, or another address
	// (the VIP) so the probe follows the load balancer's forwarding path.
	// The port is ignored for ICMP.
	Target netip.AddrPort `json:"target"`
	// Source, when valid, is the local address probes are sent from.
	Source netip.Addr `json:"source,omitzero"`
	// Mark, when non-zero, is set as SO_MARK (fwmark) on the probe socket.
	Mark uint32 `json:"mark,omitempty"`

	// Interval is the time between the starts of two runs.
	Interval time.Duration `json:"interval"`
	// Timeout bounds one run; it must be below Interval.
	Timeout time.Duration `json:"timeout"`
	// Rise is the number of consecutive successes that make a check up.
	Rise int `json:"rise"`
	// Fall is the number of consecutive failures that make a check down.
	Fall int `json:"fall"`
	// Initial is the state a new check starts in. StateUnknown (the
	// default) lets the first result decide; a check that starts in
	// StateDown needs Rise successes to go up, one that starts in StateUp
	// Fall failures to go down.
	Initial State `json:"initial,omitzero"`

	// TCP, HTTP (also for HTTPS), UDP and DNS hold the options of the
	// matching type; at most the one for Type may be set.
	TCP  *TCPOptions  `json:"tcp,omitempty"`
	HTTP *HTTPOptions `json:"http,omitempty"`
	UDP  *UDPOptions  `json:"udp,omitempty"`
	DNS  *DNSOptions  `json:"dns,omitempty"`
}

// TCPOptions are the optional request/response of a TCP check. Without
// them the check is a bare connect.
type TCPOptions struct {
	// Send is written after the connection is established.
	Send []byte `json:"send,omitempty"`
	// Expect is a prefix the reply must start with, of at most 4 KiB.
	Expect []byte `json:"expect,omitempty"`
	// ExpectRegexp, when set, must match the start of the reply (up to 4 KiB).
	ExpectRegexp string `json:"expect_regexp,omitempty"`
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// ParseStatusRanges parses a list like "200-299,301,302".
func ParseStatusRanges(s string) ([]StatusRange, error) {
	var out []StatusRange
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("healthcheck: bad status %q: %w", part, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("healthcheck: bad status %q: %w", part, err)
			}
		}
		out = append(out, StatusRange{a, b})
	}
	if len(out) == 0 {
		return nil, errors.New("healthcheck: empty status list")
	}
	return out, nil
}

// HTTPOptions configure an HTTP or HTTPS check.
type HTTPOptions struct {
	// Method is GET (default) or HEAD.
	Method string `json:"method,omitempty"`
	// Path is the request target, default "/".
	Path string `json:"path,omitempty"`
	// Host is the Host header, default the target address.
	Host string `json:"host,omitempty"`
	// Headers are extra request headers.
	Headers map[string]string `json:"headers,omitempty"`
	// Status lists the accepted status codes, default 200-299.
	Status []StatusRange `json:"status,omitempty"`
	// BodyRegexp, when set, must match the first 64 KiB of the body.
	BodyRegexp string `json:"body_regexp,omitempty"`

	// ServerName is the TLS SNI and verification name, default Host, else the target IP.
	ServerName string `json:"server_name,omitempty"`
	// CAFile is a PEM bundle of roots to verify against, default the system roots.
	CAFile string `json:"ca_file,omitempty"`
	// InsecureSkipVerify turns certificate verification off.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// CertFile and KeyFile are an optional client certificate.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
}

// MatchMode says how a UDP reply is compared with the expected bytes.
type MatchMode uint8

// Match modes.
const (
	MatchAny MatchMode = iota // any reply passes
	MatchExact
	MatchPrefix
	MatchRegexp
)

// String returns the mode's configuration name.
func (m MatchMode) String() string {
	switch m {
	case MatchAny:
		return "any"
	case MatchExact:
		return "exact"
	case MatchPrefix:
		return "prefix"
	case MatchRegexp:
		return "regexp"
	}
	return fmt.Sprintf("MatchMode(%d)", uint8(m))
}

// ParseMatchMode returns the mode named s ("any", "exact", "prefix", "regexp").
func ParseMatchMode(s string) (MatchMode, error) {
	for m := MatchAny; m <= MatchRegexp; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return MatchAny, fmt.Errorf("healthcheck: unknown match mode %q (want any, exact, prefix or regexp)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (m MatchMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *MatchMode) UnmarshalText(b []byte) error {
	v, err := ParseMatchMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// UDPOptions configure a UDP check. A reply is always required: UDP has no
// other proof of life. An ICMP port unreachable fails the check at once.
type UDPOptions struct {
	// Payload is the datagram sent.
	Payload []byte `json:"payload"`
	// Match says how the reply is compared with Expect.
	Match MatchMode `json:"match,omitempty"`
	// Expect is the expected reply, or a regexp when Match is MatchRegexp.
	// The reply is read whole, up to the largest datagram.
	Expect []byte `json:"expect,omitempty"`
}

// DNSOptions configure a DNS check: a query over UDP, asked again over TCP
// when the answer comes back truncated.
type DNSOptions struct {
	// Name is the queried name.
	Name string `json:"name"`
	// QType is the query type, default A.
	QType dnsmessage.Type `json:"qtype,omitempty"`
	// Expect, when not empty, lists addresses of which at least one must be
	// in the answer; otherwise any answer record of QType passes.
	Expect []netip.Addr `json:"expect,omitempty"`
}

// Defaults filled in by Normalize.
const (
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
)

// Normalize returns d with defaults filled in: interval, timeout, HTTP
// method, path and status, DNS query type. Rise and fall are not defaulted:
// zero is a configuration error.
func (d Definition) Normalize() Definition {
	if d.Interval == 0 {
		d.Interval = DefaultInterval
	}
	if d.Timeout == 0 {
		d.Timeout = min(DefaultTimeout, d.Interval/2)
	}
	if d.HTTP != nil && (d.Type == TypeHTTP || d.Type == TypeHTTPS) {
		h := *d.HTTP
		if h.Method == "" {
			h.Method = "GET"
		}
		h.Method = strings.ToUpper(h.Method)
		if h.Path == "" {
			h.Path = "/"
		}
		if len(h.Status) == 0 {
			h.Status = []StatusRange{{200, 299}}
		}
		d.HTTP = &h
	}
	if d.Type == TypeHTTP || d.Type == TypeHTTPS {
		if d.HTTP == nil {
			d.HTTP = &HTTPOptions{Method: "GET", Path: "/", Status: []StatusRange{{200, 299}}}
		}
	}
	if d.Type == TypeICMP {
		// The port means nothing to a ping: keep it out of the key.
		d.Target = netip.AddrPortFrom(d.Target.Addr(), 0)
	}
	if d.DNS != nil && d.DNS.QType == 0 {
		o := *d.DNS
		o.QType = dnsmessage.TypeA
		d.DNS = &o
	}
	return d
}

// Validate reports the first problem with a normalized definition, in a
// message naming the field.
func (d Definition) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("healthcheck: %s: %s", field, fmt.Sprintf(format, args...))
	}
	if d.Type == TypeInvalid || int(d.Type) >= len(typeNames) {
		return bad("type", "unknown check type %d (want tcp, http, https, udp, icmp or dns)", d.Type)
	}
	if !d.Target.Addr().IsValid() {
		return bad("target", "missing target address")
	}
	if d.Type != TypeICMP && d.Target.Port() == 0 {
		return bad("target", "%s check needs a port", d.Type)
	}
	if d.Source.IsValid() && d.Source.Unmap().Is4() != d.Target.Addr().Unmap().Is4() {
		return bad("source", "source %s and target %s are different address families", d.Source, d.Target.Addr())
	}
	if d.Interval <= 0 {
		return bad("interval", "must be positive, got %v", d.Interval)
	}
	if d.Timeout <= 0 {
		return bad("timeout", "must be positive, got %v", d.Timeout)
	}
	if d.Timeout >= d.Interval {
		return bad("timeout", "%v must be below interval %v", d.Timeout, d.Interval)
	}
	if d.Rise < 1 {
		return bad("rise", "must be at least 1, got %d", d.Rise)
	}
	if d.Fall < 1 {
		return bad("fall", "must be at least 1, got %d", d.Fall)
	}
	if d.Initial > StateUp {
		return bad("initial", "unknown state %d (want unknown, down or up)", d.Initial)
	}
	if d.TCP != nil && d.Type != TypeTCP || d.HTTP != nil && d.Type != TypeHTTP && d.Type != TypeHTTPS ||
		d.UDP != nil && d.Type != TypeUDP || d.DNS != nil && d.Type != TypeDNS {
		return bad("type", "options given for a different check type than %s", d.Type)
	}
	switch d.Type {
	case TypeTCP:
		if d.TCP != nil && len(d.TCP.Expect) > maxReply {
			// No reply could ever match.
			return bad("tcp.expect", "%d bytes exceed the %d bytes of reply read", len(d.TCP.Expect), maxReply)
		}
		if d.TCP != nil && d.TCP.ExpectRegexp != "" {
			if _, err := regexp.Compile(d.TCP.ExpectRegexp); err != nil {
				return bad("tcp.expect_regexp", "%v", err)
			}
		}
	case TypeHTTP, TypeHTTPS:
		h := d.HTTP
		if h.Method != "GET" && h.Method != "HEAD" {
			return bad("http.method", "must be GET or HEAD, got %q", h.Method)
		}
		if !strings.HasPrefix(h.Path, "/") {
			return bad("http.path", "must start with /, got %q", h.Path)
		}
		if strings.ContainsAny(h.Path, " \r\n") || strings.ContainsAny(h.Host, " \r\n") {
			return bad("http", "path and host must not contain spaces or line breaks")
		}
		for k, v := range h.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(v, "\r\n") {
				return bad("http.headers", "invalid header %q", k)
			}
		}
		for _, r := range h.Status {
			if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
				return bad("http.status", "invalid range %d-%d", r.Min, r.Max)
			}
		}
		if h.BodyRegexp != "" {
			if h.Method == "HEAD" {
				return bad("http.body_regexp", "a HEAD response has no body")
			}
			if _, err := regexp.Compile(h.BodyRegexp); err != nil {
				return bad("http.body_regexp", "%v", err)
			}
		}
		if d.Type == TypeHTTP && (h.CAFile != "" || h.CertFile != "" || h.InsecureSkipVerify || h.ServerName != "") {
			return bad("http", "TLS options on a plain http check (use type https)")
		}
		if (h.CertFile == "") != (h.KeyFile == "") {
			return bad("http.cert_file", "cert_file and key_file go together")
		}
	case TypeUDP:
		if d.UDP == nil || len(d.UDP.Payload) == 0 {
			return bad("udp.payload", "a UDP check needs a payload")
		}
		family, limit := "IPv6", maxUDPPayload(d.Target.Addr())
		if d.Target.Addr().Unmap().Is4() {
			family = "IPv4"
		}
		if n := len(d.UDP.Payload); n > limit {
			return bad("udp.payload", "%d bytes do not fit in a UDP datagram over %s (%d at most)", n, family, limit)
		}
		switch d.UDP.Match {
		case MatchAny:
		case MatchExact, MatchPrefix:
			if len(d.UDP.Expect) == 0 {
				return bad("udp.expect", "match %s needs expect", d.UDP.Match)
			}
			if n := len(d.UDP.Expect); n > limit {
				// No reply could ever match.
				return bad("udp.expect", "%d bytes do not fit in a UDP datagram over %s (%d at most)", n, family, limit)
			}
		case MatchRegexp:
			if _, err := regexp.Compile(string(d.UDP.Expect)); err != nil {
				return bad("udp.expect", "%v", err)
			}
		default:
			return bad("udp.match", "unknown match mode %d", d.UDP.Match)
		}
	case TypeDNS:
		if d.DNS == nil || d.DNS.Name == "" {
			return bad("dns.name", "a DNS check needs a name")
		}
		if _, err := dnsmessage.NewName(fqdn(d.DNS.Name)); err != nil {
			return bad("dns.name", "%v", err)
		}
	}
	return nil
}

// Key returns a canonical string identifying the normalized definition:
// checks with equal keys are run once. It is the definition's JSON; the
// common fields are written by hand, because a reload of 10,000 checks
// computes 10,000 keys and encoding/json's reflection was most of
// Manager.Update's time.
func (d Definition) Key() string {
	b := make([]byte, 0, 160)
	b = append(b, `{"type":`...)
	b = strconv.AppendQuote(b, d.Type.String())
	b = append(b, `,"target":`...)
	b = strconv.AppendQuote(b, d.Target.String())
	if d.Source.IsValid() {
		b = append(b, `,"source":`...)
		b = strconv.AppendQuote(b, d.Source.String())
	}
	if d.Mark != 0 {
		b = append(b, `,"mark":`...)
		b = strconv.AppendUint(b, uint64(d.Mark), 10)
	}
	b = append(b, `,"interval":`...)
	b = strconv.AppendInt(b, int64(d.Interval), 10)
	b = append(b, `,"timeout":`...)
	b = strconv.AppendInt(b, int64(d.Timeout), 10)
	b = append(b, `,"rise":`...)
	b = strconv.AppendInt(b, int64(d.Rise), 10)
	b = append(b, `,"fall":`...)
	b = strconv.AppendInt(b, int64(d.Fall), 10)
	if d.Initial != StateUnknown {
		b = append(b, `,"initial":`...)
		b = strconv.AppendQuote(b, d.Initial.String())
	}
	for _, o := range []struct {
		name string
		v    any
		set  bool
	}{{"tcp", d.TCP, d.TCP != nil}, {"http", d.HTTP, d.HTTP != nil}, {"udp", d.UDP, d.UDP != nil}, {"dns", d.DNS, d.DNS != nil}} {
		if !o.set {
			continue
		}
		ob, err := json.Marshal(o.v)
		if err != nil {
			// Every field marshals; keep a usable key regardless.
			ob = fmt.Appendf(nil, "%q", fmt.Sprintf("%+v", o.v))
		}
		b = append(b, `,"`...)
		b = append(b, o.name...)
		b = append(b, `":`...)
		b = append(b, ob...)
	}
	b = append(b, '}')
	return string(b)
}

func fqdn(s string) string {
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}
