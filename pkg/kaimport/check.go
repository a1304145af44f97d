package kaimport

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// checkDef is a seesawd healthcheck: keys in the order they are written.
type checkDef struct {
	kvs []kv
	// semantic are notes about the check as a whole: identical ones are
	// given once per service rather than per backend.
	semantic []semNote
}

// semNote is a note about a translated checker. With a short form it is
// about the checker statement itself and is repeated shortly at each other
// one of the service; without, it is given once per service (timing).
type semNote struct {
	Note
	short string
}

type kv struct {
	key     string
	val     any
	comment string
}

func (c *checkDef) set(key string, val any) { c.setc(key, val, "") }
func (c *checkDef) setc(key string, val any, comment string) {
	c.kvs = append(c.kvs, kv{key, val, comment})
}

func (c *checkDef) get(key string) (any, bool) {
	for _, x := range c.kvs {
		if x.key == key {
			return x.val, true
		}
	}
	return nil, false
}

func (c *checkDef) yaml(flow bool) *ymap {
	m := &ymap{flow: flow}
	for _, x := range c.kvs {
		if flow {
			m.set(x.key, x.val)
		} else {
			m.setc(x.key, x.val, x.comment)
		}
	}
	return m
}

// renderKey writes a YAML value as a comparable string.
func renderKey(v any) string {
	switch v := v.(type) {
	case *ymap:
		var b strings.Builder
		for _, it := range v.items {
			b.WriteString(it.key + ":" + renderKey(it.value) + ",")
		}
		return "{" + b.String() + "}"
	case *yseq:
		parts := make([]string, len(v.items))
		for i, it := range v.items {
			parts[i] = renderKey(it)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// keepalived's checker defaults (check_api.c, check_data.c, check_http.c,
// check_dns.c).
const (
	defaultDelayLoop      = 60 * time.Second
	defaultConnectTimeout = 5 * time.Second
	defaultRetry          = 1
	defaultRetryGap       = time.Second
	httpRetryGap          = 3 * time.Second
	dnsRetry              = 3
)

// checkCtx is what a checker inherits from its real and virtual server.
type checkCtx struct {
	vs     *vsConf
	rs     *rsConf
	port   int // the backend's port (0 for an fwmark service's)
	fwmark bool
}

// backendCheck translates the checkers of a real server into the one
// check seesawd runs for the backend (nil: always up).
func (t *translator) backendCheck(s *serviceOut, vs *vsConf, rs *rsConf, b *backendOut, k vsKey) *checkDef {
	ctx := &checkCtx{vs: vs, rs: rs, port: b.port, fwmark: k.fwmark != 0}
	if ctx.port == 0 && k.fwmark == 0 {
		ctx.port = k.port
	}
	var chosen *checkDef
	var chosenNode *Node
	for _, c := range rs.checkers {
		if chosen != nil {
			t.note(c, "%s: keepalived needed every checker of a real server to pass; seesawd runs one check per backend, "+
				"the %s at line %d", c.Keyword(), chosenNode.Keyword(), chosenNode.Line)
			continue
		}
		if d := t.checker(c, ctx); d != nil {
			chosen, chosenNode = d, c
		}
	}
	return chosen
}

// checker translates one checker block, or notes why it cannot and
// returns nil.
func (t *translator) checker(c *Node, ctx *checkCtx) *checkDef {
	kw := c.Keyword()
	t.use(c)
	switch kw {
	case "MISC_CHECK":
		path := ""
		for _, x := range c.Children {
			if x.Keyword() == "misc_path" {
				path = fmt.Sprintf(" (%q)", x.Arg(1))
			}
		}
		t.note(c, "MISC_CHECK%s: seesawd runs no scripts, so this real server gets no check from it: "+
			"replace the script by a tcp, http, udp or dns check, or drain the backend with seesawctl", path)
		return nil
	case "BFD_CHECK":
		t.note(c, "BFD_CHECK: seesawd has no BFD: this real server gets no check from it")
		return nil
	case "FILE_CHECK":
		t.note(c, "FILE_CHECK: seesawd does not watch files: this real server gets no check from it; "+
			"drain the backend with seesawctl instead")
		return nil
	}

	d := &checkDef{}
	var tm timing
	var connectPort int
	var bindto netip.Addr
	var virtualhost string
	var urls []*Node
	var ui *udpIn
	dnsType, dnsName := "SOA", "."
	for _, x := range c.Children {
		xk := x.Keyword()
		if t.readTiming(x, &tm) {
			continue
		}
		switch {
		case xk == "connect_port":
			p, ok := parseUint(x.Arg(1), 1, 65535)
			if !ok {
				t.note(x, "connect_port %q is not 1-65535: ignored", x.Arg(1))
				continue
			}
			connectPort = int(p)
			t.use(x)
		case xk == "connect_ip":
			t.connectIP(x, ctx)
		case xk == "bindto":
			a, err := netip.ParseAddr(x.Arg(1))
			if err != nil || a.Zone() != "" || a.Unmap().Is4() != ctx.rs.addr.Is4() {
				t.note(x, "bindto %q: not an address of the backend's family: ignored", x.Arg(1))
				continue
			}
			bindto = a.Unmap()
			t.use(x)
		case xk == "bind_port" || xk == "bind_if" || xk == "fwmark":
			t.note(x, "%s: seesawd chooses the probe's source port and interface itself and marks no probe: not translated", xk)
		case xk == "log_all_failures":
			t.note(x, "log_all_failures: seesawd logs state changes; every result is in its metrics")
		case (kw == "HTTP_GET" || kw == "SSL_GET") && xk == "url":
			urls = append(urls, x)
		case (kw == "HTTP_GET" || kw == "SSL_GET") && xk == "virtualhost":
			virtualhost = x.Arg(1)
			t.use(x)
		case (kw == "HTTP_GET" || kw == "SSL_GET") && xk == "http_protocol":
			t.note(x, "http_protocol %s: seesawd's checks speak HTTP/1.1 with Connection: close", x.Arg(1))
		case (kw == "HTTP_GET" || kw == "SSL_GET") && xk == "fast_recovery":
			t.note(x, "fast_recovery: seesawd checks one URL, so there is nothing to speed up")
		case kw == "SSL_GET" && xk == "enable_sni":
			t.use(x) // seesawd sends SNI (the host, else none for an address)
		case kw == "SMTP_CHECK" && xk == "helo_name":
			t.use(x) // part of the SMTP dialogue, noted with it
		case kw == "SMTP_CHECK" && xk == "host":
			connectPort, bindto = t.smtpHost(x, ctx, connectPort, bindto)
		case kw == "DNS_CHECK" && xk == "type":
			switch ty := strings.ToUpper(x.Arg(1)); ty {
			case "A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA":
				dnsType = ty
				t.use(x)
			default:
				t.note(x, "DNS_CHECK type %q is not one keepalived knows: SOA is used, as keepalived does", x.Arg(1))
			}
		case kw == "DNS_CHECK" && xk == "name":
			dnsName = x.Arg(1)
			t.use(x)
		case kw == "UDP_CHECK" && (xk == "payload" || xk == "require_reply" || xk == "min_reply_length" || xk == "max_reply_length"):
			if ui == nil {
				ui = &udpIn{}
			}
			ui.read(t, x)
		default:
			t.note(x, "unknown keyword %s in %s: keepalived rejects it too", xk, kw)
		}
	}

	// Timing: the checker's own, else the real server's, else the
	// virtual server's, else keepalived's defaults.
	retryDefault, gapDefault := defaultRetry, defaultRetryGap
	switch kw {
	case "HTTP_GET", "SSL_GET":
		gapDefault = httpRetryGap
	case "DNS_CHECK":
		retryDefault = dnsRetry
	}
	interval := firstDuration(defaultDelayLoop, tm.delayLoop, ctx.rs.timing.delayLoop, ctx.vs.timing.delayLoop)
	timeout := firstDuration(defaultConnectTimeout, tm.timeout, ctx.rs.timing.timeout, ctx.vs.timing.timeout)
	retry := firstInt(retryDefault, tm.retry, ctx.rs.timing.retry, ctx.vs.timing.retry)
	if kw == "DNS_CHECK" {
		gapDefault = interval
	}
	gap := firstDuration(gapDefault, tm.retryGap, ctx.rs.timing.retryGap, ctx.vs.timing.retryGap)
	alpha := firstBool(false, tm.alpha, ctx.rs.timing.alpha, ctx.vs.timing.alpha)
	gapNode := firstNode(c, tm.dbrNode, ctx.rs.timing.dbrNode, ctx.vs.timing.dbrNode)

	typ := map[string]string{"TCP_CHECK": "tcp", "HTTP_GET": "http", "SSL_GET": "https", "SMTP_CHECK": "tcp",
		"DNS_CHECK": "dns", "UDP_CHECK": "udp", "PING_CHECK": "icmp"}[kw]
	if kw == "UDP_CHECK" && (ui == nil || !ui.requireReply) {
		typ = "icmp"
		d.semantic = append(d.semantic, semNote{Note{c.File, c.Line, "UDP_CHECK without require_reply passed unless an ICMP error came " +
			"back; seesawd's udp check needs a reply, so the translation checks the host with icmp instead: " +
			"give the check send/expect for a request the backend answers to check the service itself"},
			"UDP_CHECK: checked with icmp"})
	}
	d.set("type", typ)
	// keepalived probes connect_port, else the port written on the
	// real_server line: not the one IPVS forwards to when keepalived
	// corrects it (DR, TUN), and port 0 when none is written.
	port := connectPort
	if port == 0 {
		port = ctx.rs.port
	}
	if typ != "icmp" {
		switch {
		case port == 0 && ctx.port == 0:
			t.noteOnly(c, "%s: no port to check (an fwmark service's real server with no port and no connect_port): "+
				"keepalived probed port 0, which always fails; the backend is left without a check", kw)
			return nil
		case port == 0:
			t.noteOnly(c, "%s: keepalived probes port 0 when neither the real_server nor connect_port gives one, which always "+
				"fails; seesawd checks the backend's port (%d)", kw, ctx.port)
			port = ctx.port
		}
		if port != ctx.port {
			d.set("port", port)
		}
	}
	d.set("interval", formatDuration(interval))
	if timeout >= interval {
		adjusted := (interval * 9 / 10).Truncate(time.Millisecond)
		if adjusted <= 0 {
			adjusted = interval / 2
		}
		d.setc("timeout", formatDuration(adjusted), fmt.Sprintf("keepalived: connect_timeout %s, not below delay_loop %s", formatDuration(timeout), formatDuration(interval)))
		d.semantic = append(d.semantic, semNote{Note: Note{c.File, c.Line, fmt.Sprintf("connect_timeout %s is not below delay_loop %s, which seesawd "+
			"requires (a probe ends before the next starts): timeout %s is used; raise interval to keep the longer timeout",
			formatDuration(timeout), formatDuration(interval), formatDuration(adjusted))}})
	} else {
		d.set("timeout", formatDuration(timeout))
	}
	d.set("rise", 1)
	d.set("fall", retry+1)
	if retry > 0 && gap != interval {
		d.semantic = append(d.semantic, semNote{Note: Note{gapNode.File, gapNode.Line, fmt.Sprintf("delay_before_retry: keepalived retried a failed "+
			"check after %s, so with retry %d a dead backend was out about %s after its first failed check; seesawd probes every "+
			"interval (%s), so with fall %d that takes about %s: lower interval or fall if it matters",
			formatDuration(gap), retry, formatDuration(gap*time.Duration(retry)), formatDuration(interval), retry+1,
			formatDuration(interval*time.Duration(retry)))}})
	}
	if alpha {
		d.setc("initial", "down", "keepalived's alpha: down until a check passes")
	}
	if bindto.IsValid() {
		d.set("source", bindto.String())
	}

	switch kw {
	case "HTTP_GET", "SSL_GET":
		if !t.httpCheck(d, c, kw, urls, firstString(virtualhost, ctx.rs.virtualhost, ctx.vs.virtualhost)) {
			return nil
		}
	case "SMTP_CHECK":
		d.set("expect", "220")
		d.semantic = append(d.semantic, semNote{Note{c.File, c.Line, "SMTP_CHECK: seesawd has no SMTP dialogue: the translation is a tcp " +
			"check that expects the server's 220 greeting (keepalived also sent HELO and expected 250)"},
			"SMTP_CHECK: a tcp check expecting 220"})
	case "DNS_CHECK":
		d.set("query", dnsName)
		d.set("query_type", dnsType)
	case "UDP_CHECK":
		if typ == "udp" {
			ui.apply(t, d)
		}
	}
	return d
}

func firstDuration(def time.Duration, ds ...*time.Duration) time.Duration {
	for _, d := range ds {
		if d != nil {
			return *d
		}
	}
	return def
}

func firstInt(def int, xs ...*int) int {
	for _, x := range xs {
		if x != nil {
			return *x
		}
	}
	return def
}

func firstBool(def bool, xs ...*bool) bool {
	for _, x := range xs {
		if x != nil {
			return *x
		}
	}
	return def
}

func firstNode(def *Node, ns ...*Node) *Node {
	for _, n := range ns {
		if n != nil {
			return n
		}
	}
	return def
}

func firstString(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// connectIP notes a checker aimed at another address than its real server.
func (t *translator) connectIP(x *Node, ctx *checkCtx) {
	a, err := netip.ParseAddr(x.Arg(1))
	if err == nil && a.Unmap() == ctx.rs.addr {
		t.use(x)
		return
	}
	t.note(x, "connect_ip %s: seesawd probes the backend's own address (or, with through_vip, the VIP through IPVS): "+
		"check that other address as its own service's backend if it matters", x.Arg(1))
}

// smtpHost reads one host { } block of an SMTP_CHECK: the first aimed at
// the real server itself is checked, others are noted.
func (t *translator) smtpHost(h *Node, ctx *checkCtx, port int, bindto netip.Addr) (int, netip.Addr) {
	t.use(h)
	target := ctx.rs.addr
	for _, x := range h.Children {
		if x.Keyword() == "connect_ip" {
			if a, err := netip.ParseAddr(x.Arg(1)); err == nil {
				target = a.Unmap()
			}
		}
	}
	if target != ctx.rs.addr {
		t.note(h, "SMTP_CHECK host %s: seesawd checks the backend's own address only: this host is not checked", target)
		return port, bindto
	}
	for _, x := range h.Children {
		switch x.Keyword() {
		case "connect_ip":
			t.use(x)
		case "connect_port":
			if p, ok := parseUint(x.Arg(1), 1, 65535); ok {
				port = int(p)
				t.use(x)
			} else {
				t.note(x, "connect_port %q is not 1-65535: ignored", x.Arg(1))
			}
		case "bindto":
			if a, err := netip.ParseAddr(x.Arg(1)); err == nil && a.Unmap().Is4() == target.Is4() {
				bindto = a.Unmap()
				t.use(x)
			} else {
				t.note(x, "bindto %q: not an address of the backend's family: ignored", x.Arg(1))
			}
		default:
			t.note(x, "%s in an SMTP_CHECK host: not translated", x.Keyword())
		}
	}
	return port, bindto
}

// httpCheck translates the URL of an HTTP_GET or SSL_GET: seesawd checks
// one path, so the first url is used and the others are noted.
func (t *translator) httpCheck(d *checkDef, c *Node, kw string, urls []*Node, host string) bool {
	var used *Node
	var path string
	for _, u := range urls {
		p := ""
		for _, x := range u.Children {
			if x.Keyword() == "path" {
				p = x.Arg(1)
			}
		}
		switch {
		case p == "":
			t.note(u, "url with no path: ignored, as keepalived does")
		case used != nil:
			t.note(u, "url %s: keepalived checked every url; seesawd checks one path (%s): this one is not checked", p, path)
		default:
			used, path = u, p
		}
	}
	if used == nil {
		t.noteOnly(c, "%s has no url with a path: keepalived drops the checker, so the backend gets no check from it", kw)
		return false
	}
	t.use(used)
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if strings.ContainsAny(path, " \r\n") {
		t.noteOnly(used, "path %q has spaces: seesawd sends paths as they are, so it checks / instead", path)
		path = "/"
	}
	d.set("path", path)
	var status *yseq
	var regex string
	var regexNode *Node
	var opts []string
	noMatch := false
	for _, x := range used.Children {
		switch xk := x.Keyword(); xk {
		case "path":
			t.use(x)
		case "virtualhost":
			host = x.Arg(1)
			t.use(x)
		case "digest":
			t.note(x, "digest: seesawd does not compare an MD5 of the body; it checks the status code, and expect_body "+
				"(a regexp) can require text the healthy page contains")
		case "status_code":
			status = t.statusCodes(x)
		case "regex":
			regex, regexNode = x.Arg(1), x
		case "regex_no_match":
			noMatch = true
			t.use(x)
		case "regex_options":
			opts = x.Words[1:]
			t.use(x)
		case "regex_min_offset", "regex_max_offset", "regex_stack":
			t.note(x, "%s: seesawd matches expect_body against the first 64 KiB of the body", xk)
		default:
			t.note(x, "unknown keyword %s in url: keepalived rejects it too", xk)
		}
	}
	if host != "" {
		if strings.ContainsAny(host, " \t\r\n") {
			t.noteOnly(c, "virtualhost %q has blanks: left out", host)
		} else {
			d.set("host", host)
		}
	}
	if status != nil {
		d.set("expect_status", status)
	}
	if regexNode != nil {
		t.bodyRegexp(d, regexNode, regex, opts, noMatch)
	}
	if kw == "SSL_GET" {
		d.setc("insecure_skip_verify", true, "keepalived does not verify the certificate either")
		msg := "SSL_GET: keepalived never verifies the server's certificate, so the translation sets insecure_skip_verify; " +
			"to verify, set ca_file (and server_name) and remove it"
		if t.ssl.ca != "" {
			msg += fmt.Sprintf(" (the SSL block's ca is %s)", t.ssl.ca)
		}
		d.semantic = append(d.semantic, semNote{Note{c.File, c.Line, msg}, "SSL_GET: insecure_skip_verify, as keepalived does not verify"})
		if t.ssl.cert != "" {
			d.set("cert_file", t.ssl.cert)
		}
		if t.ssl.key != "" {
			d.set("key_file", t.ssl.key)
		}
		t.ssl.used = true
	}
	return true
}

// statusCodes reads "status_code 200 200-299 ...".
func (t *translator) statusCodes(x *Node) *yseq {
	s := &yseq{flow: true}
	for _, w := range x.Words[1:] {
		lo, hi, isRange := strings.Cut(w, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			t.note(x, "status_code %q is not a status or range from 100 to 599: ignored, as keepalived does", w)
			return nil
		}
		if isRange {
			s.add(w, "")
		} else {
			s.add(a, "")
		}
	}
	if len(s.items) == 0 {
		t.note(x, "status_code with no code: keepalived accepts 200-299, so does seesawd")
		return nil
	}
	t.use(x)
	return s
}

// regexOptions are the PCRE options Go's regexp has a flag for.
var regexOptions = map[string]string{"caseless": "i", "multiline": "m", "dotall": "s", "ungreedy": "U"}

// bodyRegexp translates a url's regex (PCRE) into expect_body (RE2).
func (t *translator) bodyRegexp(d *checkDef, n *Node, re string, opts []string, noMatch bool) {
	if noMatch {
		t.note(n, "regex with regex_no_match: seesawd's expect_body must match, it cannot require a non-match: left out")
		return
	}
	flags := ""
	for _, o := range opts {
		f, ok := regexOptions[o]
		if !ok {
			t.noteOnly(n, "regex_options %s: Go's regexp has no such option: left out", o)
			continue
		}
		flags += f
	}
	if flags != "" {
		re = "(?" + flags + ")" + re
	}
	if _, err := regexp.Compile(re); err != nil {
		t.note(n, "regex %q: not a regexp Go's RE2 accepts (%v): left out; rewrite it as expect_body", re, err)
		return
	}
	t.use(n)
	d.set("expect_body", re)
}

// udpIn collects the UDP_CHECK options.
type udpIn struct {
	payload      []byte
	payloadNode  *Node
	requireReply bool
	expect       []byte
	wildcard     bool
	expectNode   *Node
}

func (u *udpIn) read(t *translator, x *Node) {
	switch x.Keyword() {
	case "payload":
		b, ok := hexString(strings.Join(x.Words[1:], ""))
		if !ok {
			t.note(x, "payload %q is not hex digits: ignored", strings.Join(x.Words[1:], " "))
			return
		}
		u.payload, u.payloadNode = b, x
	case "require_reply":
		u.requireReply, u.expectNode = true, x
		s := strings.Join(x.Words[1:], "")
		if strings.ContainsAny(s, "xX") {
			u.wildcard = true
			return
		}
		b, ok := hexString(s)
		if !ok {
			t.note(x, "require_reply %q is not hex digits: any reply is accepted", s)
			u.expectNode = nil
			return
		}
		u.expect = b
	case "min_reply_length", "max_reply_length":
		t.note(x, "%s: seesawd does not bound the reply's length: not translated", x.Keyword())
	}
}

func (u *udpIn) apply(t *translator, d *checkDef) {
	if u.payloadNode != nil {
		if printable(u.payload) {
			d.set("send", string(u.payload))
			t.use(u.payloadNode)
		} else {
			t.note(u.payloadNode, "payload: seesawd's send is text and these bytes are not printable: left out")
		}
	}
	if u.expectNode == nil {
		return
	}
	switch {
	case u.wildcard:
		t.note(u.expectNode, "require_reply with X wildcards: seesawd can match a regexp (match: regexp) but not nibble wildcards: any reply is accepted")
		d.set("match", "any")
	case len(u.expect) == 0:
		t.use(u.expectNode)
		d.set("match", "any")
	case printable(u.expect):
		t.use(u.expectNode)
		d.set("expect", string(u.expect))
		d.set("match", "prefix")
	default:
		t.note(u.expectNode, "require_reply: seesawd's expect is text and these bytes are not printable: any reply is accepted")
		d.set("match", "any")
	}
}

// hexString reads keepalived's free-form hex: "Ab12f 3 456" is pairs of
// digits, a lone digit before a blank being one byte.
func hexString(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if len(s)%2 == 1 {
		s = "0" + s
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

func printable(b []byte) bool {
	return slices.IndexFunc([]rune(string(b)), func(r rune) bool {
		return r == unicode.ReplacementChar || !unicode.IsPrint(r) && r != '\r' && r != '\n' && r != '\t'
	}) < 0
}

// serviceCheck writes the service's healthcheck and each backend's
// override. seesawd lays a backend's keys over the service's and cannot
// unset one, so the service's check holds only the keys every checked
// backend has, each with the value most of them have; a backend's
// override holds where it differs and its other keys. A key all checks
// have is valid for all their types (each check has only keys of its own
// type), so no backend inherits a key its type refuses.
func (t *translator) serviceCheck(s *serviceOut) {
	t.checkNotes(s)
	var checks []*checkDef
	for _, b := range s.backends {
		if b.full != nil {
			checks = append(checks, b.full)
		}
	}
	if len(checks) == 0 {
		return
	}
	svc := &checkDef{}
	for _, x := range checks[0].kvs {
		count := map[string]int{}
		var best kv
		everywhere := true
		for _, c := range checks {
			v, ok := c.get(x.key)
			if !ok {
				everywhere = false
				break
			}
			k := renderKey(v)
			if count[k]++; count[k] > count[renderKey(best.val)] || best.key == "" {
				best = c.kvs[slices.IndexFunc(c.kvs, func(y kv) bool { return y.key == x.key })]
			}
		}
		if everywhere {
			svc.kvs = append(svc.kvs, best)
		}
	}
	s.check = svc
	for _, b := range s.backends {
		if b.full == nil {
			b.check = &checkDef{kvs: []kv{{key: "type", val: "none"}}}
			b.comment = "keepalived had no checker for this real server"
			continue
		}
		o := &checkDef{}
		for _, x := range b.full.kvs {
			if v, ok := svc.get(x.key); !ok || renderKey(v) != renderKey(x.val) {
				o.kvs = append(o.kvs, x)
			}
		}
		if len(o.kvs) > 0 {
			b.check = o
		}
	}
}

// checkNotes gives the notes about the service's checks as a whole once
// per service, and a short one at each other checker such a note is about.
func (t *translator) checkNotes(s *serviceOut) {
	given := map[string]Note{}
	for _, b := range s.backends {
		if b.full == nil {
			continue
		}
		for _, n := range b.full.semantic {
			first, ok := given[n.Text]
			switch {
			case !ok:
				given[n.Text] = n.Note
				t.notes = append(t.notes, n.Note)
			case n.short != "" && (first.File != n.File || first.Line != n.Line):
				t.notes = append(t.notes, Note{n.File, n.Line, fmt.Sprintf("%s: see the note at %s", n.short, noteRef(first.File, first.Line, n.File))})
			}
		}
	}
}
