package healthcheck

import (
	"encoding/hex"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
)

// kernelEchoReply was captured from Linux 6.18 answering a raw-socket echo
// request to 127.0.0.1 (id 0x1234, seq 7, token 0x0102030405060708).
const kernelEchoReply = "00003afd1234000773656573617768630102030405060708"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEchoReply(t *testing.T) {
	req, err := marshalEcho(false, 0x1234, 7, 0x0102030405060708)
	if err != nil {
		t.Fatal(err)
	}
	req6, err := marshalEcho(true, 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	reply6 := append([]byte{icmpv6EchoReply}, req6[1:]...)
	tests := []struct {
		name   string
		b      []byte
		v6     bool
		want   echoReply
		wantOK bool
	}{
		{"kernel reply", mustHex(t, kernelEchoReply), false, echoReply{0x1234, 7, 0x0102030405060708}, true},
		{"our own request is not a reply", req, false, echoReply{}, false},
		{"v4 reply on v6 socket", mustHex(t, kernelEchoReply), true, echoReply{}, false},
		{"v6 reply", reply6, true, echoReply{1, 2, 3}, true},
		{"short", mustHex(t, kernelEchoReply)[:20], false, echoReply{}, false},
		{"foreign payload", append(mustHex(t, kernelEchoReply)[:8], []byte("abcdefgh01234567")...), false, echoReply{}, false},
		{"empty", nil, false, echoReply{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseEchoReply(tt.b, tt.v6)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseEchoReply (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalEchoGolden(t *testing.T) {
	// The request the kernel answered with kernelEchoReply.
	got, err := marshalEcho(false, 0x1234, 7, 0x0102030405060708)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("080032fd1234000773656573617768630102030405060708", hex.EncodeToString(got)); diff != "" {
		t.Errorf("marshalEcho (-want +got):\n%s", diff)
	}
}

func FuzzParseEchoReply(f *testing.F) {
	f.Add(mustHex(f, kernelEchoReply), false)
	f.Add(mustHex(f, "81003afd1234000773656573617768630102030405060708"), true)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		r, ok := parseEchoReply(b, v6)
		if !ok {
			return
		}
		// A parsed reply re-marshals to the same identifying fields.
		req, err := marshalEcho(v6, r.ID, r.Seq, r.Token)
		if err != nil {
			t.Fatal(err)
		}
		if string(req[4:echoLen]) != string(b[4:echoLen]) {
			t.Fatalf("round trip mismatch: %x vs %x", req[4:echoLen], b[4:echoLen])
		}
	})
}

func dnsResponse(t testing.TB, id uint16, name string, qtype dnsmessage.Type, rcode dnsmessage.RCode, answers ...netip.Addr) []byte {
	t.Helper()
	n := dnsmessage.MustNewName(fqdn(name))
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, RCode: rcode, RecursionAvailable: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	if err := b.Question(dnsmessage.Question{Name: n, Type: qtype, Class: dnsmessage.ClassINET}); err != nil {
		t.Fatal(err)
	}
	if err := b.StartAnswers(); err != nil {
		t.Fatal(err)
	}
	for _, a := range answers {
		h := dnsmessage.ResourceHeader{Name: n, Class: dnsmessage.ClassINET, TTL: 60}
		var err error
		if a.Is4() {
			err = b.AResource(h, dnsmessage.AResource{A: a.As4()})
		} else {
			err = b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// dnsGolden is a response to "example.org. A" with ID 0xbeef and one
// answer 192.0.2.1, compressed (name pointer c00c).
const dnsGolden = "beef80800001000100000000076578616d706c65036f72670000010001c00c000100010000003c0004c0000201"

func TestCheckDNSAnswer(t *testing.T) {
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	v6 := netip.MustParseAddr("2001:db8::1")
	if got := hex.EncodeToString(dnsResponse(t, 0xbeef, "example.org", dnsmessage.TypeA, dnsmessage.RCodeSuccess, a1)); got != dnsGolden {
		t.Fatalf("builder output changed:\n got %s\nwant %s", got, dnsGolden)
	}
	tests := []struct {
		name    string
		msg     []byte
		qtype   dnsmessage.Type
		expect  []netip.Addr
		want    int
		wantErr string
	}{
		{"golden any", mustHex(t, dnsGolden), dnsmessage.TypeA, nil, 1, ""},
		{"golden expected address", mustHex(t, dnsGolden), dnsmessage.TypeA, []netip.Addr{a2, a1}, 1, ""},
		{"golden wrong address", mustHex(t, dnsGolden), dnsmessage.TypeA, []netip.Addr{a2}, 0, "none of [192.0.2.2]"},
		{"wrong id", dnsResponse(t, 1, "example.org", dnsmessage.TypeA, 0, a1), dnsmessage.TypeA, nil, 0, "not a response"},
		{"nxdomain", dnsResponse(t, 0xbeef, "example.org", dnsmessage.TypeA, dnsmessage.RCodeNameError), dnsmessage.TypeA, nil, 0, "rcode RCodeNameError"},
		{"empty answer", dnsResponse(t, 0xbeef, "example.org", dnsmessage.TypeA, 0), dnsmessage.TypeA, nil, 0, "no TypeA record"},
		{"other name", dnsResponse(t, 0xbeef, "example.com", dnsmessage.TypeA, 0, a1), dnsmessage.TypeA, nil, 0, "answer is for example.com."},
		{"aaaa", dnsResponse(t, 0xbeef, "example.org", dnsmessage.TypeAAAA, 0, v6), dnsmessage.TypeAAAA, []netip.Addr{v6}, 1, ""},
		{"truncated", mustHex(t, dnsGolden)[:30], dnsmessage.TypeA, nil, 0, "parse"},
		{"TC bit", setTC(mustHex(t, dnsGolden)), dnsmessage.TypeA, nil, 0, "truncated answer (TC)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkDNSAnswer(tt.msg, 0xbeef, "example.org", tt.qtype, tt.expect)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("checkDNSAnswer error = %v, want %q", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("checkDNSAnswer = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBuildDNSQuery(t *testing.T) {
	q, err := buildDNSQuery(0xbeef, "example.org", dnsmessage.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	want := "beef01000001000000000000076578616d706c65036f72670000010001"
	if diff := cmp.Diff(want, hex.EncodeToString(q)); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	if isDNSReply(q, 0xbeef) {
		t.Error("a query is not a reply")
	}
	if !isDNSReply(mustHex(t, dnsGolden), 0xbeef) {
		t.Error("golden reply not recognised")
	}
}

func FuzzCheckDNSAnswer(f *testing.F) {
	f.Add(mustHex(f, dnsGolden), uint16(dnsmessage.TypeA))
	f.Add(dnsResponse(f, 0xbeef, "example.org", dnsmessage.TypeAAAA, 0, netip.MustParseAddr("2001:db8::1")), uint16(dnsmessage.TypeAAAA))
	f.Fuzz(func(t *testing.T, msg []byte, qtype uint16) {
		n, err := checkDNSAnswer(msg, 0xbeef, "example.org", dnsmessage.Type(qtype), []netip.Addr{netip.MustParseAddr("192.0.2.1")})
		if err == nil && n < 1 {
			t.Fatalf("success with %d matches", n)
		}
	})
}

func TestMatchTCP(t *testing.T) {
	re := regexp.MustCompile(`^\+OK`)
	tests := []struct {
		name              string
		prefix            string
		re                *regexp.Regexp
		buf               string
		wantOK, wantFinal bool
	}{
		{"prefix complete", "SSH-", nil, "SSH-2.0", true, true},
		{"prefix partial", "SSH-", nil, "SS", false, false},
		{"prefix wrong", "SSH-", nil, "HTTP", false, true},
		{"regexp match", "", re, "+OK ready", true, true},
		{"regexp not yet", "", re, "-ERR", false, false},
		{"prefix then regexp", "+", re, "+OK", true, true},
	}
	for _, tt := range tests {
		ok, final := matchTCP([]byte(tt.prefix), tt.re, []byte(tt.buf))
		if ok != tt.wantOK || final != tt.wantFinal {
			t.Errorf("%s: matchTCP = %v,%v want %v,%v", tt.name, ok, final, tt.wantOK, tt.wantFinal)
		}
	}
}
