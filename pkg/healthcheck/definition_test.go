package healthcheck

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func baseDef(t Type) Definition {
	return Definition{Type: t, Target: netip.MustParseAddrPort("127.0.0.1:80"), Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(d *Definition)
		wantErr string // substring; "" = valid
	}{
		{"tcp ok", func(d *Definition) {}, ""},
		{"timeout equals interval", func(d *Definition) { d.Timeout = d.Interval }, "timeout: 1s must be below interval 1s"},
		{"timeout above interval", func(d *Definition) { d.Timeout = 2 * time.Second }, "must be below interval"},
		{"rise 0", func(d *Definition) { d.Rise = 0 }, "rise: must be at least 1, got 0"},
		{"fall 0", func(d *Definition) { d.Fall = 0 }, "fall: must be at least 1"},
		{"unknown type", func(d *Definition) { d.Type = Type(42) }, "type: unknown check type 42"},
		{"no type", func(d *Definition) { d.Type = TypeInvalid }, "unknown check type"},
		{"no target", func(d *Definition) { d.Target = netip.AddrPort{} }, "target: missing target address"},
		{"no port", func(d *Definition) { d.Target = netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 0) }, "target: tcp check needs a port"},
		{"icmp without port ok", func(d *Definition) {
			d.Type = TypeICMP
			d.Target = netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 0)
		}, ""},
		{"source family", func(d *Definition) { d.Source = netip.MustParseAddr("::1") }, "source: source ::1 and target 127.0.0.1 are different address families"},
		{"bad tcp regexp", func(d *Definition) { d.TCP = &TCPOptions{ExpectRegexp: "a("} }, "tcp.expect_regexp: error parsing regexp"},
		{"options of another type", func(d *Definition) { d.HTTP = &HTTPOptions{} }, "options given for a different check type"},
		{"http ok", func(d *Definition) { d.Type = TypeHTTP }, ""},
		{"http bad method", func(d *Definition) { d.Type = TypeHTTP; d.HTTP = &HTTPOptions{Method: "POST"} }, `http.method: must be GET or HEAD, got "POST"`},
		{"http bad body regexp", func(d *Definition) { d.Type = TypeHTTP; d.HTTP = &HTTPOptions{BodyRegexp: "[z-a]"} }, "http.body_regexp: error parsing regexp"},
		{"http head with body regexp", func(d *Definition) {
			d.Type = TypeHTTP
			d.HTTP = &HTTPOptions{Method: "head", BodyRegexp: "x"}
		}, "a HEAD response has no body"},
		{"http bad path", func(d *Definition) { d.Type = TypeHTTP; d.HTTP = &HTTPOptions{Path: "x"} }, "http.path: must start with /"},
		{"http header injection", func(d *Definition) {
			d.Type = TypeHTTP
			d.HTTP = &HTTPOptions{Headers: map[string]string{"X": "a\r\nEvil: 1"}}
		}, "http.headers: invalid header"},
		{"http bad status", func(d *Definition) {
			d.Type = TypeHTTP
			d.HTTP = &HTTPOptions{Status: []StatusRange{{300, 200}}}
		}, "http.status: invalid range 300-200"},
		{"tls option on http", func(d *Definition) {
			d.Type = TypeHTTP
			d.HTTP = &HTTPOptions{InsecureSkipVerify: true}
		}, "TLS options on a plain http check"},
		{"cert without key", func(d *Definition) { d.Type = TypeHTTPS; d.HTTP = &HTTPOptions{CertFile: "c.pem"} }, "cert_file and key_file go together"},
		{"udp no payload", func(d *Definition) { d.Type = TypeUDP }, "udp.payload: a UDP check needs a payload"},
		{"udp bad regexp", func(d *Definition) {
			d.Type = TypeUDP
			d.UDP = &UDPOptions{Payload: []byte("x"), Match: MatchRegexp, Expect: []byte("(")}
		}, "udp.expect: error parsing regexp"},
		{"udp exact without expect", func(d *Definition) {
			d.Type = TypeUDP
			d.UDP = &UDPOptions{Payload: []byte("x"), Match: MatchExact}
		}, "match exact needs expect"},
		{"tcp expect over what is read", func(d *Definition) {
			d.TCP = &TCPOptions{Expect: make([]byte, 4097)}
		}, "tcp.expect: 4097 bytes exceed the 4096 bytes of reply read"},
		{"udp payload over a datagram", func(d *Definition) {
			d.Type = TypeUDP
			d.UDP = &UDPOptions{Payload: make([]byte, 65508)}
		}, "udp.payload: 65508 bytes do not fit in a UDP datagram over IPv4 (65507 at most)"},
		{"udp exact reply over a datagram", func(d *Definition) {
			d.Type = TypeUDP
			d.UDP = &UDPOptions{Payload: []byte("x"), Match: MatchExact, Expect: make([]byte, 65508)}
		}, "udp.expect: 65508 bytes do not fit in a UDP datagram over IPv4 (65507 at most)"},
		{"udp largest datagram over IPv6", func(d *Definition) {
			d.Type = TypeUDP
			d.Target = netip.MustParseAddrPort("[2001:db8::1]:53")
			d.UDP = &UDPOptions{Payload: make([]byte, 65527), Match: MatchPrefix, Expect: make([]byte, 65527)}
		}, ""},
		{"initial state", func(d *Definition) { d.Initial = 3 }, "initial: unknown state 3 (want unknown, down or up)"},
		{"dns no name", func(d *Definition) { d.Type = TypeDNS }, "dns.name: a DNS check needs a name"},
		{"dns ok", func(d *Definition) { d.Type = TypeDNS; d.DNS = &DNSOptions{Name: "example.org"} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := baseDef(TypeTCP)
			tt.mod(&d)
			err := d.Normalize().Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			case err != nil && !strings.HasPrefix(err.Error(), "healthcheck: "):
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestNormalizeDefaults(t *testing.T) {
	d := Definition{Type: TypeHTTP, Target: netip.MustParseAddrPort("10.0.0.1:80"), Rise: 1, Fall: 1}.Normalize()
	want := &HTTPOptions{Method: "GET", Path: "/", Status: []StatusRange{{200, 299}}}
	if diff := cmp.Diff(want, d.HTTP); diff != "" {
		t.Errorf("HTTP defaults (-want +got):\n%s", diff)
	}
	if d.Interval != DefaultInterval || d.Timeout != DefaultTimeout {
		t.Errorf("interval/timeout = %v/%v, want %v/%v", d.Interval, d.Timeout, DefaultInterval, DefaultTimeout)
	}
	short := Definition{Interval: time.Second}.Normalize()
	if short.Timeout != 500*time.Millisecond {
		t.Errorf("timeout with 1s interval = %v, want 500ms", short.Timeout)
	}
}

func TestICMPKeyIgnoresPort(t *testing.T) {
	a, b := baseDef(TypeICMP), baseDef(TypeICMP)
	b.Target = netip.MustParseAddrPort("127.0.0.1:0")
	if a.Normalize().Key() != b.Normalize().Key() {
		t.Error("ICMP checks differing only by port have different keys")
	}
}

func TestParseStatusRanges(t *testing.T) {
	tests := []struct {
		in      string
		want    []StatusRange
		wantErr bool
	}{
		{"200-299", []StatusRange{{200, 299}}, false},
		{"200-299, 301,302", []StatusRange{{200, 299}, {301, 301}, {302, 302}}, false},
		{"", nil, true},
		{"2xx", nil, true},
		{"200-x", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseStatusRanges(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseStatusRanges(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseStatusRanges(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestKey(t *testing.T) {
	a := baseDef(TypeHTTP)
	a.HTTP = &HTTPOptions{Headers: map[string]string{"A": "1", "B": "2"}}
	b := baseDef(TypeHTTP)
	b.HTTP = &HTTPOptions{Headers: map[string]string{"B": "2", "A": "1"}}
	if a.Normalize().Key() != b.Normalize().Key() {
		t.Errorf("equal definitions have different keys:\n%s\n%s", a.Normalize().Key(), b.Normalize().Key())
	}
	c := b
	c.Fall = 4
	if c.Normalize().Key() == b.Normalize().Key() {
		t.Errorf("different definitions share key %s", c.Key())
	}
	// The initial state is in the key, and out of it at its default.
	if k := b.Normalize().Key(); strings.Contains(k, "initial") {
		t.Errorf("default initial state in key %s", k)
	}
	c.Initial = StateDown
	var back Definition
	if err := json.Unmarshal([]byte(c.Normalize().Key()), &back); err != nil || back.Initial != StateDown || !strings.Contains(c.Normalize().Key(), `"initial":"down"`) {
		t.Errorf("key %s decodes to initial %v (%v)", c.Normalize().Key(), back.Initial, err)
	}
}

func TestTypeString(t *testing.T) {
	for _, ty := range []Type{TypeTCP, TypeHTTP, TypeHTTPS, TypeUDP, TypeICMP, TypeDNS} {
		got, err := ParseType(ty.String())
		if err != nil || got != ty {
			t.Errorf("ParseType(%q) = %v, %v", ty, got, err)
		}
	}
	if _, err := ParseType("smtp"); err == nil || !strings.Contains(err.Error(), `unknown check type "smtp"`) {
		t.Errorf("ParseType(smtp) error = %v", err)
	}
	for m := MatchAny; m <= MatchRegexp; m++ {
		var got MatchMode
		if err := got.UnmarshalText([]byte(m.String())); err != nil || got != m {
			t.Errorf("MatchMode %v round trip = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMatchMode("glob"); err == nil {
		t.Error("ParseMatchMode(glob) succeeded")
	}
	for st := StateUnknown; st <= StateUp; st++ {
		var got State
		if err := got.UnmarshalText([]byte(st.String())); err != nil || got != st {
			t.Errorf("State %v round trip = %v, %v", st, got, err)
		}
	}
	if StateUp.String() != "up" || StateDown.String() != "down" || StateUnknown.String() != "unknown" {
		t.Error("State.String mismatch")
	}
	if _, err := ParseState("starting"); err == nil {
		t.Error("ParseState(starting) succeeded")
	}
}

// TestKeyIsTheJSON: Key writes the common fields by hand for speed; it must
// stay exactly the definition's JSON, so equal definitions share a key and
// different ones never do.
func TestKeyIsTheJSON(t *testing.T) {
	defs := []Definition{
		{Type: TypeTCP, Target: netip.MustParseAddrPort("10.0.0.1:80"), Interval: time.Second, Timeout: time.Millisecond, Rise: 2, Fall: 3},
		{Type: TypeHTTPS, Target: netip.MustParseAddrPort("[2001:db8::1]:443"), Source: netip.MustParseAddr("2001:db8::9"),
			Mark: 7, Interval: time.Minute, Timeout: 5 * time.Second, Rise: 1, Fall: 1, Initial: StateUp,
			HTTP: &HTTPOptions{Method: "GET", Path: "/h\"x", Headers: map[string]string{"b": "2", "a": "1"}, Status: []StatusRange{{200, 299}}}},
		{Type: TypeUDP, Target: netip.MustParseAddrPort("10.0.0.1:53"), Interval: 2 * time.Second, Timeout: time.Second, Rise: 1, Fall: 2,
			Initial: StateDown, UDP: &UDPOptions{Payload: []byte{0, 1, 0xff}, Match: MatchPrefix, Expect: []byte("ok")}},
		{Type: TypeTCP, Target: netip.MustParseAddrPort("10.0.0.1:25"), Interval: time.Second, Timeout: time.Millisecond, Rise: 2, Fall: 3,
			TCP: &TCPOptions{Send: []byte("EHLO\r\n"), ExpectRegexp: "^220"}},
		{Type: TypeICMP, Target: netip.MustParseAddrPort("10.0.0.1:0"), Interval: time.Second, Timeout: time.Millisecond, Rise: 1, Fall: 1},
		{Type: TypeDNS, Target: netip.MustParseAddrPort("10.0.0.1:53"), Interval: time.Second, Timeout: time.Millisecond, Rise: 1, Fall: 1,
			DNS: &DNSOptions{Name: "example.com", QType: 1, Expect: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}},
	}
	for _, d := range defs {
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Key(); got != string(want) {
			t.Errorf("Key() = %s\nwant %s", got, want)
		}
	}
}
