package ipvstest

// The IPVS model: the state and the checks of net/netfilter/ipvs/ip_vs_ctl.c
// (Linux 6.1), function by function, so that a client meets the same
// answers it would from the kernel: what is refused and with which errno,
// what is stored as sent (a protocol of 99, a forwarding method of 5), what
// is cut (a forwarding method of 8 becomes 0), and how dumps resume by
// position.

import (
	"math"
	"net/netip"
	"syscall"

	"github.com/seesawd/seesawd/pkg/ipvs"
	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

// HZ is the tick rate the model stores timeouts in (Debian's kernels use
// 250): a persistence timeout of more than 2^32/HZ seconds wraps, and
// connection timeouts above INT_MAX/HZ seconds are refused.
const HZ = 250

const svcTabSize = 256

// service is struct ip_vs_service, as far as the interface shows it.
type service struct {
	af       uint16
	protocol uint16
	addr     [16]byte
	port     uint16
	fwmark   uint32
	sched    string // "none" for no scheduler
	pe       string
	flags    uint32 // without IP_VS_SVC_F_HASHED, which the dump adds
	timeout  uint32 // in jiffies, 32 bits as in the kernel
	netmask  [4]byte
	dests    []*dest // newest first, as list_add_rcu leaves them
	stats    ipvs.Stats
}

// dest is struct ip_vs_dest: what was asked for, and the counters.
type dest struct {
	udest
	active   uint32
	inactive uint32
	persist  uint32
	stats    ipvs.Stats
}

// usvc is struct ip_vs_service_user_kern.
type usvc struct {
	af       uint16
	protocol uint16
	addr     [16]byte
	port     uint16
	fwmark   uint32
	sched    string
	pe       string
	flags    uint32
	timeout  uint32
	netmask  [4]byte
}

// udest is struct ip_vs_dest_user_kern.
type udest struct {
	af       uint16
	addr     [16]byte
	port     uint16
	fwd      uint32
	weight   int32
	uThresh  uint32
	lThresh  uint32
	tunType  uint8
	tunPort  uint16
	tunFlags uint16
}

// daemonCfg is struct ipvs_sync_daemon_cfg.
type daemonCfg struct {
	ifname  string
	syncID  uint32
	maxLen  uint16
	group   netip.Addr
	port    uint16
	ttl     uint8
	running bool
}

// state is one network namespace's IPVS.
type state struct {
	tab      [svcTabSize][]*service // by <protocol, addr, port>, head first
	fwm      [svcTabSize][]*service // by fwmark
	mixed    int                    // destinations whose family differs from their service's
	timeouts [3]int32               // tcp, tcpfin, udp, in jiffies
	daemons  [2]daemonCfg           // master, backup
}

func newState() state {
	return state{timeouts: [3]int32{900 * HZ, 120 * HZ, 300 * HZ}}
}

func afValid(af uint16) bool { return af == u.AF_INET || af == u.AF_INET6 }

func addrEqual(af uint16, a, b *[16]byte) bool {
	if af == u.AF_INET {
		return [4]byte(a[:4]) == [4]byte(b[:4])
	}
	return *a == *b
}

// svcHash spreads services over the table. The kernel's hash mixes in the
// namespace's address, so its order is as good as random; FNV-1a keeps the
// fake's order deterministic.
func svcHash(af, proto uint16, addr *[16]byte, port uint16) int {
	h := uint32(2166136261)
	mix := func(b byte) { h = (h ^ uint32(b)) * 16777619 }
	mix(byte(af))
	mix(byte(proto))
	for _, b := range addr {
		mix(b)
	}
	mix(byte(port >> 8))
	mix(byte(port))
	return int(h % svcTabSize)
}

func (st *state) find(v *usvc) *service {
	if v.fwmark != 0 {
		for _, s := range st.fwm[v.fwmark%svcTabSize] {
			if s.fwmark == v.fwmark && s.af == v.af {
				return s
			}
		}
		return nil
	}
	for _, s := range st.tab[svcHash(v.af, v.protocol, &v.addr, v.port)] {
		if s.af == v.af && addrEqual(v.af, &s.addr, &v.addr) && s.port == v.port && s.protocol == v.protocol {
			return s
		}
	}
	return nil
}

// each calls f for every service in dump order: the address table, then
// the fwmark table, each bucket head first.
func (st *state) each(f func(*service) bool) {
	for _, tab := range []*[svcTabSize][]*service{&st.tab, &st.fwm} {
		for _, bucket := range tab {
			for _, s := range bucket {
				if !f(s) {
					return
				}
			}
		}
	}
}

// parseService is ip_vs_genl_parse_service.
func (st *state) parseService(nla []byte, full bool) (usvc, *service, syscall.Errno) {
	var v usvc
	if nla == nil {
		return v, nil, syscall.EINVAL
	}
	a, err := parseAttrs(nla, u.IPVS_SVC_ATTR_MAX, svcPolicy)
	if err != nil {
		return v, nil, syscall.EINVAL
	}
	if a[u.IPVS_SVC_ATTR_AF] == nil || a[u.IPVS_SVC_ATTR_FWMARK] == nil &&
		(a[u.IPVS_SVC_ATTR_PORT] == nil || a[u.IPVS_SVC_ATTR_PROTOCOL] == nil || a[u.IPVS_SVC_ATTR_ADDR] == nil) {
		return v, nil, syscall.EINVAL
	}
	v.af = a.u16(u.IPVS_SVC_ATTR_AF)
	if !afValid(v.af) {
		return v, nil, syscall.EAFNOSUPPORT
	}
	if a[u.IPVS_SVC_ATTR_FWMARK] != nil {
		v.protocol = u.IPPROTO_TCP
		v.fwmark = a.u32(u.IPVS_SVC_ATTR_FWMARK)
	} else {
		v.protocol = a.u16(u.IPVS_SVC_ATTR_PROTOCOL)
		copy(v.addr[:], a[u.IPVS_SVC_ATTR_ADDR])
		v.port = a.be16(u.IPVS_SVC_ATTR_PORT)
	}
	svc := st.find(&v)
	if full {
		if a[u.IPVS_SVC_ATTR_SCHED_NAME] == nil || a[u.IPVS_SVC_ATTR_FLAGS] == nil ||
			a[u.IPVS_SVC_ATTR_TIMEOUT] == nil || a[u.IPVS_SVC_ATTR_NETMASK] == nil {
			return v, svc, syscall.EINVAL
		}
		flags, mask := ne.Uint32(a[u.IPVS_SVC_ATTR_FLAGS]), ne.Uint32(a[u.IPVS_SVC_ATTR_FLAGS][4:])
		if svc != nil {
			v.flags = svc.flags
		}
		v.flags = v.flags&^mask | flags&mask
		v.sched = a.str(u.IPVS_SVC_ATTR_SCHED_NAME)
		if a[u.IPVS_SVC_ATTR_PE_NAME] != nil {
			v.pe = a.str(u.IPVS_SVC_ATTR_PE_NAME)
		}
		v.timeout = a.u32(u.IPVS_SVC_ATTR_TIMEOUT)
		v.netmask = [4]byte(a[u.IPVS_SVC_ATTR_NETMASK])
	}
	return v, svc, 0
}

// The scheduler and persistence engine modules Debian's kernel ships.
var (
	schedulers = map[string]bool{"rr": true, "wrr": true, "lc": true, "wlc": true, "lblc": true, "lblcr": true,
		"dh": true, "sh": true, "sed": true, "nq": true, "fo": true, "ovf": true, "mh": true, "twos": true}
	engines = map[string]bool{"sip": true}
)

// checkSchedPE is the part ip_vs_add_service and ip_vs_edit_service share.
func checkSchedPE(v *usvc) syscall.Errno {
	if v.sched != "none" && !schedulers[v.sched] {
		return syscall.ENOENT
	}
	if v.pe != "" && !engines[v.pe] {
		return syscall.ENOENT
	}
	if v.af == u.AF_INET6 {
		if plen := ne.Uint32(v.netmask[:]); plen < 1 || plen > 128 {
			return syscall.EINVAL
		}
	}
	return 0
}

// addService is ip_vs_add_service.
func (st *state) addService(v *usvc) syscall.Errno {
	if e := checkSchedPE(v); e != 0 {
		return e
	}
	s := &service{af: v.af, protocol: v.protocol, addr: v.addr, port: v.port, fwmark: v.fwmark}
	if v.af == u.AF_INET {
		clear(s.addr[4:])
	}
	st.setService(s, v)
	if s.fwmark != 0 {
		h := s.fwmark % svcTabSize
		st.fwm[h] = append([]*service{s}, st.fwm[h]...)
	} else {
		h := svcHash(s.af, s.protocol, &s.addr, s.port)
		st.tab[h] = append([]*service{s}, st.tab[h]...)
	}
	return 0
}

// editService is ip_vs_edit_service.
func (st *state) editService(s *service, v *usvc) syscall.Errno {
	if e := checkSchedPE(v); e != 0 {
		return e
	}
	st.setService(s, v)
	return 0
}

func (st *state) setService(s *service, v *usvc) {
	s.sched, s.pe = v.sched, v.pe
	s.flags = v.flags &^ u.IP_VS_SVC_F_HASHED
	s.timeout = v.timeout * HZ // wraps in 32 bits, as svc->timeout does
	s.netmask = v.netmask
}

func (st *state) delService(s *service) {
	for _, d := range s.dests {
		if d.af != s.af {
			st.mixed--
		}
	}
	tab, h := &st.tab, svcHash(s.af, s.protocol, &s.addr, s.port)
	if s.fwmark != 0 {
		tab, h = &st.fwm, int(s.fwmark%svcTabSize)
	}
	for i, x := range tab[h] {
		if x == s {
			tab[h] = append(tab[h][:i:i], tab[h][i+1:]...)
			return
		}
	}
}

func (st *state) flush() {
	st.tab, st.fwm = [svcTabSize][]*service{}, [svcTabSize][]*service{}
	st.mixed = 0
}

// parseDest is ip_vs_genl_parse_dest.
func parseDest(nla []byte, full bool) (udest, syscall.Errno) {
	var v udest
	if nla == nil {
		return v, syscall.EINVAL
	}
	a, err := parseAttrs(nla, u.IPVS_DEST_ATTR_MAX, destPolicy)
	if err != nil || a[u.IPVS_DEST_ATTR_ADDR] == nil || a[u.IPVS_DEST_ATTR_PORT] == nil {
		return v, syscall.EINVAL
	}
	copy(v.addr[:], a[u.IPVS_DEST_ATTR_ADDR])
	v.port = a.be16(u.IPVS_DEST_ATTR_PORT)
	if a[u.IPVS_DEST_ATTR_ADDR_FAMILY] != nil {
		v.af = a.u16(u.IPVS_DEST_ATTR_ADDR_FAMILY)
	}
	if !full {
		return v, 0
	}
	if a[u.IPVS_DEST_ATTR_FWD_METHOD] == nil || a[u.IPVS_DEST_ATTR_WEIGHT] == nil ||
		a[u.IPVS_DEST_ATTR_U_THRESH] == nil || a[u.IPVS_DEST_ATTR_L_THRESH] == nil {
		return v, syscall.EINVAL
	}
	v.fwd = a.u32(u.IPVS_DEST_ATTR_FWD_METHOD) & u.IP_VS_CONN_F_FWD_MASK
	v.weight = int32(a.u32(u.IPVS_DEST_ATTR_WEIGHT))
	v.uThresh = a.u32(u.IPVS_DEST_ATTR_U_THRESH)
	v.lThresh = a.u32(u.IPVS_DEST_ATTR_L_THRESH)
	if a[u.IPVS_DEST_ATTR_TUN_TYPE] != nil {
		v.tunType = a.u8(u.IPVS_DEST_ATTR_TUN_TYPE)
	}
	if a[u.IPVS_DEST_ATTR_TUN_PORT] != nil {
		v.tunPort = a.be16(u.IPVS_DEST_ATTR_TUN_PORT)
	}
	if a[u.IPVS_DEST_ATTR_TUN_FLAGS] != nil {
		v.tunFlags = a.u16(u.IPVS_DEST_ATTR_TUN_FLAGS)
	}
	return v, 0
}

func (s *service) findDest(v *udest) (int, *dest) {
	for i, d := range s.dests {
		if d.af == v.af && d.port == v.port && addrEqual(v.af, &d.addr, &v.addr) {
			return i, d
		}
	}
	return -1, nil
}

// checkDest is the checks ip_vs_add_dest and ip_vs_edit_dest share.
func checkDest(v *udest) syscall.Errno {
	if v.weight < 0 || v.lThresh > v.uThresh {
		return syscall.ERANGE
	}
	if v.tunType == u.IP_VS_CONN_F_TUNNEL_TYPE_GUE && v.tunPort == 0 {
		return syscall.EINVAL
	}
	return 0
}

// unicast is the address check of ip_vs_new_dest, without routes: the
// namespace is taken to have its lo up and to own no address (so local
// IPv6 link-local destinations are refused here, unlike on a real host).
func unicast(af uint16, a *[16]byte) bool {
	if af == u.AF_INET {
		ip := netip.AddrFrom4([4]byte(a[:4]))
		return !ip.IsUnspecified() && !ip.IsMulticast() && ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	ip := netip.AddrFrom16(*a)
	return !ip.IsUnspecified() && !ip.IsMulticast() && !ip.IsLinkLocalUnicast()
}

// addDest is ip_vs_add_dest (and ip_vs_new_dest).
func (st *state) addDest(s *service, v *udest) syscall.Errno {
	if e := checkDest(v); e != 0 {
		return e
	}
	if _, d := s.findDest(v); d != nil {
		return syscall.EEXIST
	}
	if !unicast(v.af, &v.addr) {
		return syscall.EINVAL
	}
	d := &dest{udest: *v}
	if v.af == u.AF_INET {
		clear(d.addr[4:])
	}
	if d.af != s.af {
		st.mixed++
	}
	s.dests = append([]*dest{d}, s.dests...)
	return 0
}

// editDest is ip_vs_edit_dest.
func (st *state) editDest(s *service, v *udest) syscall.Errno {
	if e := checkDest(v); e != 0 {
		return e
	}
	_, d := s.findDest(v)
	if d == nil {
		return syscall.ENOENT
	}
	// The identity stays; the rest is as asked.
	id := d.addr
	d.udest = *v
	d.addr = id
	return 0
}

// delDest is ip_vs_del_dest.
func (st *state) delDest(s *service, v *udest) syscall.Errno {
	i, d := s.findDest(v)
	if d == nil {
		return syscall.ENOENT
	}
	if d.af != s.af {
		st.mixed--
	}
	s.dests = append(s.dests[:i:i], s.dests[i+1:]...)
	return 0
}

// setCmd is ip_vs_genl_set_cmd, for a request with attribute table a.
func (st *state) setCmd(cmd uint8, a attrTable) syscall.Errno {
	switch {
	case cmd == u.IPVS_CMD_FLUSH:
		st.flush()
		return 0
	case cmd == u.IPVS_CMD_SET_CONFIG:
		return st.setConfig(a)
	case cmd == u.IPVS_CMD_ZERO && a[u.IPVS_CMD_ATTR_SERVICE] == nil:
		st.each(func(s *service) bool { zero(s); return true })
		return 0
	}
	full := cmd == u.IPVS_CMD_NEW_SERVICE || cmd == u.IPVS_CMD_SET_SERVICE
	v, svc, e := st.parseService(a[u.IPVS_CMD_ATTR_SERVICE], full)
	if e != 0 {
		return e
	}
	if cmd != u.IPVS_CMD_NEW_SERVICE && svc == nil {
		return syscall.ESRCH
	}
	var d udest
	if cmd == u.IPVS_CMD_NEW_DEST || cmd == u.IPVS_CMD_SET_DEST || cmd == u.IPVS_CMD_DEL_DEST {
		if d, e = parseDest(a[u.IPVS_CMD_ATTR_DEST], cmd != u.IPVS_CMD_DEL_DEST); e != 0 {
			return e
		}
		if d.af == 0 {
			d.af = svc.af
		}
		if !afValid(d.af) {
			return syscall.EAFNOSUPPORT
		}
		if d.af != svc.af && cmd != u.IPVS_CMD_DEL_DEST {
			if st.daemons[0].running || st.daemons[1].running {
				return syscall.EINVAL
			}
			if d.fwd != u.IP_VS_CONN_F_TUNNEL {
				return syscall.EINVAL
			}
		}
	}
	switch cmd {
	case u.IPVS_CMD_NEW_SERVICE:
		if svc != nil {
			return syscall.EEXIST
		}
		return st.addService(&v)
	case u.IPVS_CMD_SET_SERVICE:
		return st.editService(svc, &v)
	case u.IPVS_CMD_DEL_SERVICE:
		st.delService(svc)
		return 0
	case u.IPVS_CMD_NEW_DEST:
		return st.addDest(svc, &d)
	case u.IPVS_CMD_SET_DEST:
		return st.editDest(svc, &d)
	case u.IPVS_CMD_DEL_DEST:
		return st.delDest(svc, &d)
	case u.IPVS_CMD_ZERO:
		zero(svc)
		return 0
	}
	return syscall.EINVAL
}

func zero(s *service) {
	s.stats = ipvs.Stats{}
	for _, d := range s.dests {
		d.stats = ipvs.Stats{}
	}
}

// setConfig is ip_vs_genl_set_config with ip_vs_set_timeout.
func (st *state) setConfig(a attrTable) syscall.Errno {
	t := [3]int32{st.timeouts[0] / HZ, st.timeouts[1] / HZ, st.timeouts[2] / HZ}
	for i, typ := range []int{u.IPVS_CMD_ATTR_TIMEOUT_TCP, u.IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, u.IPVS_CMD_ATTR_TIMEOUT_UDP} {
		if a[typ] != nil {
			t[i] = int32(a.u32(typ))
		}
	}
	for _, v := range t {
		if v < 0 || v > math.MaxInt32/HZ {
			return syscall.EINVAL
		}
	}
	for i, v := range t {
		if v != 0 {
			st.timeouts[i] = v * HZ
		}
	}
	return 0
}

// daemonCmd is ip_vs_genl_set_daemon.
func (st *state) daemonCmd(cmd uint8, a attrTable) syscall.Errno {
	if a[u.IPVS_CMD_ATTR_DAEMON] == nil {
		return syscall.EINVAL
	}
	d, err := parseAttrs(a[u.IPVS_CMD_ATTR_DAEMON], u.IPVS_DAEMON_ATTR_MAX, daemonPolicy)
	if err != nil || d[u.IPVS_DAEMON_ATTR_STATE] == nil {
		return syscall.EINVAL
	}
	state := d.u32(u.IPVS_DAEMON_ATTR_STATE)
	if state != u.IP_VS_STATE_MASTER && state != u.IP_VS_STATE_BACKUP {
		return syscall.EINVAL
	}
	slot := &st.daemons[state-1]
	if cmd == u.IPVS_CMD_DEL_DAEMON {
		if !slot.running {
			return syscall.ESRCH
		}
		*slot = daemonCfg{}
		return 0
	}
	if d[u.IPVS_DAEMON_ATTR_MCAST_IFN] == nil || d[u.IPVS_DAEMON_ATTR_SYNC_ID] == nil {
		return syscall.EINVAL
	}
	c := daemonCfg{ifname: d.str(u.IPVS_DAEMON_ATTR_MCAST_IFN), syncID: d.u32(u.IPVS_DAEMON_ATTR_SYNC_ID),
		group: netip.AddrFrom4([4]byte{224, 0, 0, 81}), port: 8848, ttl: 1, maxLen: 1472, running: true}
	if d[u.IPVS_DAEMON_ATTR_SYNC_MAXLEN] != nil {
		c.maxLen = d.u16(u.IPVS_DAEMON_ATTR_SYNC_MAXLEN)
	}
	if g := d[u.IPVS_DAEMON_ATTR_MCAST_GROUP]; g != nil {
		c.group = netip.AddrFrom4([4]byte(g))
		if !c.group.IsMulticast() {
			return syscall.EINVAL
		}
	} else if g := d[u.IPVS_DAEMON_ATTR_MCAST_GROUP6]; g != nil {
		c.group = netip.AddrFrom16([16]byte(g))
		if !c.group.IsMulticast() {
			return syscall.EINVAL
		}
	}
	if d[u.IPVS_DAEMON_ATTR_MCAST_PORT] != nil {
		c.port = d.u16(u.IPVS_DAEMON_ATTR_MCAST_PORT)
	}
	if d[u.IPVS_DAEMON_ATTR_MCAST_TTL] != nil {
		c.ttl = d.u8(u.IPVS_DAEMON_ATTR_MCAST_TTL)
	}
	if st.mixed > 0 {
		return syscall.EINVAL
	}
	if slot.running {
		return syscall.EEXIST
	}
	*slot = c
	return 0
}

// fillService is ip_vs_genl_fill_service.
func fillService(m *skb, s *service) {
	n := m.nestStart(u.IPVS_CMD_ATTR_SERVICE)
	m.putU16(u.IPVS_SVC_ATTR_AF, s.af)
	if s.fwmark != 0 {
		m.putU32(u.IPVS_SVC_ATTR_FWMARK, s.fwmark)
	} else {
		m.putU16(u.IPVS_SVC_ATTR_PROTOCOL, s.protocol)
		m.put(u.IPVS_SVC_ATTR_ADDR, s.addr[:])
		m.putBE16(u.IPVS_SVC_ATTR_PORT, s.port)
	}
	m.putString(u.IPVS_SVC_ATTR_SCHED_NAME, s.sched)
	if s.pe != "" {
		m.putString(u.IPVS_SVC_ATTR_PE_NAME, s.pe)
	}
	m.put(u.IPVS_SVC_ATTR_FLAGS, ne.AppendUint32(ne.AppendUint32(nil, s.flags|u.IP_VS_SVC_F_HASHED), math.MaxUint32))
	m.putU32(u.IPVS_SVC_ATTR_TIMEOUT, s.timeout/HZ)
	m.put(u.IPVS_SVC_ATTR_NETMASK, s.netmask[:])
	fillStats(m, u.IPVS_SVC_ATTR_STATS, u.IPVS_SVC_ATTR_STATS64, &s.stats)
	m.nestEnd(n)
}

// fillDest is ip_vs_genl_fill_dest.
func fillDest(m *skb, d *dest) {
	n := m.nestStart(u.IPVS_CMD_ATTR_DEST)
	m.put(u.IPVS_DEST_ATTR_ADDR, d.addr[:])
	m.putBE16(u.IPVS_DEST_ATTR_PORT, d.port)
	m.putU32(u.IPVS_DEST_ATTR_FWD_METHOD, d.fwd&u.IP_VS_CONN_F_FWD_MASK)
	m.putU32(u.IPVS_DEST_ATTR_WEIGHT, uint32(d.weight))
	m.putU8(u.IPVS_DEST_ATTR_TUN_TYPE, d.tunType)
	m.putBE16(u.IPVS_DEST_ATTR_TUN_PORT, d.tunPort)
	m.putU16(u.IPVS_DEST_ATTR_TUN_FLAGS, d.tunFlags)
	m.putU32(u.IPVS_DEST_ATTR_U_THRESH, d.uThresh)
	m.putU32(u.IPVS_DEST_ATTR_L_THRESH, d.lThresh)
	m.putU32(u.IPVS_DEST_ATTR_ACTIVE_CONNS, d.active)
	m.putU32(u.IPVS_DEST_ATTR_INACT_CONNS, d.inactive)
	m.putU32(u.IPVS_DEST_ATTR_PERSIST_CONNS, d.persist)
	m.putU16(u.IPVS_DEST_ATTR_ADDR_FAMILY, d.af)
	fillStats(m, u.IPVS_DEST_ATTR_STATS, u.IPVS_DEST_ATTR_STATS64, &d.stats)
	m.nestEnd(n)
}

// fillStats is ip_vs_genl_fill_stats and ip_vs_genl_fill_stats64.
func fillStats(m *skb, typ32, typ64 int, st *ipvs.Stats) {
	v := []uint64{st.Connections, st.PacketsIn, st.PacketsOut, st.BytesIn, st.BytesOut, st.CPS, st.PPSIn, st.PPSOut, st.BPSIn, st.BPSOut}
	n := m.nestStart(typ32)
	for i, x := range v {
		if typ := i + u.IPVS_STATS_ATTR_CONNS; typ == u.IPVS_STATS_ATTR_INBYTES || typ == u.IPVS_STATS_ATTR_OUTBYTES {
			m.putU64(typ, x)
		} else {
			m.putU32(typ, uint32(x))
		}
	}
	m.nestEnd(n)
	n = m.nestStart(typ64)
	for i, x := range v {
		m.putU64(i+u.IPVS_STATS_ATTR_CONNS, x)
	}
	m.nestEnd(n)
}

// fillDaemon is ip_vs_genl_fill_daemon.
func fillDaemon(m *skb, state uint32, c *daemonCfg) {
	n := m.nestStart(u.IPVS_CMD_ATTR_DAEMON)
	m.putU32(u.IPVS_DAEMON_ATTR_STATE, state)
	m.putString(u.IPVS_DAEMON_ATTR_MCAST_IFN, c.ifname)
	m.putU32(u.IPVS_DAEMON_ATTR_SYNC_ID, c.syncID)
	m.putU16(u.IPVS_DAEMON_ATTR_SYNC_MAXLEN, c.maxLen)
	m.putU16(u.IPVS_DAEMON_ATTR_MCAST_PORT, c.port)
	m.putU8(u.IPVS_DAEMON_ATTR_MCAST_TTL, c.ttl)
	if c.group.Is6() {
		a := c.group.As16()
		m.put(u.IPVS_DAEMON_ATTR_MCAST_GROUP6, a[:])
	} else {
		a := c.group.As4()
		m.put(u.IPVS_DAEMON_ATTR_MCAST_GROUP, a[:])
	}
	m.nestEnd(n)
}

// key is the identity of a kernel service in pkg/ipvs's terms.
func (s *service) key() ipvs.ServiceKey {
	if s.fwmark != 0 {
		return ipvs.ServiceKey{Family: ipvs.Family(s.af), FWMark: s.fwmark}
	}
	return ipvs.ServiceKey{Family: ipvs.Family(s.af), Protocol: ipvs.Protocol(s.protocol), Address: addrOf(s.af, &s.addr), Port: s.port}
}

func (d *dest) key() ipvs.DestinationKey {
	return ipvs.DestinationKey{Family: ipvs.Family(d.af), Address: addrOf(d.af, &d.addr), Port: d.port}
}

func addrOf(af uint16, a *[16]byte) netip.Addr {
	if af == u.AF_INET {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(*a)
}

func (st *state) findKey(k ipvs.ServiceKey) *service {
	var found *service
	st.each(func(s *service) bool {
		if s.key() == k {
			found = s
		}
		return found == nil
	})
	return found
}
