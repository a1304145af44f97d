package healthcheck

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
)

// dnsChecker queries the target over UDP and checks the answer. A
// truncated answer (TC) is asked again over TCP, as RFC 7766 has resolvers
// do, and judged from there: a server that truncates and serves no TCP is
// down.
type dnsChecker struct {
	d      Definition
	target string
}

func newDNSChecker(d Definition) (Checker, error) {
	return &dnsChecker{d: d, target: d.Target.String()}, nil
}

// Check implements Checker.
func (c *dnsChecker) Check(ctx context.Context) Result {
	return runSync(ctx, func(ctx context.Context) (string, error) {
		o := c.d.DNS
		id := uint16(rand.Uint32())
		q, err := buildDNSQuery(id, o.Name, o.QType)
		if err != nil {
			return "", &CheckError{Type: TypeDNS, Target: c.target, Op: "build query", Err: err}
		}
		reply, err := exchangeUDP(ctx, c.d, c.target, TypeDNS, q, func(b []byte) bool { return isDNSReply(b, id) })
		if err != nil {
			return "", err
		}
		via := ""
		if isTruncated(reply) {
			if reply, err = c.exchangeTCP(ctx, q); err != nil {
				return "", err
			}
			via = " over TCP"
		}
		n, err := checkDNSAnswer(reply, id, o.Name, o.QType, o.Expect)
		if err != nil {
			return "", &CheckError{Type: TypeDNS, Target: c.target, Op: "answer", Err: &kindError{ErrMismatch, err}}
		}
		return fmt.Sprintf("%d %s record(s)%s", n, o.QType, via), nil
	})
}

// exchangeTCP sends the query q over TCP (RFC 1035 section 4.2.2: each
// message prefixed by its length) and returns the response.
func (c *dnsChecker) exchangeTCP(ctx context.Context, q []byte) ([]byte, error) {
	conn, err := dialer(c.d, "tcp", true).DialContext(ctx, "tcp", c.target)
	if err != nil {
		return nil, classify(TypeDNS, c.target, "tcp connect", err)
	}
	defer conn.Close()
	stop := connDeadline(ctx, conn)
	defer stop()
	if _, err := conn.Write(binary.BigEndian.AppendUint16(nil, uint16(len(q)))); err != nil {
		return nil, classify(TypeDNS, c.target, "tcp write", err)
	}
	if _, err := conn.Write(q); err != nil {
		return nil, classify(TypeDNS, c.target, "tcp write", err)
	}
	var n [2]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		return nil, c.tcpReadError(err)
	}
	reply := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(conn, reply); err != nil {
		return nil, c.tcpReadError(err)
	}
	return reply, nil
}

func (c *dnsChecker) tcpReadError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = mismatch("the server closed the connection without a whole answer")
	}
	return classify(TypeDNS, c.target, "tcp read", err)
}
