package healthcheck

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxBody bounds how much of an HTTP body is read for the body regexp.
const maxBody = 64 << 10

// httpChecker sends one request on a fresh connection (HTTP/1.1 with
// Connection: close), reads the status line and headers, and the body only
// when a regexp must match it. Redirects are never followed: a 3xx is
// judged by the status list like any other code.
type httpChecker struct {
	d      Definition
	target string
	typ    Type
	req    []byte        // the serialized request
	hreq   *http.Request // for http.ReadResponse (HEAD has no body)
	bodyRe *regexp.Regexp
	tls    *tls.Config
}

var bufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func newHTTPChecker(d Definition) (Checker, error) {
	h := d.HTTP
	c := &httpChecker{d: d, target: d.Target.String(), typ: d.Type}
	host := h.Host
	if host == "" {
		host = c.target
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", h.Method, h.Path, host)
	keys := make([]string, 0, len(h.Headers))
	for k := range h.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hasUA := false
	for _, k := range keys {
		if strings.EqualFold(k, "Host") || strings.EqualFold(k, "Connection") {
			continue
		}
		hasUA = hasUA || strings.EqualFold(k, "User-Agent")
		fmt.Fprintf(&b, "%s: %s\r\n", k, h.Headers[k])
	}
	if !hasUA {
		b.WriteString("User-Agent: seesawd-healthcheck\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	c.req = []byte(b.String())
	c.hreq = &http.Request{Method: h.Method}
	if h.BodyRegexp != "" {
		re, err := regexp.Compile(h.BodyRegexp)
		if err != nil {
			return nil, fmt.Errorf("healthcheck: http.body_regexp: %w", err)
		}
		c.bodyRe = re
	}
	if d.Type == TypeHTTPS {
		cfg := &tls.Config{InsecureSkipVerify: h.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
		cfg.ServerName = h.ServerName
		if cfg.ServerName == "" {
			cfg.ServerName = h.Host
		}
		if cfg.ServerName == "" {
			cfg.ServerName = d.Target.Addr().String()
		} else if hn, _, err := net.SplitHostPort(cfg.ServerName); err == nil {
			cfg.ServerName = hn
		}
		if h.CAFile != "" {
			pem, err := os.ReadFile(h.CAFile)
			if err != nil {
				return nil, fmt.Errorf("healthcheck: http.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("healthcheck: http.ca_file: no certificate in %s", h.CAFile)
			}
			cfg.RootCAs = pool
		}
		if h.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(h.CertFile, h.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("healthcheck: http.cert_file: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		c.tls = cfg
		return c, nil
	}
	p := &plainHTTPChecker{httpChecker: c}
	p.dest = newConnectDest(d, &conversation{request: c.req, judge: c.judge, max: maxBody + 16<<10}, c)
	return p, nil
}

// plainHTTPChecker is an HTTP check the manager runs on the epoll
// connector, with no goroutine; HTTPS stays on the worker pool.
type plainHTTPChecker struct {
	*httpChecker
	dest connectDest
}

func (c *plainHTTPChecker) start(cn *connector, timeout time.Duration, done func(Result)) {
	c.dest.connect(cn, timeout, done)
}

// judge decides on the status line alone unless the body must match.
func (c *httpChecker) judge(reply []byte, eof bool) (bool, string, error) {
	fail := func(op, detail string, err error) (bool, string, error) {
		return true, detail, &CheckError{Type: c.typ, Target: c.target, Op: op, Err: err}
	}
	i := bytes.Index(reply, []byte("\r\n"))
	if i < 0 {
		if eof || len(reply) > 1024 {
			return fail("read response", "", mismatch("no status line in %q", truncate(reply)))
		}
		return false, "", nil
	}
	code, status, ok := parseStatusLine(reply[:i])
	if !ok {
		return fail("read response", "", mismatch("malformed status line %q", truncate(reply[:i])))
	}
	if !statusOK(c.d.HTTP.Status, code) {
		return fail("status", status, mismatch("unexpected status %q", status))
	}
	if c.bodyRe == nil {
		return true, status, nil
	}
	if !eof {
		return false, "", nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(reply)), c.hreq)
	if err != nil {
		return fail("read response", status, &kindError{ErrMismatch, err})
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if !c.bodyRe.Match(body) {
		return fail("body", status, mismatch("body does not match %q", c.bodyRe.String()))
	}
	return true, status, nil
}

// parseStatusLine parses "HTTP/1.1 200 OK" into 200 and "200 OK".
func parseStatusLine(line []byte) (int, string, bool) {
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || !bytes.HasPrefix(proto, []byte("HTTP/")) || len(rest) < 3 {
		return 0, "", false
	}
	code := 0
	for _, ch := range rest[:3] {
		if ch < '0' || ch > '9' {
			return 0, "", false
		}
		code = code*10 + int(ch-'0')
	}
	if len(rest) > 3 && rest[3] != ' ' {
		return 0, "", false
	}
	return code, string(rest), true
}

// Check implements Checker.
func (c *httpChecker) Check(ctx context.Context) Result {
	return runSync(ctx, c.check)
}

func (c *httpChecker) check(ctx context.Context) (string, error) {
	raw, err := dialer(c.d, "tcp", true).DialContext(ctx, "tcp", c.target)
	if err != nil {
		return "", classify(c.typ, c.target, "connect", err)
	}
	defer raw.Close()
	stop := connDeadline(ctx, raw)
	defer stop()
	var conn net.Conn = raw
	if c.tls != nil {
		tc := tls.Client(raw, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return "", classify(c.typ, c.target, opTLSHandshake, err)
		}
		conn = tc
	}
	if _, err := conn.Write(c.req); err != nil {
		return "", classify(c.typ, c.target, "write request", err)
	}
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() { br.Reset(nil); bufPool.Put(br) }()
	resp, err := http.ReadResponse(br, c.hreq)
	if err != nil {
		return "", classify(c.typ, c.target, "read response", err)
	}
	defer resp.Body.Close()
	detail := resp.Status
	if !statusOK(c.d.HTTP.Status, resp.StatusCode) {
		return detail, &CheckError{Type: c.typ, Target: c.target, Op: "status", Err: mismatch("unexpected status %q", resp.Status)}
	}
	if c.bodyRe != nil {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil && len(body) == 0 {
			return detail, classify(c.typ, c.target, "read body", err)
		}
		if !c.bodyRe.Match(body) {
			return detail, &CheckError{Type: c.typ, Target: c.target, Op: "body", Err: mismatch("body does not match %q", c.bodyRe.String())}
		}
	}
	return detail, nil
}

func statusOK(ranges []StatusRange, code int) bool {
	for _, r := range ranges {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}
