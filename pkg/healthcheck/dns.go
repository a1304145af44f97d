package healthcheck

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// dnsChecker queries the target over UDP and checks the answer.
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
		n, err := checkDNSAnswer(reply, id, o.Name, o.QType, o.Expect)
		if err != nil {
			return "", &CheckError{Type: TypeDNS, Target: c.target, Op: "answer", Err: &kindError{ErrMismatch, err}}
		}
		return fmt.Sprintf("%d %s record(s)", n, o.QType), nil
	})
}
