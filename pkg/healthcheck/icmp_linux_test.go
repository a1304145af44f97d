package healthcheck

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// IP_RECVERR control messages captured on Linux 6.18 (x86-64) with the
// ping-socket errors of kernelQueuedEcho and kernelQueuedEcho6: struct
// cmsghdr, struct sock_extended_err, then the offender's sockaddr.
const (
	kernelRecvErr  = "3000000000000000" + "00000000" + "0b000000" + "71000000020301000000000000000000" + "020000000a4d00020000000000000000"
	kernelRecvErr6 = "3c00000000000000" + "29000000" + "19000000" + "65000000030100000000000000000000" + "0a00000000000000fd7700000000000000000000000000020000000000000000"
)

func littleEndian(t testing.TB) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the captured control messages are little-endian")
	}
}

func TestParseRecvErr(t *testing.T) {
	littleEndian(t)
	v4, v6 := mustHex(t, kernelRecvErr), mustHex(t, kernelRecvErr6)
	tests := []struct {
		name   string
		oob    []byte
		v6     bool
		want   recvErr
		wantOK bool
	}{
		{"v4 host unreachable", v4, false, recvErr{unix.EHOSTUNREACH, 3, 1, netip.MustParseAddr("10.77.0.2")}, true},
		{"v6 no route", v6, true, recvErr{unix.ENETUNREACH, 1, 0, netip.MustParseAddr("fd77::2")}, true},
		{"v4 message on v6 socket", v4, true, recvErr{}, false},
		{"v6 message on v4 socket", v6, false, recvErr{}, false},
		{"local origin", edit(t, v4, 20, "01"), false, recvErr{}, false},
		{"no offender", edit(t, v4, 32, "0000"), false, recvErr{unix.EHOSTUNREACH, 3, 1, netip.Addr{}}, true},
		{"offender cut", edit(t, v4[:40], 0, "28"), false, recvErr{unix.EHOSTUNREACH, 3, 1, netip.Addr{}}, true},
		{"extended error cut", edit(t, v4[:24], 0, "18"), false, recvErr{}, false},
		{"cmsg length past the end", v4[:40], false, recvErr{}, false},
		{"empty", nil, false, recvErr{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRecvErr(tt.oob, tt.v6)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("parseRecvErr (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseRecvErr(f *testing.F) {
	f.Add(mustHex(f, kernelRecvErr), false)
	f.Add(mustHex(f, kernelRecvErr6), true)
	f.Fuzz(func(t *testing.T, oob []byte, v6 bool) {
		e, ok := parseRecvErr(oob, v6)
		if !ok && e != (recvErr{}) {
			t.Fatalf("rejected with %+v", e)
		}
		// A v4 socket's offender is IPv4; a v6 socket's may be either (a
		// v4-mapped one, unmapped).
		if !v6 && e.Offender.IsValid() && !e.Offender.Is4() {
			t.Fatalf("v4 socket with offender %s", e.Offender)
		}
	})
}
