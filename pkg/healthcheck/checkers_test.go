package healthcheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/seesawd/seesawd/pkg/clock"
)

func def(t Type, target string) Definition {
	return Definition{Type: t, Target: netip.MustParseAddrPort(target), Interval: 2 * time.Second, Timeout: time.Second, Rise: 1, Fall: 1}
}

func runCheck(t *testing.T, d Definition) Result {
	t.Helper()
	c, err := NewChecker(d, nil)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.Normalize().Timeout)
	defer cancel()
	return c.Check(ctx)
}

// runAsync runs a checker through its goroutine-free path, as the Manager does.
func runAsync(t *testing.T, d Definition) Result {
	t.Helper()
	cn := newConnector(clock.System{})
	defer cn.close()
	return runAsyncOn(t, cn, asyncOf(t, d), d)
}

// asyncOf returns d's checker's goroutine-free path.
func asyncOf(t *testing.T, d Definition) asyncChecker {
	t.Helper()
	c, err := NewChecker(d, nil)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	a, ok := c.(asyncChecker)
	if !ok {
		t.Fatalf("%T has no async path", c)
	}
	return a
}

// runAsyncOn runs a's probe for d on cn, whose spare sockets it may use
// and leave.
func runAsyncOn(t *testing.T, cn *connector, a asyncChecker, d Definition) Result {
	t.Helper()
	ch := make(chan Result, 1)
	if r, decided := a.start(cn, time.Now(), d.Normalize().Timeout, func(r Result) { ch <- r }); decided {
		return r
	}
	select {
	case r := <-ch:
		return r
	case <-time.After(d.Timeout + time.Second):
		t.Fatal("async check never completed")
	}
	return Result{}
}

func wantOK(t *testing.T, r Result) {
	t.Helper()
	if !r.OK() {
		t.Fatalf("check failed: %v", r.Err)
	}
}

func wantFail(t *testing.T, r Result, target error, substr string) {
	t.Helper()
	if r.OK() {
		t.Fatalf("check passed (%s), want failure", r.Detail)
	}
	if target != nil && !errors.Is(r.Err, target) {
		t.Fatalf("error %v, want errors.Is %v", r.Err, target)
	}
	if !strings.Contains(r.Err.Error(), substr) {
		t.Fatalf("error %q, want it to contain %q", r.Err, substr)
	}
}

// closedPort returns a loopback TCP port with nothing listening.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func tcpServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, l, handle)
}

// serve runs handle on each connection l accepts, until the test ends.
func serve(t *testing.T, l net.Listener, handle func(net.Conn)) string {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l.Addr().String()
}

func TestTCPConnect(t *testing.T) {
	up := tcpServer(t, func(net.Conn) {})
	down := closedPort(t)
	for name, run := range map[string]func(*testing.T, Definition) Result{"dialer": runCheck, "epoll": runAsync} {
		t.Run(name, func(t *testing.T) {
			wantOK(t, run(t, def(TypeTCP, up)))
			r := run(t, def(TypeTCP, down))
			wantFail(t, r, ErrRefused, "connect")
			if r.Latency > 150*time.Millisecond {
				t.Errorf("refusal took %v, want immediate", r.Latency)
			}
		})
	}
}

func TestTCPSendExpect(t *testing.T) {
	banner := tcpServer(t, func(c net.Conn) { c.Write([]byte("SSH-2.0-test\r\n")) })
	echo := tcpServer(t, func(c net.Conn) {
		b := make([]byte, 16)
		n, _ := c.Read(b)
		c.Write([]byte("+OK " + string(b[:n])))
	})
	silent := tcpServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })

	for name, run := range map[string]func(*testing.T, Definition) Result{"dialer": runCheck, "epoll": runAsync} {
		t.Run(name, func(t *testing.T) {
			d := def(TypeTCP, banner)
			d.TCP = &TCPOptions{Expect: []byte("SSH-2.0")}
			wantOK(t, run(t, d))
			d.TCP = &TCPOptions{Expect: []byte("HTTP/")}
			wantFail(t, run(t, d), ErrMismatch, `got "SSH-2.0-test\r\n"`)

			d = def(TypeTCP, echo)
			d.TCP = &TCPOptions{Send: []byte("ping"), ExpectRegexp: `^\+OK ping$`}
			wantOK(t, run(t, d))
			d.TCP = &TCPOptions{Send: []byte("pong"), ExpectRegexp: `^\+OK ping$`}
			wantFail(t, run(t, d), ErrMismatch, "match")

			// Accepts, never answers: a timeout, not a pass.
			d = def(TypeTCP, silent)
			d.Timeout = 300 * time.Millisecond
			d.TCP = &TCPOptions{Send: []byte("hello"), Expect: []byte("x")}
			r := run(t, d)
			wantFail(t, r, ErrTimeout, "read")
			if r.Latency < 250*time.Millisecond {
				t.Errorf("timed out after %v, before the 300ms timeout", r.Latency)
			}
		})
	}
}

func TestHTTP(t *testing.T) {
	var conns atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "www.example.org" || r.Header.Get("X-Check") != "1" {
			http.Error(w, "wrong host/header: "+r.Host, http.StatusBadRequest)
			return
		}
		io.WriteString(w, "status: healthy\n")
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusServiceUnavailable) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/plain", http.StatusFound) })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	target := strings.TrimPrefix(srv.URL, "http://")

	tests := []struct {
		name    string
		opts    HTTPOptions
		timeout time.Duration
		wantErr error
		substr  string
	}{
		{"ok with host, header, body", HTTPOptions{Path: "/ok", Host: "www.example.org", Headers: map[string]string{"X-Check": "1"}, BodyRegexp: "healthy"}, 0, nil, ""},
		{"wrong host is a 400", HTTPOptions{Path: "/ok"}, 0, ErrMismatch, `status "400 Bad Request"`},
		{"wrong body", HTTPOptions{Path: "/plain", BodyRegexp: "^healthy"}, 0, ErrMismatch, "body does not match"},
		{"5xx", HTTPOptions{Path: "/fail"}, 0, ErrMismatch, "503"},
		{"5xx accepted by status list", HTTPOptions{Path: "/fail", Status: []StatusRange{{200, 299}, {503, 503}}}, 0, nil, ""},
		{"redirect not followed", HTTPOptions{Path: "/redirect"}, 0, ErrMismatch, "302 Found"},
		{"redirect accepted", HTTPOptions{Path: "/redirect", Status: []StatusRange{{302, 302}}}, 0, nil, ""},
		{"404", HTTPOptions{Path: "/missing"}, 0, ErrMismatch, "404"},
		{"head", HTTPOptions{Method: "HEAD", Path: "/plain"}, 0, nil, ""},
		{"server never answers", HTTPOptions{Path: "/hang"}, 300 * time.Millisecond, ErrTimeout, "read response"},
	}
	for _, tt := range tests {
		for mode, run := range map[string]func(*testing.T, Definition) Result{"dialer": runCheck, "epoll": runAsync} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				d := def(TypeHTTP, target)
				o := tt.opts
				d.HTTP = &o
				if tt.timeout > 0 {
					d.Timeout = tt.timeout
				}
				r := run(t, d)
				if tt.wantErr == nil {
					wantOK(t, r)
				} else {
					wantFail(t, r, tt.wantErr, tt.substr)
				}
			})
		}
	}
	// Every check opened its own connection: no keep-alive hides a dead listener.
	before := conns.Load()
	d := def(TypeHTTP, target)
	d.HTTP = &HTTPOptions{Path: "/plain"}
	for range 5 {
		wantOK(t, runCheck(t, d))
		wantOK(t, runAsync(t, d))
	}
	if got := conns.Load() - before; got != 10 {
		t.Errorf("10 checks opened %d connections, want 10", got)
	}
	srv.Close()
	wantFail(t, runCheck(t, d), ErrRefused, "connect")
	wantFail(t, runAsync(t, d), ErrRefused, "connect")
}

// testPKI is a throwaway CA with leaf certificates.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key}
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// leaf issues a certificate for names (DNS names or IPs) valid over [from, to).
func (p *testPKI) leaf(t *testing.T, name string, from, to time.Time, usage x509.ExtKeyUsage, names ...string) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: from, NotAfter: to, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certFile, keyFile
}

func tlsServer(t *testing.T, cert tls.Certificate, clientCAs *x509.CertPool) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCAs != nil {
		srv.TLS.ClientCAs = clientCAs
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://")
}

func TestHTTPS(t *testing.T) {
	p := newPKI(t)
	now := time.Now()
	good, _, _ := p.leaf(t, "good", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth, "www.example.org", "127.0.0.1")
	expired, _, _ := p.leaf(t, "expired", now.Add(-2*time.Hour), now.Add(-time.Hour), x509.ExtKeyUsageServerAuth, "www.example.org")
	_, clientCert, clientKey := p.leaf(t, "client", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth, "client")
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)

	goodSrv := tlsServer(t, good, nil)
	expiredSrv := tlsServer(t, expired, nil)
	mtlsSrv := tlsServer(t, good, pool)
	plainSrv := tcpServer(t, func(c net.Conn) {
		c.Read(make([]byte, 512))
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
	})

	tests := []struct {
		name   string
		target string
		opts   HTTPOptions
		substr string // "" = success
	}{
		{"verified by SNI name", goodSrv, HTTPOptions{ServerName: "www.example.org", CAFile: p.caFile}, ""},
		{"verified by host header name", goodSrv, HTTPOptions{Host: "www.example.org:443", CAFile: p.caFile}, ""},
		{"verified by IP", goodSrv, HTTPOptions{CAFile: p.caFile}, ""},
		{"wrong name", goodSrv, HTTPOptions{ServerName: "other.example.org", CAFile: p.caFile}, "tls handshake: tls: failed to verify certificate: x509: certificate is valid for www.example.org"},
		{"unknown CA", goodSrv, HTTPOptions{ServerName: "www.example.org"}, "tls handshake: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"expired", expiredSrv, HTTPOptions{ServerName: "www.example.org", CAFile: p.caFile}, "expired"},
		{"expired but verify off", expiredSrv, HTTPOptions{InsecureSkipVerify: true}, ""},
		// TLS 1.3 servers refuse the missing certificate after the handshake.
		{"client cert required, none given", mtlsSrv, HTTPOptions{CAFile: p.caFile}, "read response: remote error: tls: certificate required"},
		{"not TLS", plainSrv, HTTPOptions{InsecureSkipVerify: true}, "tls handshake: tls: first record does not look like a TLS handshake"},
		{"client cert given", mtlsSrv, HTTPOptions{CAFile: p.caFile, CertFile: clientCert, KeyFile: clientKey}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := def(TypeHTTPS, tt.target)
			o := tt.opts
			d.HTTP = &o
			r := runCheck(t, d)
			if tt.substr == "" {
				wantOK(t, r)
			} else {
				wantFail(t, r, ErrTLS, tt.substr)
			}
		})
	}

	d := def(TypeHTTPS, goodSrv)
	d.HTTP = &HTTPOptions{CAFile: filepath.Join(p.dir, "missing.pem")}
	if _, err := NewChecker(d, nil); err == nil || !strings.Contains(err.Error(), "http.ca_file") {
		t.Errorf("missing CA file: err = %v", err)
	}
}

func udpServer(t *testing.T, reply func([]byte) []byte) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, 65536)
		for {
			n, from, err := c.ReadFrom(b)
			if err != nil {
				return
			}
			if out := reply(b[:n]); out != nil {
				c.WriteTo(out, from)
			}
		}
	}()
	return c.LocalAddr().String()
}

func TestUDP(t *testing.T) {
	echo := udpServer(t, func(b []byte) []byte { return append([]byte("re:"), b...) })
	big := make([]byte, 60000)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	large := udpServer(t, func([]byte) []byte { return big })
	mute := udpServer(t, func([]byte) []byte { return nil })
	closed := func() string {
		c, _ := net.ListenPacket("udp", "127.0.0.1:0")
		defer c.Close()
		return c.LocalAddr().String()
	}()

	tests := []struct {
		name    string
		target  string
		opts    UDPOptions
		wantErr error
		substr  string
	}{
		{"any reply", echo, UDPOptions{Payload: []byte("hi")}, nil, ""},
		{"exact", echo, UDPOptions{Payload: []byte("hi"), Match: MatchExact, Expect: []byte("re:hi")}, nil, ""},
		{"exact mismatch", echo, UDPOptions{Payload: []byte("hi"), Match: MatchExact, Expect: []byte("re:ho")}, ErrMismatch, `got "re:hi"`},
		{"prefix", echo, UDPOptions{Payload: []byte("hi"), Match: MatchPrefix, Expect: []byte("re:")}, nil, ""},
		{"regexp", echo, UDPOptions{Payload: []byte("hi"), Match: MatchRegexp, Expect: []byte("^re:h.$")}, nil, ""},
		{"no reply", mute, UDPOptions{Payload: []byte("hi")}, ErrTimeout, "read"},
		{"port unreachable", closed, UDPOptions{Payload: []byte("hi")}, ErrRefused, "read"},
		// Replies are read whole, however long.
		{"exact, long reply", large, UDPOptions{Payload: []byte("hi"), Match: MatchExact, Expect: big}, nil, ""},
		{"regexp on the end of a long reply", large, UDPOptions{Payload: []byte("hi"), Match: MatchRegexp, Expect: []byte(string(big[len(big)-3:]) + "$")}, nil, ""},
		{"exact, longer reply", large, UDPOptions{Payload: []byte("hi"), Match: MatchExact, Expect: big[:4096]}, ErrMismatch, "match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := def(TypeUDP, tt.target)
			d.Timeout = 300 * time.Millisecond
			o := tt.opts
			d.UDP = &o
			r := runCheck(t, d)
			if tt.wantErr == nil {
				wantOK(t, r)
				return
			}
			wantFail(t, r, tt.wantErr, tt.substr)
			if tt.wantErr == ErrRefused && r.Latency > 150*time.Millisecond {
				t.Errorf("port unreachable took %v, want immediate failure", r.Latency)
			}
		})
	}
}

// parseQuery returns the ID and question of the DNS query q.
func parseQuery(q []byte) (uint16, dnsmessage.Question, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return 0, dnsmessage.Question{}, false
	}
	qq, err := p.Question()
	return h.ID, qq, err == nil
}

func TestDNS(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	srv := udpServer(t, func(q []byte) []byte {
		id, qq, ok := parseQuery(q)
		if !ok {
			return nil
		}
		rcode := dnsmessage.RCodeSuccess
		var answers []netip.Addr
		if qq.Name.String() == "www.example.org." {
			answers = []netip.Addr{a}
		} else {
			rcode = dnsmessage.RCodeNameError
		}
		return dnsResponse(t, id, qq.Name.String(), qq.Type, rcode, answers...)
	})
	tests := []struct {
		name   string
		opts   DNSOptions
		substr string
	}{
		{"answer", DNSOptions{Name: "www.example.org"}, ""},
		{"expected address", DNSOptions{Name: "www.example.org", Expect: []netip.Addr{a}}, ""},
		{"other address", DNSOptions{Name: "www.example.org", Expect: []netip.Addr{netip.MustParseAddr("192.0.2.8")}}, "none of"},
		{"nxdomain", DNSOptions{Name: "nope.example.org"}, "RCodeNameError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := def(TypeDNS, srv)
			o := tt.opts
			d.DNS = &o
			r := runCheck(t, d)
			if tt.substr == "" {
				wantOK(t, r)
			} else {
				wantFail(t, r, ErrMismatch, tt.substr)
			}
		})
	}
}

// truncatingDNS is a DNS server that answers over UDP with the TC bit set
// and the first address only, and, when tcp, over TCP in full.
func truncatingDNS(t *testing.T, tcp bool, answers ...netip.Addr) string {
	t.Helper()
	answer := func(q []byte, truncated bool) []byte {
		id, qq, ok := parseQuery(q)
		if !ok {
			return nil
		}
		if truncated {
			return setTC(dnsResponse(t, id, qq.Name.String(), qq.Type, dnsmessage.RCodeSuccess, answers[0]))
		}
		return dnsResponse(t, id, qq.Name.String(), qq.Type, dnsmessage.RCodeSuccess, answers...)
	}
	for {
		addr := udpServer(t, func(q []byte) []byte { return answer(q, true) })
		if !tcp {
			return addr
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // the port is taken for TCP: try another
		}
		return serve(t, l, func(c net.Conn) {
			var n [2]byte
			if _, err := io.ReadFull(c, n[:]); err != nil {
				return
			}
			q := make([]byte, int(n[0])<<8|int(n[1]))
			if _, err := io.ReadFull(c, q); err != nil {
				return
			}
			r := answer(q, false)
			c.Write(append([]byte{byte(len(r) >> 8), byte(len(r))}, r...))
		})
	}
}

// setTC sets the TC bit of a DNS message.
func setTC(msg []byte) []byte {
	msg[2] |= 0x02
	return msg
}

// A truncated UDP answer is asked again over TCP, as RFC 7766 has
// resolvers do; a server that truncates and serves no TCP is down.
func TestDNSTruncated(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("192.0.2.8")
	for _, tt := range []struct {
		name   string
		tcp    bool
		expect []netip.Addr
		detail string
		err    error
		substr string
	}{
		{"answered over TCP", true, []netip.Addr{b}, "1 TypeA record(s) over TCP", nil, ""},
		{"no TCP", false, nil, "", ErrRefused, "tcp connect"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := def(TypeDNS, truncatingDNS(t, tt.tcp, a, b))
			d.DNS = &DNSOptions{Name: "www.example.org", Expect: tt.expect}
			r := runCheck(t, d)
			if tt.err == nil {
				wantOK(t, r)
				if r.Detail != tt.detail {
					t.Errorf("detail %q, want %q", r.Detail, tt.detail)
				}
				return
			}
			wantFail(t, r, tt.err, tt.substr)
		})
	}
}
