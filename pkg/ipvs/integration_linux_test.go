//go:build linux

package ipvs

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
)

// lab is one integration test's IPVS: a fresh network namespace (IPVS state
// is per namespace) and a Client bound to it.
type lab struct {
	t  *testing.T
	ns *testenv.Netns
	c  *Client
}

func newLab(t *testing.T) *lab {
	t.Helper()
	testenv.Integration(t, "ipvsadm")
	ns := testenv.NewNetns(t)
	conn, err := dial(&Config{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	var rc Conn = conn
	if os.Getenv("SEESAW_IPVS_CAPTURE") == "1" {
		rc = &captureConn{Conn: conn, t: t}
	}
	c, err := New(&Config{Conn: rc})
	if errors.Is(err, ErrNoIPVS) {
		testenv.Skip(t, "kernel without IPVS: %v", err)
	}
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &lab{t: t, ns: ns, c: c}
}

// captureConn logs every datagram the kernel sends, for testdata/kernel.
type captureConn struct {
	Conn
	t *testing.T
}

func (c *captureConn) Receive(b []byte) (int, error) {
	n, err := c.Conn.Receive(b)
	if err == nil {
		c.t.Logf("ipvs-capture: %s %s", c.t.Name(), hex.EncodeToString(b[:n]))
	}
	return n, err
}

func (l *lab) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	l.t.Cleanup(cancel)
	return ctx
}

func (l *lab) sh(cmd string) string { l.t.Helper(); return l.ns.Sh(l.t, cmd) }

func (l *lab) save() []admService {
	l.t.Helper()
	return parseIpvsadmSave(l.t, l.sh("ipvsadm -Sn"))
}

func TestIntegrationInfoAndTimeouts(t *testing.T) {
	l := newLab(t)
	ctx := l.ctx()
	in, err := l.c.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	// "IP Virtual Server version 1.2.1 (size=4096)"
	hdr := strings.SplitN(l.sh("ipvsadm -Ln"), "\n", 2)[0]
	var maj, min, pat, size int
	if _, err := fmt.Sscanf(hdr, "IP Virtual Server version %d.%d.%d (size=%d)", &maj, &min, &pat, &size); err != nil {
		t.Fatalf("ipvsadm header %q: %v", hdr, err)
	}
	if got, want := in, (Info{Version: Version(maj<<16 | min<<8 | pat), ConnTableSize: uint32(size)}); got != want {
		t.Errorf("Info = %+v, ipvsadm says %+v", got, want)
	}
	if in.Version != 0x010201 {
		t.Errorf("Info.Version = %v, want 1.2.1", in.Version)
	}

	check := func(want [3]int) {
		t.Helper()
		got, err := l.c.Timeouts(ctx)
		if err != nil {
			t.Fatalf("Timeouts: %v", err)
		}
		mine := [3]int{int(got.TCP / time.Second), int(got.TCPFin / time.Second), int(got.UDP / time.Second)}
		adm := parseIpvsadmTimeouts(t, l.sh("ipvsadm -Ln --timeout"))
		if mine != want || adm != want {
			t.Errorf("timeouts: pkg/ipvs %v, ipvsadm %v, want %v", mine, adm, want)
		}
	}
	check([3]int{900, 120, 300}) // the kernel defaults
	if err := l.c.SetTimeouts(ctx, Timeouts{TCP: 100 * time.Second, TCPFin: 20 * time.Second, UDP: 30 * time.Second}); err != nil {
		t.Fatalf("SetTimeouts: %v", err)
	}
	check([3]int{100, 20, 30})
	if err := l.c.SetTimeouts(ctx, Timeouts{UDP: 45 * time.Second}); err != nil {
		t.Fatalf("SetTimeouts: %v", err)
	}
	check([3]int{100, 20, 45}) // zero fields unchanged
	// A fraction of a second used to be rounded, 400 ms to 0: "unchanged".
	if err := l.c.SetTimeouts(ctx, Timeouts{TCP: 400 * time.Millisecond}); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("SetTimeouts(400 ms) = %v, want os.ErrInvalid", err)
	}
	check([3]int{100, 20, 45})
}

// svcCase is a service to create, what reads back, and ipvsadm's view of it.
type svcCase struct {
	name string
	svc  Service
	want Service
	adm  admService
}

func serviceCases() []svcCase {
	v4 := mustAddr("10.0.0.1")
	v6 := mustAddr("2001:db8::1")
	var cs []svcCase
	for i, sched := range []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"} {
		port := uint16(1000 + i)
		cs = append(cs, svcCase{
			name: "tcp-" + sched,
			svc:  Service{Protocol: TCP, Address: v4, Port: port, Scheduler: sched},
			want: Service{Family: IPv4, Protocol: TCP, Address: v4, Port: port, Scheduler: sched, Netmask: 32},
			adm:  admService{Kind: "-t", Addr: "10.0.0.1:" + strconv.Itoa(int(port)), Sched: sched},
		})
	}
	cs = append(cs,
		svcCase{
			name: "default-scheduler",
			svc:  Service{Protocol: TCP, Address: v4, Port: 2000},
			want: Service{Family: IPv4, Protocol: TCP, Address: v4, Port: 2000, Scheduler: "wlc", Netmask: 32},
			adm:  admService{Kind: "-t", Addr: "10.0.0.1:2000", Sched: "wlc"},
		},
		svcCase{
			name: "udp-persistent-mask",
			svc:  Service{Family: IPv4, Protocol: UDP, Address: v4, Port: 53, Scheduler: "rr", Flags: Persistent, Timeout: 300, Netmask: 24},
			want: Service{Family: IPv4, Protocol: UDP, Address: v4, Port: 53, Scheduler: "rr", Flags: Persistent, Timeout: 300, Netmask: 24},
			adm:  admService{Kind: "-u", Addr: "10.0.0.1:53", Sched: "rr", Persistent: "300", Mask: "255.255.255.0"},
		},
		svcCase{
			name: "sctp-pe-sip",
			svc:  Service{Protocol: SCTP, Address: v4, Port: 3868, Scheduler: "fo", Flags: Persistent, Timeout: 60, PersistenceEngine: "sip"},
			want: Service{Family: IPv4, Protocol: SCTP, Address: v4, Port: 3868, Scheduler: "fo", Flags: Persistent, Timeout: 60, Netmask: 32, PersistenceEngine: "sip"},
			adm:  admService{Kind: "--sctp-service", Addr: "10.0.0.1:3868", Sched: "fo", Persistent: "60", PE: "sip"},
		},
		svcCase{
			name: "ipv6-sh-flags-onepacket",
			svc:  Service{Protocol: UDP, Address: v6, Port: 53, Scheduler: "sh", Flags: SHFallback | SHPort | OnePacket | Persistent, Timeout: 120, Netmask: 64},
			want: Service{Family: IPv6, Protocol: UDP, Address: v6, Port: 53, Scheduler: "sh", Flags: SHFallback | SHPort | OnePacket | Persistent, Timeout: 120, Netmask: 64},
			adm:  admService{Kind: "-u", Addr: "[2001:db8::1]:53", Sched: "sh", Persistent: "120", Mask: "64", OnePacket: true, SchedFlags: "sh-fallback,sh-port"},
		},
		svcCase{
			name: "ipv6-tcp",
			svc:  Service{Protocol: TCP, Address: v6, Port: 443, Scheduler: "wrr"},
			want: Service{Family: IPv6, Protocol: TCP, Address: v6, Port: 443, Scheduler: "wrr", Netmask: 128},
			adm:  admService{Kind: "-t", Addr: "[2001:db8::1]:443", Sched: "wrr"},
		},
		svcCase{
			name: "fwmark-mh",
			svc:  Service{FWMark: 7, Scheduler: "mh", Flags: MHPort | MHFallback},
			want: Service{Family: IPv4, FWMark: 7, Scheduler: "mh", Flags: MHPort | MHFallback, Netmask: 32},
			adm:  admService{Kind: "-f", Addr: "7", Sched: "mh", SchedFlags: "mh-fallback,mh-port"},
		},
		svcCase{
			name: "fwmark-ipv6",
			svc:  Service{Family: IPv6, FWMark: 8, Scheduler: "lc"},
			want: Service{Family: IPv6, FWMark: 8, Scheduler: "lc", Netmask: 128},
			adm:  admService{Kind: "-f", Addr: "8", IPv6: true, Sched: "lc"},
		},
		svcCase{
			name: "sched-flag-3",
			svc:  Service{Protocol: TCP, Address: v4, Port: 2001, Scheduler: "rr", Flags: SchedFlag3},
			want: Service{Family: IPv4, Protocol: TCP, Address: v4, Port: 2001, Scheduler: "rr", Flags: SchedFlag3, Netmask: 32},
			adm:  admService{Kind: "-t", Addr: "10.0.0.1:2001", Sched: "rr", SchedFlags: "flag-3"},
		},
	)
	return cs
}

func TestIntegrationServices(t *testing.T) {
	l := newLab(t)
	ctx := l.ctx()
	cases := serviceCases()
	for _, tc := range cases {
		if err := l.c.CreateService(ctx, tc.svc); err != nil {
			t.Fatalf("%s: CreateService: %v", tc.name, err)
		}
		got, err := l.c.Service(ctx, tc.svc)
		if err != nil {
			t.Fatalf("%s: Service: %v", tc.name, err)
		}
		if d := cmpDiff(tc.want, got, ignoreStats); d != "" {
			t.Errorf("%s: Service read back (-want +got):\n%s", tc.name, d)
		}
		if !tc.svc.Equal(got) || tc.svc.Normalize() != tc.want {
			t.Errorf("%s: %+v does not Equal its read-back %+v (normalised %+v)", tc.name, tc.svc, got, tc.svc.Normalize())
		}
		if got.Key() != tc.svc.Key() {
			t.Errorf("%s: key read back %v, asked %v", tc.name, got.Key(), tc.svc.Key())
		}
	}

	// The dump and ipvsadm agree with what was asked, as a set.
	dump, err := l.c.Services(ctx)
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	byKey := map[ServiceKey]Service{}
	for _, s := range dump {
		byKey[s.Key()] = s
	}
	admByAddr := map[string]admService{}
	for _, s := range l.save() {
		admByAddr[s.Kind+" "+s.Addr] = s
	}
	if len(dump) != len(cases) || len(admByAddr) != len(cases) {
		t.Errorf("dump has %d services, ipvsadm %d, want %d", len(dump), len(admByAddr), len(cases))
	}
	for _, tc := range cases {
		if d := cmpDiff(tc.want, byKey[tc.svc.Key()], ignoreStats); d != "" {
			t.Errorf("%s: dump (-want +got):\n%s", tc.name, d)
		}
		if d := cmpDiff(tc.adm, admByAddr[tc.adm.Kind+" "+tc.adm.Addr]); d != "" {
			t.Errorf("%s: ipvsadm -Sn (-want +got):\n%s", tc.name, d)
		}
	}

	// Update: new scheduler, flags, persistence; then read back both ways.
	up := Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 1000, Scheduler: "sh", Flags: Persistent | SHPort, Timeout: 77, Netmask: 16}
	if err := l.c.UpdateService(ctx, up); err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	got, err := l.c.Service(ctx, up)
	if err != nil {
		t.Fatalf("Service after update: %v", err)
	}
	wantUp := up
	wantUp.Family = IPv4
	if d := cmpDiff(wantUp, got, ignoreStats); d != "" {
		t.Errorf("after UpdateService (-want +got):\n%s", d)
	}
	found := false
	for _, s := range l.save() {
		if s.Kind == "-t" && s.Addr == "10.0.0.1:1000" {
			found = true
			want := admService{Kind: "-t", Addr: "10.0.0.1:1000", Sched: "sh", Persistent: "77", Mask: "255.255.0.0", SchedFlags: "sh-port"}
			if d := cmpDiff(want, s); d != "" {
				t.Errorf("ipvsadm after update (-want +got):\n%s", d)
			}
		}
	}
	if !found {
		t.Errorf("ipvsadm lost the updated service")
	}

	// Remove every service; both views end empty.
	for _, tc := range cases {
		if err := l.c.RemoveService(ctx, tc.svc); err != nil {
			t.Fatalf("%s: RemoveService: %v", tc.name, err)
		}
		if _, err := l.c.Service(ctx, tc.svc); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: Service after remove: %v, want os.ErrNotExist", tc.name, err)
		}
	}
	if dump, err := l.c.Services(ctx); err != nil || len(dump) != 0 {
		t.Errorf("Services after removing all = %v, %v; want none", dump, err)
	}
	if s := l.save(); len(s) != 0 {
		t.Errorf("ipvsadm -Sn after removing all: %+v", s)
	}
}

func TestIntegrationDestinations(t *testing.T) {
	l := newLab(t)
	ctx := l.ctx()
	l.sh("ip link add d0 type dummy && ip link set d0 up && ip addr add 10.0.1.254/24 dev d0 && ip addr add 2001:db8:1::fe/64 dev d0 nodad")

	svc := Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Scheduler: "wrr"}
	svc6 := Service{Protocol: TCP, Address: mustAddr("2001:db8::1"), Port: 80, Scheduler: "wrr"}
	for _, s := range []Service{svc, svc6} {
		if err := l.c.CreateService(ctx, s); err != nil {
			t.Fatalf("CreateService %v: %v", s, err)
		}
	}
	type destCase struct {
		name string
		svc  Service
		d    Destination
		adm  admDest
		fwd  string // ipvsadm -Ln Forward column
	}
	cases := []destCase{
		{"masq-thresholds", svc, Destination{Address: mustAddr("10.0.1.1"), Port: 8080, Forward: Masquerade, Weight: 3, UpperThreshold: 100, LowerThreshold: 10},
			admDest{Addr: "10.0.1.1:8080", Fwd: "-m", Weight: "3"}, "Masq"},
		{"route-weight0", svc, Destination{Address: mustAddr("10.0.1.2"), Port: 80, Forward: DirectRoute, Weight: 0},
			admDest{Addr: "10.0.1.2:80", Fwd: "-g", Weight: "0"}, "Route"},
		{"tun-ipip", svc, Destination{Address: mustAddr("10.0.1.3"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: IPIP},
			admDest{Addr: "10.0.1.3:80", Fwd: "-i", Weight: "1", TunType: "ipip"}, "Tunnel"},
		{"tun-gue-csum", svc, Destination{Address: mustAddr("10.0.1.4"), Port: 80, Forward: Tunnel, Weight: 2, TunnelType: GUE, TunnelPort: 6080, TunnelFlags: TunnelChecksum},
			admDest{Addr: "10.0.1.4:80", Fwd: "-i", Weight: "2", TunType: "gue", TunPort: "6080", TunCsum: "--tun-csum"}, "Tunnel"},
		{"tun-gue-remcsum", svc, Destination{Address: mustAddr("10.0.1.5"), Port: 80, Forward: Tunnel, Weight: 2, TunnelType: GUE, TunnelPort: 6081, TunnelFlags: TunnelRemoteChecksum},
			admDest{Addr: "10.0.1.5:80", Fwd: "-i", Weight: "2", TunType: "gue", TunPort: "6081", TunCsum: "--tun-remcsum"}, "Tunnel"},
		{"tun-gre-csum", svc, Destination{Address: mustAddr("10.0.1.6"), Port: 80, Forward: Tunnel, Weight: 4, TunnelType: GRE, TunnelFlags: TunnelChecksum},
			admDest{Addr: "10.0.1.6:80", Fwd: "-i", Weight: "4", TunType: "gre", TunCsum: "--tun-csum"}, "Tunnel"},
		{"local", svc, Destination{Address: mustAddr("10.0.1.254"), Port: 80, Forward: Local, Weight: 1},
			admDest{Addr: "10.0.1.254:80", Fwd: "-g", Weight: "1"}, "Local"},
		{"bypass", svc, Destination{Address: mustAddr("10.0.1.7"), Port: 80, Forward: Bypass, Weight: 1},
			admDest{Addr: "10.0.1.7:80", Fwd: "(null)", Weight: "1"}, "(null)"}, // ipvsadm 1.31 has no name for bypass,
		{"v6-masq", svc6, Destination{Address: mustAddr("2001:db8:1::2"), Port: 8080, Forward: Masquerade, Weight: 5},
			admDest{Addr: "[2001:db8:1::2]:8080", Fwd: "-m", Weight: "5"}, "Masq"},
		{"v4-under-v6-tunnel", svc6, Destination{Address: mustAddr("10.0.1.9"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: IPIP},
			admDest{Addr: "10.0.1.9:80", Fwd: "-i", Weight: "1", TunType: "ipip"}, "Tunnel"},
	}
	for _, tc := range cases {
		if err := l.c.CreateDestination(ctx, tc.svc, tc.d); err != nil {
			t.Fatalf("%s: CreateDestination: %v", tc.name, err)
		}
	}
	check := func(cases []destCase) {
		t.Helper()
		got := map[ServiceKey]map[DestinationKey]Destination{}
		for _, s := range []Service{svc, svc6} {
			ds, err := l.c.Destinations(ctx, s)
			if err != nil {
				t.Fatalf("Destinations %v: %v", s, err)
			}
			got[s.Key()] = map[DestinationKey]Destination{}
			for _, d := range ds {
				got[s.Key()][d.Key()] = d
			}
		}
		adm := map[string]admDest{}
		for _, s := range l.save() {
			for _, d := range s.Dests {
				adm[s.Addr+" "+d.Addr] = d
			}
		}
		thr := parseIpvsadmList(t, l.sh("ipvsadm -Ln --thresholds"))
		list := parseIpvsadmList(t, l.sh("ipvsadm -Ln"))
		n := 0
		for _, m := range got {
			n += len(m)
		}
		if n != len(cases) || len(adm) != len(cases) {
			t.Errorf("pkg/ipvs sees %d destinations, ipvsadm %d, want %d", n, len(adm), len(cases))
		}
		for _, tc := range cases {
			want := tc.d
			want.Family = familyOf(tc.d.Address)
			if d := cmpDiff(want, got[tc.svc.Key()][tc.d.Key()], ignoreDestCounters); d != "" {
				t.Errorf("%s: read back (-want +got):\n%s", tc.name, d)
			}
			if back := got[tc.svc.Key()][tc.d.Key()]; !tc.d.Equal(back) {
				t.Errorf("%s: %+v does not Equal its read-back %+v", tc.name, tc.d, back)
			}
			svcAddr := netip.AddrPortFrom(tc.svc.Address, tc.svc.Port).String()
			if d := cmpDiff(tc.adm, adm[svcAddr+" "+tc.adm.Addr]); d != "" {
				t.Errorf("%s: ipvsadm -Sn (-want +got):\n%s", tc.name, d)
			}
			row := thr.Dests["TCP "+svcAddr][tc.adm.Addr]
			wantThr := []string{strconv.Itoa(int(tc.d.UpperThreshold)), strconv.Itoa(int(tc.d.LowerThreshold))}
			if len(row) < 2 || row[0] != wantThr[0] || row[1] != wantThr[1] {
				t.Errorf("%s: ipvsadm --thresholds row %q, want %q first", tc.name, row, wantThr)
			}
			if row := list.Dests["TCP "+svcAddr][tc.adm.Addr]; len(row) < 1 || row[0] != tc.fwd {
				t.Errorf("%s: ipvsadm -Ln row %q, want forward %s", tc.name, row, tc.fwd)
			}
		}
	}
	check(cases)

	// Update: weight, thresholds and even the forwarding method.
	cases[0].d.Weight, cases[0].d.UpperThreshold, cases[0].d.LowerThreshold = 9, 0, 0
	cases[0].adm.Weight = "9"
	cases[1].d.Forward, cases[1].d.Weight = Masquerade, 7
	cases[1].adm.Fwd, cases[1].adm.Weight, cases[1].fwd = "-m", "7", "Masq"
	cases[3].d.TunnelFlags = 0
	cases[3].adm.TunCsum = "--tun-nocsum"
	for _, i := range []int{0, 1, 3} {
		if err := l.c.UpdateDestination(ctx, cases[i].svc, cases[i].d); err != nil {
			t.Fatalf("%s: UpdateDestination: %v", cases[i].name, err)
		}
	}
	check(cases)

	// Remove two; the rest stay.
	for _, i := range []int{2, 9} {
		if err := l.c.RemoveDestination(ctx, cases[i].svc, cases[i].d); err != nil {
			t.Fatalf("%s: RemoveDestination: %v", cases[i].name, err)
		}
	}
	rest := append(append([]destCase{}, cases[:2]...), cases[3:9]...)
	check(rest)
}

func TestIntegrationBadInput(t *testing.T) {
	l := newLab(t)
	ctx := l.ctx()
	svc := Service{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Scheduler: "rr"}
	dst := Destination{Address: mustAddr("10.0.1.1"), Port: 80, Forward: Masquerade, Weight: 1}
	if err := l.c.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := l.c.CreateDestination(ctx, svc, dst); err != nil {
		t.Fatal(err)
	}
	before := l.sh("ipvsadm -Sn")
	beforeDump, err := l.c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}

	other := Service{Protocol: TCP, Address: mustAddr("10.0.0.2"), Port: 80}
	tests := []struct {
		name string
		do   func() error
		is   error
		text string
	}{
		{"unknown scheduler", func() error {
			s := other
			s.Scheduler = "nosuch"
			return l.c.CreateService(ctx, s)
		}, os.ErrNotExist, "unknown scheduler"},
		{"duplicate service", func() error { return l.c.CreateService(ctx, svc) }, os.ErrExist, "file exists"},
		{"duplicate destination", func() error { return l.c.CreateDestination(ctx, svc, dst) }, os.ErrExist, "file exists"},
		{"missing service", func() error { return l.c.RemoveService(ctx, other) }, os.ErrNotExist, "no such process"},
		{"update missing service", func() error { return l.c.UpdateService(ctx, other) }, os.ErrNotExist, ""},
		{"missing destination", func() error {
			d := dst
			d.Address = mustAddr("10.0.1.99")
			return l.c.RemoveDestination(ctx, svc, d)
		}, os.ErrNotExist, "no such file"},
		{"destination of missing service", func() error { return l.c.CreateDestination(ctx, other, dst) }, os.ErrNotExist, ""},
		{"invalid family", func() error {
			s := other
			s.Family = 7
			return l.c.CreateService(ctx, s)
		}, os.ErrInvalid, "unsupported address family"},
		{"address not of family", func() error {
			s := other
			s.Family = IPv6
			return l.c.CreateService(ctx, s)
		}, os.ErrInvalid, "not of family"},
		{"mixed family without tunnel", func() error {
			return l.c.CreateDestination(ctx, svc, Destination{Address: mustAddr("2001:db8::9"), Port: 80, Forward: Masquerade, Weight: 1})
		}, syscall.EINVAL, "tunnel"},
		{"bad netmask", func() error {
			s := other
			s.Netmask = 33
			return l.c.CreateService(ctx, s)
		}, os.ErrInvalid, "netmask"},
		// What the kernel would store as sent, or cut, or answer bare.
		{"protocol 99", func() error {
			s := other
			s.Protocol = 99
			return l.c.CreateService(ctx, s)
		}, os.ErrInvalid, "protocol"},
		{"forward 5", func() error { d := dst; d.Forward = 5; return l.c.UpdateDestination(ctx, svc, d) }, os.ErrInvalid, "forwarding method"},
		{"forward 8", func() error { d := dst; d.Forward = 8; return l.c.UpdateDestination(ctx, svc, d) }, os.ErrInvalid, "forwarding method"},
		{"tunnel type 9", func() error {
			d := dst
			d.Forward, d.TunnelType = Tunnel, 9
			return l.c.UpdateDestination(ctx, svc, d)
		}, os.ErrInvalid, "tunnel type"},
		{"tunnel flags 0x8", func() error {
			d := dst
			d.Forward, d.TunnelType, d.TunnelFlags = Tunnel, GRE, 0x8
			return l.c.UpdateDestination(ctx, svc, d)
		}, os.ErrInvalid, "tunnel flags"},
		{"gue without port", func() error {
			d := dst
			d.Forward, d.TunnelType = Tunnel, GUE
			return l.c.UpdateDestination(ctx, svc, d)
		}, syscall.EINVAL, "port"},
		{"weight 2^31", func() error { d := dst; d.Weight = 1 << 31; return l.c.UpdateDestination(ctx, svc, d) }, syscall.ERANGE, "weight"},
		{"lower above upper", func() error {
			d := dst
			d.UpperThreshold, d.LowerThreshold = 5, 10
			return l.c.UpdateDestination(ctx, svc, d)
		}, syscall.ERANGE, "threshold"},
	}
	for _, tc := range tests {
		err := tc.do()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		var oe *OpError
		if !errors.As(err, &oe) {
			t.Errorf("%s: %v is not an *OpError", tc.name, err)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v is not %v", tc.name, err, tc.is)
		}
		if !strings.HasPrefix(err.Error(), "ipvs: ") || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: error %q lacks %q", tc.name, err, tc.text)
		}
		t.Logf("%s: %v", tc.name, err)
	}
	if after := l.sh("ipvsadm -Sn"); after != before {
		t.Errorf("kernel state changed by bad input:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	afterDump, err := l.c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmpDiff(beforeDump, afterDump, ignoreStats); d != "" {
		t.Errorf("dump changed by bad input (-before +after):\n%s", d)
	}
}

func TestIntegrationDaemons(t *testing.T) {
	l := newLab(t)
	ctx := l.ctx()
	l.sh("ip link add d0 type dummy && ip link set d0 multicast on && ip link set d0 up && ip addr add 10.77.0.1/24 dev d0")
	master := Daemon{State: Master, Interface: "d0", SyncID: 5, MaxLen: 1400, Group: mustAddr("239.1.2.3"), Port: 9000, TTL: 3}
	backup := Daemon{State: Backup, Interface: "d0", SyncID: 6}
	for _, d := range []Daemon{master, backup} {
		if err := l.c.StartDaemon(ctx, d); err != nil {
			t.Fatalf("StartDaemon %v: %v", d.State, err)
		}
	}
	got, err := l.c.Daemons(ctx)
	if err != nil {
		t.Fatalf("Daemons: %v", err)
	}
	// The kernel fills in the defaults for what was left zero.
	wantBackup := Daemon{State: Backup, Interface: "d0", SyncID: 6, MaxLen: 1472, Group: mustAddr("224.0.0.81"), Port: 8848, TTL: 1}
	if d := cmpDiff([]Daemon{master, wantBackup}, got); d != "" {
		t.Errorf("Daemons (-want +got):\n%s", d)
	}
	adm := parseIpvsadmDaemons(t, l.sh("ipvsadm -Ln --daemon"))
	wantAdm := []admDaemon{
		{State: "master", Fields: map[string]string{"mcast": "d0", "syncid": "5", "maxlen": "1400", "group": "239.1.2.3", "port": "9000", "ttl": "3"}},
		{State: "backup", Fields: map[string]string{"mcast": "d0", "syncid": "6", "maxlen": "1472", "group": "224.0.0.81", "port": "8848", "ttl": "1"}},
	}
	if d := cmpDiff(wantAdm, adm); d != "" {
		t.Errorf("ipvsadm --daemon (-want +got):\n%s", d)
	}
	if err := l.c.StartDaemon(ctx, master); !errors.Is(err, os.ErrExist) {
		t.Errorf("second master: %v, want os.ErrExist", err)
	}
	// While a daemon runs, the kernel refuses destinations whose family
	// differs from their service's (the sync protocol cannot carry them).
	v6 := Service{Protocol: TCP, Address: mustAddr("2001:db8::1"), Port: 80}
	if err := l.c.CreateService(ctx, v6); err != nil {
		t.Fatal(err)
	}
	mixed := Destination{Address: mustAddr("10.0.1.9"), Port: 80, Forward: Tunnel, Weight: 1}
	if err := l.c.CreateDestination(ctx, v6, mixed); !errors.Is(err, syscall.EINVAL) || !errors.Is(err, os.ErrInvalid) || !strings.Contains(err.Error(), "sync daemon") {
		t.Errorf("mixed-family destination with a daemon running: %v, want EINVAL, os.ErrInvalid and the daemon named", err)
	}
	if err := l.c.StopDaemon(ctx, Master); err != nil {
		t.Fatalf("StopDaemon: %v", err)
	}
	got, err = l.c.Daemons(ctx)
	if err != nil {
		t.Fatalf("Daemons: %v", err)
	}
	if d := cmpDiff([]Daemon{wantBackup}, got); d != "" {
		t.Errorf("Daemons after stopping master (-want +got):\n%s", d)
	}
	if adm := parseIpvsadmDaemons(t, l.sh("ipvsadm -Ln --daemon")); len(adm) != 1 || adm[0].State != "backup" {
		t.Errorf("ipvsadm --daemon after stop: %+v", adm)
	}
	if err := l.c.StopDaemon(ctx, Backup); err != nil {
		t.Fatalf("StopDaemon: %v", err)
	}
	if got, err := l.c.Daemons(ctx); err != nil || len(got) != 0 {
		t.Errorf("Daemons after stopping all = %v, %v", got, err)
	}
	// And the other way round: no daemon while such a destination exists.
	if err := l.c.CreateDestination(ctx, v6, mixed); err != nil {
		t.Fatalf("mixed-family destination without a daemon: %v", err)
	}
	if err := l.c.StartDaemon(ctx, backup); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "family") {
		t.Errorf("daemon with a mixed-family destination: %v, want EINVAL and the cause named", err)
	}
	if adm := parseIpvsadmDaemons(t, l.sh("ipvsadm -Ln --daemon")); len(adm) != 0 {
		t.Errorf("ipvsadm --daemon after a refused start: %+v", adm)
	}
}
