package healthcheck

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ICMP errors captured on Linux 6.18 (raw sockets, outer IPv4 header
// stripped) from a forwarding namespace with "ip route add unreachable
// 192.0.2.77/32" and "ip -6 route add unreachable 2001:db8::77/128",
// answering echo requests id 0x1234 seq 7 token 0x0102030405060708 from
// 10.77.0.1 and fd77::1.
const (
	kernelHostUnreach = "0301fcfe00000000" + // type 3 code 1
		"4500002ca56a40004001c8cb0a4d0001c000024d" + // quoted IPv4 header, to 192.0.2.77
		"080032fd1234000773656573617768630102030405060708" // our echo request
	kernelNoRoute6 = "0100878a00000000" + // type 1 code 0
		"6002e1f700183a40fd77000000000000000000000000000120010db8000000000000000000000077" + // quoted IPv6 header, to 2001:db8::77
		"80008f011234000773656573617768630102030405060708"
	// The same errors as Linux ping sockets with IP_RECVERR return them
	// from recvmsg(MSG_ERRQUEUE): just the quoted echo request, whose
	// identifier the kernel rewrote to the socket's port.
	kernelQueuedEcho  = "0800bab98a77000773656573617768630102030405060708"
	kernelQueuedEcho6 = "800016bf8a76000773656573617768630102030405060708"
)

var (
	testToken = uint64(0x0102030405060708)
	unreach4  = netip.MustParseAddr("192.0.2.77")
	unreach6  = netip.MustParseAddr("2001:db8::77")
)

// edit returns a copy of b with the bytes at off replaced by hex s.
func edit(t testing.TB, b []byte, off int, s string) []byte {
	t.Helper()
	c := append([]byte(nil), b...)
	copy(c[off:], mustHex(t, s))
	return c
}

func TestParseICMPError(t *testing.T) {
	v4, v6 := mustHex(t, kernelHostUnreach), mustHex(t, kernelNoRoute6)
	full := quotedEcho{ID: 0x1234, Seq: 7, Token: testToken, HasToken: true}
	// An IPv4 header with one option word (IHL 6) before the quote.
	opts := append(append(edit(t, v4[:28], 8, "46"), 1, 1, 1, 0), v4[28:]...)
	tests := []struct {
		name   string
		b      []byte
		v6     bool
		want   icmpError
		wantOK bool
	}{
		{"v4 host unreachable", v4, false, icmpError{3, 1, unreach4, full}, true},
		{"v6 no route", v6, true, icmpError{1, 0, unreach6, full}, true},
		{"v4 time exceeded", edit(t, v4, 0, "0b00"), false, icmpError{11, 0, unreach4, full}, true},
		{"v6 time exceeded", edit(t, v6, 0, "0300"), true, icmpError{3, 0, unreach6, full}, true},
		{"v6 admin prohibited", edit(t, v6, 0, "0101"), true, icmpError{1, 1, unreach6, full}, true},
		{"v4 quote of 8 octets", v4[:36], false, icmpError{3, 1, unreach4, quotedEcho{ID: 0x1234, Seq: 7}}, true},
		{"v6 quote of 8 octets", v6[:56], true, icmpError{1, 0, unreach6, quotedEcho{ID: 0x1234, Seq: 7}}, true},
		{"v4 partial magic", v4[:40], false, icmpError{3, 1, unreach4, quotedEcho{ID: 0x1234, Seq: 7}}, true},
		{"v4 header with options", opts, false, icmpError{3, 1, unreach4, full}, true},
		{"v4 quote shorter than 8", v4[:35], false, icmpError{}, false},
		{"v4 header cut", v4[:20], false, icmpError{}, false},
		{"v6 header cut", v6[:40], true, icmpError{}, false},
		{"v4 on v6 socket", v4, true, icmpError{}, false},
		{"v6 on v4 socket", v6, false, icmpError{}, false},
		{"v4 foreign magic", edit(t, v4, 36, "6e6f74206f757273"), false, icmpError{}, false},
		{"v4 foreign partial magic", edit(t, v4[:38], 36, "7878"), false, icmpError{}, false},
		{"v4 quotes an echo reply", edit(t, v4, 28, "00"), false, icmpError{}, false},
		{"v6 quotes an echo reply", edit(t, v6, 48, "81"), true, icmpError{}, false},
		{"v4 quotes udp", edit(t, v4, 17, "11"), false, icmpError{}, false},
		{"v6 quotes udp", edit(t, v6, 14, "11"), true, icmpError{}, false},
		{"v4 non-first fragment", edit(t, v4, 14, "0001"), false, icmpError{}, false},
		{"v4 bad ihl", edit(t, v4, 8, "44"), false, icmpError{}, false},
		{"v4 ihl past the end", edit(t, v4[:30], 8, "4f"), false, icmpError{}, false},
		{"v4 bad ip version", edit(t, v4, 8, "65"), false, icmpError{}, false},
		{"v6 bad ip version", edit(t, v6, 8, "40"), true, icmpError{}, false},
		{"v4 redirect", edit(t, v4, 0, "05"), false, icmpError{}, false},
		{"v4 parameter problem", edit(t, v4, 0, "0c"), false, icmpError{}, false},
		{"v6 packet too big", edit(t, v6, 0, "02"), true, icmpError{}, false},
		{"echo reply", mustHex(t, kernelEchoReply), false, icmpError{}, false},
		{"empty", nil, false, icmpError{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseICMPError(tt.b, tt.v6)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("parseICMPError (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseQuotedEcho(t *testing.T) {
	tests := []struct {
		name   string
		b      string
		v6     bool
		want   quotedEcho
		wantOK bool
	}{
		{"ping socket v4", kernelQueuedEcho, false, quotedEcho{0x8a77, 7, testToken, true}, true},
		{"ping socket v6", kernelQueuedEcho6, true, quotedEcho{0x8a76, 7, testToken, true}, true},
		{"header only", kernelQueuedEcho[:16], false, quotedEcho{ID: 0x8a77, Seq: 7}, true},
		{"cut in the token", kernelQueuedEcho[:44], false, quotedEcho{ID: 0x8a77, Seq: 7}, true},
		{"v4 request on v6 socket", kernelQueuedEcho, true, quotedEcho{}, false},
		{"nonzero code", "0801" + kernelQueuedEcho[4:], false, quotedEcho{}, false},
		{"short", kernelQueuedEcho[:14], false, quotedEcho{}, false},
		{"foreign payload", kernelQueuedEcho[:16] + "0011223344556677", false, quotedEcho{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseQuotedEcho(mustHex(t, tt.b), tt.v6)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseQuotedEcho (-want +got):\n%s", diff)
			}
		})
	}
}

func TestICMPErrorText(t *testing.T) {
	tests := []struct {
		v6        bool
		typ, code uint8
		want      string
	}{
		{false, 3, 0, "network unreachable"},
		{false, 3, 1, "host unreachable"},
		{false, 3, 13, "communication administratively prohibited"},
		{false, 3, 15, "precedence cutoff in effect"},
		{false, 3, 16, "destination unreachable (code 16)"},
		{false, 11, 0, "time to live exceeded in transit"},
		{false, 11, 7, "time exceeded (code 7)"},
		{true, 1, 0, "no route to destination"},
		{true, 1, 3, "address unreachable"},
		{true, 1, 6, "reject route to destination"},
		{true, 1, 9, "destination unreachable (code 9)"},
		{true, 3, 0, "hop limit exceeded in transit"},
		{true, 4, 0, "icmp type 4 code 0"},
	}
	for _, tt := range tests {
		if got := icmpErrorText(tt.v6, tt.typ, tt.code); got != tt.want {
			t.Errorf("icmpErrorText(%v, %d, %d) = %q, want %q", tt.v6, tt.typ, tt.code, got, tt.want)
		}
	}
}

func FuzzParseICMPError(f *testing.F) {
	f.Add(mustHex(f, kernelHostUnreach), false)
	f.Add(mustHex(f, kernelNoRoute6), true)
	f.Add(mustHex(f, kernelHostUnreach)[:36], false)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		e, ok := parseICMPError(b, v6)
		if !ok {
			return
		}
		if !isEchoError(v6, e.Type) || e.Dst.Is4() == v6 {
			t.Fatalf("accepted type %d to %s on a v6=%v socket", e.Type, e.Dst, v6)
		}
		// The quote, right after the quoted IP header, re-marshals to
		// the same identifying fields.
		off := 8 + ipv6HeaderLen
		if !v6 {
			off = 8 + int(b[8]&0x0f)*4
		}
		req, err := marshalEcho(v6, e.Echo.ID, e.Echo.Seq, e.Echo.Token)
		if err != nil {
			t.Fatal(err)
		}
		n := 8
		if e.Echo.HasToken {
			n = echoLen
		}
		if b[off] != req[0] || !bytes.Equal(b[off+4:off+n], req[4:n]) {
			t.Fatalf("quote %x does not re-marshal to %x", b[off:], req[:n])
		}
	})
}
