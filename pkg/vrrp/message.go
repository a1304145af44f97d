package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Protocol constants from RFC 5798.
const (
	// IPProto is the IP protocol number of VRRP.
	IPProto = 112
	// Version is the only VRRP version this package speaks.
	Version = 3
	// TypeAdvertisement is the only VRRPv3 message type.
	TypeAdvertisement = 1
	// TTL is the IPv4 TTL and IPv6 hop limit every advertisement carries.
	TTL = 255
	// HeaderLen is the length of the fixed part of an advertisement.
	HeaderLen = 8
	// MaxInterval is the largest Max Adver Int (12 bits of centiseconds).
	MaxInterval = 0x0fff
	// PriorityOwner is the priority of the address owner.
	PriorityOwner = 255
	// PriorityStop is the priority a master sends when it stops.
	PriorityStop = 0
)

// Multicast groups advertisements are sent to (RFC 5798 section 5.1).
var (
	GroupIPv4 = netip.MustParseAddr("224.0.0.18")
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

// Family is the address family of a VRRP instance; VRRPv3 never mixes families in one advertisement.
type Family uint8

// Address families.
const (
	FamilyUnspec Family = iota
	IPv4
	IPv6
)

// String returns "ipv4", "ipv6" or "unspec".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	default:
		return "unspec"
	}
}

// AddrLen returns the length in bytes of one address of the family, or 0.
func (f Family) AddrLen() int {
	switch f {
	case IPv4:
		return 4
	case IPv6:
		return 16
	}
	return 0
}

// FamilyOf returns the family of an address (IPv4-mapped IPv6 counts as IPv4).
func FamilyOf(a netip.Addr) Family {
	switch {
	case a.Is4() || a.Is4In6():
		return IPv4
	case a.Is6():
		return IPv6
	}
	return FamilyUnspec
}

// ChecksumMode selects how the advertisement checksum is computed.
type ChecksumMode uint8

// Checksum modes.
const (
	// ChecksumRFC5798 covers an IPv4 or IPv6 pseudo-header and the message, as RFC 5798 section 5.2.8
	// requires and keepalived does by default.
	ChecksumRFC5798 ChecksumMode = iota
	// ChecksumIPv4NoPseudoHeader covers the message only, like VRRPv2 (and RFC 9568, which
	// dropped the pseudo-header). Some router vendors send this for IPv4, as does keepalived
	// from 2.2.8 with v3_checksum_as_v2 (2.2.7, tested here, has no such option and rejects
	// these adverts). It is ignored for IPv6.
	ChecksumIPv4NoPseudoHeader
)

// String returns the configuration name of the mode.
func (m ChecksumMode) String() string {
	switch m {
	case ChecksumRFC5798:
		return "rfc5798"
	case ChecksumIPv4NoPseudoHeader:
		return "ipv4-no-pseudo-header"
	}
	return fmt.Sprintf("ChecksumMode(%d)", uint8(m))
}

// DropReason says why a received packet was discarded. Every drop is counted by reason.
type DropReason uint8

// Drop reasons.
const (
	DropNone DropReason = iota
	DropTTL
	DropVersion
	DropType
	DropLength
	DropCount
	DropChecksum
	DropVRID
	DropFamily
	DropPeer
	DropInterval
	DropOwnPacket
	// DropAddresses is an advertisement whose address list differs from the
	// instance's, discarded unless InstanceConfig.AcceptAddressMismatch is set.
	DropAddresses
	numDropReasons
)

var dropNames = [...]string{
	DropNone:      "none",
	DropTTL:       "ttl",
	DropVersion:   "version",
	DropType:      "type",
	DropLength:    "length",
	DropCount:     "count",
	DropChecksum:  "checksum",
	DropVRID:      "vrid",
	DropFamily:    "family",
	DropPeer:      "peer",
	DropInterval:  "interval",
	DropOwnPacket: "own-packet",
	DropAddresses: "addresses",
}

// String returns the short name of the reason used in logs and Stats.
func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// DropReasons lists every reason a packet can be dropped for, for exporters.
func DropReasons() []DropReason {
	out := make([]DropReason, 0, numDropReasons-1)
	for r := DropTTL; r < numDropReasons; r++ {
		out = append(out, r)
	}
	return out
}

// ParseError is returned for a malformed advertisement; Reason says which check failed.
type ParseError struct {
	Reason DropReason
	Msg    string
}

func (e *ParseError) Error() string { return "vrrp: " + e.Reason.String() + ": " + e.Msg }

func parseErr(r DropReason, format string, args ...any) error {
	return &ParseError{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the drop reason carried by err, or DropNone.
func ReasonOf(err error) DropReason {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return DropNone
}

// Advertisement is a VRRPv3 advertisement (RFC 5798 section 5.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    IPv4 Fields or IPv6 Fields                 |
//	...                                                             ...
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|(rsvd) |     Max Adver Int     |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                                                               +
//	|                       IPvX Address(es)                        |
//	+                                                               +
//	+                                                               +
//	+                                                               +
//	+                                                               +
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The IP header is not part of the message; the checksum covers a pseudo-header
// built from it (see Checksum). Max Adver Int is in centiseconds.
type Advertisement struct {
	VRID     uint8
	Priority uint8
	// MaxAdvertInterval is the 12-bit advertisement interval in centiseconds.
	MaxAdvertInterval uint16
	// Checksum is the checksum field as decoded, or as written by MarshalBinary.
	Checksum uint16
	// Addresses are all of one family; their count is the Count field.
	Addresses []netip.Addr
}

// Family returns the family of the address list, or FamilyUnspec when it is empty.
func (a *Advertisement) Family() Family {
	if len(a.Addresses) == 0 {
		return FamilyUnspec
	}
	return FamilyOf(a.Addresses[0])
}

// Len returns the encoded length of the message.
func (a *Advertisement) Len() int {
	return HeaderLen + len(a.Addresses)*a.Family().AddrLen()
}

// MarshalBinary encodes the message with the Checksum field as it is; use Marshal to fill it.
func (a *Advertisement) MarshalBinary() ([]byte, error) {
	b := make([]byte, a.Len())
	if err := a.encode(b); err != nil {
		return nil, err
	}
	return b, nil
}

func (a *Advertisement) encode(b []byte) error {
	if len(a.Addresses) > 255 {
		return fmt.Errorf("vrrp: %d addresses, at most 255 fit", len(a.Addresses))
	}
	if a.MaxAdvertInterval > MaxInterval {
		return fmt.Errorf("vrrp: max advert interval %d cs exceeds 12 bits", a.MaxAdvertInterval)
	}
	f := a.Family()
	b[0] = Version<<4 | TypeAdvertisement
	b[1] = a.VRID
	b[2] = a.Priority
	b[3] = uint8(len(a.Addresses))
	binary.BigEndian.PutUint16(b[4:], a.MaxAdvertInterval)
	binary.BigEndian.PutUint16(b[6:], a.Checksum)
	off := HeaderLen
	for i, ip := range a.Addresses {
		if FamilyOf(ip) != f {
			return fmt.Errorf("vrrp: address %d (%v) is not %v like the first", i, ip, f)
		}
		if f == IPv4 {
			v := ip.Unmap().As4()
			copy(b[off:], v[:])
		} else {
			v := ip.As16()
			copy(b[off:], v[:])
		}
		off += f.AddrLen()
	}
	return nil
}

// Marshal encodes the message for sending from src to dst and fills in the checksum.
func (a *Advertisement) Marshal(src, dst netip.Addr, mode ChecksumMode) ([]byte, error) {
	if f := a.Family(); f != FamilyUnspec && (FamilyOf(src) != f || FamilyOf(dst) != f) {
		return nil, fmt.Errorf("vrrp: %v advertisement between %v and %v", f, src, dst)
	}
	b := make([]byte, a.Len())
	a.Checksum = 0
	if err := a.encode(b); err != nil {
		return nil, err
	}
	a.Checksum = Checksum(b, src, dst, mode)
	binary.BigEndian.PutUint16(b[6:], a.Checksum)
	return b, nil
}

// UnmarshalBinary decodes a message (without its IP header). The address family
// follows from Count and the length. The checksum is stored, not verified: see
// VerifyChecksum, which needs the IP addresses.
func (a *Advertisement) UnmarshalBinary(b []byte) error {
	return a.decode(b, FamilyUnspec, nil)
}

// Parse decodes a message received on a socket of family f and checks everything
// that can be checked without the IP header: version, type, length, count and
// family. An IPv6 advertisement carrying an IPv4-mapped address (::ffff:a.b.c.d)
// is refused with DropFamily: such an address is IPv4 to this package (see
// FamilyOf), so it can be no IPv6 instance's virtual address and would re-encode
// as 4 bytes.
func Parse(b []byte, f Family) (*Advertisement, error) {
	a := new(Advertisement)
	if err := a.decode(b, f, nil); err != nil {
		return nil, err
	}
	return a, nil
}

// decode fills a from b, appending the addresses to addrs[:0] so that a caller
// decoding many messages can reuse one slice; nil allocates a new one.
func (a *Advertisement) decode(b []byte, want Family, addrs []netip.Addr) error {
	if len(b) < HeaderLen {
		return parseErr(DropLength, "%d bytes, shorter than the %d byte header", len(b), HeaderLen)
	}
	if v := b[0] >> 4; v != Version {
		return parseErr(DropVersion, "version %d, want %d", v, Version)
	}
	if t := b[0] & 0x0f; t != TypeAdvertisement {
		return parseErr(DropType, "type %d, want %d", t, TypeAdvertisement)
	}
	count := int(b[3])
	body := len(b) - HeaderLen
	var f Family
	switch {
	case count == 0 && body == 0:
		f = want
	case body == count*4:
		f = IPv4
	case body == count*16:
		f = IPv6
	case body%4 != 0:
		return parseErr(DropLength, "%d address bytes is not a whole number of addresses", body)
	default:
		return parseErr(DropCount, "count %d does not match %d address bytes", count, body)
	}
	if want != FamilyUnspec && f != want {
		return parseErr(DropFamily, "%v addresses on an %v socket", f, want)
	}
	if addrs == nil {
		addrs = make([]netip.Addr, 0, count)
	}
	addrs = addrs[:0]
	for off := HeaderLen; off < len(b); off += f.AddrLen() {
		if f == IPv4 {
			addrs = append(addrs, netip.AddrFrom4([4]byte(b[off:off+4])))
			continue
		}
		ip := netip.AddrFrom16([16]byte(b[off : off+16]))
		if ip.Is4In6() {
			return parseErr(DropFamily, "address %d (%v) is IPv4-mapped", len(addrs), ip)
		}
		addrs = append(addrs, ip)
	}
	a.VRID = b[1]
	a.Priority = b[2]
	a.MaxAdvertInterval = binary.BigEndian.Uint16(b[4:]) & MaxInterval
	a.Checksum = binary.BigEndian.Uint16(b[6:])
	a.Addresses = addrs
	return nil
}

// Checksum computes the checksum of the encoded message b sent from src to dst, treating the
// checksum field as zero. With ChecksumRFC5798 it covers the pseudo-header of RFC 5798 section
// 5.2.8 (RFC 768 style for IPv4, RFC 8200 section 8.1 for IPv6).
func Checksum(b []byte, src, dst netip.Addr, mode ChecksumMode) uint16 {
	var sum uint32
	if mode == ChecksumRFC5798 || FamilyOf(src) == IPv6 {
		if FamilyOf(src) == IPv4 {
			s, d := src.Unmap().As4(), dst.Unmap().As4()
			sum = add(sum, s[:])
			sum = add(sum, d[:])
			sum += IPProto
			sum += uint32(len(b))
		} else {
			s, d := src.As16(), dst.As16()
			sum = add(sum, s[:])
			sum = add(sum, d[:])
			sum += uint32(len(b)) >> 16
			sum += uint32(len(b)) & 0xffff
			sum += IPProto
		}
	}
	if len(b) >= HeaderLen {
		sum = add(sum, b[:6])
		sum = add(sum, b[8:])
	} else {
		sum = add(sum, b)
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func add(sum uint32, b []byte) uint32 {
	n := len(b) &^ 1
	for i := 0; i < n; i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

// VerifyChecksum checks the checksum field of the encoded message b received from src at dst.
func VerifyChecksum(b []byte, src, dst netip.Addr, mode ChecksumMode) error {
	if len(b) < HeaderLen {
		return parseErr(DropLength, "%d bytes, shorter than the %d byte header", len(b), HeaderLen)
	}
	got := binary.BigEndian.Uint16(b[6:])
	if want := Checksum(b, src, dst, mode); got != want {
		return parseErr(DropChecksum, "checksum %#04x, want %#04x (%v)", got, want, mode)
	}
	return nil
}
