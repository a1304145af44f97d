package healthcheck

import (
	"encoding/binary"

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
