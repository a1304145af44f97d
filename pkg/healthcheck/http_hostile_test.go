package healthcheck

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hostileResponse is what a misbehaving backend sends once it has read
// the request head.
type hostileResponse struct {
	parts   []string // written in order
	endless string   // then written over and over until the client leaves
	end     string   // then "close" (FIN, the default), "reset" (RST) or "hang" (until the client leaves)
}

// hostileBackend serves resp over plain TCP and over TLS; written counts
// the response bytes its connections got into their sockets.
type hostileBackend struct {
	plain, tls string
	written    atomic.Int64
}

var (
	hostileCertOnce sync.Once
	hostileCert     tls.Certificate
)

func newHostileBackend(t *testing.T, resp hostileResponse) *hostileBackend {
	t.Helper()
	hostileCertOnce.Do(func() {
		p := newPKI(t)
		now := time.Now()
		hostileCert, _, _ = p.leaf(t, "hostile", now.Add(-time.Hour), now.Add(24*time.Hour), x509.ExtKeyUsageServerAuth, "127.0.0.1")
	})
	b := &hostileBackend{}
	cfg := &tls.Config{Certificates: []tls.Certificate{hostileCert}}
	b.plain = tcpServer(t, func(c net.Conn) { b.serve(c, c, resp) })
	b.tls = tcpServer(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if tc.Handshake() != nil {
			return
		}
		b.serve(tc, c, resp)
	})
	return b
}

// serve talks on c, whose TCP connection is raw.
func (b *hostileBackend) serve(c, raw net.Conn, resp hostileResponse) {
	var head []byte
	buf := make([]byte, 1024)
	for !strings.Contains(string(head), "\r\n\r\n") && len(head) < 8192 {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		head = append(head, buf[:n]...)
	}
	write := func(s string) bool {
		n, err := io.WriteString(c, s)
		b.written.Add(int64(n))
		return err == nil
	}
	for _, p := range resp.parts {
		if !write(p) {
			return
		}
	}
	if resp.endless != "" {
		chunk := strings.Repeat(resp.endless, max(1, 16384/len(resp.endless)))
		for write(chunk) {
		}
		return
	}
	switch resp.end {
	case "reset":
		raw.(*net.TCPConn).SetLinger(0)
	case "hang":
		io.Copy(io.Discard, c)
	}
	// The deferred close of raw: a cut without TLS close_notify.
}

// checkVerdict is what a check said, in the terms both paths must agree on.
type checkVerdict struct {
	Outcome Outcome
	Op      string // the CheckError's
	Msg     string // the cause, for verdicts of the response (ok, mismatch)
	Detail  string
}

func verdictOf(r Result) checkVerdict {
	v := checkVerdict{Outcome: r.Outcome(), Detail: r.Detail}
	var ce *CheckError
	if errors.As(r.Err, &ce) {
		v.Op = ce.Op
		if v.Outcome == OutcomeMismatch {
			v.Msg = ce.Err.Error()
		}
	}
	return v
}

// hostileCases are the responses both HTTP paths must judge alike.
var hostileCases = []struct {
	name string
	resp hostileResponse
	opts HTTPOptions
	want checkVerdict // Msg: a substring
}{
	{"ok", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}}, HTTPOptions{},
		checkVerdict{OutcomeOK, "", "", "200 OK"}},
	{"cut in the status line", hostileResponse{parts: []string{"HTTP/1.1 20"}}, HTTPOptions{},
		checkVerdict{OutcomeMismatch, "read response", "response cut in the status line", ""}},
	{"cut in the headers", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nContent-Le"}}, HTTPOptions{},
		checkVerdict{OutcomeMismatch, "read response", "response cut in the headers", "200 OK"}},
	{"endless headers", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\n"}, endless: "X-Junk: aaaaaaaaaaaaaaaaaaaaaaaa\r\n"}, HTTPOptions{},
		checkVerdict{OutcomeMismatch, "read response", "response headers exceed 65536 bytes", "200 OK"}},
	{"endless header line", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nX-Junk: "}, endless: "a"}, HTTPOptions{},
		checkVerdict{OutcomeMismatch, "read response", "response headers exceed 65536 bytes", "200 OK"}},
	{"endless status line", hostileResponse{parts: []string{"HTTP/1.1 200 OK"}, endless: "K"}, HTTPOptions{},
		checkVerdict{OutcomeMismatch, "read response", "no status line in the first 1024 bytes", ""}},
	{"endless interim responses", hostileResponse{endless: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"}, HTTPOptions{},
		checkVerdict{OutcomeMismatch, "read response", "response headers exceed 65536 bytes", ""}},
	{"endless body", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\n\r\n"}, endless: "x"}, HTTPOptions{},
		checkVerdict{OutcomeOK, "", "", "200 OK"}},
	{"100 MiB body", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n"}, endless: "x"}, HTTPOptions{},
		checkVerdict{OutcomeOK, "", "", "200 OK"}},
	{"endless body, regexp on its start", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\n\r\nok"}, endless: "x"}, HTTPOptions{BodyRegexp: "^ok"},
		checkVerdict{OutcomeOK, "", "", "200 OK"}},
	{"endless body, regexp unmatched", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\n\r\n"}, endless: "x"}, HTTPOptions{BodyRegexp: "ok"},
		checkVerdict{OutcomeMismatch, "body", `body does not match "ok"`, "200 OK"}},
	{"body cut short of its length", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok"}}, HTTPOptions{BodyRegexp: "ok"},
		checkVerdict{OutcomeMismatch, "read response", "response cut in the body", "200 OK"}},
	{"chunked body", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "2\r\nok\r\n", "3;ext=1\r\n!!!\r\n0\r\n\r\n"}}, HTTPOptions{BodyRegexp: "^ok!!!$"},
		checkVerdict{OutcomeOK, "", "", "200 OK"}},
	{"bad chunk", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n"}}, HTTPOptions{BodyRegexp: "ok"},
		checkVerdict{OutcomeMismatch, "read response", "malformed chunk", "200 OK"}},
	{"malformed header", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"}}, HTTPOptions{},
		checkVerdict{OutcomeMismatch, "read response", `malformed header line "no colon here"`, "200 OK"}},
	{"status 503", hostileResponse{parts: []string{"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"}}, HTTPOptions{},
		checkVerdict{OutcomeMismatch, "status", `unexpected status "503 Service Unavailable"`, "503 Service Unavailable"}},
	{"early hints, then 200", hostileResponse{parts: []string{"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"}}, HTTPOptions{},
		checkVerdict{OutcomeOK, "", "", "200 OK"}},
	{"folded header, bare LF", hostileResponse{parts: []string{"HTTP/1.1 200 OK\nX-A: 1\n  continued\n\nok"}}, HTTPOptions{BodyRegexp: "^ok$"},
		checkVerdict{OutcomeOK, "", "", "200 OK"}},
	{"not HTTP", hostileResponse{parts: []string{"SSH-2.0-OpenSSH_9.6\r\n"}, end: "hang"}, HTTPOptions{},
		checkVerdict{OutcomeMismatch, "read response", `malformed status line "SSH-2.0-OpenSSH_9.6"`, ""}},
	{"reset in the headers", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nX-A: b"}, end: "reset"}, HTTPOptions{},
		checkVerdict{OutcomeReset, "read response", "", ""}},
	{"silent after the status line", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\n"}, end: "hang"}, HTTPOptions{},
		checkVerdict{OutcomeTimeout, "read response", "", ""}},
}

// TestHTTPHostileParity runs each hostile response through plain HTTP on
// the epoll connector and on the Go dialer, and through HTTPS, and expects
// the one verdict from all three, decided without waiting for the timeout
// unless the backend goes silent.
func TestHTTPHostileParity(t *testing.T) {
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			b := newHostileBackend(t, tc.resp)
			for _, path := range []struct {
				name   string
				typ    Type
				target string
				run    func(*testing.T, Definition) Result
			}{
				{"http/epoll", TypeHTTP, b.plain, runAsync},
				{"http/dialer", TypeHTTP, b.plain, runCheck},
				{"https", TypeHTTPS, b.tls, runCheck},
			} {
				d := def(path.typ, path.target)
				d.Interval, d.Timeout = 4*time.Second, 2*time.Second
				o := tc.opts
				if path.typ == TypeHTTPS {
					o.InsecureSkipVerify = true
				}
				d.HTTP = &o
				r := path.run(t, d)
				got := verdictOf(r)
				want := tc.want
				if strings.Contains(got.Msg, want.Msg) {
					want.Msg = got.Msg
				}
				if got != want {
					t.Errorf("%s: verdict %+v (%v), want %+v", path.name, got, r.Err, tc.want)
				}
				if got.Outcome != OutcomeTimeout && r.Latency > d.Timeout/2 {
					t.Errorf("%s: took %v of a %v timeout to decide", path.name, r.Latency, d.Timeout)
				}
			}
		})
	}
}

// TestHTTPHostileResources: a backend that never stops sending costs a
// check a bounded amount of memory and reading, on every path.
func TestHTTPHostileResources(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp hostileResponse
	}{
		{"endless headers", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\n"}, endless: "X-Junk: aaaaaaaaaaaaaaaaaaaaaaaa\r\n"}},
		{"endless status line", hostileResponse{parts: []string{"HTTP/1.1 200 OK"}, endless: "K"}},
		{"100 MiB body", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n"}, endless: "x"}},
		{"endless chunked body", hostileResponse{parts: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"}, endless: "10\r\n0123456789abcdef\r\n"}},
	} {
		for _, path := range []string{"http/epoll", "http/dialer", "https"} {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				b := newHostileBackend(t, tc.resp)
				d, run := def(TypeHTTP, b.plain), runCheck
				switch path {
				case "http/epoll":
					run = runAsync
				case "https":
					d = def(TypeHTTPS, b.tls)
					d.HTTP = &HTTPOptions{InsecureSkipVerify: true}
				}
				d.Interval, d.Timeout = 4*time.Second, 2*time.Second
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				r := run(t, d)
				runtime.ReadMemStats(&after)
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
					t.Errorf("the check allocated %d MiB", alloc>>20)
				}
				if r.Latency > d.Timeout/2 {
					t.Errorf("took %v of a %v timeout to decide (%v)", r.Latency, d.Timeout, r.Err)
				}
				// What the backend got into its socket before the check
				// hung up: socket buffers' worth, not the whole response.
				if w := b.written.Load(); w > 32<<20 {
					t.Errorf("the backend wrote %d MiB before the check hung up", w>>20)
				}
			})
		}
	}
}
