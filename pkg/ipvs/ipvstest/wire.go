package ipvstest

// The kernel's side of the wire: netlink framing, attribute tables parsed
// the way nla_parse fills them, and the nla_put helpers the kernel's fill
// functions use. Written from the kernel's point of view, not pkg/ipvs's,
// so that the two meet only on the wire.

import (
	"encoding/binary"
	"syscall"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

var ne = binary.NativeEndian

// nlmsg is one netlink message of a request.
type nlmsg struct {
	typ, flags uint16
	seq        uint32
	payload    []byte // after the netlink header
}

// splitMsgs splits a sendmsg buffer into its messages, as netlink_rcv_skb
// walks it. A malformed buffer yields the messages before the fault.
func splitMsgs(b []byte) []nlmsg {
	var out []nlmsg
	for len(b) >= u.NLMSG_HDRLEN {
		l := int(ne.Uint32(b))
		if l < u.NLMSG_HDRLEN || l > len(b) {
			break
		}
		out = append(out, nlmsg{typ: ne.Uint16(b[4:]), flags: ne.Uint16(b[6:]), seq: ne.Uint32(b[8:]), payload: b[u.NLMSG_HDRLEN:l]})
		l = (l + 3) &^ 3
		if l > len(b) {
			l = len(b)
		}
		b = b[l:]
	}
	return out
}

// attrTable is what nla_parse fills: each attribute's payload by type, the
// last one winning; nil when absent.
type attrTable [][]byte

// parseAttrs parses the attributes in b into a table of types up to max.
// It fails (EINVAL, as the kernel's policy check does) on a malformed
// attribute or one shorter than minLen gives for its type.
func parseAttrs(b []byte, max int, minLen map[int]int) (attrTable, error) {
	t := make(attrTable, max+1)
	for len(b) > 0 {
		if len(b) < u.NLA_HDRLEN {
			return nil, syscall.EINVAL
		}
		l := int(ne.Uint16(b))
		if l < u.NLA_HDRLEN || l > len(b) {
			return nil, syscall.EINVAL
		}
		typ := int(ne.Uint16(b[2:]) & u.NLA_TYPE_MASK)
		data := b[u.NLA_HDRLEN:l]
		if typ <= max {
			if len(data) < minLen[typ] {
				return nil, syscall.EINVAL
			}
			t[typ] = data
		}
		l = (l + 3) &^ 3
		if l > len(b) {
			l = len(b)
		}
		b = b[l:]
	}
	return t, nil
}

func (t attrTable) u8(typ int) uint8   { return t[typ][0] }
func (t attrTable) u16(typ int) uint16 { return ne.Uint16(t[typ]) }
func (t attrTable) be16(typ int) uint16 {
	return binary.BigEndian.Uint16(t[typ])
}
func (t attrTable) u32(typ int) uint32 { return ne.Uint32(t[typ]) }

// str reads a NUL-terminated string attribute.
func (t attrTable) str(typ int) string {
	b := t[typ]
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// The kernel's attribute policies, as minimum lengths (ip_vs_ctl.c).
var (
	cmdPolicy = map[int]int{
		u.IPVS_CMD_ATTR_TIMEOUT_TCP: 4, u.IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: 4, u.IPVS_CMD_ATTR_TIMEOUT_UDP: 4,
	}
	svcPolicy = map[int]int{
		u.IPVS_SVC_ATTR_AF: 2, u.IPVS_SVC_ATTR_PROTOCOL: 2, u.IPVS_SVC_ATTR_PORT: 2, u.IPVS_SVC_ATTR_FWMARK: 4,
		u.IPVS_SVC_ATTR_FLAGS: 8, u.IPVS_SVC_ATTR_TIMEOUT: 4, u.IPVS_SVC_ATTR_NETMASK: 4,
	}
	destPolicy = map[int]int{
		u.IPVS_DEST_ATTR_PORT: 2, u.IPVS_DEST_ATTR_FWD_METHOD: 4, u.IPVS_DEST_ATTR_WEIGHT: 4,
		u.IPVS_DEST_ATTR_U_THRESH: 4, u.IPVS_DEST_ATTR_L_THRESH: 4, u.IPVS_DEST_ATTR_ADDR_FAMILY: 2,
		u.IPVS_DEST_ATTR_TUN_TYPE: 1, u.IPVS_DEST_ATTR_TUN_PORT: 2, u.IPVS_DEST_ATTR_TUN_FLAGS: 2,
	}
	daemonPolicy = map[int]int{
		u.IPVS_DAEMON_ATTR_STATE: 4, u.IPVS_DAEMON_ATTR_SYNC_ID: 4, u.IPVS_DAEMON_ATTR_SYNC_MAXLEN: 2,
		u.IPVS_DAEMON_ATTR_MCAST_GROUP: 4, u.IPVS_DAEMON_ATTR_MCAST_GROUP6: 16,
		u.IPVS_DAEMON_ATTR_MCAST_PORT: 2, u.IPVS_DAEMON_ATTR_MCAST_TTL: 1,
	}
)

// skb builds one reply message, as genlmsg_put and the nla_put helpers do.
type skb struct{ b []byte }

// genlmsgPut starts a generic netlink message of the IPVS family.
func genlmsgPut(seq uint32, flags uint16, cmd uint8) *skb {
	s := &skb{}
	s.b = ne.AppendUint32(s.b, 0)
	s.b = ne.AppendUint16(s.b, FamilyID)
	s.b = ne.AppendUint16(s.b, flags)
	s.b = ne.AppendUint32(s.b, seq)
	s.b = ne.AppendUint32(s.b, portID)
	s.b = append(s.b, cmd, u.IPVS_GENL_VERSION, 0, 0)
	return s
}

// end sets the message length and returns the message.
func (s *skb) end() []byte {
	ne.PutUint32(s.b, uint32(len(s.b)))
	return s.b
}

func (s *skb) put(typ int, data []byte) {
	s.b = ne.AppendUint16(s.b, uint16(u.NLA_HDRLEN+len(data)))
	s.b = ne.AppendUint16(s.b, uint16(typ))
	s.b = append(s.b, data...)
	for len(s.b)&3 != 0 {
		s.b = append(s.b, 0)
	}
}

func (s *skb) putU8(typ int, v uint8)   { s.put(typ, []byte{v}) }
func (s *skb) putU16(typ int, v uint16) { s.put(typ, ne.AppendUint16(nil, v)) }
func (s *skb) putBE16(typ int, v uint16) {
	s.put(typ, binary.BigEndian.AppendUint16(nil, v))
}
func (s *skb) putU32(typ int, v uint32) { s.put(typ, ne.AppendUint32(nil, v)) }
func (s *skb) putU64(typ int, v uint64) { s.put(typ, ne.AppendUint64(nil, v)) }
func (s *skb) putString(typ int, v string) {
	s.put(typ, append([]byte(v), 0))
}

// nestStart opens a nested attribute; the kernel's IPVS replies use
// nla_nest_start_noflag, without NLA_F_NESTED.
func (s *skb) nestStart(typ int) int {
	at := len(s.b)
	s.b = ne.AppendUint16(s.b, 0)
	s.b = ne.AppendUint16(s.b, uint16(typ))
	return at
}

func (s *skb) nestEnd(at int) { ne.PutUint16(s.b[at:], uint16(len(s.b)-at)) }

// portID is the port the fake kernel says replies go to.
const portID = 0x5eed

// errMsg frames the NLMSG_ERROR answering m, capped (NETLINK_CAP_ACK: the
// request's header only), as the client's sockets get it. errno 0 is an ACK.
func errMsg(m nlmsg, errno syscall.Errno) []byte {
	b := ne.AppendUint32(nil, u.NLMSG_HDRLEN+4+u.NLMSG_HDRLEN)
	b = ne.AppendUint16(b, u.NLMSG_ERROR)
	b = ne.AppendUint16(b, u.NLM_F_CAPPED)
	b = ne.AppendUint32(b, m.seq)
	b = ne.AppendUint32(b, portID)
	b = ne.AppendUint32(b, uint32(-int32(errno)))
	b = ne.AppendUint32(b, uint32(u.NLMSG_HDRLEN+len(m.payload)))
	b = ne.AppendUint16(b, m.typ)
	b = ne.AppendUint16(b, m.flags)
	b = ne.AppendUint32(b, m.seq)
	return ne.AppendUint32(b, 0)
}

// doneMsg frames the NLMSG_DONE that ends a dump.
func doneMsg(seq uint32, flags uint16) []byte {
	b := ne.AppendUint32(nil, u.NLMSG_HDRLEN+4)
	b = ne.AppendUint16(b, u.NLMSG_DONE)
	b = ne.AppendUint16(b, u.NLM_F_MULTI|flags)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, portID)
	return ne.AppendUint32(b, 0)
}
