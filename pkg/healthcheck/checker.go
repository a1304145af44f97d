package healthcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Checker runs one probe. Check blocks until a verdict or ctx is done; the
// check's timeout is the caller's business (ctx's deadline). Implementations
// are safe for concurrent use.
type Checker interface {
	Check(ctx context.Context) Result
}

// asyncChecker is implemented by checkers that can run without a goroutine
// of their own: start begins the probe at now, a reading of c's clock just
// taken (an ICMP probe reads its Pinger's clock instead), on c when it is a
// socket probe. A verdict reached before start returns is returned, with
// decided true, and done is not called; otherwise done is called exactly
// once, possibly before start returns, within timeout (plus a few
// milliseconds) on that clock. start must not block.
type asyncChecker interface {
	start(c *connector, now time.Time, timeout time.Duration, done func(Result)) (res Result, decided bool)
}

// NewChecker builds the checker for a definition, after normalizing and
// validating it. ICMP checks need a Pinger (they share its sockets); the
// other types ignore p.
func NewChecker(d Definition, p *Pinger) (Checker, error) {
	d = d.Normalize()
	if err := d.Validate(); err != nil {
		return nil, err
	}
	switch d.Type {
	case TypeTCP:
		return newTCPChecker(d)
	case TypeHTTP, TypeHTTPS:
		return newHTTPChecker(d)
	case TypeUDP:
		return newUDPChecker(d)
	case TypeDNS:
		return newDNSChecker(d)
	case TypeICMP:
		if p == nil {
			return nil, errors.New("healthcheck: icmp check needs a Pinger")
		}
		return &icmpChecker{p: p, dst: d.Target.Addr().Unmap(), src: d.Source.Unmap(), mark: d.Mark}, nil
	}
	return nil, fmt.Errorf("healthcheck: type: unknown check type %s", d.Type)
}

// dialer returns a net.Dialer honouring the definition's source address and
// fwmark; linger0 makes TCP sockets close with RST so probes leave no
// TIME_WAIT behind.
func dialer(d Definition, network string, linger0 bool) *net.Dialer {
	nd := &net.Dialer{Control: socketControl(d.Mark, linger0)}
	if d.Source.IsValid() {
		switch network {
		case "tcp":
			nd.LocalAddr = &net.TCPAddr{IP: d.Source.AsSlice()}
		case "udp":
			nd.LocalAddr = &net.UDPAddr{IP: d.Source.AsSlice()}
		}
	}
	return nd
}

// classify wraps a socket or TLS error from op in a CheckError, marked with
// the package sentinel it belongs to, if any, while keeping the cause.
func classify(t Type, target, op string, err error) error {
	if kind := errorKind(op, err); kind != nil {
		err = &kindError{kind, err}
	}
	return &CheckError{Type: t, Target: target, Op: op, Err: err}
}

// opTLSHandshake is the CheckError op of a failed TLS handshake.
const opTLSHandshake = "tls handshake"

// errorKind returns the sentinel error the failure err of op belongs to,
// or nil. Every checker's socket errors go through it, so a reset or an
// unreachable network reads the same from any check type.
func errorKind(op string, err error) error {
	var (
		verify *tls.CertificateVerificationError
		record tls.RecordHeaderError
		alert  tls.AlertError
		opErr  *net.OpError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, context.Canceled):
		return nil // the Manager closing, or a caller giving up: no verdict on the target
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.ENETDOWN):
		return ErrUnreachable
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return ErrReset
	case errors.As(err, &verify), errors.As(err, &record), errors.As(err, &alert),
		// crypto/tls reports alerts, received or sent, as these ops.
		errors.As(err, &opErr) && (opErr.Op == "remote error" || opErr.Op == "local error"),
		op == opTLSHandshake:
		return ErrTLS
	}
	return nil
}

// runSync times a blocking probe and fills in the Result.
func runSync(ctx context.Context, f func(ctx context.Context) (string, error)) Result {
	start := time.Now()
	detail, err := f(ctx)
	return Result{Time: start, Latency: time.Since(start), Err: err, Detail: detail}
}

// connDeadline copies ctx's deadline onto c and arranges for cancellation to
// unblock c; the returned stop must be called when done.
func connDeadline(ctx context.Context, c net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
}
