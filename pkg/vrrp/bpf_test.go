package vrrp

import (
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/net/bpf"
)

// runFilter runs the assembled filter in x/net/bpf's VM (which, like the
// kernel, discards a packet on an out-of-bounds load) and reports whether it
// admits pkt.
func runFilter(t testing.TB, ipHeader bool, vrids []uint8, pkt []byte) bool {
	t.Helper()
	raw, err := vridFilter(ipHeader, vrids)
	if err != nil {
		t.Fatal(err)
	}
	prog := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		prog[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 && n < len(pkt) {
		t.Fatalf("filter truncates a %d byte packet to %d", len(pkt), n)
	}
	return n != 0
}

// ipv4Packet prefixes msg with an IPv4 header of ihl 32-bit words.
func ipv4Packet(ihl int, msg []byte) []byte {
	h := make([]byte, ihl*4)
	h[0] = 4<<4 | byte(ihl)
	h[8] = TTL
	h[9] = IPProto
	return append(h, msg...)
}

func TestVRIDFilter(t *testing.T) {
	adv := func(vrid uint8) []byte {
		a := Advertisement{VRID: vrid, Priority: 100, MaxAdvertInterval: 100,
			Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
		b, err := a.Marshal(netip.MustParseAddr("192.0.2.1"), GroupIPv4, ChecksumRFC5798)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withFirst := func(b []byte, first byte) []byte { b = slices.Clone(b); b[0] = first; return b }
	vrids := []uint8{51, 7, 52, 53, 200, 255, 1}
	tests := []struct {
		name string
		msg  []byte
		want bool
	}{
		{"configured vrid", adv(51), true},
		{"start of a range", adv(51), true},
		{"end of a range", adv(53), true},
		{"single vrid", adv(7), true},
		{"lowest", adv(1), true},
		{"highest", adv(255), true},
		{"between ranges", adv(54), false},
		{"below every range", adv(0), false},
		{"next to a single", adv(8), false},
		{"other vrid", adv(199), false},
		{"version 2", withFirst(adv(51), 0x21), false},
		{"type 2", withFirst(adv(51), 0x32), false},
		{"one byte", []byte{0x31}, false},
		{"empty", nil, false},
		{"header only", adv(51)[:2], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runFilter(t, false, vrids, tt.msg); got != tt.want {
				t.Errorf("ipv6 socket: admitted = %v, want %v", got, tt.want)
			}
			for _, ihl := range []int{5, 6, 15} {
				if got := runFilter(t, true, vrids, ipv4Packet(ihl, tt.msg)); got != tt.want {
					t.Errorf("ipv4 socket, ihl %d: admitted = %v, want %v", ihl, got, tt.want)
				}
			}
		})
	}
	if runFilter(t, false, nil, adv(51)) {
		t.Error("an empty set admitted an advertisement")
	}
	all := make([]uint8, 256)
	alternate := []uint8{}
	for i := range all {
		all[i] = uint8(i)
		if i%2 == 0 {
			alternate = append(alternate, uint8(i))
		}
	}
	for v := 0; v < 256; v++ {
		if !runFilter(t, true, all, ipv4Packet(5, adv(uint8(v)))) {
			t.Fatalf("every vrid configured: %d not admitted", v)
		}
		if got, want := runFilter(t, false, alternate, adv(uint8(v))), v%2 == 0; got != want {
			t.Fatalf("128 ranges: vrid %d admitted = %v", v, got)
		}
	}
}

// FuzzVRIDFilter checks the filter against the rule it implements for any
// packet and VRID set.
func FuzzVRIDFilter(f *testing.F) {
	f.Add([]byte{0x31, 51, 100, 1}, []byte{51}, false, uint8(5))
	f.Add([]byte{0x31, 52, 100, 1}, []byte{51, 53}, true, uint8(5))
	f.Add([]byte{0x21, 51}, []byte{51}, true, uint8(7))
	f.Fuzz(func(t *testing.T, msg, vrids []byte, ipHeader bool, ihl uint8) {
		want := len(msg) >= 2 && msg[0] == 0x31 && slices.Contains(vrids, msg[1])
		pkt := msg
		if ipHeader {
			pkt = ipv4Packet(int(ihl%11)+5, msg)
		}
		if got := runFilter(t, ipHeader, vrids, pkt); got != want {
			t.Fatalf("admitted = %v, want %v (vrids %v, message % x)", got, want, vrids, msg)
		}
	})
}
