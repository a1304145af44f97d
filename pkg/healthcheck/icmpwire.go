package healthcheck

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Echo payload layout (RFC 792 / RFC 4443 echo, the data part):
//
//	0                   1                   2                   3
//	0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Identifier          |        Sequence Number        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Magic "seesawhc" (8 octets)                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                      Token (8 octets, BE)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The token is unique per ping within a Pinger, so replies demultiplex
// even when the kernel rewrites the identifier (unprivileged ping sockets)
// or the 16-bit sequence wraps.
const (
	echoMagic   = "seesawhc"
	echoDataLen = 16
	echoLen     = 8 + echoDataLen

	icmpv4EchoReply = 0
	icmpv6EchoReply = 129
)

// marshalEcho returns an echo request. For IPv6 the checksum is left to
// the kernel, which computes it for ICMPv6 sockets.
func marshalEcho(v6 bool, id, seq uint16, token uint64) ([]byte, error) {
	data := make([]byte, echoDataLen)
	copy(data, echoMagic)
	binary.BigEndian.PutUint64(data[8:], token)
	m := icmp.Message{Body: &icmp.Echo{ID: int(id), Seq: int(seq), Data: data}}
	if v6 {
		m.Type = ipv6.ICMPTypeEchoRequest
	} else {
		m.Type = ipv4.ICMPTypeEcho
	}
	return m.Marshal(nil)
}

// echoReply is a parsed echo reply carrying our payload.
type echoReply struct {
	ID, Seq uint16
	Token   uint64
}

// parseEchoReply decodes an ICMP message (no IP header) and reports
// whether it is an echo reply of the given family carrying a seesawd token.
func parseEchoReply(b []byte, v6 bool) (echoReply, bool) {
	if len(b) < echoLen {
		return echoReply{}, false
	}
	want := byte(icmpv4EchoReply)
	if v6 {
		want = icmpv6EchoReply
	}
	if b[0] != want || b[1] != 0 || string(b[8:16]) != echoMagic {
		return echoReply{}, false
	}
	return echoReply{
		ID:    binary.BigEndian.Uint16(b[4:6]),
		Seq:   binary.BigEndian.Uint16(b[6:8]),
		Token: binary.BigEndian.Uint64(b[16:24]),
	}, true
}

// ICMP error types (RFC 792, RFC 4443) that fail an echo at once.
const (
	icmpv4DestUnreach  = 3
	icmpv4TimeExceeded = 11
	icmpv4EchoRequest  = 8
	icmpv6DestUnreach  = 1
	icmpv6TimeExceeded = 3
	icmpv6EchoRequest  = 128

	ipv4MinHeaderLen = 20
	ipv6HeaderLen    = 40
	protoICMPv4      = 1
	protoICMPv6      = 58
)

// quotedEcho is the part of one of our echo requests that an ICMP error
// message quotes. RFC 792 guarantees only the first 8 octets of the
// offending datagram (type, code, checksum, identifier, sequence); Linux and
// RFC 1812 routers quote more, and then the token is there too.
type quotedEcho struct {
	ID, Seq uint16
	// Token is valid when HasToken is set.
	Token    uint64
	HasToken bool
}

// parseQuotedEcho decodes the start of an echo request quoted by an ICMP
// error (b starts at the quoted ICMP header) and reports whether it is an
// echo request of the given family that could be ours: a quote long enough
// to hold the magic must carry it.
func parseQuotedEcho(b []byte, v6 bool) (quotedEcho, bool) {
	if len(b) < 8 {
		return quotedEcho{}, false
	}
	want := byte(icmpv4EchoRequest)
	if v6 {
		want = icmpv6EchoRequest
	}
	if b[0] != want || b[1] != 0 {
		return quotedEcho{}, false
	}
	data := b[8:]
	if len(data) > len(echoMagic) {
		data = data[:len(echoMagic)]
	}
	if string(data) != echoMagic[:len(data)] {
		return quotedEcho{}, false
	}
	q := quotedEcho{ID: binary.BigEndian.Uint16(b[4:6]), Seq: binary.BigEndian.Uint16(b[6:8])}
	if len(b) >= echoLen {
		q.Token, q.HasToken = binary.BigEndian.Uint64(b[16:24]), true
	}
	return q, true
}

// icmpError is an ICMP destination unreachable or time exceeded message
// about one of our echo requests.
//
// An IPv4 error (RFC 792) and an IPv6 error (RFC 4443) look alike:
//
//	0                   1                   2                   3
//	0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Unused (or next-hop MTU, length)              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Internet header of the offending datagram (20-60 or 40)  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   At least its first 8 data octets: our echo request header   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type icmpError struct {
	Type, Code uint8
	// Dst is the destination of the quoted echo request.
	Dst  netip.Addr
	Echo quotedEcho
}

// isEchoError reports whether an ICMP message of this type fails an echo:
// destination unreachable or time exceeded.
func isEchoError(v6 bool, typ uint8) bool {
	if v6 {
		return typ == icmpv6DestUnreach || typ == icmpv6TimeExceeded
	}
	return typ == icmpv4DestUnreach || typ == icmpv4TimeExceeded
}

// parseICMPError decodes an ICMP message (no outer IP header, as raw ICMP
// sockets deliver it) and reports whether it is a destination unreachable
// or time exceeded error of the given family quoting an echo request that
// could be ours.
func parseICMPError(b []byte, v6 bool) (icmpError, bool) {
	if len(b) < 8 || !isEchoError(v6, b[0]) {
		return icmpError{}, false
	}
	e := icmpError{Type: b[0], Code: b[1]}
	ip := b[8:]
	var quote []byte
	if v6 {
		if len(ip) < ipv6HeaderLen || ip[0]>>4 != 6 || ip[6] != protoICMPv6 {
			return icmpError{}, false
		}
		e.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
		quote = ip[ipv6HeaderLen:]
	} else {
		if len(ip) < ipv4MinHeaderLen || ip[0]>>4 != 4 {
			return icmpError{}, false
		}
		ihl := int(ip[0]&0x0f) * 4
		// A non-first fragment quotes no ICMP header.
		if ihl < ipv4MinHeaderLen || len(ip) < ihl || ip[9] != protoICMPv4 || binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0 {
			return icmpError{}, false
		}
		e.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
		quote = ip[ihl:]
	}
	q, ok := parseQuotedEcho(quote, v6)
	if !ok {
		return icmpError{}, false
	}
	e.Echo = q
	return e, true
}

// icmpErrorText names an ICMP error the way ping(8) and the RFCs do.
func icmpErrorText(v6 bool, typ, code uint8) string {
	var names []string
	var kind string
	switch {
	case !v6 && typ == icmpv4DestUnreach:
		kind = "destination unreachable"
		names = []string{"network unreachable", "host unreachable", "protocol unreachable", "port unreachable",
			"fragmentation needed", "source route failed", "destination network unknown", "destination host unknown",
			"source host isolated", "network administratively prohibited", "host administratively prohibited",
			"network unreachable for type of service", "host unreachable for type of service",
			"communication administratively prohibited", "host precedence violation", "precedence cutoff in effect"}
	case !v6 && typ == icmpv4TimeExceeded:
		kind = "time exceeded"
		names = []string{"time to live exceeded in transit", "fragment reassembly time exceeded"}
	case v6 && typ == icmpv6DestUnreach:
		kind = "destination unreachable"
		names = []string{"no route to destination", "communication administratively prohibited",
			"beyond scope of source address", "address unreachable", "port unreachable",
			"source address failed ingress/egress policy", "reject route to destination",
			"error in source routing header", "headers too long"}
	case v6 && typ == icmpv6TimeExceeded:
		kind = "time exceeded"
		names = []string{"hop limit exceeded in transit", "fragment reassembly time exceeded"}
	default:
		return fmt.Sprintf("icmp type %d code %d", typ, code)
	}
	if int(code) < len(names) {
		return names[code]
	}
	return fmt.Sprintf("%s (code %d)", kind, code)
}
