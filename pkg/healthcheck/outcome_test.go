package healthcheck

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestOutcomeOf(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want Outcome
	}{
		{nil, OutcomeOK},
		{&CheckError{Err: &kindError{ErrTimeout, errors.New("x")}}, OutcomeTimeout},
		{fmt.Errorf("%w", ErrRefused), OutcomeRefused},
		{classify(TypeTCP, "t", "connect", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.EHOSTUNREACH}), OutcomeUnreachable},
		{mismatch("body"), OutcomeMismatch},
		{classify(TypeHTTPS, "t", opTLSHandshake, errors.New("EOF")), OutcomeTLS},
		{classify(TypeHTTP, "t", "read response", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), OutcomeReset},
		{ErrClosed, OutcomeOther},
		{errors.New("other"), OutcomeOther},
	} {
		if got := OutcomeOf(tt.err); got != tt.want {
			t.Errorf("OutcomeOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	var names []string
	for o := OutcomeOK; o <= OutcomeOther+1; o++ {
		names = append(names, o.String())
	}
	if got := fmt.Sprint(names); got != "[ok timeout refused unreachable mismatch tls reset other Outcome(8)]" {
		t.Errorf("names %s", got)
	}
}

// TestOutcomeAcrossCheckers: one failure reads as one outcome whichever
// checker and path meets it.
func TestOutcomeAcrossCheckers(t *testing.T) {
	refusedTCP := closedPort(t)
	refusedUDP := func() string {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}()
	// Reads what the client sends first (a request, a ClientHello), then
	// resets the connection.
	reset := tcpServer(t, func(c net.Conn) {
		c.Read(make([]byte, 4096))
		c.(*net.TCPConn).SetLinger(0)
	})
	silentTCP := tcpServer(t, func(c net.Conn) { c.Read(make([]byte, 4096)); c.Read(make([]byte, 1)) })
	silentUDP := udpServer(t, func([]byte) []byte { return nil })

	type probe struct {
		name string
		d    Definition
	}
	mk := func(typ Type, target string) []probe {
		d := def(typ, target)
		d.Timeout = 300 * time.Millisecond
		var out []probe
		switch typ {
		case TypeTCP:
			plain := d
			out = append(out, probe{"tcp", plain})
			d.TCP = &TCPOptions{Send: []byte("hello\n"), Expect: []byte("+OK")}
			out = append(out, probe{"tcp-send", d})
		case TypeHTTPS:
			d.HTTP = &HTTPOptions{InsecureSkipVerify: true}
			out = append(out, probe{"https", d})
		case TypeUDP:
			d.UDP = &UDPOptions{Payload: []byte("hi")}
			out = append(out, probe{"udp", d})
		case TypeDNS:
			d.DNS = &DNSOptions{Name: "example.org"}
			out = append(out, probe{"dns", d})
		default:
			out = append(out, probe{typ.String(), d})
		}
		return out
	}
	stream := func(target string) []probe {
		return append(append(mk(TypeTCP, target), mk(TypeHTTP, target)...), mk(TypeHTTPS, target)...)
	}
	for _, tt := range []struct {
		name   string
		probes []probe
		want   Outcome
	}{
		{"refused", append(append(stream(refusedTCP), mk(TypeUDP, refusedUDP)...), mk(TypeDNS, refusedUDP)...), OutcomeRefused},
		{"reset", stream(reset)[1:], OutcomeReset}, // a bare connect succeeds
		{"silent", append(append(stream(silentTCP)[1:], mk(TypeUDP, silentUDP)...), mk(TypeDNS, silentUDP)...), OutcomeTimeout},
	} {
		for _, p := range tt.probes {
			runs := map[string]func(*testing.T, Definition) Result{"dialer": runCheck}
			if p.d.Type == TypeTCP || p.d.Type == TypeHTTP {
				runs["epoll"] = runAsync
			}
			for path, run := range runs {
				t.Run(tt.name+"/"+p.name+"/"+path, func(t *testing.T) {
					r := run(t, p.d)
					if got := r.Outcome(); got != tt.want {
						t.Errorf("outcome %v (%v), want %v", got, r.Err, tt.want)
					}
				})
			}
		}
	}
}
