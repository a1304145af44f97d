//go:build linux

package ipvs_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/pkg/ipvs"
	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
	"github.com/seesawd/seesawd/pkg/ipvs/ipvstest"
)

// Raw requests, packed by hand so that they can carry what a Client
// refuses to send.

var ne = binary.NativeEndian

func nla(typ uint16, data []byte) []byte {
	b := ne.AppendUint16(nil, uint16(4+len(data)))
	b = ne.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)&3 != 0 {
		b = append(b, 0)
	}
	return b
}

func nest(typ uint16, parts ...[]byte) []byte {
	return nla(typ|u.NLA_F_NESTED, slices.Concat(parts...))
}
func u8(v uint8) []byte    { return []byte{v} }
func u16(v uint16) []byte  { return ne.AppendUint16(nil, v) }
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte  { return ne.AppendUint32(nil, v) }
func cstr(s string) []byte { return append([]byte(s), 0) }
func ip(s string) []byte   { return addr(s).AsSlice() }

// rawSvc is a service identity: AF, protocol, address, port.
func rawSvc(af, proto uint16, a string, port uint16, more ...[]byte) []byte {
	return nest(u.IPVS_CMD_ATTR_SERVICE, slices.Concat(append([][]byte{
		nla(u.IPVS_SVC_ATTR_AF, u16(af)), nla(u.IPVS_SVC_ATTR_PROTOCOL, u16(proto)),
		nla(u.IPVS_SVC_ATTR_ADDR, ip(a)), nla(u.IPVS_SVC_ATTR_PORT, be16(port))}, more...)...))
}

// full are the options a NEW_SERVICE needs: scheduler, flags, timeout, mask.
func full(sched string, flags, timeout uint32, mask []byte) []byte {
	return slices.Concat(nla(u.IPVS_SVC_ATTR_SCHED_NAME, cstr(sched)),
		nla(u.IPVS_SVC_ATTR_FLAGS, append(u32(flags), u32(math.MaxUint32)...)),
		nla(u.IPVS_SVC_ATTR_TIMEOUT, u32(timeout)), nla(u.IPVS_SVC_ATTR_NETMASK, mask))
}

var mask32 = []byte{255, 255, 255, 255}

// rawDest is a whole destination: address, port, family, method, weight,
// thresholds, and the tunnel attributes when tun is set.
func rawDest(af uint16, a string, fwd, weight, uthr, lthr uint32, tun ...[]byte) []byte {
	return nest(u.IPVS_CMD_ATTR_DEST, slices.Concat(append([][]byte{
		nla(u.IPVS_DEST_ATTR_ADDR, ip(a)), nla(u.IPVS_DEST_ATTR_PORT, be16(80)), nla(u.IPVS_DEST_ATTR_ADDR_FAMILY, u16(af)),
		nla(u.IPVS_DEST_ATTR_FWD_METHOD, u32(fwd)), nla(u.IPVS_DEST_ATTR_WEIGHT, u32(weight)),
		nla(u.IPVS_DEST_ATTR_U_THRESH, u32(uthr)), nla(u.IPVS_DEST_ATTR_L_THRESH, u32(lthr))}, tun...)...))
}

func tunnel(typ uint8, port, flags uint16) []byte {
	return slices.Concat(nla(u.IPVS_DEST_ATTR_TUN_TYPE, u8(typ)), nla(u.IPVS_DEST_ATTR_TUN_PORT, be16(port)),
		nla(u.IPVS_DEST_ATTR_TUN_FLAGS, u16(flags)))
}

// rawCase is one request and what the kernel answers.
type rawCase struct {
	name  string
	cmd   uint8
	flags uint16
	attrs []byte
	errno syscall.Errno
}

// conformanceCases are the requests the outside review found the kernel
// accepting or refusing bare, plus the common errors.
func conformanceCases() []rawCase {
	const v4, v6 = u.AF_INET, u.AF_INET6
	svc := rawSvc(v4, u.IPPROTO_TCP, "10.0.0.1", 80)
	svc6 := rawSvc(v6, u.IPPROTO_TCP, "2001:db8::1", 80)
	return []rawCase{
		{"create", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(v4, u.IPPROTO_TCP, "10.0.0.1", 80, full("rr", 0, 0, mask32)), 0},
		{"create v6", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(v6, u.IPPROTO_TCP, "2001:db8::1", 80, full("wlc", 0, 0, u32(128))), 0},
		{"duplicate", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(v4, u.IPPROTO_TCP, "10.0.0.1", 80, full("rr", 0, 0, mask32)), syscall.EEXIST},
		{"protocol 99 is stored", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(v4, 99, "10.0.0.2", 80, full("rr", 0, 0, mask32)), 0},
		{"unknown flags are stored", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(v4, u.IPPROTO_UDP, "10.0.0.2", 80, full("rr", 0x40, 0, mask32)), 0},
		{"persistence timeout wraps", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(v4, u.IPPROTO_TCP, "10.0.0.3", 80, full("rr", 1, 17179870, mask32)), 0},
		{"v6 netmask 0", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(v6, u.IPPROTO_TCP, "2001:db8::2", 80, full("rr", 0, 0, u32(0))), syscall.EINVAL},
		{"v6 netmask 129", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(v6, u.IPPROTO_TCP, "2001:db8::2", 80, full("rr", 0, 0, u32(129))), syscall.EINVAL},
		{"unknown scheduler", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(v4, u.IPPROTO_TCP, "10.0.0.4", 80, full("nosuch", 0, 0, mask32)), syscall.ENOENT},
		{"family 7", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(7, u.IPPROTO_TCP, "10.0.0.4", 80, full("rr", 0, 0, mask32)), syscall.EAFNOSUPPORT},
		{"no scheduler attribute", u.IPVS_CMD_NEW_SERVICE, 0, rawSvc(v4, u.IPPROTO_TCP, "10.0.0.4", 80), syscall.EINVAL},
		{"remove missing", u.IPVS_CMD_DEL_SERVICE, 0, rawSvc(v4, u.IPPROTO_TCP, "10.0.0.9", 80), syscall.ESRCH},
		{"forward 8 is cut to masq", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v4, "10.0.1.1", 8, 1, 0, 0)), 0},
		{"forward 5 is stored", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v4, "10.0.1.2", 5, 1, 0, 0)), 0},
		{"tunnel type 9 is stored", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v4, "10.0.1.3", 2, 1, 0, 0, tunnel(9, 0, 0))), 0},
		{"tunnel flags 8 are stored", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v4, "10.0.1.4", 2, 1, 0, 0, tunnel(2, 0, 8))), 0},
		{"weight 2^31", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v4, "10.0.1.5", 0, 1<<31, 0, 0)), syscall.ERANGE},
		{"lower above upper", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v4, "10.0.1.5", 0, 1, 5, 10)), syscall.ERANGE},
		{"lower without upper", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v4, "10.0.1.5", 0, 1, 0, 10)), syscall.ERANGE},
		{"gue without port", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v4, "10.0.1.5", 2, 1, 0, 0, tunnel(1, 0, 0))), syscall.EINVAL},
		{"mixed family masq", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v6, "2001:db8:1::5", 0, 1, 0, 0)), syscall.EINVAL},
		{"mixed family tunnel", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc6, rawDest(v4, "10.0.1.6", 2, 1, 0, 0)), 0},
		{"multicast destination", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v4, "224.0.0.5", 0, 1, 0, 0)), syscall.EINVAL},
		{"destination family 7", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(7, "10.0.1.7", 0, 1, 0, 0)), syscall.EAFNOSUPPORT},
		{"duplicate destination", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(svc, rawDest(v4, "10.0.1.1", 0, 1, 0, 0)), syscall.EEXIST},
		{"update missing destination", u.IPVS_CMD_SET_DEST, 0, slices.Concat(svc, rawDest(v4, "10.0.1.99", 0, 1, 0, 0)), syscall.ENOENT},
		{"destination of missing service", u.IPVS_CMD_NEW_DEST, 0, slices.Concat(rawSvc(v4, u.IPPROTO_TCP, "10.0.0.9", 80), rawDest(v4, "10.0.1.1", 0, 1, 0, 0)), syscall.ESRCH},
		{"daemon beside a mixed family destination", u.IPVS_CMD_NEW_DAEMON, 0, nest(u.IPVS_CMD_ATTR_DAEMON,
			nla(u.IPVS_DAEMON_ATTR_STATE, u32(1)), nla(u.IPVS_DAEMON_ATTR_MCAST_IFN, cstr("lo")), nla(u.IPVS_DAEMON_ATTR_SYNC_ID, u32(1))), syscall.EINVAL},
		{"tcp timeout INT_MAX/HZ", u.IPVS_CMD_SET_CONFIG, 0, nla(u.IPVS_CMD_ATTR_TIMEOUT_TCP, u32(math.MaxInt32/ipvstest.HZ)), 0},
		{"tcp timeout above INT_MAX/HZ", u.IPVS_CMD_SET_CONFIG, 0, nla(u.IPVS_CMD_ATTR_TIMEOUT_TCP, u32(math.MaxInt32/ipvstest.HZ+1)), syscall.EINVAL},
		{"get dest without dump", u.IPVS_CMD_GET_DEST, 0, svc, syscall.EOPNOTSUPP},
	}
}

// rawExchange sends one request on conn and returns the kernel's errno.
func rawExchange(t *testing.T, conn ipvs.Conn, family uint16, seq uint32, rc rawCase) syscall.Errno {
	t.Helper()
	b := ne.AppendUint32(nil, uint32(16+4+len(rc.attrs)))
	b = ne.AppendUint16(b, family)
	b = ne.AppendUint16(b, u.NLM_F_REQUEST|u.NLM_F_ACK|rc.flags)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	b = append(b, rc.cmd, u.IPVS_GENL_VERSION, 0, 0)
	b = append(b, rc.attrs...)
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := conn.Send(b); err != nil {
		t.Fatalf("%s: send: %v", rc.name, err)
	}
	buf := make([]byte, 65536)
	for {
		n, err := conn.Receive(buf)
		if err != nil {
			t.Fatalf("%s: receive: %v", rc.name, err)
		}
		for m := buf[:n]; len(m) >= 16; {
			l := int(ne.Uint32(m))
			if l < 16 || l > len(m) {
				t.Fatalf("%s: bad reply", rc.name)
			}
			if ne.Uint16(m[4:]) == u.NLMSG_ERROR && ne.Uint32(m[8:]) == seq {
				return syscall.Errno(-int32(ne.Uint32(m[16:])))
			}
			m = m[min((l+3)&^3, len(m)):]
		}
	}
}

// TestIntegrationFakeConformance sends the same raw requests to the real
// kernel and to ipvstest's fake, and checks that they answer alike and end
// up holding the same services, destinations and timeouts.
func TestIntegrationFakeConformance(t *testing.T) {
	testenv.Integration(t, "ipvsadm")
	ns := testenv.NewNetns(t)
	path := "/run/netns/" + ns.Name
	real, err := ipvs.DialNetNS(path)
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	realFamily, err := real.Family("IPVS")
	if err != nil {
		testenv.Skip(t, "kernel without IPVS: %v", err)
	}
	k := ipvstest.NewKernel()
	fake := k.Conn()
	for i, rc := range conformanceCases() {
		want := rawExchange(t, real, realFamily, uint32(i+1), rc)
		got := rawExchange(t, fake, ipvstest.FamilyID, uint32(i+1), rc)
		if got != want {
			t.Errorf("%s: the fake answers %v (%d), the kernel %v (%d)", rc.name, got, got, want, want)
		}
		if want != rc.errno {
			t.Errorf("%s: the kernel answers %v, the case expects %v", rc.name, want, rc.errno)
		}
	}

	ctx := context.Background()
	rc, err := ipvs.New(&ipvs.Config{NetNSPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	fc, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	sorted := func(c *ipvs.Client) []ipvs.ServiceDestinations {
		all, err := c.DumpAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(all, func(a, b ipvs.ServiceDestinations) int {
			return strings.Compare(a.Service.String(), b.Service.String())
		})
		for _, sd := range all {
			slices.SortFunc(sd.Destinations, func(a, b ipvs.Destination) int { return a.Address.Compare(b.Address) })
		}
		return all
	}
	want, got := sorted(rc), sorted(fc)
	if d := diff(want, got); d != "" {
		t.Errorf("state (-kernel +fake):\n%s", d)
	}
	t.Logf("what the kernel holds:\n%s", ns.Sh(t, "ipvsadm -Ln"))
	for _, sd := range want {
		if sd.Service.Port == 80 && sd.Service.Address == addr("10.0.0.3") && sd.Service.Timeout == 17179870 {
			t.Errorf("a persistence timeout of 17179870 s read back unchanged: the kernel (HZ %d?) did not wrap it", ipvstest.HZ)
		}
	}
	wantT, err1 := rc.Timeouts(ctx)
	gotT, err2 := fc.Timeouts(ctx)
	if err := errors.Join(err1, err2); err != nil || wantT != gotT {
		t.Errorf("timeouts: kernel %+v, fake %+v (%v)", wantT, gotT, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
