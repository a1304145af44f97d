package ipvs

// This file checks requests before they are packed. The kernel's generic
// netlink handlers take most values as they come: a protocol of 99, a
// forwarding method of 5, a tunnel type of 9 or tunnel flags of 0x8 are
// stored and read back (and some break ipvsadm), a forwarding method of 8
// is cut to 0 (masquerade) without an error, and a persistence timeout is
// multiplied by HZ in 32 bits. What the kernel does check it answers with a
// bare EINVAL or ERANGE. So every enum, flag set and range is checked here,
// and a refusal names the field.

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"syscall"
	"time"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

// MaxWeight is the largest destination weight: the kernel keeps weights in
// a signed int and answers ERANGE for anything above.
const MaxWeight = math.MaxInt32

// MaxPersistenceTimeout is the largest Service.Timeout, in seconds. The
// kernel stores the timeout in jiffies in 32 bits; above this it would wrap
// at HZ=1000 (the largest HZ a distribution kernel uses) and read back as
// something else.
const MaxPersistenceTimeout = math.MaxUint32 / 1000

// ZeroNetmask is the Service.Netmask of a /0 persistence mask, under which
// every client counts as the same one and all persist to one destination.
// Netmask 0 cannot say it, since 0 means the full length. IPv4 only: the
// kernel refuses /0 for IPv6.
const ZeroNetmask uint8 = 0xff

// serviceFlagsMask is every ServiceFlags bit a request may carry.
const serviceFlagsMask = Persistent | OnePacket | SchedFlag1 | SchedFlag2 | SchedFlag3

// refusal is a request refused before it was sent. It matches
// os.ErrInvalid and the errno the kernel answers for the same class of
// mistake (EINVAL, or ERANGE for weights and thresholds), so a caller gets
// the same errors.Is answers whichever side refused.
type refusal struct {
	errno syscall.Errno
	msg   string
}

func (e *refusal) Error() string { return e.errno.Error() + ": " + e.msg }

// Is reports whether target is os.ErrInvalid or the refusal's errno.
func (e *refusal) Is(target error) bool { return target == os.ErrInvalid || target == e.errno }

// Unwrap returns the errno the kernel would have answered.
func (e *refusal) Unwrap() error { return e.errno }

// invalid returns a refusal that matches EINVAL.
func invalid(format string, args ...any) error {
	return &refusal{errno: syscall.EINVAL, msg: fmt.Sprintf(format, args...)}
}

// outOfRange returns a refusal that matches ERANGE.
func outOfRange(format string, args ...any) error {
	return &refusal{errno: syscall.ERANGE, msg: fmt.Sprintf(format, args...)}
}

// checkAddr refuses an address that is missing, of another family, or
// zoned (IPVS has no notion of zones).
func checkAddr(what string, a netip.Addr, f Family) error {
	switch {
	case !a.IsValid():
		return invalid("%s has no address", what)
	case familyOf(a) != f:
		return invalid("%s address %v is not of family %v", what, a, f)
	case a.Zone() != "":
		return invalid("%s address %v has a zone, which IPVS does not know", what, a)
	}
	return nil
}

// checkService validates s for a request and returns its family. Only the
// identity is checked unless full is set (a create or update), and only as
// far as the kernel needs to find the service: one another tool created
// with an odd protocol can still be read and removed.
func checkService(s *Service, full bool) (Family, error) {
	f := s.family()
	if f.addrLen() == 0 {
		return 0, invalid("unsupported address family %v", f)
	}
	if s.FWMark == 0 {
		if err := checkAddr("service", s.Address, f); err != nil {
			return 0, err
		}
	}
	if !full {
		return f, nil
	}
	switch s.Protocol {
	case TCP, UDP, SCTP:
	case 0:
		if s.FWMark == 0 {
			return 0, invalid("service has no protocol (tcp, udp, sctp) and no fwmark")
		}
	default:
		return 0, invalid("protocol %v is none of tcp, udp, sctp", s.Protocol)
	}
	if len(s.Scheduler) >= u.IP_VS_SCHEDNAME_MAXLEN {
		return 0, invalid("scheduler name %q too long", s.Scheduler)
	}
	if len(s.PersistenceEngine) >= u.IP_VS_PENAME_MAXLEN {
		return 0, invalid("persistence engine name %q too long", s.PersistenceEngine)
	}
	if bad := s.Flags &^ (serviceFlagsMask | hashedFlag); bad != 0 {
		return 0, invalid("unknown service flags %#x", uint32(bad))
	}
	if s.Timeout > MaxPersistenceTimeout {
		return 0, invalid("persistence timeout %d s above %d s (it would wrap in the kernel's 32-bit jiffies)", s.Timeout, MaxPersistenceTimeout)
	}
	switch {
	case s.Netmask == ZeroNetmask && f == IPv6:
		return 0, invalid("a /0 netmask is IPv4 only (the kernel takes /1 to /128 for IPv6)")
	case s.Netmask != ZeroNetmask && int(s.Netmask) > f.addrLen()*8:
		return 0, invalid("netmask /%d too long for %v", s.Netmask, f)
	}
	return f, nil
}

// checkDestination validates d for a request to service s of family sf and
// returns d's family. Only the identity is checked unless full is set.
func checkDestination(sf Family, d *Destination, full bool) (Family, error) {
	f := d.family()
	if f.addrLen() == 0 {
		return 0, invalid("unsupported destination address family %v", f)
	}
	if err := checkAddr("destination", d.Address, f); err != nil {
		return 0, err
	}
	if !full {
		return f, nil
	}
	if a := d.Address.Unmap(); a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return 0, invalid("destination address %v is not unicast", d.Address)
	}
	switch d.Forward {
	case Masquerade, Local, Tunnel, DirectRoute, Bypass:
	default:
		return 0, invalid("forwarding method %v is none of masq, local, tunnel, route, bypass", d.Forward)
	}
	if f != sf && d.Forward != Tunnel {
		return 0, invalid("destination family %v differs from the service's %v, which only the tunnel method allows", f, sf)
	}
	if d.Weight > MaxWeight {
		return 0, outOfRange("weight %d above %d", d.Weight, MaxWeight)
	}
	if d.LowerThreshold > d.UpperThreshold {
		return 0, outOfRange("lower threshold %d above the upper %d (the kernel wants lower <= upper even when upper is 0, no limit)",
			d.LowerThreshold, d.UpperThreshold)
	}
	if d.Forward != Tunnel {
		return f, nil
	}
	switch d.TunnelType {
	case IPIP, GUE, GRE:
	default:
		return 0, invalid("tunnel type %v is none of ipip, gue, gre", d.TunnelType)
	}
	if bad := d.TunnelFlags &^ (TunnelChecksum | TunnelRemoteChecksum); bad != 0 {
		return 0, invalid("unknown tunnel flags %#x", uint16(bad))
	}
	if d.TunnelType == GUE && d.TunnelPort == 0 {
		return 0, invalid("a GUE tunnel needs a port")
	}
	return f, nil
}

// timeoutSeconds converts a connection timeout for SET_CONFIG: whole
// seconds only, so that what is set is what reads back, and a positive
// duration never becomes 0 ("leave unchanged").
func timeoutSeconds(name string, d time.Duration) (uint32, error) {
	switch {
	case d < 0:
		return 0, invalid("%s timeout %v is negative", name, d)
	case d%time.Second != 0:
		return 0, invalid("%s timeout %v is not a whole number of seconds", name, d)
	case d/time.Second > math.MaxInt32:
		return 0, invalid("%s timeout %v out of range", name, d)
	}
	return uint32(d / time.Second), nil
}
