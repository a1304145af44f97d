package healthcheck

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"sync"
)

// udpChecker sends a datagram on a connected UDP socket and matches the
// reply. The connected socket turns an ICMP port unreachable into
// ECONNREFUSED on the read, which fails the check at once.
type udpChecker struct {
	d      Definition
	target string
	re     *regexp.Regexp
}

func newUDPChecker(d Definition) (Checker, error) {
	c := &udpChecker{d: d, target: d.Target.String()}
	if d.UDP.Match == MatchRegexp {
		re, err := regexp.Compile(string(d.UDP.Expect))
		if err != nil {
			return nil, fmt.Errorf("healthcheck: udp.expect: %w", err)
		}
		c.re = re
	}
	return c, nil
}

// Check implements Checker.
func (c *udpChecker) Check(ctx context.Context) Result {
	return runSync(ctx, func(ctx context.Context) (string, error) {
		reply, err := exchangeUDP(ctx, c.d, c.target, TypeUDP, c.d.UDP.Payload, nil)
		if err != nil {
			return "", err
		}
		if !matchUDP(c.d.UDP.Match, c.d.UDP.Expect, c.re, reply) {
			return "", &CheckError{Type: TypeUDP, Target: c.target, Op: "match", Err: mismatch("got %q", truncate(reply))}
		}
		return fmt.Sprintf("%d byte reply", len(reply)), nil
	})
}

// exchangeUDP sends payload and returns the first reply that accept
// (nil = any) takes, reading until ctx's deadline.
func exchangeUDP(ctx context.Context, d Definition, target string, t Type, payload []byte, accept func([]byte) bool) ([]byte, error) {
	conn, err := dialer(d, "udp", false).DialContext(ctx, "udp", target)
	if err != nil {
		return nil, classify(t, target, "dial", err)
	}
	defer conn.Close()
	stop := connDeadline(ctx, conn)
	defer stop()
	if _, err := conn.Write(payload); err != nil {
		return nil, classify(t, target, "write", err)
	}
	// Read whole datagrams: a reply cut to a smaller buffer would match
	// an expectation it does not meet, or miss one it does.
	bp := datagramPool.Get().(*[]byte)
	defer datagramPool.Put(bp)
	buf := *bp
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, classify(t, target, "read", err)
		}
		if accept == nil || accept(buf[:n]) {
			return bytes.Clone(buf[:n]), nil
		}
	}
}

// maxDatagram is the largest UDP payload: 65,535 bytes less the UDP header
// (and the IPv4 header, which counts in IPv4's total length).
const maxDatagram = 65535 - 8

var datagramPool = sync.Pool{New: func() any { b := make([]byte, maxDatagram); return &b }}

// maxUDPPayload returns the largest UDP payload to or from a.
func maxUDPPayload(a netip.Addr) int {
	if a.Unmap().Is4() {
		return maxDatagram - 20
	}
	return maxDatagram
}

func matchUDP(mode MatchMode, expect []byte, re *regexp.Regexp, reply []byte) bool {
	switch mode {
	case MatchExact:
		return bytes.Equal(reply, expect)
	case MatchPrefix:
		return bytes.HasPrefix(reply, expect)
	case MatchRegexp:
		return re.Match(reply)
	}
	return true
}
