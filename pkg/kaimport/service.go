package kaimport

import (
	"fmt"
	"net/netip"
	"slices"
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
	m.setc("scheduler", s.scheduler, c["scheduler"])
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

// maxServices bounds the services of one translation (virtual server
// groups multiply them); IPVS tables beyond it are not kept in a file.
const maxServices = 1 << 16

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
	if len(t.services) == maxServices {
		t.noteOnly(at, "virtual_server %s: more than %d services: left out", fmtKey(k), maxServices)
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
