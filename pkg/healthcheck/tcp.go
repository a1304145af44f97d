package healthcheck

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"time"
)

// maxReply bounds how much of a TCP reply is read for matching.
const maxReply = 4096

// tcpConnectChecker is a bare TCP connect. On Linux the manager runs it on
// the Manager's epoll connector (no goroutine, a few syscalls per check).
type tcpConnectChecker struct {
	d      Definition
	target string
	dest   connectDest
}

// tcpChecker connects, optionally sends bytes and matches the reply. The
// manager runs it on the epoll connector; Check uses the Go dialer.
type tcpChecker struct {
	d      Definition
	target string
	re     *regexp.Regexp
	conv   *conversation
	dest   connectDest
}

func (c *tcpChecker) start(cn *connector, now time.Time, timeout time.Duration, done func(Result)) (Result, bool) {
	return c.dest.connect(cn, now, timeout, done)
}

// judge is the connector's view of the reply.
func (c *tcpChecker) judge(reply []byte, eof bool) (bool, string, error) {
	ok, decided := matchTCP(c.d.TCP.Expect, c.re, reply)
	switch {
	case ok:
		return true, "reply matched", nil
	case decided || eof:
		return true, "", &CheckError{Type: TypeTCP, Target: c.target, Op: "match", Err: mismatch("got %q", truncate(reply))}
	}
	return false, "", nil
}

func newTCPChecker(d Definition) (Checker, error) {
	if d.TCP == nil || len(d.TCP.Send) == 0 && len(d.TCP.Expect) == 0 && d.TCP.ExpectRegexp == "" {
		c := &tcpConnectChecker{d: d, target: d.Target.String()}
		c.dest = newConnectDest(d, nil, c)
		return c, nil
	}
	c := &tcpChecker{d: d, target: d.Target.String()}
	if d.TCP.ExpectRegexp != "" {
		re, err := regexp.Compile(d.TCP.ExpectRegexp)
		if err != nil {
			return nil, fmt.Errorf("healthcheck: tcp.expect_regexp: %w", err)
		}
		c.re = re
	}
	c.conv = &conversation{typ: TypeTCP, target: c.target, request: d.TCP.Send, max: maxReply, writeOp: "write", readOp: "read"}
	if len(d.TCP.Expect) > 0 || c.re != nil {
		c.conv.judge = c.judge
	}
	c.dest = newConnectDest(d, c.conv, c)
	return c, nil
}

// Check implements Checker with the Go dialer (standalone use).
func (c *tcpConnectChecker) Check(ctx context.Context) Result {
	return runSync(ctx, func(ctx context.Context) (string, error) {
		conn, err := dialer(c.d, "tcp", true).DialContext(ctx, "tcp", c.target)
		if err != nil {
			return "", classify(TypeTCP, c.target, "connect", err)
		}
		_ = conn.Close()
		return "connected", nil
	})
}

func (c *tcpConnectChecker) start(cn *connector, now time.Time, timeout time.Duration, done func(Result)) (Result, bool) {
	return c.dest.connect(cn, now, timeout, done)
}

// Check implements Checker.
func (c *tcpChecker) Check(ctx context.Context) Result {
	return runSync(ctx, func(ctx context.Context) (string, error) {
		conn, err := dialer(c.d, "tcp", true).DialContext(ctx, "tcp", c.target)
		if err != nil {
			return "", classify(TypeTCP, c.target, "connect", err)
		}
		defer conn.Close()
		stop := connDeadline(ctx, conn)
		defer stop()
		return c.conv.converse(conn)
	})
}

// matchTCP says whether buf (the reply so far) passes, and whether that is
// already decided.
func matchTCP(prefix []byte, re *regexp.Regexp, buf []byte) (ok, decided bool) {
	if len(prefix) > 0 {
		n := min(len(prefix), len(buf))
		if !bytes.Equal(prefix[:n], buf[:n]) {
			return false, true
		}
		if n < len(prefix) {
			return false, false
		}
		if re == nil {
			return true, true
		}
	}
	if re != nil && re.Match(buf) {
		return true, true
	}
	return false, false
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
