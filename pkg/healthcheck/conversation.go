package healthcheck

import (
	"errors"
	"io"
	"net"
)

// conversation is what a socket probe does once connected: write request,
// then feed what the server sends to judge until judge decides. The epoll
// connector holds it over a non-blocking socket, converse over a net.Conn
// (a TLS one for HTTPS): the same judge, limits and errors, so both reach
// the same verdict on the same bytes. A nil conversation is a bare connect.
type conversation struct {
	typ     Type
	target  string
	request []byte
	// judge looks at the reply so far (eof: the server closed, or the
	// reply reached max) and says whether the verdict is in, and which;
	// its errors are CheckErrors. A judge must be monotone: a decision on
	// some bytes stands for any continuation of them. Nil: sending was
	// the check.
	judge func(reply []byte, eof bool) (decided bool, detail string, err error)
	// max bounds the reply read; reaching it counts as eof.
	max int
	// writeOp and readOp name a failed write or read in a CheckError.
	writeOp, readOp string
}

// verdict asks the judge about reply; at eof an undecided judge fails.
func (conv *conversation) verdict(reply []byte, eof bool) (bool, string, error) {
	decided, detail, err := conv.judge(reply, eof)
	if !decided && eof {
		return true, detail, &CheckError{Type: conv.typ, Target: conv.target, Op: conv.readOp, Err: mismatch("reply ended undecided")}
	}
	return decided, detail, err
}

// converse holds the conversation over conn, which the caller closes. The
// reply is judged after every read, and reading stops at the verdict.
func (conv *conversation) converse(conn net.Conn) (string, error) {
	if len(conv.request) > 0 {
		if _, err := conn.Write(conv.request); err != nil {
			return "", classify(conv.typ, conv.target, conv.writeOp, err)
		}
	}
	if conv.judge == nil {
		return "sent", nil
	}
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), conv.max-len(buf)))...)[:len(buf)]
		}
		n, err := conn.Read(buf[len(buf):min(cap(buf), conv.max)])
		buf = buf[:len(buf)+n]
		// A TLS connection cut mid-record reads as ErrUnexpectedEOF: the
		// end of what the server sent all the same.
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || len(buf) >= conv.max
		if n > 0 || eof {
			if decided, detail, verr := conv.verdict(buf, eof); decided {
				return detail, verr
			}
		}
		if err != nil {
			return "", classify(conv.typ, conv.target, conv.readOp, err)
		}
	}
}
