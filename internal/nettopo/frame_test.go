package nettopo

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readPcap returns the frames of a little-endian, microsecond pcap file.
func readPcap(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
		t.Fatalf("%s: not a little-endian Ethernet pcap", path)
	}
	var frames [][]byte
	for p := b[24:]; len(p) > 0; {
		if len(p) < 16 {
			t.Fatalf("%s: truncated record header", path)
		}
		n := int(binary.LittleEndian.Uint32(p[8:]))
		if len(p) < 16+n {
			t.Fatalf("%s: truncated record", path)
		}
		frames = append(frames, p[16:16+n])
		p = p[16+n:]
	}
	return frames
}

// keepalived-2.2.7-master.pcap is what the client saw when keepalived on
// lb2 became master of VRID 51 (192.0.2.100/24) and VRID 52
// (2001:db8::100/64) at 0.1 s adverts: an advert, five gratuitous ARP
// requests, an advert, five neighbour advertisements, then adverts.
func TestClassifyFrameKeepalivedCapture(t *testing.T) {
	frames := readPcap(t, "testdata/keepalived-2.2.7-master.pcap")
	if len(frames) != 40 {
		t.Fatalf("got %d frames, want 40", len(frames))
	}
	lb2 := "02:5e:00:00:00:02"
	v4 := Frame{Kind: FrameVRRP, Addr: netip.MustParseAddr("192.0.2.2"), VRID: 51, Priority: 100}
	v6 := Frame{Kind: FrameVRRP, Addr: netip.MustParseAddr("fe80::5e:ff:fe00:2"), VRID: 52, Priority: 100}
	garp := Frame{Kind: FrameGARP, Addr: VIPv4.Addr()}
	na := Frame{Kind: FrameNA, Addr: VIPv6.Addr()}
	want := []Frame{v4, garp, garp, garp, garp, garp, v6, na, na, na, na, na}
	for len(want) < len(frames) {
		want = append(want, v4, v6)
	}
	var got []Frame
	for _, b := range frames {
		f := ClassifyFrame(b)
		if f.Src.String() != lb2 {
			t.Errorf("frame source %v, want %s", f.Src, lb2)
		}
		f.Src = nil
		got = append(got, f)
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("ClassifyFrame() mismatch (-want +got):\n%s", diff)
	}
}

func TestClassifyFrameMalformed(t *testing.T) {
	frames := readPcap(t, "testdata/keepalived-2.2.7-master.pcap")
	for _, b := range frames[:13] {
		for n := 0; n < len(b); n++ {
			// Truncations never panic; cut inside the headers they are "other".
			f := ClassifyFrame(b[:n])
			if n < 14 && f.Kind != FrameOther {
				t.Errorf("%d-byte prefix classified as %v", n, f.Kind)
			}
		}
	}
	// An ordinary ARP request (sender and target differ) is not gratuitous.
	req := append([]byte(nil), frames[1]...)
	req[14+27] ^= 1
	if f := ClassifyFrame(req); f.Kind != FrameOther {
		t.Errorf("ARP request for another address classified as %v", f.Kind)
	}
}

func FuzzClassifyFrame(f *testing.F) {
	for _, b := range readPcap(f, "testdata/keepalived-2.2.7-master.pcap")[:13] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got := ClassifyFrame(b); got.Kind != FrameOther && len(b) < 14 {
			t.Fatalf("classified a %d-byte frame as %v", len(b), got.Kind)
		}
	})
}
