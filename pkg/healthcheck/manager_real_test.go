package healthcheck

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestManagerRealChecks runs real checks of every socket kind through the
// Manager (epoll connector and worker pool) against loopback servers.
func TestManagerRealChecks(t *testing.T) {
	tcpUp := tcpServer(t, func(net.Conn) {})
	tcpDown := closedPort(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "healthy")
	}))
	t.Cleanup(srv.Close)
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(tls.Close)
	udpUp := udpServer(t, func(b []byte) []byte { return b })
	web := strings.TrimPrefix(srv.URL, "http://")

	mk := func(ty Type, target string, mod func(*Definition)) Definition {
		d := Definition{Type: ty, Target: netip.MustParseAddrPort(target), Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 1, Fall: 1}
		if mod != nil {
			mod(&d)
		}
		return d
	}
	checks := []Check{
		{"tcp-up", mk(TypeTCP, tcpUp, nil)},
		{"tcp-down", mk(TypeTCP, tcpDown, nil)},
		{"http-up", mk(TypeHTTP, web, func(d *Definition) { d.HTTP = &HTTPOptions{BodyRegexp: "healthy"} })},
		{"http-down", mk(TypeHTTP, web, func(d *Definition) { d.HTTP = &HTTPOptions{Path: "/bad"} })},
		{"https-up", mk(TypeHTTPS, strings.TrimPrefix(tls.URL, "https://"), func(d *Definition) { d.HTTP = &HTTPOptions{InsecureSkipVerify: true} })},
		{"udp-up", mk(TypeUDP, udpUp, func(d *Definition) { d.UDP = &UDPOptions{Payload: []byte("x")} })},
	}
	want := map[string]State{"tcp-up": StateUp, "tcp-down": StateDown, "http-up": StateUp, "http-down": StateDown, "https-up": StateUp, "udp-up": StateUp}
	m := New(nil)
	defer m.Close()
	if err := m.Update(context.Background(), checks); err != nil {
		t.Fatal(err)
	}
	got := map[string]State{}
	timeout := time.After(5 * time.Second)
	for len(got) < len(want) {
		select {
		case b := <-m.Transitions():
			for _, tr := range b {
				got[tr.ID] = tr.To
				if tr.To == StateDown && want[tr.ID] == StateUp {
					t.Errorf("%s went down: %v", tr.ID, tr.Result.Err)
				}
			}
		case <-timeout:
			t.Fatalf("transitions so far %v, want %v", got, want)
		}
	}
	for id, s := range want {
		if got[id] != s {
			t.Errorf("%s: %s, want %s", id, got[id], s)
		}
	}
	st, err := m.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Runs == 0 || s.Last.Time.IsZero() {
			t.Errorf("%s: snapshot %+v lacks its last result", s.ID, s)
		}
	}
}
