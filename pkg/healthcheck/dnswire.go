package healthcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// buildDNSQuery packs a recursive query for name and qtype with the given ID.
func buildDNSQuery(id uint16, name string, qtype dnsmessage.Type) ([]byte, error) {
	n, err := dnsmessage.NewName(fqdn(name))
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 64), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: n, Type: qtype, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	return b.Finish()
}

// isDNSReply reports whether msg is a response to the query id (cheap header peek).
func isDNSReply(msg []byte, id uint16) bool {
	return len(msg) >= 12 && uint16(msg[0])<<8|uint16(msg[1]) == id && msg[2]&0x80 != 0
}

// isTruncated reports whether the DNS message msg has the TC bit set.
func isTruncated(msg []byte) bool { return len(msg) >= 3 && msg[2]&0x02 != 0 }

// checkDNSAnswer parses a DNS response and checks that it answers query id
// for name/qtype with RCODE NOERROR, whole (no TC bit), and at least one
// record of qtype (for A/AAAA, one of expect when expect is not empty). It
// returns the number of matching records.
func checkDNSAnswer(msg []byte, id uint16, name string, qtype dnsmessage.Type, expect []netip.Addr) (int, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return 0, fmt.Errorf("parse header: %w", err)
	}
	if h.ID != id || !h.Response {
		return 0, errors.New("not a response to our query")
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return 0, fmt.Errorf("rcode %s", h.RCode)
	}
	if h.Truncated {
		return 0, errors.New("truncated answer (TC)")
	}
	q, err := p.Question()
	if err != nil {
		return 0, fmt.Errorf("parse question: %w", err)
	}
	if q.Type != qtype || !strings.EqualFold(q.Name.String(), fqdn(name)) {
		return 0, fmt.Errorf("answer is for %s %s", q.Name, q.Type)
	}
	if err := p.SkipAllQuestions(); err != nil {
		return 0, fmt.Errorf("parse question: %w", err)
	}
	found, matched := 0, 0
	for {
		ah, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("parse answer: %w", err)
		}
		if ah.Type != qtype || ah.Class != dnsmessage.ClassINET {
			if err := p.SkipAnswer(); err != nil {
				return 0, fmt.Errorf("parse answer: %w", err)
			}
			continue
		}
		found++
		var a netip.Addr
		switch qtype {
		case dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				return 0, fmt.Errorf("parse A: %w", err)
			}
			a = netip.AddrFrom4(r.A)
		case dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				return 0, fmt.Errorf("parse AAAA: %w", err)
			}
			a = netip.AddrFrom16(r.AAAA)
		default:
			if err := p.SkipAnswer(); err != nil {
				return 0, fmt.Errorf("parse answer: %w", err)
			}
		}
		for _, e := range expect {
			if a.IsValid() && e.Unmap() == a.Unmap() {
				matched++
			}
		}
	}
	if found == 0 {
		return 0, fmt.Errorf("no %s record in the answer", qtype)
	}
	if len(expect) > 0 {
		if matched == 0 {
			return 0, fmt.Errorf("none of %v in the answer", expect)
		}
		return matched, nil
	}
	return found, nil
}
