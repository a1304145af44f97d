package healthcheck

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// Limits on what an HTTP check reads of a response, the same on every path.
// A limit on a line is on where its line feed must come: a line and its
// CRLF fit in the limit.
const (
	// maxStatusLine bounds a status line.
	maxStatusLine = 1024
	// maxHeaderBytes bounds the head of a response: status lines and
	// header fields, interim (1xx) responses included, up to the LF of
	// the empty line that ends it.
	maxHeaderBytes = 64 << 10
	// maxBody is how much of the body the body regexp sees.
	maxBody = 64 << 10
	// maxResponse bounds the bytes of a response read at all: a head, and
	// a body window with room for chunk framing.
	maxResponse = maxHeaderBytes + 2*maxBody
)

// httpJudge decides on an HTTP/1.1 response (RFC 9112) from the bytes
// received so far. It is pure, and monotone: once it decides on some bytes
// it decides the same on any continuation of them, so the epoll connector
// (which judges whatever a wake-up brought) and a net.Conn reader (which
// judges after every read) reach the same verdict on the same response,
// and both stop reading at the first verdict. It decides by maxResponse
// bytes at the latest.
//
// A response passes when its final status is in status, its head is
// well-formed and complete, and, with a body regexp, the regexp matches the
// body's first maxBody bytes (or all of a shorter body). Interim 1xx
// responses (103 Early Hints) are skipped, as RFC 9110 section 15.2 asks of
// clients; 101 is final. A bad status decides at once, before the headers.
type httpJudge struct {
	status []StatusRange
	bodyRe *regexp.Regexp // nil: the body is not read
	head   bool           // the request was HEAD: no body follows
}

// httpVerdict is the judge's decision, when decided: err is nil for a
// pass, and otherwise an ErrMismatch failing op.
type httpVerdict struct {
	decided bool
	detail  string // the final status ("200 OK"), once known
	op      string
	err     error
}

func (j *httpJudge) judge(reply []byte, eof bool) httpVerdict {
	full := false
	if len(reply) >= maxResponse {
		// Bytes past the limit never matter, so the verdict holds for
		// any longer reply.
		reply, full = reply[:maxResponse], true
	}
	fail := func(op, detail, format string, args ...any) httpVerdict {
		return httpVerdict{decided: true, detail: detail, op: op, err: mismatch(format, args...)}
	}
	const opRead = "read response"
	var (
		off    int // where the next line starts
		code   int
		status string
		fr     framing
	)
	for {
		// Whichever limit comes first decides, so that the verdict
		// depends on where the line feed is, not on how much was read.
		limit := min(maxStatusLine, maxHeaderBytes-off)
		line, next, ok := cutLine(reply[off:], limit)
		switch {
		case !ok && len(reply)-off >= limit && limit == maxStatusLine:
			return fail(opRead, "", "no status line in the first %d bytes", maxStatusLine)
		case !ok && len(reply)-off >= limit:
			return fail(opRead, "", "response headers exceed %d bytes", maxHeaderBytes)
		case !ok && eof:
			return fail(opRead, "", "response cut in the status line")
		case !ok:
			return httpVerdict{}
		}
		if code, status, ok = parseStatusLine(line); !ok {
			return fail(opRead, "", "malformed status line %q", truncate(line))
		}
		off += next
		interim := code >= 100 && code <= 199 && code != 101
		if !interim && !statusOK(j.status, code) {
			return fail("status", status, "unexpected status %q", status)
		}
		var v httpVerdict
		off, fr, v = j.headers(reply, off, eof)
		if v.decided && !interim {
			v.detail = status
		}
		if v.decided || off < 0 {
			return v
		}
		if !interim {
			break
		}
	}
	if j.bodyRe == nil || j.head || code == 204 || code == 304 {
		return httpVerdict{decided: true, detail: status}
	}
	body, complete, err := fr.body(reply[off:], eof)
	switch {
	case err != nil:
		return fail(opRead, status, "%v", err)
	case !complete && eof:
		return fail(opRead, status, "response cut in the body")
	case !complete && !full:
		return httpVerdict{}
	case !j.bodyRe.Match(body):
		return fail("body", status, "body does not match %q", j.bodyRe.String())
	}
	return httpVerdict{decided: true, detail: status}
}

// headers scans the header fields that start at off, up to the empty line
// that ends them. It returns the offset of what follows (-1 when the head
// is incomplete and undecided), the body framing they declare, or a
// verdict against them.
func (j *httpJudge) headers(reply []byte, off int, eof bool) (int, framing, httpVerdict) {
	const opRead = "read response"
	fail := func(format string, args ...any) (int, framing, httpVerdict) {
		return off, framing{}, httpVerdict{decided: true, op: opRead, err: mismatch(format, args...)}
	}
	fr := framing{length: -1}
	first := true
	var last []byte // the name of the field a continuation line belongs to
	for {
		line, next, ok := cutLine(reply[off:], maxHeaderBytes-off)
		switch {
		case !ok && len(reply) >= maxHeaderBytes:
			return fail("response headers exceed %d bytes", maxHeaderBytes)
		case !ok && eof:
			return fail("response cut in the headers")
		case !ok:
			return -1, fr, httpVerdict{}
		}
		off += next
		if len(line) == 0 {
			return off, fr, httpVerdict{}
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold: a continuation of the previous field's value,
			// which RFC 9112 section 5.2 lets a client accept. Framing
			// fields must not be folded.
			if first || isFraming(last) || !validValue(line) {
				return fail("malformed header line %q", truncate(line))
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !validName(name) || !validValue(value) {
			return fail("malformed header line %q", truncate(line))
		}
		first, last = false, name
		value = bytes.Trim(value, " \t")
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, err := strconv.ParseUint(string(value), 10, 63)
			if err != nil {
				return fail("malformed Content-Length %q", truncate(value))
			}
			if fr.length >= 0 && fr.length != int64(n) {
				return fail("conflicting Content-Length headers")
			}
			fr.length = int64(n)
		case asciiEqualFold(name, "Transfer-Encoding"):
			if !asciiEqualFold(value, "chunked") || fr.chunked {
				return fail("unsupported Transfer-Encoding %q", truncate(value))
			}
			fr.chunked = true
		}
	}
}

// framing is how a response's body is delimited (RFC 9112 section 6.3).
type framing struct {
	chunked bool
	length  int64 // -1: unknown, read until the connection closes
}

// body returns the body's first maxBody bytes found in raw (what follows
// the head; eof: all of it), whether that is the whole body or the whole
// window, or an error for a malformed chunked encoding.
func (f framing) body(raw []byte, eof bool) (body []byte, complete bool, err error) {
	switch {
	case f.chunked:
		return dechunk(raw)
	case f.length >= 0:
		n := int(min(f.length, maxBody))
		if len(raw) < n {
			return nil, false, nil
		}
		return raw[:n], true, nil
	}
	// Delimited by the end of the connection.
	return raw[:min(len(raw), maxBody)], eof || len(raw) >= maxBody, nil
}

// dechunk decodes a chunked body (RFC 9112 section 7.1) up to its last
// chunk or maxBody bytes of data; trailers are not read.
func dechunk(raw []byte) ([]byte, bool, error) {
	var body []byte
	for {
		line, next, ok := cutLine(raw, 1024)
		if !ok {
			if len(raw) >= 1024 {
				return nil, false, errors.New("malformed chunk: size line too long")
			}
			return body, false, nil
		}
		size, ext, _ := bytes.Cut(line, []byte(";"))
		size = bytes.TrimRight(size, " \t")
		n, err := strconv.ParseUint(string(size), 16, 63)
		if err != nil {
			return nil, false, fmt.Errorf("malformed chunk size %q", truncate(line))
		}
		if !validValue(ext) {
			return nil, false, fmt.Errorf("malformed chunk extension %q", truncate(line))
		}
		if n == 0 {
			return body, true, nil
		}
		raw = raw[next:]
		take := int(min(n, uint64(maxBody-len(body)), uint64(len(raw))))
		body = append(body, raw[:take]...)
		if len(body) >= maxBody {
			return body, true, nil
		}
		if uint64(len(raw)) < n {
			return body, false, nil
		}
		raw = raw[n:]
		end, next, ok := cutLine(raw, 2)
		switch {
		case ok && len(end) == 0:
			raw = raw[next:]
		case ok || len(raw) >= 2:
			return nil, false, errors.New("malformed chunk: data runs past its size")
		default:
			return body, false, nil
		}
	}
}

// cutLine returns the line b starts with, without its LF or CRLF, and the
// offset after it; ok is false when no LF is in the first limit bytes of b.
func cutLine(b []byte, limit int) (line []byte, next int, ok bool) {
	i := bytes.IndexByte(b[:max(0, min(len(b), limit))], '\n')
	if i < 0 {
		return nil, 0, false
	}
	line = b[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, i + 1, true
}

// parseStatusLine parses "HTTP/1.1 200 OK" into 200 and "200 OK", as
// net/http reads a status line.
func parseStatusLine(line []byte) (int, string, bool) {
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(proto) != 8 || string(proto[:5]) != "HTTP/" || !isDigit(proto[5]) || proto[6] != '.' || !isDigit(proto[7]) {
		return 0, "", false
	}
	rest = bytes.TrimLeft(rest, " ")
	code, _, _ := bytes.Cut(rest, []byte(" "))
	if len(code) != 3 || !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) {
		return 0, "", false
	}
	return int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0'), string(rest), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validName reports whether b is a field name: a token (RFC 9110 section 5.1).
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', isDigit(c):
		case c < 0x80 && bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validValue reports whether b holds only field-value bytes: visible
// characters, space, tab and obs-text (RFC 9110 section 5.5).
func validValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func isFraming(name []byte) bool {
	return asciiEqualFold(name, "Content-Length") || asciiEqualFold(name, "Transfer-Encoding")
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func statusOK(ranges []StatusRange, code int) bool {
	for _, r := range ranges {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}
