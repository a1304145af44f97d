package healthcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// httpChecker sends one request on a fresh connection (HTTP/1.1 with
// Connection: close) and judges the response with an httpJudge, reading no
// more of it than the verdict needs. Redirects are never followed: a 3xx is
// judged by the status list like any other code.
type httpChecker struct {
	d      Definition
	target string
	typ    Type
	rules  httpJudge
	conv   *conversation
	tls    *tls.Config
}

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
	c.rules = httpJudge{status: h.Status, head: h.Method == "HEAD"}
	if h.BodyRegexp != "" {
		re, err := regexp.Compile(h.BodyRegexp)
		if err != nil {
			return nil, fmt.Errorf("healthcheck: http.body_regexp: %w", err)
		}
		c.rules.bodyRe = re
	}
	c.conv = &conversation{typ: d.Type, target: c.target, request: []byte(b.String()), judge: c.judge, max: maxResponse,
		writeOp: "write request", readOp: "read response"}
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
	p.dest = newConnectDest(d, c.conv, c)
	return p, nil
}

// plainHTTPChecker is an HTTP check the manager runs on the epoll
// connector, with no goroutine; HTTPS stays on the worker pool.
type plainHTTPChecker struct {
	*httpChecker
	dest connectDest
}

func (c *plainHTTPChecker) start(cn *connector, now time.Time, timeout time.Duration, done func(Result)) (Result, bool) {
	return c.dest.connect(cn, now, timeout, done)
}

// judge is the conversation's view of the httpJudge.
func (c *httpChecker) judge(reply []byte, eof bool) (bool, string, error) {
	v := c.rules.judge(reply, eof)
	if v.err != nil {
		return v.decided, v.detail, &CheckError{Type: c.typ, Target: c.target, Op: v.op, Err: v.err}
	}
	return v.decided, v.detail, nil
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
	return c.conv.converse(conn)
}
