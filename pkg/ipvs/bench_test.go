package ipvs

import (
	"context"
	"net/netip"
	"testing"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

// The user-space cost of the client, against a conn that acknowledges
// everything: encode, framing and sequence matching, without the kernel.

func BenchmarkCreateService(b *testing.B) {
	c, err := New(&Config{Conn: &ackConn{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s := svcN(1)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.CreateService(ctx, s)
	}
}

func BenchmarkApply1000(b *testing.B) {
	c, err := New(&Config{Conn: &ackConn{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ops := make([]Op, 1000)
	for i := range ops {
		ops[i] = Op{Kind: OpCreateDestination, Service: svcN(i / 10),
			Destination: Destination{Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Weight: 1}}
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Apply(ctx, ops)
	}
}

// BenchmarkDecodeDestinations decodes a captured kernel dump of destinations.
func BenchmarkDecodeDestinations(b *testing.B) {
	d := readCapture(b, "dests0-1")[0]
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	var dst Destination
	for b.Loop() {
		for rest := d; len(rest) > 0; {
			m, r, err := nextMsg(rest)
			if err != nil {
				b.Fatal(err)
			}
			rest = r
			p, err := genlPayload(m, u.IPVS_CMD_NEW_DEST)
			if err != nil {
				b.Fatal(err)
			}
			if err := decodeDest(p, IPv4, &dst); err != nil {
				b.Fatal(err)
			}
		}
	}
}
