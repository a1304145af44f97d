package kaimport

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serviceOut is one translated virtual service.
type serviceOut struct {
	name      string
	vip       netip.Addr
	fwmark    uint32
	family    string
	port      int
	protocol  string
	scheduler string
	flags     []string
	forward   string
	tunnel    *ymap
	persist   *ymap
	onePacket bool
	quorum    int
	hyst      int
	sorry     string
	onFailure string
	check     *checkDef
	backends  []*backendOut
	comment   string
	comments  map[string]string
}

type backendOut struct {
	addr    netip.Addr
	port    int
	weight  int
	upper   int
	lower   int
	full    *checkDef // the backend's whole check, nil for none
	check   *checkDef // what the YAML says for it: an override, or nil
	comment string
}

func (s *serviceOut) yaml() *ymap {
	m := &ymap{}
	c := s.comments
	m.set("name", s.name)
	if s.fwmark != 0 {
		m.set("fwmark", int(s.fwmark))
		if s.family != "" {
			m.set("family", s.family)
		}
	} else {
		m.set("vip", s.vip.String())
		m.set("port", s.port)
		m.setc("protocol", s.protocol, c["protocol"])
	}
	m.set("scheduler", s.scheduler)
	if len(s.flags) > 0 {
		f := &yseq{flow: true}
		for _, x := range s.flags {
			f.add(x, "")
		}
		m.set("scheduler_flags", f)
	}
	m.setc("forward", s.forward, c["forward"])
	if s.tunnel != nil {
		m.set("tunnel", s.tunnel)
	}
	if s.persist != nil {
		m.setc("persistence", s.persist, c["persistence"])
	}
	if s.onePacket {
		m.set("one_packet", true)
	}
	if s.quorum > 0 {
		m.setc("quorum", s.quorum, c["quorum"])
		if s.hyst > 0 {
			m.set("quorum_hysteresis", s.hyst)
		}
	}
	if s.sorry != "" {
		m.set("sorry_server", s.sorry)
	}
	if s.onFailure != "" {
		m.setc("on_failure", s.onFailure, c["on_failure"])
	}
	if s.check != nil {
		m.setc("healthcheck", s.check.yaml(false), c["healthcheck"])
	}
	bs := &yseq{}
	for _, b := range s.backends {
		bm := &ymap{flow: true}
		bm.set("address", b.addr.String())
		if b.port != 0 {
			bm.set("port", b.port)
		}
		bm.set("weight", b.weight)
		if b.upper > 0 {
			bm.set("upper_threshold", b.upper)
		}
		if b.lower > 0 {
			bm.set("lower_threshold", b.lower)
		}
		if b.check != nil {
			bm.set("healthcheck", b.check.yaml(true))
		}
		bs.add(bm, b.comment)
	}
	m.set("backends", bs)
	return m
}

// fwdSpec is an lvs_method.
type fwdSpec struct {
	method string // nat, dr, tunnel
	tunnel *ymap
	node   *Node
}

// timing holds the check settings a virtual or real server gives its
// checkers as defaults; nil fields are not set at that level.
type timing struct {
	delayLoop, timeout, retryGap *time.Duration
	retry                        *int
	alpha                        *bool
	dbrNode                      *Node
}

// vsConf is what a virtual_server block says at its own level.
type vsConf struct {
	node        *Node
	sched       string
	flagNodes   []*Node
	fwd         *fwdSpec
	persist     time.Duration
	granularity *Node
	engine      string
	protocol    string
	protoNode   *Node
	virtualhost string
	quorum      int
	quorumNode  *Node
	hyst        int
	weight      int
	sorry       *Node
	sorryFwd    *fwdSpec
	timing      timing
	inhibit     bool
	family      string
	ops         *Node
	servers     []*rsConf
}

// rsConf is one real_server block.
type rsConf struct {
	node        *Node
	addr        netip.Addr
	port        int
	weight      int
	fwd         *fwdSpec
	upper       int
	lower       int
	inhibit     *bool
	timing      timing
	virtualhost string
	checkers    []*Node
}

// vsKey identifies one IPVS service a virtual_server configures.
type vsKey struct {
	addr   netip.Addr
	port   int
	fwmark uint32
	v6     bool // family of an fwmark service
	node   *Node
}

func (t *translator) virtualServer(n *Node) {
	t.use(n)
	var keys []vsKey
	switch n.Arg(1) {
	case "fwmark":
		m, ok := parseUint(n.Arg(2), 1, 1<<32-1)
		if !ok {
			t.note(n, "virtual_server fwmark %q: not a firewall mark: not translated", n.Arg(2))
			return
		}
		keys = []vsKey{{fwmark: uint32(m), node: n}}
	case "group":
		g := t.vsgs[n.Arg(2)]
		if g == nil {
			t.note(n, "virtual_server group %s: no virtual_server_group of that name: not translated (keepalived skips it too)", n.Arg(2))
			return
		}
		t.usedVSG[n.Arg(2)] = true
		keys = t.groupKeys(g)
		if len(keys) == 0 {
			t.note(n, "virtual_server group %s: the group has no usable entry: not translated", n.Arg(2))
			return
		}
		t.noteOnly(n, "virtual_server group %s: seesawd has no groups: one service per address and port of the group "+
			"(%d), each with these real servers", n.Arg(2), len(keys))
	default:
		a, err := netip.ParseAddr(n.Arg(1))
		if err != nil || a.Zone() != "" {
			t.note(n, "virtual_server %q: not an IP address: not translated (keepalived skips it too)", n.Arg(1))
			return
		}
		port, ok := parseUint(n.Arg(2), 0, 65535)
		if n.Arg(2) == "" {
			port, ok = 0, true
		}
		if !ok {
			t.note(n, "virtual_server %s %q: not a port: not translated", a, n.Arg(2))
			return
		}
		keys = []vsKey{{addr: a.Unmap(), port: int(port), node: n}}
	}
	vs := t.readVS(n)
	if len(vs.servers) == 0 {
		t.noteOnly(n, "virtual_server %s has no real server: not translated (keepalived ignores it too)", strings.Join(n.Words[1:], " "))
		return
	}
	for _, k := range keys {
		t.service(vs, k)
	}
}

// groupKeys expands the entries of a virtual_server_group.
func (t *translator) groupKeys(g *Node) []vsKey {
	var keys []vsKey
	for _, e := range g.Children {
		t.use(e)
		if e.Keyword() == "fwmark" {
			m, ok := parseUint(e.Arg(1), 1, 1<<32-1)
			if !ok {
				t.note(e, "fwmark %q: not a firewall mark: left out", e.Arg(1))
				continue
			}
			keys = append(keys, vsKey{fwmark: uint32(m), v6: e.Arg(2) == "inet6", node: e})
			continue
		}
		addrs, err := addressRange(e.Keyword(), maxRange)
		if err != nil {
			t.note(e, "%s: %v: left out", e.Keyword(), err)
			continue
		}
		port := 0
		if e.Arg(1) != "" {
			p, ok := parseUint(e.Arg(1), 0, 65535)
			if !ok {
				t.note(e, "%s %q: not a port: left out", e.Keyword(), e.Arg(1))
				continue
			}
			port = int(p)
		}
		for _, a := range addrs {
			keys = append(keys, vsKey{addr: a, port: port, node: e})
		}
	}
	return keys
}

// maxRange bounds the addresses one group entry expands to.
const maxRange = 256

// addressRange reads a virtual_server_group address: an address, a range
// "192.0.2.1-10" (last part) or "192.0.2.250-192.0.3.10", or a prefix.
func addressRange(s string, limit int) ([]netip.Addr, error) {
	var first netip.Addr
	var in func(netip.Addr) bool
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		first, in = p.Addr(), p.Contains
	} else if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, fmt.Errorf("not an address range")
		}
		last, err := netip.ParseAddr(hi)
		if err != nil {
			// Only the last part is given: an octet, or an IPv6 group in hex.
			base := 10
			if a.Is6() {
				base = 16
			}
			v, err := strconv.ParseUint(hi, base, 16)
			if err != nil || a.Is4() && v > 255 {
				return nil, fmt.Errorf("not an address range")
			}
			b := a.AsSlice()
			if a.Is4() {
				b[3] = byte(v)
			} else {
				b[14], b[15] = byte(v>>8), byte(v)
			}
			last, _ = netip.AddrFromSlice(b)
		}
		if a.Zone() != "" || a.Is4() != last.Is4() || last.Less(a) {
			return nil, fmt.Errorf("not an address range")
		}
		first, in = a, func(x netip.Addr) bool { return !last.Less(x) }
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("not an address")
		}
		first, in = a, func(x netip.Addr) bool { return x == a }
	}
	var out []netip.Addr
	for a := first; a.IsValid() && in(a); a = a.Next() {
		if len(out) == limit {
			return nil, fmt.Errorf("more than %d addresses", limit)
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

// forwardOf reads "NAT|DR|TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]".
func forwardOf(n *Node) (*fwdSpec, string) {
	f := &fwdSpec{node: n}
	switch n.Arg(1) {
	case "NAT":
		f.method = "nat"
	case "DR":
		f.method = "dr"
	case "TUN":
		f.method = "tunnel"
	default:
		return nil, fmt.Sprintf("%q is not NAT, DR or TUN", n.Arg(1))
	}
	tun := &ymap{flow: true}
	typ, port, csum := "ipip", 0, "none"
	for i := 2; i < len(n.Words); i++ {
		switch w := n.Words[i]; w {
		case "type":
			typ = n.Arg(i + 1)
			i++
		case "port":
			p, ok := parseUint(n.Arg(i+1), 1, 65535)
			if !ok {
				return nil, fmt.Sprintf("tunnel port %q is not 1-65535", n.Arg(i+1))
			}
			port = int(p)
			i++
		case "nocsum":
			csum = "none"
		case "csum", "remcsum":
			csum = w
		default:
			return nil, fmt.Sprintf("%q is not a tunnel option", w)
		}
	}
	if f.method != "tunnel" {
		if len(n.Words) > 2 {
			return nil, "tunnel options need TUN"
		}
		return f, ""
	}
	switch {
	case typ != "ipip" && typ != "gue" && typ != "gre":
		return nil, fmt.Sprintf("tunnel type %q is not ipip, gue or gre", typ)
	case (typ == "gue") != (port != 0):
		return nil, "a gue tunnel needs a port, and only it takes one"
	case typ == "ipip" && csum != "none", typ == "gre" && csum == "remcsum":
		return nil, fmt.Sprintf("%s tunnels do not take %s", typ, csum)
	}
	if typ != "ipip" {
		tun.set("type", typ)
	}
	if port != 0 {
		tun.set("port", port)
	}
	if csum != "none" {
		tun.set("checksum", csum)
	}
	if len(tun.items) > 0 {
		f.tunnel = tun
	}
	return f, ""
}

func sameForward(a, b *fwdSpec) bool {
	return a.method == b.method && renderKey(orEmpty(a.tunnel)) == renderKey(orEmpty(b.tunnel))
}

func orEmpty(m *ymap) *ymap {
	if m == nil {
		return &ymap{}
	}
	return m
}

// readTiming reads a check default at virtual or real server level and
// reports whether kw was one.
func (t *translator) readTiming(c *Node, tm *timing) bool {
	switch kw := c.Keyword(); kw {
	case "delay_loop", "connect_timeout", "delay_before_retry":
		d, ok := parseTimer(c.Arg(1))
		if !ok || d == 0 && kw != "delay_before_retry" {
			t.note(c, "%s %q is not a positive time: ignored, as keepalived does", kw, c.Arg(1))
			return true
		}
		switch kw {
		case "delay_loop":
			tm.delayLoop = &d
		case "connect_timeout":
			tm.timeout = &d
		default:
			tm.retryGap, tm.dbrNode = &d, c
		}
		t.use(c)
	case "retry", "nb_get_retry":
		r, ok := parseUint(c.Arg(1), 0, 1<<31-1)
		if !ok {
			t.note(c, "%s %q is not a count: ignored", kw, c.Arg(1))
			return true
		}
		n := int(r)
		tm.retry = &n
		t.use(c)
	case "alpha":
		a, ok := parseBool(c.Arg(1))
		if !ok {
			t.note(c, "alpha %q is not a boolean: ignored", c.Arg(1))
			return true
		}
		tm.alpha = &a
		t.use(c)
	case "warmup":
		t.note(c, "warmup: seesawd starts every check at once, without keepalived's random delay")
	default:
		return false
	}
	return true
}

// readVS reads the virtual_server block.
func (t *translator) readVS(n *Node) *vsConf {
	vs := &vsConf{node: n, weight: 1}
	for _, c := range n.Children {
		kw := c.Keyword()
		if t.readTiming(c, &vs.timing) {
			continue
		}
		switch kw {
		case "lb_algo", "lvs_sched":
			if _, ok := schedulers[c.Arg(1)]; ok {
				vs.sched = c.Arg(1)
				t.use(c)
			} else {
				t.note(c, "%s %q is not an IPVS scheduler: ignored, as keepalived does", kw, c.Arg(1))
			}
		case "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback", "hashed":
			vs.flagNodes = append(vs.flagNodes, c)
		case "ops":
			vs.ops = c
		case "lb_kind", "lvs_method":
			f, bad := forwardOf(c)
			if f == nil {
				t.note(c, "%s: %s: ignored, as keepalived does", kw, bad)
				continue
			}
			vs.fwd = f
			t.use(c)
		case "persistence_timeout":
			d := 360 * time.Second // keepalived's default, ipvsadm's too
			if c.Arg(1) != "" {
				s, ok := parseUint(c.Arg(1), 1, 1<<31-1)
				if !ok {
					t.note(c, "persistence_timeout %q is not a number of seconds: ignored", c.Arg(1))
					continue
				}
				d = time.Duration(s) * time.Second
			}
			vs.persist = d
			t.use(c)
		case "persistence_granularity":
			vs.granularity = c
		case "persistence_engine":
			vs.engine = c.Arg(1)
			t.use(c)
		case "protocol":
			switch p := strings.ToLower(c.Arg(1)); p {
			case "tcp", "udp", "sctp":
				vs.protocol, vs.protoNode = p, c
				t.use(c)
			default:
				t.note(c, "protocol %q is not TCP, UDP or SCTP: ignored, as keepalived does", c.Arg(1))
			}
		case "virtualhost":
			vs.virtualhost = c.Arg(1)
			t.use(c)
		case "quorum":
			q, ok := parseUint(c.Arg(1), 1, 1<<31-1)
			if !ok {
				q = 1
			}
			vs.quorum, vs.quorumNode = int(q), c
			t.use(c)
		case "hysteresis":
			if h, ok := t.uintArg(c, 0, 1<<31-1); ok {
				vs.hyst = h
			}
		case "weight":
			if w, ok := t.uintArg(c, 1, 65535); ok {
				vs.weight = w
			}
		case "sorry_server":
			vs.sorry = c
		case "sorry_server_lvs_method":
			f, bad := forwardOf(c)
			if f == nil {
				t.note(c, "sorry_server_lvs_method: %s: ignored", bad)
				continue
			}
			vs.sorryFwd = f
		case "sorry_server_inhibit":
			t.note(c, "sorry_server_inhibit: seesawd adds the sorry server only while the service is below quorum, "+
				"and lets its connections drain (weight 0) when it is no longer needed")
		case "inhibit_on_failure":
			vs.inhibit = true
			t.use(c)
		case "ip_family":
			switch c.Arg(1) {
			case "inet":
				vs.family = "ipv4"
			case "inet6":
				vs.family = "ipv6"
			default:
				t.note(c, "ip_family %q is not inet or inet6: ignored", c.Arg(1))
				continue
			}
			t.use(c)
		case "ha_suspend":
			t.note(c, "ha_suspend: seesawd checks backends whether or not this node holds the VIP")
		case "omega":
			t.note(c, "omega: seesawd runs no quorum scripts, at shutdown or otherwise")
		case "quorum_up", "quorum_down":
			t.note(c, "%s: seesawd runs no scripts; a service's quorum is in its status and metrics, "+
				"and vrrp_track lowers a VRRP priority while it is lost", kw)
		case "smtp_alert":
			t.note(c, emailNote, kw)
		case "snmp_name":
			t.note(c, snmpNote, kw)
		case "real_server":
			if rs := t.readRS(c, vs); rs != nil {
				vs.servers = append(vs.servers, rs)
			}
		default:
			t.note(c, "unknown keyword %s in virtual_server: keepalived rejects it too", kw)
		}
	}
	return vs
}

// schedulers are keepalived's lvs_sched values (all seesawd knows too).
var schedulers = map[string]bool{"rr": true, "wrr": true, "lc": true, "wlc": true, "lblc": true, "sh": true, "mh": true,
	"dh": true, "fo": true, "ovf": true, "lblcr": true, "sed": true, "nq": true, "twos": true}

// checkerKeywords are the health checkers a real_server may hold.
var checkerKeywords = []string{"HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "DNS_CHECK", "MISC_CHECK",
	"BFD_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK"}

func (t *translator) readRS(n *Node, vs *vsConf) *rsConf {
	t.use(n)
	a, err := netip.ParseAddr(n.Arg(1))
	if err != nil || a.Zone() != "" {
		t.note(n, "real_server %q: not an IP address: not translated (keepalived skips it too)", n.Arg(1))
		return nil
	}
	port, ok := parseUint(n.Arg(2), 0, 65535)
	if n.Arg(2) == "" {
		port, ok = 0, true
	}
	if !ok {
		t.note(n, "real_server %s %q: not a port: not translated", a, n.Arg(2))
		return nil
	}
	rs := &rsConf{node: n, addr: a.Unmap(), port: int(port), weight: -1}
	for _, c := range n.Children {
		kw := c.Keyword()
		if t.readTiming(c, &rs.timing) {
			continue
		}
		switch {
		case kw == "weight":
			if w, ok := t.uintArg(c, 0, 65535); ok {
				rs.weight = w
			}
		case kw == "lvs_method":
			f, bad := forwardOf(c)
			if f == nil {
				t.note(c, "lvs_method: %s: ignored, as keepalived does", bad)
				continue
			}
			rs.fwd = f
		case kw == "uthreshold":
			if v, ok := t.uintArg(c, 0, 1<<31-1); ok {
				rs.upper = v
			}
		case kw == "lthreshold":
			if v, ok := t.uintArg(c, 0, 1<<31-1); ok {
				rs.lower = v
			}
		case kw == "inhibit_on_failure":
			b, ok := parseBool(c.Arg(1))
			if !ok {
				t.note(c, "inhibit_on_failure %q is not a boolean: ignored", c.Arg(1))
				continue
			}
			rs.inhibit = &b
			t.use(c) // becomes the service's on_failure, noted there when real servers disagree
		case kw == "virtualhost":
			rs.virtualhost = c.Arg(1)
			t.use(c)
		case kw == "notify_up" || kw == "notify_down":
			t.note(c, scriptNote, kw)
		case kw == "smtp_alert":
			t.note(c, emailNote, kw)
		case kw == "snmp_name":
			t.note(c, snmpNote, kw)
		case slices.Contains(checkerKeywords, kw):
			rs.checkers = append(rs.checkers, c)
		default:
			t.note(c, "unknown keyword %s in real_server: keepalived rejects it too", kw)
		}
	}
	if rs.weight < 0 {
		rs.weight = vs.weight
	}
	return rs
}

// service builds the seesawd service for one key of a virtual_server.
func (t *translator) service(vs *vsConf, k vsKey) {
	n := vs.node
	s := &serviceOut{vip: k.addr, fwmark: k.fwmark, port: k.port, comments: map[string]string{}}
	at := k.node
	// The address family: the VIP's, or for an fwmark the ip_family or
	// that of the (untunnelled) real servers, IPv4 by default.
	v6 := k.addr.Is6()
	if k.fwmark != 0 {
		v6 = k.v6 || vs.family == "ipv6"
		if vs.family == "" && !k.v6 && len(vs.servers) > 0 && vs.servers[0].addr.Is6() {
			v6 = true
		}
		if v6 {
			s.family = "ipv6"
		}
	}
	// Forwarding: the virtual server's method, NAT by default; a real
	// server's own method must be the same in seesawd.
	fwd := vs.fwd
	if fwd == nil {
		fwd = &fwdSpec{method: "nat"}
		if len(vs.servers) > 0 && vs.servers[0].fwd != nil {
			fwd = vs.servers[0].fwd
		}
	}
	s.forward, s.tunnel = fwd.method, fwd.tunnel
	for _, f := range vs.flagNodes {
		t.schedFlag(f, s, vs)
	}
	s.scheduler = vs.sched
	if s.scheduler == "" {
		s.scheduler = "wlc"
		s.comments["scheduler"] = "keepalived's default"
	}
	if k.fwmark == 0 {
		s.protocol = vs.protocol
		if s.protocol == "" {
			s.protocol = "udp"
			s.comments["protocol"] = "keepalived defaults to UDP when no protocol is set: check this is what you meant"
			t.noteOnly(n, "virtual_server %s sets no protocol: keepalived used UDP, so does the translation; add protocol TCP if you meant TCP", fmtKey(k))
		}
	} else if vs.protoNode != nil {
		t.noteOnly(vs.protoNode, "protocol: an fwmark service has no protocol (keepalived ignores it too)")
	}
	if vs.ops != nil {
		if k.fwmark != 0 || s.protocol == "udp" {
			s.onePacket = true
			t.use(vs.ops)
		} else {
			t.noteOnly(vs.ops, "ops: one-packet scheduling is for UDP only: left out (keepalived resets it too)")
		}
	}
	if k.fwmark == 0 && k.port == 0 {
		t.noteOnly(at, "virtual_server %s has no port (a persistent all-ports service): seesawd services have a port, "+
			"or use an fwmark: not translated", fmtKey(k))
		return
	}
	t.persistence(s, vs, v6)

	// Real servers.
	seen := map[netip.AddrPort]bool{}
	inhibits := 0
	for _, rs := range vs.servers {
		b := t.backend(s, vs, rs, k, v6, fwd)
		if b == nil {
			continue
		}
		ap := netip.AddrPortFrom(b.addr, uint16(b.port))
		if seen[ap] {
			t.noteOnly(rs.node, "real_server %s is listed twice: kept once (keepalived removes the second too)", ap)
			continue
		}
		seen[ap] = true
		if rs.inhibit != nil && *rs.inhibit || rs.inhibit == nil && vs.inhibit {
			inhibits++
		}
		s.backends = append(s.backends, b)
	}
	if len(s.backends) == 0 {
		t.noteOnly(at, "virtual_server %s: no real server could be translated: not translated", fmtKey(k))
		return
	}
	t.onFailure(s, vs, inhibits)
	t.sorryServer(s, vs, k, v6, seen)
	t.quorum(s, vs)
	t.serviceCheck(s)

	key := fmt.Sprintf("%s %s %d", s.protocol, k.addr, k.port)
	if k.fwmark != 0 {
		key = fmt.Sprintf("fwmark %d %v", k.fwmark, v6)
	}
	if first := t.svcKeys[key]; first != nil {
		t.noteOnly(at, "virtual_server %s is already configured at %s:%d: this one is left out", fmtKey(k), first.File, first.Line)
		return
	}
	t.svcKeys[key] = at
	s.name = uniqueName(nameFor(k.addr, k.fwmark, v6, k.port, s.protocol), t.svcNames)
	t.services = append(t.services, s)
}

func fmtKey(k vsKey) string {
	if k.fwmark != 0 {
		return fmt.Sprintf("fwmark %d", k.fwmark)
	}
	if k.port == 0 {
		return k.addr.String()
	}
	return netip.AddrPortFrom(k.addr, uint16(k.port)).String()
}

// schedFlag translates one scheduler flag statement.
func (t *translator) schedFlag(f *Node, s *serviceOut, vs *vsConf) {
	kw := f.Keyword()
	var flag string
	switch {
	case kw == "hashed":
		t.noteOnly(f, "hashed: an internal IPVS flag the kernel sets itself: left out")
		return
	case kw == "flag-3":
		t.noteOnly(f, "flag-3: no IPVS scheduler reads it: left out")
		return
	case vs.sched == "sh" && (kw == "flag-1" || kw == "sh-fallback"):
		flag = "sh-fallback"
	case vs.sched == "sh" && (kw == "flag-2" || kw == "sh-port"):
		flag = "sh-port"
	case vs.sched == "mh" && (kw == "flag-1" || kw == "mh-fallback"):
		flag = "mh-fallback"
	case vs.sched == "mh" && (kw == "flag-2" || kw == "mh-port"):
		flag = "mh-port"
	default:
		t.noteOnly(f, "%s: no effect with scheduler %s: left out", kw, cmpOr(vs.sched, "wlc"))
		return
	}
	t.use(f)
	if !slices.Contains(s.flags, flag) {
		s.flags = append(s.flags, flag)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// persistence translates persistence_timeout, _granularity and _engine.
func (t *translator) persistence(s *serviceOut, vs *vsConf, v6 bool) {
	p := &ymap{flow: true}
	timeout := vs.persist
	if g := vs.granularity; g != nil {
		bits, ok := 0, false
		if v6 {
			var b uint64
			b, ok = parseUint(g.Arg(1), 1, 128)
			bits = int(b)
		} else {
			var contiguous bool
			bits, contiguous = maskBits(g.Arg(1))
			ok = contiguous && bits > 0
		}
		switch {
		case !ok:
			t.noteOnly(g, "persistence_granularity %q: seesawd takes a prefix length (a contiguous netmask): left out", g.Arg(1))
		default:
			t.use(g)
			if timeout == 0 {
				timeout = 360 * time.Second // keepalived makes the service persistent
			}
			p.set("netmask", bits)
		}
	}
	if vs.engine != "" {
		p.set("engine", vs.engine)
	}
	if timeout == 0 && len(p.items) == 0 {
		return
	}
	p.items = append([]yitem{{key: "timeout", value: formatDuration(timeout)}}, p.items...)
	s.persist = p
}

// backend translates one real server for service s.
func (t *translator) backend(s *serviceOut, vs *vsConf, rs *rsConf, k vsKey, v6 bool, fwd *fwdSpec) *backendOut {
	if rs.fwd != nil {
		if !sameForward(rs.fwd, fwd) {
			t.noteOnly(rs.fwd.node, "lvs_method %s: seesawd forwards every backend of a service the same way (%s): the real server's own method is not kept",
				strings.Join(rs.fwd.node.Words[1:], " "), s.forward)
		} else {
			t.use(rs.fwd.node)
		}
	}
	if rs.addr.Is6() != v6 && fwd.method != "tunnel" {
		t.noteOnly(rs.node, "real_server %s is not of the virtual server's address family: left out (keepalived skips it too)", rs.addr)
		return nil
	}
	b := &backendOut{addr: rs.addr, port: rs.port, weight: rs.weight, upper: rs.upper, lower: rs.lower}
	if b.lower > b.upper {
		t.noteOnly(rs.node, "real_server %s: lthreshold %d is above uthreshold %d: the kernel refuses such a destination "+
			"(keepalived's add fails with ERANGE and the real server is never used); the lower threshold is left out", rs.addr, b.lower, b.upper)
		b.lower = 0
	}
	switch {
	case fwd.method == "nat" && k.fwmark == 0 && b.port == 0:
		b.port = k.port
	case fwd.method == "nat":
	case k.fwmark != 0 && b.port != 0:
		t.noteOnly(rs.node, "real_server %s port %d: an fwmark service forwarded by %s keeps the client's port (keepalived clears it too)",
			rs.addr, b.port, fwd.method)
		b.port = 0
	case k.fwmark == 0 && b.port != 0 && b.port != k.port:
		t.noteOnly(rs.node, "real_server %s port %d: %s forwarding cannot change the port; the service's %d is used "+
			"(keepalived resets it too, and still checks port %d, as the translation does)", rs.addr, b.port, fwd.method, k.port, b.port)
		b.port = k.port
	case k.fwmark == 0:
		b.port = k.port
	}
	b.full = t.backendCheck(s, vs, rs, b, k)
	return b
}

// onFailure sets on_failure from inhibit_on_failure: seesawd sets it per
// service, keepalived per real server.
func (t *translator) onFailure(s *serviceOut, vs *vsConf, inhibits int) {
	switch {
	case inhibits == 0:
		return
	case inhibits == len(s.backends):
		s.onFailure = "weight0"
		return
	}
	// Mixed: the majority wins, the others are noted.
	majority := inhibits*2 >= len(s.backends)
	if majority {
		s.onFailure = "weight0"
	}
	s.comments["on_failure"] = "keepalived set inhibit_on_failure on some real servers only: see the notes"
	for _, rs := range vs.servers {
		in := rs.inhibit != nil && *rs.inhibit || rs.inhibit == nil && vs.inhibit
		if in != majority {
			what := map[bool]string{true: "set weight 0 on failure", false: "remove it on failure"}
			t.noteOnly(rs.node, "real_server %s: keepalived would %s; seesawd sets on_failure per service and most real servers here %s",
				rs.addr, what[in], what[majority])
		}
	}
}

// sorryServer translates sorry_server IP [PORT].
func (t *translator) sorryServer(s *serviceOut, vs *vsConf, k vsKey, v6 bool, backends map[netip.AddrPort]bool) {
	n := vs.sorry
	if n == nil {
		if vs.sorryFwd != nil {
			t.noteOnly(vs.sorryFwd.node, "sorry_server_lvs_method without a sorry_server: nothing to translate")
		}
		return
	}
	a, err := netip.ParseAddr(n.Arg(1))
	port, ok := parseUint(n.Arg(2), 0, 65535)
	if n.Arg(2) == "" {
		port, ok = 0, true
	}
	if err != nil || a.Zone() != "" || !ok {
		t.noteOnly(n, "sorry_server %s: not an address and port: left out", strings.Join(n.Words[1:], " "))
		return
	}
	a = a.Unmap()
	fwd := s.forward
	if vs.sorryFwd != nil {
		if vs.sorryFwd.method != fwd {
			t.noteOnly(vs.sorryFwd.node, "sorry_server_lvs_method: seesawd forwards to the sorry server like to the backends (%s)", fwd)
		} else {
			t.use(vs.sorryFwd.node)
		}
	}
	if a.Is6() != v6 && fwd != "tunnel" {
		t.noteOnly(n, "sorry_server %s is not of the virtual server's address family: left out (keepalived skips it too)", a)
		return
	}
	p := int(port)
	if fwd != "nat" || k.fwmark != 0 {
		if p != 0 && p != k.port {
			t.noteOnly(n, "sorry_server port %d: %s forwarding keeps the service's port (keepalived resets it too)", p, fwd)
		}
		p = 0
	}
	check := p
	if check == 0 {
		check = k.port
	}
	if backends[netip.AddrPortFrom(a, uint16(check))] {
		t.noteOnly(n, "sorry_server %s is also a real server: seesawd needs it to be another destination: left out", a)
		return
	}
	t.use(n)
	s.sorry = hostPort(a, p)
}

// quorum translates quorum and hysteresis. keepalived weighs live real
// servers (the sum of their weights): a service is up at quorum+hysteresis
// and down below quorum-hysteresis. seesawd counts healthy backends, with
// the same two lines. A weight line is a count line when every set of
// backends that reaches it has the same size (equal weights, say); then the
// translation is exact, provided the two count lines stay an even distance
// apart (seesawd's are quorum±hysteresis).
func (t *translator) quorum(s *serviceOut, vs *vsConf) {
	if vs.quorumNode == nil && vs.hyst == 0 {
		return
	}
	q, h := max(vs.quorum, 1), vs.hyst
	at := vs.quorumNode
	if at == nil {
		at = vs.node
	}
	weights := make([]int, len(s.backends))
	total := 0
	for i, b := range s.backends {
		weights[i] = b.weight
		total += b.weight
	}
	var notes []string
	if q > total {
		notes = append(notes, fmt.Sprintf("quorum %d exceeds the real servers' total weight %d: keepalived lowers it to %d, as here", q, total, total))
		q = total
	}
	if q == 0 {
		t.noteOnly(at, "quorum: the real servers' weights add up to 0, so keepalived's quorum never holds; seesawd's default (1 backend) is used")
		return
	}
	if h >= q {
		notes = append(notes, fmt.Sprintf("hysteresis %d is not below quorum %d: keepalived lowers it to %d, as here", h, q, q-1))
		h = q - 1
	}
	// Up: the fewest backends that surely weigh q+h (the lightest ones);
	// down: below the fewest that could (the heaviest ones).
	upMin, up := countFor(weights, q+h)
	down, downMax := countFor(weights, q-h)
	down = max(down, 1)
	hyst := (up - down) / 2
	quorum := down + hyst
	exact := upMin == up && down == max(downMax, 1) && (up-down)%2 == 0
	if quorum > len(s.backends) {
		quorum, exact = len(s.backends), false
	}
	hyst = min(hyst, quorum-1)
	if !exact {
		notes = append(notes, fmt.Sprintf("keepalived counts weight (up at %d, down below %d, of %d), seesawd counts backends: "+
			"quorum %d, hysteresis %d (up at %d backends, down below %d) is the nearest", q+h, q-h, total, quorum, hyst, quorum+hyst, quorum-hyst))
		s.comments["quorum"] = fmt.Sprintf("keepalived: quorum %d, hysteresis %d, counted in weight: see the note", vs.quorum, vs.hyst)
	} else if quorum != q || hyst != h {
		s.comments["quorum"] = fmt.Sprintf("keepalived: quorum %d, hysteresis %d, counted in weight", vs.quorum, vs.hyst)
	}
	if len(notes) > 0 {
		t.noteOnly(at, "%s", strings.Join(notes, "; "))
	}
	if quorum == 1 && hyst == 0 && s.comments["quorum"] == "" {
		return // seesawd's default
	}
	s.quorum, s.hyst = quorum, hyst
}

// countFor returns how many backends it takes to weigh at least x: at
// best (the heaviest first) and at worst (the lightest first). A count
// past every backend means never.
func countFor(weights []int, x int) (best, worst int) {
	if x <= 0 {
		return 0, 0
	}
	w := slices.Clone(weights)
	slices.Sort(w)
	reach := func(order []int) int {
		sum := 0
		for i, v := range order {
			if sum += v; sum >= x {
				return i + 1
			}
		}
		return len(order) + 1
	}
	worst = reach(w)
	slices.Reverse(w)
	return reach(w), worst
}
