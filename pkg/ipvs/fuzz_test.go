package ipvs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

// captureNames are the kernel captures the fuzz seeds come from.
var captureNames = []string{
	"info-1", "timeouts-1", "services-1", "dests0-1", "dests1-1", "dests2-1", "daemons-1",
	"get-service-1", "error-exist-1", "error-dump-esrch-1", "apply-1", "apply-2", "services-2",
}

// fuzzSeeds derives the seeds of each fuzz target from the kernel captures:
// whole datagrams for the stream targets, and the nested attribute sets
// for the attribute decoders.
func fuzzSeeds(t testing.TB) map[string][][]byte {
	seeds := map[string][][]byte{}
	for _, name := range captureNames {
		h, err := os.ReadFile("testdata/kernel/" + name + ".hex")
		if err != nil {
			t.Fatal(err)
		}
		d := unhex(t, strings.TrimSpace(string(h)))
		seeds["FuzzReplies"] = append(seeds["FuzzReplies"], d)
		for b := d; len(b) > 0; {
			m, rest, err := nextMsg(b)
			if err != nil {
				t.Fatal(err)
			}
			b = rest
			if m.typ < 0x10 || len(m.payload) < u.GENL_HDRLEN {
				continue
			}
			p := m.payload[u.GENL_HDRLEN:]
			switch m.payload[0] {
			case u.IPVS_CMD_SET_INFO:
				seeds["FuzzDecodeInfo"] = append(seeds["FuzzDecodeInfo"], p)
			case u.IPVS_CMD_SET_CONFIG:
				seeds["FuzzDecodeInfo"] = append(seeds["FuzzDecodeInfo"], p)
			case u.IPVS_CMD_NEW_SERVICE:
				seeds["FuzzDecodeService"] = append(seeds["FuzzDecodeService"], p)
				if n, err := decodeNested(p, u.IPVS_CMD_ATTR_SERVICE); err == nil {
					it := attrs(n)
					for it.next() {
						if it.typ == u.IPVS_SVC_ATTR_STATS || it.typ == u.IPVS_SVC_ATTR_STATS64 {
							seeds["FuzzDecodeStats"] = append(seeds["FuzzDecodeStats"], it.data)
						}
					}
				}
			case u.IPVS_CMD_NEW_DEST:
				seeds["FuzzDecodeDest"] = append(seeds["FuzzDecodeDest"], p)
			case u.IPVS_CMD_NEW_DAEMON:
				seeds["FuzzDecodeDaemon"] = append(seeds["FuzzDecodeDaemon"], p)
			}
		}
	}
	return seeds
}

// TestWriteFuzzSeeds writes testdata/fuzz from the captures with -update,
// and otherwise checks every target has committed seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	for target, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if !*update {
			if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
				t.Errorf("%s: no committed seeds (%v); run with -update", dir, err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("kernel-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func addSeeds(f *testing.F, target string) {
	for _, s := range fuzzSeeds(f)[target] {
		f.Add(s)
	}
}

func FuzzDecodeService(f *testing.F) {
	addSeeds(f, "FuzzDecodeService")
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Service
		if decodeService(b, &s) != nil {
			return
		}
		// What decodes re-encodes to the same service.
		enc, err := appendServiceAttr(nil, &s, true)
		if err != nil {
			return
		}
		var again Service
		if err := decodeService(enc, &again); err != nil {
			t.Fatalf("re-decode of %+v: %v", s, err)
		}
		// What reads back is the normalised service.
		want := s.Normalize()
		want.Stats = Stats{}
		if d := cmpDiff(want, again); d != "" {
			t.Fatalf("round trip (-first +second):\n%s", d)
		}
		if !s.Equal(again) {
			t.Fatalf("%+v does not Equal its round trip %+v", s, again)
		}
	})
}

func FuzzDecodeDest(f *testing.F) {
	addSeeds(f, "FuzzDecodeDest")
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Destination
		if decodeDest(b, IPv4, &d) != nil {
			return
		}
		enc, err := appendDestAttr(nil, d.Family, &d, true)
		if err != nil {
			return
		}
		var again Destination
		if err := decodeDest(enc, IPv6, &again); err != nil {
			t.Fatalf("re-decode of %+v: %v", d, err)
		}
		if again.Key() != d.Key() || !again.Equal(d) {
			t.Fatalf("round trip: %+v then %+v", d, again)
		}
	})
}

func FuzzDecodeStats(f *testing.F) {
	addSeeds(f, "FuzzDecodeStats")
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Stats
		_ = decodeStats(b, &s)
	})
}

func FuzzDecodeInfo(f *testing.F) {
	addSeeds(f, "FuzzDecodeInfo")
	f.Fuzz(func(t *testing.T, b []byte) {
		var in Info
		_ = decodeInfo(b, &in)
		var to Timeouts
		_ = decodeTimeouts(b, &to)
	})
}

func FuzzDecodeDaemon(f *testing.F) {
	addSeeds(f, "FuzzDecodeDaemon")
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Daemon
		_ = decodeDaemon(b, &d)
	})
}

// FuzzReplies feeds a datagram to the client's receive loop as the reply
// to each kind of call: errors are fine, panics and hangs are not.
func FuzzReplies(f *testing.F) {
	addSeeds(f, "FuzzReplies")
	f.Fuzz(func(t *testing.T, b []byte) {
		for b2 := b; len(b2) > 0; {
			m, rest, err := nextMsg(b2)
			if err != nil {
				break
			}
			b2 = rest
			if m.typ == u.NLMSG_ERROR {
				_, _, _ = parseError(m)
			}
		}
		ctx := context.Background()
		calls := []func(c *Client) error{
			func(c *Client) error { _, err := c.Services(ctx); return err },
			func(c *Client) error { _, err := c.Destinations(ctx, svcN(1)); return err },
			func(c *Client) error { _, err := c.Daemons(ctx); return err },
			func(c *Client) error { _, err := c.Info(ctx); return err },
			func(c *Client) error { _, err := c.Timeouts(ctx); return err },
			func(c *Client) error { _, err := c.Service(ctx, svcN(1)); return err },
			func(c *Client) error {
				_, err := c.Apply(ctx, []Op{{Kind: OpCreateService, Service: svcN(1)}, {Kind: OpRemoveService, Service: svcN(2)}})
				return err
			},
		}
		for _, call := range calls {
			c, err := New(&Config{Conn: &rawReplay{dgram: b}})
			if err != nil {
				t.Fatal(err)
			}
			_ = call(c)
			c.Close()
		}
	})
}

// rawReplay answers the first request with one datagram, unchanged except
// that its sequence numbers are renumbered to start at the client's first.
type rawReplay struct {
	dgram []byte
	seq   uint32
	sent  bool
	given bool
}

func (r *rawReplay) Family(string) (uint16, error) { return fakeFamily, nil }
func (r *rawReplay) SetDeadline(time.Time) error   { return nil }
func (r *rawReplay) Close() error                  { return nil }
func (r *rawReplay) Send(b []byte) error {
	if !r.sent && len(b) >= 16 {
		r.seq, r.sent = ne.Uint32(b[8:]), true
	}
	return nil
}
func (r *rawReplay) Receive(b []byte) (int, error) {
	if r.given {
		return 0, os.ErrDeadlineExceeded
	}
	r.given = true
	d := append([]byte(nil), r.dgram...)
	var base uint32
	if len(d) >= 16 {
		base = ne.Uint32(d[8:])
	}
	for off := 0; off+16 <= len(d); {
		ne.PutUint32(d[off+8:], r.seq+ne.Uint32(d[off+8:])-base)
		l := int(ne.Uint32(d[off:]))
		if l < 16 {
			break
		}
		off += (l + 3) &^ 3
	}
	return copy(b, d), nil
}
