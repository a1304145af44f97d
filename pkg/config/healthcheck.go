package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/seesawd/seesawd/pkg/healthcheck"
	"github.com/seesawd/seesawd/pkg/ipvs"
)

// HealthCheck is a service's health check, which each backend may override
// field by field. Every field is optional (a pointer, slice or map), so an
// override can tell "not set" from a zero value.
type HealthCheck struct {
	// Type is tcp, http, https, udp, icmp, dns, or none (the backend is
	// always up).
	Type *string `mapstructure:"type"`
	// Port is the port probed, default the backend's.
	Port     *int           `mapstructure:"port"`
	Interval *time.Duration `mapstructure:"interval"`
	Timeout  *time.Duration `mapstructure:"timeout"`
	Rise     *int           `mapstructure:"rise"`
	Fall     *int           `mapstructure:"fall"`
	// Initial is the state before the first result: unknown (keep what the
	// kernel has), up or down.
	Initial *string `mapstructure:"initial"`
	// ThroughVIP probes the backend through IPVS, addressed to the VIP
	// (forward: dr or tunnel), proving it serves the VIP.
	ThroughVIP *bool `mapstructure:"through_vip"`
	// Source is the local address probes leave from.
	Source *string `mapstructure:"source"`

	// TCP (send, expect, expect_regexp) and UDP (send/payload, expect, match).
	Send         *string `mapstructure:"send"`
	Expect       *string `mapstructure:"expect"`
	ExpectRegexp *string `mapstructure:"expect_regexp"`
	Match        *string `mapstructure:"match"`

	// HTTP and HTTPS.
	Method       *string           `mapstructure:"method"`
	Path         *string           `mapstructure:"path"`
	Host         *string           `mapstructure:"host"`
	Headers      map[string]string `mapstructure:"headers"`
	ExpectStatus []any             `mapstructure:"expect_status"`
	ExpectBody   *string           `mapstructure:"expect_body"`
	ServerName   *string           `mapstructure:"server_name"`
	CAFile       *string           `mapstructure:"ca_file"`
	CertFile     *string           `mapstructure:"cert_file"`
	KeyFile      *string           `mapstructure:"key_file"`
	Insecure     *bool             `mapstructure:"insecure_skip_verify"`

	// DNS.
	Query           *string  `mapstructure:"query"`
	QueryType       *string  `mapstructure:"query_type"`
	ExpectAddresses []string `mapstructure:"expect_addresses"`
}

// Health check defaults: a dead backend is out within fall x interval +
// timeout = 7s.
const (
	DefaultCheckInterval = 2 * time.Second
	DefaultCheckTimeout  = time.Second
	DefaultCheckRise     = 2
	DefaultCheckFall     = 3
)

// mergeHealthCheck returns the service's check with the backend's set
// fields laid over it, or nil when neither has one.
func mergeHealthCheck(svc, be *HealthCheck) *HealthCheck {
	switch {
	case svc == nil && be == nil:
		return nil
	case be == nil:
		return svc
	case svc == nil:
		return be
	}
	out := *svc
	ov, bv := reflect.ValueOf(&out).Elem(), reflect.ValueOf(be).Elem()
	for i := range bv.NumField() {
		if f := bv.Field(i); !f.IsNil() {
			ov.Field(i).Set(f)
		}
	}
	return &out
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// definition validates the merged check of one backend and returns it as
// pkg/healthcheck's Definition (nil for type none) and whether it goes
// through the VIP.
func (h *HealthCheck) definition(v *validator, p string, addr netip.Addr, port uint16, svc *ipvs.Service,
	fwd ipvs.ForwardMethod) (*healthcheck.Definition, bool) {
	typ := deref(h.Type, "")
	if typ == "" {
		v.bad(p+".type", "required (tcp, http, https, udp, icmp, dns or none)")
		return nil, false
	}
	if typ == "none" {
		return nil, false
	}
	t, err := healthcheck.ParseType(typ)
	if err != nil {
		v.bad(p+".type", "%q is not tcp, http, https, udp, icmp, dns or none", typ)
		return nil, false
	}
	before := len(v.probs)
	checkPort := int(port)
	if h.Port != nil {
		checkPort = *h.Port
	}
	if t != healthcheck.TypeICMP && (checkPort < 1 || checkPort > 65535) {
		v.bad(p+".port", "%d out of range 1-65535 (an fwmark service's backends need a check port)", checkPort)
	}
	d := healthcheck.Definition{
		Type:     t,
		Target:   netip.AddrPortFrom(addr, uint16(checkPort)),
		Interval: deref(h.Interval, DefaultCheckInterval),
		Timeout:  deref(h.Timeout, DefaultCheckTimeout),
		Rise:     deref(h.Rise, DefaultCheckRise),
		Fall:     deref(h.Fall, DefaultCheckFall),
	}
	if h.Interval != nil && h.Timeout == nil && d.Timeout >= d.Interval {
		d.Timeout = d.Interval / 2
	}
	switch init := deref(h.Initial, "unknown"); init {
	case "unknown":
	case "down":
		d.Initial = healthcheck.StateDown
	case "up":
		d.Initial = healthcheck.StateUp
	default:
		v.bad(p+".initial", "%q is not unknown, up or down", init)
	}
	through := deref(h.ThroughVIP, false)
	if through {
		switch {
		case fwd != ipvs.DirectRoute && fwd != ipvs.Tunnel:
			v.bad(p+".through_vip", "needs forward: dr or tunnel (a NAT backend does not hold the VIP)")
		case svc.FWMark != 0:
			v.bad(p+".through_vip", "needs a vip service, not an fwmark one")
		case t == healthcheck.TypeICMP:
			v.bad(p+".through_vip", "an icmp check cannot go through a port service")
		}
	}
	if s := deref(h.Source, ""); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			v.bad(p+".source", "%q is not an IP address", s)
		}
		d.Source = a.Unmap()
	}
	only := func(field string, set bool, types ...healthcheck.Type) {
		if !set {
			return
		}
		for _, ok := range types {
			if t == ok {
				return
			}
		}
		names := make([]string, len(types))
		for i, x := range types {
			names[i] = x.String()
		}
		v.bad(p+"."+field, "applies to %s checks, not %s", strings.Join(names, "/"), t)
	}
	tcp, udp, web, dns := healthcheck.TypeTCP, healthcheck.TypeUDP, healthcheck.TypeHTTP, healthcheck.TypeDNS
	tls := healthcheck.TypeHTTPS
	only("send", h.Send != nil, tcp, udp)
	only("expect", h.Expect != nil, tcp, udp)
	only("expect_regexp", h.ExpectRegexp != nil, tcp)
	only("match", h.Match != nil, udp)
	for _, f := range []struct {
		name string
		set  bool
	}{{"method", h.Method != nil}, {"path", h.Path != nil}, {"host", h.Host != nil}, {"headers", h.Headers != nil},
		{"expect_status", h.ExpectStatus != nil}, {"expect_body", h.ExpectBody != nil}} {
		only(f.name, f.set, web, tls)
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"server_name", h.ServerName != nil}, {"ca_file", h.CAFile != nil}, {"cert_file", h.CertFile != nil},
		{"key_file", h.KeyFile != nil}, {"insecure_skip_verify", h.Insecure != nil}} {
		only(f.name, f.set, tls)
	}
	only("query", h.Query != nil, dns)
	only("query_type", h.QueryType != nil, dns)
	only("expect_addresses", h.ExpectAddresses != nil, dns)

	switch t {
	case healthcheck.TypeTCP:
		if h.Send != nil || h.Expect != nil || h.ExpectRegexp != nil {
			d.TCP = &healthcheck.TCPOptions{Send: []byte(deref(h.Send, "")), Expect: []byte(deref(h.Expect, "")),
				ExpectRegexp: deref(h.ExpectRegexp, "")}
		}
	case healthcheck.TypeUDP:
		o := &healthcheck.UDPOptions{Payload: []byte(deref(h.Send, "")), Expect: []byte(deref(h.Expect, ""))}
		if h.Match != nil {
			m, err := healthcheck.ParseMatchMode(*h.Match)
			if err != nil {
				v.bad(p+".match", "%q is not any, exact, prefix or regexp", *h.Match)
			}
			o.Match = m
		} else if h.Expect != nil {
			o.Match = healthcheck.MatchExact
		}
		d.UDP = o
	case healthcheck.TypeHTTP, healthcheck.TypeHTTPS:
		o := &healthcheck.HTTPOptions{
			Method: deref(h.Method, ""), Path: deref(h.Path, ""), Host: deref(h.Host, ""), Headers: h.Headers,
			BodyRegexp: deref(h.ExpectBody, ""), ServerName: deref(h.ServerName, ""), CAFile: deref(h.CAFile, ""),
			CertFile: deref(h.CertFile, ""), KeyFile: deref(h.KeyFile, ""), InsecureSkipVerify: deref(h.Insecure, false),
		}
		for j, x := range h.ExpectStatus {
			r, err := statusRange(x)
			if err != nil {
				v.bad(fmt.Sprintf("%s.expect_status[%d]", p, j), "%v", err)
				continue
			}
			o.Status = append(o.Status, r)
		}
		d.HTTP = o
	case healthcheck.TypeDNS:
		o := &healthcheck.DNSOptions{Name: deref(h.Query, "")}
		if qt := deref(h.QueryType, ""); qt != "" {
			switch strings.ToUpper(qt) {
			case "A":
				o.QType = dnsmessage.TypeA
			case "AAAA":
				o.QType = dnsmessage.TypeAAAA
			case "CNAME":
				o.QType = dnsmessage.TypeCNAME
			case "MX":
				o.QType = dnsmessage.TypeMX
			case "NS":
				o.QType = dnsmessage.TypeNS
			case "SOA":
				o.QType = dnsmessage.TypeSOA
			case "TXT":
				o.QType = dnsmessage.TypeTXT
			case "SRV":
				o.QType = dnsmessage.TypeSRV
			default:
				v.bad(p+".query_type", "%q is not A, AAAA, CNAME, MX, NS, SOA, TXT or SRV", qt)
			}
		}
		for j, s := range h.ExpectAddresses {
			a, err := netip.ParseAddr(s)
			if err != nil {
				v.bad(fmt.Sprintf("%s.expect_addresses[%d]", p, j), "%q is not an IP address", s)
				continue
			}
			o.Expect = append(o.Expect, a)
		}
		d.DNS = o
	}
	if len(v.probs) > before {
		return nil, false
	}
	// pkg/healthcheck's own validation is what Manager.Update applies: run
	// it here so that a file --check-config accepts always starts.
	d = d.Normalize()
	if err := d.Validate(); err != nil {
		field, msg := splitCheckError(err)
		v.bad(joinPath(p, field), "%s", msg)
		return nil, false
	}
	if t == healthcheck.TypeHTTPS {
		// Reads what the check loads at start: CA bundle, client certificate.
		_, err := healthcheck.NewChecker(d, nil)
		if err != nil {
			field, msg := splitCheckError(err)
			v.bad(joinPath(p, field), "%s", msg)
			return nil, false
		}
	}
	return &d, through
}

// splitCheckError turns "healthcheck: timeout: must be ..." into ("timeout", "must be ...").
func splitCheckError(err error) (string, string) {
	msg := strings.TrimPrefix(err.Error(), "healthcheck: ")
	field, rest, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(field, " ") {
		return "", msg
	}
	field = strings.ReplaceAll(field, "http.body_regexp", "expect_body")
	field = strings.ReplaceAll(field, "http.status", "expect_status")
	field = strings.TrimPrefix(field, "http.")
	field = strings.TrimPrefix(field, "tcp.")
	field = strings.TrimPrefix(field, "udp.")
	field = strings.ReplaceAll(field, "payload", "send")
	field = strings.ReplaceAll(field, "dns.name", "query")
	return field, rest
}

// statusRange reads an expect_status entry: 200, "200" or "200-299".
func statusRange(x any) (healthcheck.StatusRange, error) {
	switch n := x.(type) {
	case int:
		return healthcheck.StatusRange{Min: n, Max: n}, nil
	case string:
		lo, hi, isRange := strings.Cut(n, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 == nil && err2 == nil {
			return healthcheck.StatusRange{Min: a, Max: b}, nil
		}
	}
	return healthcheck.StatusRange{}, fmt.Errorf("%v is not a status (200) or range (\"200-299\")", x)
}
