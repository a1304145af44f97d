package ipvstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/ipvs/ipvstest"
)

// FuzzRequests sends arbitrary bytes to the fake kernel, which must answer
// or ignore them, never panic, and keep serving a client afterwards.
func FuzzRequests(f *testing.F) {
	// A NEW_SERVICE request for tcp 10.0.0.1:80, rr, as pkg/ipvs packs it.
	f.Add([]byte("\x5c\x00\x00\x00\x2a\x00\x05\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x01\x00\x00" +
		"\x48\x00\x01\x80\x06\x00\x01\x00\x02\x00\x00\x00\x06\x00\x02\x00\x06\x00\x00\x00" +
		"\x08\x00\x03\x00\x0a\x00\x00\x01\x06\x00\x04\x00\x00\x50\x00\x00\x07\x00\x06\x00rr\x00\x00" +
		"\x0c\x00\x07\x00\x00\x00\x00\x00\xff\xff\xff\xff\x08\x00\x08\x00\x00\x00\x00\x00\x08\x00\x09\x00\xff\xff\xff\xff"))
	f.Add([]byte("\x14\x00\x00\x00\x2a\x00\x01\x03\x02\x00\x00\x00\x00\x00\x00\x00\x04\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k := ipvstest.NewKernel()
		conn := k.Conn()
		if err := conn.Send(b); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<16)
		_ = conn.SetDeadline(time.Now().Add(-time.Second))
		for {
			if _, err := conn.Receive(buf); err != nil {
				break
			}
		}
		c, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.DumpAll(context.Background()); err != nil {
			t.Fatalf("DumpAll after %x: %v", b, err)
		}
	})
}
