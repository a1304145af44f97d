package kaimport

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

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
		if len(keys) >= maxServices {
			t.note(e, "virtual_server_group: more than %d addresses and ports: the rest is left out", maxServices)
			break
		}
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
