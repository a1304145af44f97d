package ipvs

// This file is the wire format: netlink and generic netlink framing, and the
// IPVS attribute sets packed and unpacked by hand. Nothing here touches a
// socket. Encoders append to a caller-owned buffer so a Client can reuse one
// buffer for every request; decoders read attributes in place and allocate
// only the strings they return (and not even those for the scheduler names
// the kernel ships).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"syscall"
	"time"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

var ne = binary.NativeEndian

// errMalformed is wrapped by every decode error.
var errMalformed = errors.New("ipvs: malformed netlink message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
}

// header is what every request message starts with.
type header struct {
	family uint16 // generic netlink family ID (the nlmsg type)
	flags  uint16
	seq    uint32
	cmd    uint8
}

// beginMsg appends a netlink and a generic netlink header whose length is
// patched by endMsg.
func beginMsg(b []byte, h header) []byte {
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint16(b, h.family)
	b = ne.AppendUint16(b, h.flags|u.NLM_F_REQUEST)
	b = ne.AppendUint32(b, h.seq)
	b = ne.AppendUint32(b, 0) // port ID: the kernel fills it in
	return append(b, h.cmd, u.IPVS_GENL_VERSION, 0, 0)
}

// endMsg sets the length of the message that starts at b[start:].
func endMsg(b []byte, start int) []byte {
	ne.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

func pad4(b []byte) []byte {
	for len(b)&3 != 0 {
		b = append(b, 0)
	}
	return b
}

func attrHdr(b []byte, typ uint16, payload int) []byte {
	b = ne.AppendUint16(b, uint16(u.NLA_HDRLEN+payload))
	return ne.AppendUint16(b, typ)
}

func putU8(b []byte, typ uint16, v uint8) []byte {
	return append(attrHdr(b, typ, 1), v, 0, 0, 0)
}

func putU16(b []byte, typ uint16, v uint16) []byte {
	return append(ne.AppendUint16(attrHdr(b, typ, 2), v), 0, 0)
}

func putBE16(b []byte, typ uint16, v uint16) []byte {
	return append(attrHdr(b, typ, 2), byte(v>>8), byte(v), 0, 0)
}

func putU32(b []byte, typ uint16, v uint32) []byte {
	return ne.AppendUint32(attrHdr(b, typ, 4), v)
}

// putString appends a NUL-terminated string attribute.
func putString(b []byte, typ uint16, s string) []byte {
	b = attrHdr(b, typ, len(s)+1)
	b = append(b, s...)
	return pad4(append(b, 0))
}

// putAddr appends the address in the length of its family (4 or 16 bytes).
func putAddr(b []byte, typ uint16, a netip.Addr, f Family) []byte {
	if f == IPv4 {
		v := a.Unmap().As4()
		return append(attrHdr(b, typ, 4), v[0], v[1], v[2], v[3])
	}
	v := a.As16()
	return append(attrHdr(b, typ, 16), v[:]...)
}

func beginNest(b []byte, typ uint16) ([]byte, int) {
	return attrHdr(b, typ|u.NLA_F_NESTED, 0), len(b)
}

func endNest(b []byte, start int) []byte {
	ne.PutUint16(b[start:], uint16(len(b)-start))
	return b
}

// appendServiceAttr appends the nested IPVS_CMD_ATTR_SERVICE. With full
// set it carries the options a create or update needs; else only the
// identity.
func appendServiceAttr(b []byte, s *Service, full bool) ([]byte, error) {
	f, err := checkService(s, full)
	if err != nil {
		return b, err
	}
	b, nest := beginNest(b, u.IPVS_CMD_ATTR_SERVICE)
	b = putU16(b, u.IPVS_SVC_ATTR_AF, uint16(f))
	if s.FWMark != 0 {
		b = putU32(b, u.IPVS_SVC_ATTR_FWMARK, s.FWMark)
	} else {
		b = putU16(b, u.IPVS_SVC_ATTR_PROTOCOL, uint16(s.Protocol))
		b = putAddr(b, u.IPVS_SVC_ATTR_ADDR, s.Address, f)
		b = putBE16(b, u.IPVS_SVC_ATTR_PORT, s.Port)
	}
	if full {
		sched := s.Scheduler
		if sched == "" {
			sched = "wlc"
		}
		b = putString(b, u.IPVS_SVC_ATTR_SCHED_NAME, sched)
		if s.PersistenceEngine != "" {
			b = putString(b, u.IPVS_SVC_ATTR_PE_NAME, s.PersistenceEngine)
		}
		// struct ip_vs_flags: the flags, and a mask saying all of them are meant.
		b = attrHdr(b, u.IPVS_SVC_ATTR_FLAGS, 8)
		b = ne.AppendUint32(b, uint32(s.Flags&^hashedFlag))
		b = ne.AppendUint32(b, ^uint32(0))
		b = putU32(b, u.IPVS_SVC_ATTR_TIMEOUT, s.Timeout)
		b = appendNetmask(b, f, s.Netmask)
	}
	return endNest(b, nest), nil
}

// appendNetmask packs the persistence netmask: an IPv4 mask travels as the
// four mask bytes (a __be32), an IPv6 one as a prefix length in host order.
// Zero is the full length; ZeroNetmask is /0.
func appendNetmask(b []byte, f Family, bitsLen uint8) []byte {
	if f == IPv6 {
		n := uint32(bitsLen)
		if n == 0 {
			n = 128
		}
		return putU32(b, u.IPVS_SVC_ATTR_NETMASK, n)
	}
	var m uint32
	switch bitsLen {
	case 0:
		m = ^uint32(0)
	case ZeroNetmask:
	default:
		m = ^uint32(0) << (32 - bitsLen)
	}
	return append(attrHdr(b, u.IPVS_SVC_ATTR_NETMASK, 4), byte(m>>24), byte(m>>16), byte(m>>8), byte(m))
}

// appendDestAttr appends the nested IPVS_CMD_ATTR_DEST of a destination
// of a service of family sf.
func appendDestAttr(b []byte, sf Family, d *Destination, full bool) ([]byte, error) {
	f, err := checkDestination(sf, d, full)
	if err != nil {
		return b, err
	}
	b, nest := beginNest(b, u.IPVS_CMD_ATTR_DEST)
	b = putAddr(b, u.IPVS_DEST_ATTR_ADDR, d.Address, f)
	b = putBE16(b, u.IPVS_DEST_ATTR_PORT, d.Port)
	b = putU16(b, u.IPVS_DEST_ATTR_ADDR_FAMILY, uint16(f))
	if full {
		b = putU32(b, u.IPVS_DEST_ATTR_FWD_METHOD, uint32(d.Forward))
		b = putU32(b, u.IPVS_DEST_ATTR_WEIGHT, d.Weight)
		b = putU32(b, u.IPVS_DEST_ATTR_U_THRESH, d.UpperThreshold)
		b = putU32(b, u.IPVS_DEST_ATTR_L_THRESH, d.LowerThreshold)
		if d.Forward == Tunnel {
			b = putU8(b, u.IPVS_DEST_ATTR_TUN_TYPE, uint8(d.TunnelType))
			b = putBE16(b, u.IPVS_DEST_ATTR_TUN_PORT, d.TunnelPort)
			b = putU16(b, u.IPVS_DEST_ATTR_TUN_FLAGS, uint16(d.TunnelFlags))
		}
	}
	return endNest(b, nest), nil
}

// appendServiceMsg appends a whole service request (NEW/SET/DEL/GET_SERVICE).
func appendServiceMsg(b []byte, h header, s *Service, full bool) ([]byte, error) {
	start := len(b)
	b = beginMsg(b, h)
	b, err := appendServiceAttr(b, s, full)
	if err != nil {
		return b[:start], err
	}
	return endMsg(b, start), nil
}

// appendDestMsg appends a whole destination request (NEW/SET/DEL_DEST, or a
// GET_DEST dump when d is nil).
func appendDestMsg(b []byte, h header, s *Service, d *Destination, full bool) ([]byte, error) {
	start := len(b)
	sf, err := checkService(s, false)
	if err != nil {
		return b, err
	}
	b = beginMsg(b, h)
	b, err = appendServiceAttr(b, s, false)
	if err == nil && d != nil {
		b, err = appendDestAttr(b, sf, d, full)
	}
	if err != nil {
		return b[:start], err
	}
	return endMsg(b, start), nil
}

// appendDaemonMsg appends a NEW_DAEMON (full) or DEL_DAEMON request.
func appendDaemonMsg(b []byte, h header, d *Daemon, full bool) ([]byte, error) {
	if d.State != Master && d.State != Backup {
		return b, invalid("daemon state %v", d.State)
	}
	if full {
		if d.Interface == "" || len(d.Interface) >= u.IP_VS_IFNAME_MAXLEN {
			return b, invalid("daemon interface %q", d.Interface)
		}
		if d.Group.IsValid() && d.Group.Zone() != "" {
			return b, invalid("daemon group %v has a zone", d.Group)
		}
	}
	start := len(b)
	b = beginMsg(b, h)
	b, nest := beginNest(b, u.IPVS_CMD_ATTR_DAEMON)
	b = putU32(b, u.IPVS_DAEMON_ATTR_STATE, uint32(d.State))
	if full {
		b = putString(b, u.IPVS_DAEMON_ATTR_MCAST_IFN, d.Interface)
		b = putU32(b, u.IPVS_DAEMON_ATTR_SYNC_ID, d.SyncID)
		if d.MaxLen != 0 {
			b = putU16(b, u.IPVS_DAEMON_ATTR_SYNC_MAXLEN, d.MaxLen)
		}
		switch familyOf(d.Group) {
		case IPv4:
			b = putAddr(b, u.IPVS_DAEMON_ATTR_MCAST_GROUP, d.Group, IPv4)
		case IPv6:
			b = putAddr(b, u.IPVS_DAEMON_ATTR_MCAST_GROUP6, d.Group, IPv6)
		}
		if d.Port != 0 {
			b = putU16(b, u.IPVS_DAEMON_ATTR_MCAST_PORT, d.Port)
		}
		if d.TTL != 0 {
			b = putU8(b, u.IPVS_DAEMON_ATTR_MCAST_TTL, d.TTL)
		}
	}
	b = endNest(b, nest)
	return endMsg(b, start), nil
}

// appendTimeoutsMsg appends a SET_CONFIG request.
func appendTimeoutsMsg(b []byte, h header, t Timeouts) ([]byte, error) {
	tcp, err1 := timeoutSeconds("tcp", t.TCP)
	fin, err2 := timeoutSeconds("tcpfin", t.TCPFin)
	udp, err3 := timeoutSeconds("udp", t.UDP)
	if err := errors.Join(err1, err2, err3); err != nil {
		return b, err
	}
	start := len(b)
	b = beginMsg(b, h)
	b = putU32(b, u.IPVS_CMD_ATTR_TIMEOUT_TCP, tcp)
	b = putU32(b, u.IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, fin)
	b = putU32(b, u.IPVS_CMD_ATTR_TIMEOUT_UDP, udp)
	return endMsg(b, start), nil
}

// appendEmptyMsg appends a request without attributes (FLUSH, ZERO of
// everything, GET_INFO, GET_CONFIG, and the service and daemon dumps).
func appendEmptyMsg(b []byte, h header) []byte {
	start := len(b)
	return endMsg(beginMsg(b, h), start)
}

// nlMsg is one netlink message of a reply, pointing into the read buffer.
type nlMsg struct {
	typ     uint16
	flags   uint16
	seq     uint32
	payload []byte
}

// nextMsg splits the first netlink message off b.
func nextMsg(b []byte) (nlMsg, []byte, error) {
	if len(b) < u.NLMSG_HDRLEN {
		return nlMsg{}, nil, malformed("%d trailing bytes shorter than a netlink header", len(b))
	}
	l := int(ne.Uint32(b))
	if l < u.NLMSG_HDRLEN || l > len(b) {
		return nlMsg{}, nil, malformed("netlink message length %d out of %d bytes", l, len(b))
	}
	m := nlMsg{
		typ:     ne.Uint16(b[4:]),
		flags:   ne.Uint16(b[6:]),
		seq:     ne.Uint32(b[8:]),
		payload: b[u.NLMSG_HDRLEN:l],
	}
	al := (l + 3) &^ 3
	if al > len(b) {
		al = len(b)
	}
	return m, b[al:], nil
}

// parseError decodes the payload of an NLMSG_ERROR message: the errno (0
// for an acknowledgement) and the extended-ack message text, if any.
func parseError(m nlMsg) (syscall.Errno, string, error) {
	p := m.payload
	if len(p) < 4 {
		return 0, "", malformed("netlink error message of %d bytes", len(p))
	}
	code := int32(ne.Uint32(p))
	if code > 0 || code < -4095 {
		return 0, "", malformed("netlink error code %d", code)
	}
	var text string
	if m.flags&u.NLM_F_ACK_TLVS != 0 && len(p) >= 4+u.NLMSG_HDRLEN {
		off := 4 + u.NLMSG_HDRLEN
		if m.flags&u.NLM_F_CAPPED == 0 {
			off = 4 + int(ne.Uint32(p[4:]))
		}
		if off >= 4+u.NLMSG_HDRLEN && off <= len(p) {
			it := attrs(p[off:])
			for it.next() {
				if it.typ == u.NLMSGERR_ATTR_MSG {
					text = cString(it.data)
				}
			}
		}
	}
	return syscall.Errno(-code), text, nil
}

// genlPayload strips the generic netlink header, checking the command.
func genlPayload(m nlMsg, cmd uint8) ([]byte, error) {
	if len(m.payload) < u.GENL_HDRLEN {
		return nil, malformed("generic netlink message of %d bytes", len(m.payload))
	}
	if m.payload[0] != cmd {
		return nil, malformed("generic netlink command %d, want %d", m.payload[0], cmd)
	}
	return m.payload[u.GENL_HDRLEN:], nil
}

// attrIter walks netlink attributes in place.
type attrIter struct {
	b    []byte
	typ  uint16
	data []byte
	err  error
}

func attrs(b []byte) attrIter { return attrIter{b: b} }

func (it *attrIter) next() bool {
	if it.err != nil || len(it.b) == 0 {
		return false
	}
	if len(it.b) < u.NLA_HDRLEN {
		it.err = malformed("%d trailing bytes shorter than an attribute header", len(it.b))
		return false
	}
	l := int(ne.Uint16(it.b))
	if l < u.NLA_HDRLEN || l > len(it.b) {
		it.err = malformed("attribute length %d out of %d bytes", l, len(it.b))
		return false
	}
	it.typ = ne.Uint16(it.b[2:]) & u.NLA_TYPE_MASK
	it.data = it.b[u.NLA_HDRLEN:l]
	al := (l + 3) &^ 3
	if al > len(it.b) {
		al = len(it.b)
	}
	it.b = it.b[al:]
	return true
}

func (it *attrIter) u8() uint8 {
	if len(it.data) < 1 {
		it.short(1)
		return 0
	}
	return it.data[0]
}

func (it *attrIter) u16() uint16 {
	if len(it.data) < 2 {
		it.short(2)
		return 0
	}
	return ne.Uint16(it.data)
}

func (it *attrIter) be16() uint16 {
	if len(it.data) < 2 {
		it.short(2)
		return 0
	}
	return binary.BigEndian.Uint16(it.data)
}

func (it *attrIter) u32() uint32 {
	if len(it.data) < 4 {
		it.short(4)
		return 0
	}
	return ne.Uint32(it.data)
}

// uint reads a counter sent either as a u32 (STATS) or a u64 (STATS64).
func (it *attrIter) uint() uint64 {
	switch len(it.data) {
	case 4:
		return uint64(ne.Uint32(it.data))
	case 8:
		return ne.Uint64(it.data)
	}
	it.short(8)
	return 0
}

func (it *attrIter) short(want int) {
	if it.err == nil {
		it.err = malformed("attribute %d has %d bytes, want %d", it.typ, len(it.data), want)
	}
}

// cString returns the bytes up to the first NUL as a string.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	return internName(b)
}

// internName returns the common scheduler, engine and interface names
// without allocating.
func internName(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "rr":
		return "rr"
	case "wrr":
		return "wrr"
	case "lc":
		return "lc"
	case "wlc":
		return "wlc"
	case "lblc":
		return "lblc"
	case "lblcr":
		return "lblcr"
	case "dh":
		return "dh"
	case "sh":
		return "sh"
	case "sed":
		return "sed"
	case "nq":
		return "nq"
	case "fo":
		return "fo"
	case "ovf":
		return "ovf"
	case "mh":
		return "mh"
	case "twos":
		return "twos"
	case "sip":
		return "sip"
	case "lo":
		return "lo"
	}
	return string(b)
}

// addrFrom decodes an address attribute of the given family; the kernel
// sends a whole union nf_inet_addr (16 bytes) even for IPv4.
func addrFrom(b []byte, f Family) (netip.Addr, error) {
	switch {
	case f == IPv4 && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case f == IPv6 && len(b) >= 16:
		return netip.AddrFrom16([16]byte(b[:16])), nil
	}
	return netip.Addr{}, malformed("%d-byte address for family %v", len(b), f)
}

// decodeStats fills st from a nested STATS or STATS64 attribute set.
func decodeStats(b []byte, st *Stats) error {
	it := attrs(b)
	for it.next() {
		var p *uint64
		switch it.typ {
		case u.IPVS_STATS_ATTR_CONNS:
			p = &st.Connections
		case u.IPVS_STATS_ATTR_INPKTS:
			p = &st.PacketsIn
		case u.IPVS_STATS_ATTR_OUTPKTS:
			p = &st.PacketsOut
		case u.IPVS_STATS_ATTR_INBYTES:
			p = &st.BytesIn
		case u.IPVS_STATS_ATTR_OUTBYTES:
			p = &st.BytesOut
		case u.IPVS_STATS_ATTR_CPS:
			p = &st.CPS
		case u.IPVS_STATS_ATTR_INPPS:
			p = &st.PPSIn
		case u.IPVS_STATS_ATTR_OUTPPS:
			p = &st.PPSOut
		case u.IPVS_STATS_ATTR_INBPS:
			p = &st.BPSIn
		case u.IPVS_STATS_ATTR_OUTBPS:
			p = &st.BPSOut
		default:
			continue
		}
		*p = it.uint()
	}
	return it.err
}

// decodeServiceAttrs decodes the attributes inside IPVS_CMD_ATTR_SERVICE.
func decodeServiceAttrs(b []byte, s *Service) error {
	*s = Service{}
	// The address and netmask are read once the family is known: the kernel
	// sends AF first, but nothing in netlink promises an order.
	var addr, netmask, stats, stats64 []byte
	it := attrs(b)
	for it.next() {
		switch it.typ {
		case u.IPVS_SVC_ATTR_AF:
			s.Family = Family(it.u16())
		case u.IPVS_SVC_ATTR_PROTOCOL:
			s.Protocol = Protocol(it.u16())
		case u.IPVS_SVC_ATTR_ADDR:
			addr = it.data
		case u.IPVS_SVC_ATTR_PORT:
			s.Port = it.be16()
		case u.IPVS_SVC_ATTR_FWMARK:
			s.FWMark = it.u32()
		case u.IPVS_SVC_ATTR_SCHED_NAME:
			s.Scheduler = cString(it.data)
		case u.IPVS_SVC_ATTR_FLAGS:
			s.Flags = ServiceFlags(it.u32()) &^ hashedFlag
		case u.IPVS_SVC_ATTR_TIMEOUT:
			s.Timeout = it.u32()
		case u.IPVS_SVC_ATTR_NETMASK:
			if len(it.data) < 4 {
				it.short(4)
			}
			netmask = it.data
		case u.IPVS_SVC_ATTR_STATS:
			stats = it.data
		case u.IPVS_SVC_ATTR_STATS64:
			stats64 = it.data
		case u.IPVS_SVC_ATTR_PE_NAME:
			s.PersistenceEngine = cString(it.data)
		}
	}
	if it.err != nil {
		return it.err
	}
	if s.Family.addrLen() == 0 {
		return malformed("service with address family %v", s.Family)
	}
	if addr != nil {
		a, err := addrFrom(addr, s.Family)
		if err != nil {
			return err
		}
		if s.FWMark == 0 {
			s.Address = a
		}
	}
	if netmask != nil {
		// An IPv4 mask is the four mask bytes, an IPv6 one a prefix length
		// in host order (see appendNetmask).
		switch s.Family {
		case IPv4:
			s.Netmask = uint8(bits.LeadingZeros32(^binary.BigEndian.Uint32(netmask)))
			if s.Netmask == 0 {
				s.Netmask = ZeroNetmask
			}
		case IPv6:
			n := ne.Uint32(netmask)
			if n > 128 {
				return malformed("IPv6 netmask /%d", n)
			}
			s.Netmask = uint8(n)
		}
	}
	switch {
	case stats64 != nil:
		return decodeStats(stats64, &s.Stats)
	case stats != nil:
		return decodeStats(stats, &s.Stats)
	}
	return nil
}

// decodeDestAttrs decodes the attributes inside IPVS_CMD_ATTR_DEST. A
// destination without IPVS_DEST_ATTR_ADDR_FAMILY (kernels before 4.x) has
// the family of its service, svcFamily.
func decodeDestAttrs(b []byte, svcFamily Family, d *Destination) error {
	*d = Destination{}
	var addr, stats, stats64 []byte
	it := attrs(b)
	for it.next() {
		switch it.typ {
		case u.IPVS_DEST_ATTR_ADDR:
			addr = it.data
		case u.IPVS_DEST_ATTR_PORT:
			d.Port = it.be16()
		case u.IPVS_DEST_ATTR_FWD_METHOD:
			d.Forward = ForwardMethod(it.u32() & u.IP_VS_CONN_F_FWD_MASK)
		case u.IPVS_DEST_ATTR_WEIGHT:
			d.Weight = it.u32()
		case u.IPVS_DEST_ATTR_U_THRESH:
			d.UpperThreshold = it.u32()
		case u.IPVS_DEST_ATTR_L_THRESH:
			d.LowerThreshold = it.u32()
		case u.IPVS_DEST_ATTR_ACTIVE_CONNS:
			d.ActiveConns = it.u32()
		case u.IPVS_DEST_ATTR_INACT_CONNS:
			d.InactiveConns = it.u32()
		case u.IPVS_DEST_ATTR_PERSIST_CONNS:
			d.PersistentConns = it.u32()
		case u.IPVS_DEST_ATTR_STATS:
			stats = it.data
		case u.IPVS_DEST_ATTR_ADDR_FAMILY:
			d.Family = Family(it.u16())
		case u.IPVS_DEST_ATTR_STATS64:
			stats64 = it.data
		case u.IPVS_DEST_ATTR_TUN_TYPE:
			d.TunnelType = TunnelType(it.u8())
		case u.IPVS_DEST_ATTR_TUN_PORT:
			d.TunnelPort = it.be16()
		case u.IPVS_DEST_ATTR_TUN_FLAGS:
			d.TunnelFlags = TunnelFlags(it.u16())
		}
	}
	if it.err != nil {
		return it.err
	}
	if d.Family == 0 {
		d.Family = svcFamily
	}
	if addr == nil {
		return malformed("destination without an address")
	}
	a, err := addrFrom(addr, d.Family)
	if err != nil {
		return err
	}
	d.Address = a
	switch {
	case stats64 != nil:
		return decodeStats(stats64, &d.Stats)
	case stats != nil:
		return decodeStats(stats, &d.Stats)
	}
	return nil
}

// decodeDaemonAttrs decodes the attributes inside IPVS_CMD_ATTR_DAEMON.
func decodeDaemonAttrs(b []byte, d *Daemon) error {
	*d = Daemon{}
	it := attrs(b)
	for it.next() {
		switch it.typ {
		case u.IPVS_DAEMON_ATTR_STATE:
			d.State = DaemonState(it.u32())
		case u.IPVS_DAEMON_ATTR_MCAST_IFN:
			d.Interface = cString(it.data)
		case u.IPVS_DAEMON_ATTR_SYNC_ID:
			d.SyncID = it.u32()
		case u.IPVS_DAEMON_ATTR_SYNC_MAXLEN:
			d.MaxLen = it.u16()
		case u.IPVS_DAEMON_ATTR_MCAST_GROUP:
			if len(it.data) < 4 {
				it.short(4)
				break
			}
			d.Group = netip.AddrFrom4([4]byte(it.data[:4]))
		case u.IPVS_DAEMON_ATTR_MCAST_GROUP6:
			if len(it.data) < 16 {
				it.short(16)
				break
			}
			d.Group = netip.AddrFrom16([16]byte(it.data[:16]))
		case u.IPVS_DAEMON_ATTR_MCAST_PORT:
			d.Port = it.u16()
		case u.IPVS_DAEMON_ATTR_MCAST_TTL:
			d.TTL = it.u8()
		}
	}
	return it.err
}

// decodeNested finds the nested attribute typ among the top-level
// attributes of a generic netlink payload.
func decodeNested(p []byte, typ uint16) ([]byte, error) {
	it := attrs(p)
	for it.next() {
		if it.typ == typ {
			return it.data, nil
		}
	}
	if it.err != nil {
		return nil, it.err
	}
	return nil, malformed("reply without attribute %d", typ)
}

// decodeService decodes a NEW_SERVICE reply message payload (after the
// generic netlink header).
func decodeService(p []byte, s *Service) error {
	n, err := decodeNested(p, u.IPVS_CMD_ATTR_SERVICE)
	if err != nil {
		return err
	}
	return decodeServiceAttrs(n, s)
}

// decodeDest decodes a NEW_DEST reply message payload.
func decodeDest(p []byte, svcFamily Family, d *Destination) error {
	n, err := decodeNested(p, u.IPVS_CMD_ATTR_DEST)
	if err != nil {
		return err
	}
	return decodeDestAttrs(n, svcFamily, d)
}

// decodeDaemon decodes a NEW_DAEMON reply message payload.
func decodeDaemon(p []byte, d *Daemon) error {
	n, err := decodeNested(p, u.IPVS_CMD_ATTR_DAEMON)
	if err != nil {
		return err
	}
	return decodeDaemonAttrs(n, d)
}

// decodeInfo decodes a SET_INFO reply payload.
func decodeInfo(p []byte, in *Info) error {
	*in = Info{}
	var seen bool
	it := attrs(p)
	for it.next() {
		switch it.typ {
		case u.IPVS_INFO_ATTR_VERSION:
			in.Version, seen = Version(it.u32()), true
		case u.IPVS_INFO_ATTR_CONN_TAB_SIZE:
			in.ConnTableSize = it.u32()
		}
	}
	if it.err == nil && !seen {
		return malformed("info reply without a version")
	}
	return it.err
}

// decodeTimeouts decodes a SET_CONFIG reply payload.
func decodeTimeouts(p []byte, t *Timeouts) error {
	*t = Timeouts{}
	it := attrs(p)
	for it.next() {
		var d *time.Duration
		switch it.typ {
		case u.IPVS_CMD_ATTR_TIMEOUT_TCP:
			d = &t.TCP
		case u.IPVS_CMD_ATTR_TIMEOUT_TCP_FIN:
			d = &t.TCPFin
		case u.IPVS_CMD_ATTR_TIMEOUT_UDP:
			d = &t.UDP
		default:
			continue
		}
		*d = time.Duration(it.u32()) * time.Second
	}
	return it.err
}
