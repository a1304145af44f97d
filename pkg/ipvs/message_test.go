package ipvs

import (
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCreateServiceBytes checks one request against bytes written out by
// hand from the netlink, genetlink and ip_vs.h layouts (little-endian host).
func TestCreateServiceBytes(t *testing.T) {
	wantB := unhex(t, ""+
		"5c000000 2000 0500 01000000 00000000"+ // nlmsghdr: len 92, family 0x20, REQUEST|ACK, seq 1, pid 0
		"01 01 0000"+ // genlmsghdr: IPVS_CMD_NEW_SERVICE, version 1
		"4800 0180"+ // IPVS_CMD_ATTR_SERVICE|NLA_F_NESTED, 72 bytes
		"0600 0100 0200 0000"+ // IPVS_SVC_ATTR_AF AF_INET
		"0600 0200 0600 0000"+ // IPVS_SVC_ATTR_PROTOCOL TCP
		"0800 0300 0a000001"+ // IPVS_SVC_ATTR_ADDR 10.0.0.1
		"0600 0400 0050 0000"+ // IPVS_SVC_ATTR_PORT 80 (big-endian)
		"0700 0600 727200 00"+ // IPVS_SVC_ATTR_SCHED_NAME "rr\0"
		"0c00 0700 00000000 ffffffff"+ // IPVS_SVC_ATTR_FLAGS {flags 0, mask ~0}
		"0800 0800 00000000"+ // IPVS_SVC_ATTR_TIMEOUT 0
		"0800 0900 ffffffff") // IPVS_SVC_ATTR_NETMASK 255.255.255.255
	got, err := appendServiceMsg(nil, header{family: 0x20, flags: u.NLM_F_ACK, seq: 1, cmd: u.IPVS_CMD_NEW_SERVICE},
		&Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Scheduler: "rr"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmpDiff(hex.EncodeToString(wantB), hex.EncodeToString(got)); d != "" {
		t.Errorf("NEW_SERVICE bytes (-want +got):\n%s", d)
	}
}

// goldenRequests is every request kind the client sends.
func goldenRequests() []struct {
	name  string
	build func(b []byte, h header) ([]byte, error)
	cmd   uint8
	flags uint16
} {
	v4 := Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Scheduler: "wrr", Flags: Persistent | OnePacket, Timeout: 300, Netmask: 24}
	v6 := Service{Protocol: UDP, Address: mustAddr("2001:db8::1"), Port: 53, Scheduler: "sh", Flags: SHFallback | SHPort, Netmask: 64, PersistenceEngine: "sip"}
	fw := Service{Family: IPv6, FWMark: 7, Scheduler: "mh", Flags: MHPort}
	sctp := Service{Protocol: SCTP, Address: mustAddr("10.0.0.2"), Port: 3868}
	masq := Destination{Address: mustAddr("10.0.1.1"), Port: 8080, Forward: Masquerade, Weight: 3, UpperThreshold: 100, LowerThreshold: 10}
	gue := Destination{Address: mustAddr("10.0.1.2"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: GUE, TunnelPort: 6080, TunnelFlags: TunnelChecksum | TunnelRemoteChecksum}
	v6d := Destination{Address: mustAddr("2001:db8:1::2"), Port: 53, Forward: DirectRoute, Weight: 2}
	svc := func(s Service, full bool) func([]byte, header) ([]byte, error) {
		return func(b []byte, h header) ([]byte, error) { return appendServiceMsg(b, h, &s, full) }
	}
	dst := func(s Service, d *Destination, full bool) func([]byte, header) ([]byte, error) {
		return func(b []byte, h header) ([]byte, error) { return appendDestMsg(b, h, &s, d, full) }
	}
	daemon := func(d Daemon, full bool) func([]byte, header) ([]byte, error) {
		return func(b []byte, h header) ([]byte, error) { return appendDaemonMsg(b, h, &d, full) }
	}
	return []struct {
		name  string
		build func(b []byte, h header) ([]byte, error)
		cmd   uint8
		flags uint16
	}{
		{"new-service-v4", svc(v4, true), u.IPVS_CMD_NEW_SERVICE, u.NLM_F_ACK},
		{"new-service-v6-pe", svc(v6, true), u.IPVS_CMD_NEW_SERVICE, u.NLM_F_ACK},
		{"new-service-fwmark6", svc(fw, true), u.IPVS_CMD_NEW_SERVICE, u.NLM_F_ACK},
		{"new-service-sctp", svc(sctp, true), u.IPVS_CMD_NEW_SERVICE, u.NLM_F_ACK},
		{"set-service", svc(v4, true), u.IPVS_CMD_SET_SERVICE, u.NLM_F_ACK},
		{"del-service", svc(v4, false), u.IPVS_CMD_DEL_SERVICE, u.NLM_F_ACK},
		{"get-service", svc(v6, false), u.IPVS_CMD_GET_SERVICE, u.NLM_F_ACK},
		{"dump-services", emptyBuilder, u.IPVS_CMD_GET_SERVICE, u.NLM_F_DUMP},
		{"new-dest-masq", dst(v4, &masq, true), u.IPVS_CMD_NEW_DEST, u.NLM_F_ACK},
		{"new-dest-gue", dst(v4, &gue, true), u.IPVS_CMD_NEW_DEST, u.NLM_F_ACK},
		{"new-dest-v6", dst(v6, &v6d, true), u.IPVS_CMD_NEW_DEST, u.NLM_F_ACK},
		{"set-dest", dst(v4, &masq, true), u.IPVS_CMD_SET_DEST, u.NLM_F_ACK},
		{"del-dest", dst(v4, &masq, false), u.IPVS_CMD_DEL_DEST, u.NLM_F_ACK},
		{"dump-dests-fwmark", dst(fw, nil, false), u.IPVS_CMD_GET_DEST, u.NLM_F_DUMP},
		{"new-daemon-master", daemon(Daemon{State: Master, Interface: "eth0", SyncID: 5, MaxLen: 1400, Group: mustAddr("239.1.2.3"), Port: 9000, TTL: 3}, true), u.IPVS_CMD_NEW_DAEMON, u.NLM_F_ACK},
		{"new-daemon-backup6", daemon(Daemon{State: Backup, Interface: "eth1", SyncID: 6, Group: mustAddr("ff02::81")}, true), u.IPVS_CMD_NEW_DAEMON, u.NLM_F_ACK},
		{"del-daemon", daemon(Daemon{State: Backup}, false), u.IPVS_CMD_DEL_DAEMON, u.NLM_F_ACK},
		{"dump-daemons", emptyBuilder, u.IPVS_CMD_GET_DAEMON, u.NLM_F_DUMP},
		{"set-config", func(b []byte, h header) ([]byte, error) {
			return appendTimeoutsMsg(b, h, Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second})
		}, u.IPVS_CMD_SET_CONFIG, u.NLM_F_ACK},
		{"get-config", emptyBuilder, u.IPVS_CMD_GET_CONFIG, u.NLM_F_ACK},
		{"get-info", emptyBuilder, u.IPVS_CMD_GET_INFO, u.NLM_F_ACK},
		{"zero-all", emptyBuilder, u.IPVS_CMD_ZERO, u.NLM_F_ACK},
		{"zero-service", svc(sctp, false), u.IPVS_CMD_ZERO, u.NLM_F_ACK},
		{"flush", emptyBuilder, u.IPVS_CMD_FLUSH, u.NLM_F_ACK},
	}
}

func TestRequestGolden(t *testing.T) {
	for _, tc := range goldenRequests() {
		got, err := tc.build(nil, header{family: 0x20, flags: tc.flags, seq: 42, cmd: tc.cmd})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		path := filepath.Join("testdata", "golden", tc.name+".hex")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run with -update)", tc.name, err)
		}
		if d := cmpDiff(strings.TrimSpace(string(want)), hex.EncodeToString(got)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
		// Every request is one well-formed message of the right command.
		m, rest, err := nextMsg(got)
		if err != nil || len(rest) != 0 || m.seq != 42 || m.flags&u.NLM_F_REQUEST == 0 || m.payload[0] != tc.cmd {
			t.Errorf("%s: not one request message: %+v, %d left, %v", tc.name, m, len(rest), err)
		}
		it := attrs(m.payload[u.GENL_HDRLEN:])
		for it.next() {
		}
		if it.err != nil {
			t.Errorf("%s: attributes: %v", tc.name, it.err)
		}
	}
}

// TestServiceRoundTrip encodes services as requests and decodes them back.
func TestServiceRoundTrip(t *testing.T) {
	for _, tc := range []struct{ in, want Service }{
		{Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80},
			Service{Family: IPv4, Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Scheduler: "wlc", Netmask: 32}},
		{Service{Protocol: TCP, Address: mustAddr("::ffff:10.0.0.1"), Port: 80, Family: IPv4, Netmask: 8, Flags: Persistent, Timeout: 9},
			Service{Family: IPv4, Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Scheduler: "wlc", Netmask: 8, Flags: Persistent, Timeout: 9}},
		{Service{Protocol: UDP, Address: mustAddr("2001:db8::1"), Port: 53, Scheduler: "mh", Flags: MHFallback | MHPort | OnePacket | hashedFlag, Netmask: 48, PersistenceEngine: "sip"},
			Service{Family: IPv6, Protocol: UDP, Address: mustAddr("2001:db8::1"), Port: 53, Scheduler: "mh", Flags: MHFallback | MHPort | OnePacket, Netmask: 48, PersistenceEngine: "sip"}},
		{Service{FWMark: 9, Scheduler: "a-custom-sched"},
			Service{Family: IPv4, FWMark: 9, Scheduler: "a-custom-sched", Netmask: 32}},
	} {
		b, err := appendServiceAttr(nil, &tc.in, true)
		if err != nil {
			t.Fatal(err)
		}
		var got Service
		if err := decodeService(b, &got); err != nil {
			t.Fatalf("%v: %v", tc.in, err)
		}
		if d := cmpDiff(tc.want, got); d != "" {
			t.Errorf("%v (-want +got):\n%s", tc.in, d)
		}
		if got.Key() != tc.in.Key() {
			t.Errorf("key %v, want %v", got.Key(), tc.in.Key())
		}
	}
}

func TestDestinationAndDaemonRoundTrip(t *testing.T) {
	for _, d := range []Destination{
		{Family: IPv4, Address: mustAddr("10.0.1.1"), Port: 8080, Forward: Masquerade, Weight: 3, UpperThreshold: 100, LowerThreshold: 10},
		{Family: IPv4, Address: mustAddr("10.0.1.2"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: GRE, TunnelFlags: TunnelChecksum},
		{Family: IPv6, Address: mustAddr("2001:db8::2"), Port: 80, Forward: Tunnel, Weight: 7, TunnelType: GUE, TunnelPort: 5555},
		{Family: IPv6, Address: mustAddr("2001:db8::3"), Port: 80, Forward: Bypass},
	} {
		b, err := appendDestAttr(nil, d.Family, &d, true)
		if err != nil {
			t.Fatal(err)
		}
		var got Destination
		if err := decodeDest(b, IPv4, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmpDiff(d, got); diff != "" {
			t.Errorf("%v (-want +got):\n%s", d, diff)
		}
	}
	for _, d := range []Daemon{
		{State: Master, Interface: "eth0", SyncID: 5, MaxLen: 1400, Group: mustAddr("239.1.2.3"), Port: 9000, TTL: 3},
		{State: Backup, Interface: "eth1", SyncID: 6, Group: mustAddr("ff02::81")},
	} {
		b, err := appendDaemonMsg(nil, header{family: 1}, &d, true)
		if err != nil {
			t.Fatal(err)
		}
		var got Daemon
		if err := decodeDaemon(b[u.NLMSG_HDRLEN+u.GENL_HDRLEN:], &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmpDiff(d, got); diff != "" {
			t.Errorf("daemon (-want +got):\n%s", diff)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	okSvc, _ := appendServiceAttr(nil, &Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80}, true)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short attribute header", okSvc[:3]},
		{"attribute past the end", okSvc[:len(okSvc)-2]},
		{"no family", unhex(t, "0c00 0180 0600 0200 0600 0000")},
		{"unknown family", unhex(t, "0c00 0180 0600 0100 0700 0000")},
		{"short address", unhex(t, "1400 0180 0600 0100 0a00 0000 0600 0300 0102 0000")},
		{"short port", unhex(t, "1400 0180 0600 0100 0200 0000 0500 0400 01 000000")},
		{"v6 netmask too long", unhex(t, "1400 0180 0600 0100 0a00 0000 0800 0900 81000000")},
	} {
		var s Service
		err := decodeService(tc.b, &s)
		if !errors.Is(err, errMalformed) {
			t.Errorf("%s: %v, want a malformed error", tc.name, err)
		}
	}
	var st Stats
	if err := decodeStats(unhex(t, "0700 0100 010203"), &st); !errors.Is(err, errMalformed) {
		t.Errorf("3-byte counter: %v", err)
	}
	var in Info
	if err := decodeInfo(nil, &in); !errors.Is(err, errMalformed) {
		t.Errorf("empty info: %v", err)
	}
	if _, _, err := parseError(nlMsg{payload: []byte{1, 2}}); !errors.Is(err, errMalformed) {
		t.Errorf("short error: %v", err)
	}
	if _, _, err := parseError(nlMsg{payload: []byte{1, 0, 0, 0}}); !errors.Is(err, errMalformed) {
		t.Errorf("positive error code: %v", err)
	}
}

func TestParseErrorExtAck(t *testing.T) {
	// An NLMSG_ERROR with NLM_F_CAPPED|NLM_F_ACK_TLVS and an NLMSGERR_ATTR_MSG.
	p := ne.AppendUint32(nil, uint32(0xffffffea))      // -EINVAL
	p = append(p, make([]byte, u.NLMSG_HDRLEN)...)     // the capped request header
	p = putString(p, u.NLMSGERR_ATTR_MSG, "bad thing") //
	errno, text, err := parseError(nlMsg{flags: u.NLM_F_CAPPED | u.NLM_F_ACK_TLVS, payload: p})
	if err != nil || errno != 22 || text != "bad thing" {
		t.Errorf("parseError = %v, %q, %v", errno, text, err)
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{IPv4.String(), "inet"}, {IPv6.String(), "inet6"}, {Family(3).String(), "family(3)"},
		{TCP.String(), "tcp"}, {UDP.String(), "udp"}, {SCTP.String(), "sctp"}, {Protocol(1).String(), "proto(1)"},
		{Masquerade.String(), "masq"}, {DirectRoute.String(), "route"}, {Tunnel.String(), "tunnel"}, {Local.String(), "local"}, {Bypass.String(), "bypass"},
		{GUE.String(), "gue"}, {GRE.String(), "gre"}, {IPIP.String(), "ipip"},
		{TunnelFlags(0).String(), "nocsum"}, {(TunnelChecksum | TunnelRemoteChecksum).String(), "csum|remcsum"},
		{(Persistent | OnePacket | SchedFlag3).String(), "persistent|one-packet|sched3"},
		{(SHFallback | SHPort).NamesFor("sh"), "sh-fallback|sh-port"},
		{(MHFallback | MHPort).NamesFor("mh"), "mh-fallback|mh-port"},
		{ServiceFlags(0).String(), "none"}, {ServiceFlags(0x100).String(), "0x100"},
		{Master.String(), "master"}, {Backup.String(), "backup"},
		{Version(0x010201).String(), "1.2.1"},
		{Service{Protocol: UDP, Address: mustAddr("2001:db8::1"), Port: 53}.String(), "udp [2001:db8::1]:53"},
		{Service{FWMark: 7}.String(), "fwmark 7 inet"},
		{Destination{Address: mustAddr("10.0.0.1"), Port: 80}.String(), "10.0.0.1:80"},
		{OpCreateDestination.String(), "create destination"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestDecodeAnyOrder decodes service and destination attribute sets in
// every rotation and in reverse: netlink promises no order, and an IPv6
// netmask read before the family used to be taken for a mask in network
// order (and refused as /1073741824).
func TestDecodeAnyOrder(t *testing.T) {
	split := func(b []byte) [][]byte {
		var out [][]byte
		for len(b) > 0 {
			l := (int(ne.Uint16(b)) + 3) &^ 3
			out = append(out, b[:min(l, len(b))])
			b = b[min(l, len(b)):]
		}
		return out
	}
	orders := func(parts [][]byte) [][]byte {
		var out [][]byte
		for r := range parts {
			var b []byte
			for i := range parts {
				b = append(b, parts[(i+r)%len(parts)]...)
			}
			out = append(out, b)
		}
		var rev []byte
		for i := len(parts) - 1; i >= 0; i-- {
			rev = append(rev, parts[i]...)
		}
		return append(out, rev)
	}
	for _, s := range []Service{
		{Protocol: UDP, Address: mustAddr("2001:db8::1"), Port: 53, Scheduler: "sh", Flags: Persistent, Timeout: 60, Netmask: 64, PersistenceEngine: "sip"},
		{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Netmask: 24},
		{Family: IPv6, FWMark: 3, Netmask: 48},
		{Protocol: TCP, Address: mustAddr("10.0.0.2"), Port: 80, Netmask: ZeroNetmask},
	} {
		enc, err := appendServiceAttr(nil, &s, true)
		if err != nil {
			t.Fatal(err)
		}
		want := s.Normalize()
		for _, body := range orders(split(enc[4:])) {
			var got Service
			if err := decodeServiceAttrs(body, &got); err != nil {
				t.Errorf("%v in order %x: %v", s, body, err)
				continue
			}
			if d := cmpDiff(want, got); d != "" {
				t.Errorf("%v in order %x (-want +got):\n%s", s, body, d)
			}
		}
	}
	for _, d := range []Destination{
		{Address: mustAddr("2001:db8::7"), Port: 8080, Forward: Tunnel, Weight: 3, TunnelType: GUE, TunnelPort: 6080},
		{Address: mustAddr("10.0.1.1"), Port: 80, Forward: Masquerade, Weight: 1, UpperThreshold: 9, LowerThreshold: 1},
	} {
		enc, err := appendDestAttr(nil, d.family(), &d, true)
		if err != nil {
			t.Fatal(err)
		}
		want := d.Normalize()
		for _, body := range orders(split(enc[4:])) {
			var got Destination
			if err := decodeDestAttrs(body, IPv4, &got); err != nil {
				t.Errorf("%v in order %x: %v", d, body, err)
				continue
			}
			if diff := cmpDiff(want, got); diff != "" {
				t.Errorf("%v in order %x (-want +got):\n%s", d, body, diff)
			}
		}
	}
}

// TestNormalizeEqual checks what Normalize fills in and what Equal ignores
// and sees.
func TestNormalizeEqual(t *testing.T) {
	v4 := Service{Protocol: TCP, Address: mustAddr("::ffff:10.0.0.1"), Port: 80}
	n := v4.Normalize()
	if want := (Service{Family: IPv4, Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Scheduler: "wlc", Netmask: 32}); n != want {
		t.Errorf("Normalize(%+v) = %+v, want %+v", v4, n, want)
	}
	fw := Service{FWMark: 5, Protocol: UDP, Address: mustAddr("10.0.0.1"), Port: 9, Flags: Persistent | hashedFlag}
	if want := (Service{Family: IPv4, FWMark: 5, Scheduler: "wlc", Netmask: 32, Flags: Persistent}); fw.Normalize() != want {
		t.Errorf("Normalize(%+v) = %+v, want %+v", fw, fw.Normalize(), want)
	}
	withStats := n
	withStats.Stats.Connections = 7
	for _, tc := range []struct {
		a, b  Service
		equal bool
	}{
		{v4, n, true},
		{v4, withStats, true},
		{v4, Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Scheduler: "rr"}, false},
		{v4, Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Netmask: 24}, false},
		{v4, Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Netmask: ZeroNetmask}, false},
		{v4, Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Timeout: 1}, false},
		{v4, Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, PersistenceEngine: "sip"}, false},
		{v4, Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Flags: OnePacket}, false},
		{Service{Family: IPv6, FWMark: 1}, Service{Family: IPv6, FWMark: 1, Netmask: 128, Scheduler: "wlc"}, true},
		{Service{Family: IPv6, FWMark: 1}, Service{FWMark: 1}, false},
	} {
		if got := tc.a.Equal(tc.b); got != tc.equal || tc.b.Equal(tc.a) != tc.equal {
			t.Errorf("%+v.Equal(%+v) = %v, want %v (both ways)", tc.a, tc.b, got, tc.equal)
		}
	}
	masq := Destination{Address: mustAddr("10.0.1.1"), Port: 80, Weight: 1}
	back := Destination{Family: IPv4, Address: mustAddr("10.0.1.1"), Port: 80, Weight: 1, TunnelType: GUE, TunnelPort: 5,
		ActiveConns: 3, InactiveConns: 2, PersistentConns: 1, Stats: Stats{BytesIn: 9}}
	gue := Destination{Address: mustAddr("10.0.1.1"), Port: 80, Weight: 1, Forward: Tunnel, TunnelType: GUE, TunnelPort: 6080}
	for _, tc := range []struct {
		a, b  Destination
		equal bool
	}{
		{masq, back, true}, // tunnel fields do not matter to masquerade, counters never
		{masq, Destination{Address: mustAddr("10.0.1.1"), Port: 80, Weight: 2}, false},
		{masq, Destination{Address: mustAddr("10.0.1.1"), Port: 80, Weight: 1, UpperThreshold: 1}, false},
		{masq, Destination{Address: mustAddr("10.0.1.1"), Port: 80, Weight: 1, Forward: DirectRoute}, false},
		{gue, Destination{Address: mustAddr("10.0.1.1"), Port: 80, Weight: 1, Forward: Tunnel, TunnelType: GUE, TunnelPort: 6081}, false},
		{gue, Destination{Address: mustAddr("10.0.1.1"), Port: 80, Weight: 1, Forward: Tunnel, TunnelType: GUE, TunnelPort: 6080, TunnelFlags: TunnelChecksum}, false},
		{gue, Destination{Family: IPv4, Address: mustAddr("::ffff:10.0.1.1"), Port: 80, Weight: 1, Forward: Tunnel, TunnelType: GUE, TunnelPort: 6080}, true},
	} {
		if got := tc.a.Equal(tc.b); got != tc.equal || tc.b.Equal(tc.a) != tc.equal {
			t.Errorf("%+v.Equal(%+v) = %v, want %v (both ways)", tc.a, tc.b, got, tc.equal)
		}
	}
}
