package kaimport

import (
	"errors"
	"strings"
)

// The functions in this file cut one line of keepalived.conf the way
// keepalived's lib/parser.c does (decomment, alloc_strvec_quoted_escaped and
// the brace search of read_line), so that a file means here what it means to
// keepalived: comments start at # or ! outside double quotes, braces split
// a line into statements, and quotes group words without being part of them.

// decomment removes the comment of a line (from the first # or ! outside
// double quotes) and the blanks around what is left. A backslash before #
// or ! outside quotes makes it literal. cont reports a line ending in a lone
// backslash, which continues a multi-line parameter definition; the
// backslash is removed.
func decomment(s string) (text string, cont bool) {
	s = strings.TrimLeft(s, " \t")
	var b strings.Builder
	quote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
		case c == '\\':
			if i+1 == len(s) {
				cont = true
				return strings.TrimRight(b.String(), " \t"), cont
			}
			next := s[i+1]
			if !quote && (next == '#' || next == '!') {
				b.WriteByte(next)
				i++
				continue
			}
			b.WriteByte(c)
			b.WriteByte(next)
			i++
			continue
		case !quote && (c == '#' || c == '!'):
			return strings.TrimRight(b.String(), " \t"), false
		}
		b.WriteByte(c)
	}
	return strings.TrimRight(b.String(), " \t"), false
}

// Errors of splitWords.
var (
	errUnterminatedQuote = errors.New("missing closing quote")
	errTrailingBackslash = errors.New("backslash at the end of the line")
)

// splitWords cuts a statement into words at blanks. Single or double
// quotes group blanks into a word and are removed ('abc" d "e' is the one
// word "abc d e"); a backslash escapes the next character, with the C
// escapes \n \t \xHH \NNN and friends that keepalived knows.
func splitWords(s string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			return words, nil
		}
		var w strings.Builder
		var quote byte
	word:
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\\':
				if i+1 == len(s) {
					return nil, errTrailingBackslash
				}
				n, adv := unescape(s[i+1:])
				w.WriteByte(n)
				i += 1 + adv
			case quote != 0 && c == quote:
				quote = 0
				i++
			case quote != 0:
				w.WriteByte(c)
				i++
			case c == '"' || c == '\'':
				quote = c
				i++
			case c == ' ' || c == '\t':
				break word
			default:
				w.WriteByte(c)
				i++
			}
		}
		if quote != 0 {
			return nil, errUnterminatedQuote
		}
		words = append(words, w.String())
	}
}

// unescape decodes the escape sequence s starts with (the part after the
// backslash) and returns the byte and how many bytes of s it used.
func unescape(s string) (byte, int) {
	hex := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	switch c := s[0]; {
	case c == 'x' && len(s) > 1:
		if _, ok := hex(s[1]); ok {
			var v byte
			n := 1
			for n < len(s) {
				d, ok := hex(s[n])
				if !ok {
					break
				}
				v = v<<4 | d // keepalived keeps the low byte of a long run too
				n++
			}
			return v, n
		}
	case c == 'c' && len(s) > 1:
		return s[1] & 0x1f, 2
	case c >= '0' && c <= '7':
		v, n := c-'0', 1
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			v = v<<3 + s[n] - '0'
			n++
		}
		return v, n
	}
	switch s[0] {
	case 'a':
		return '\a', 1
	case 'b':
		return '\b', 1
	case 'E':
		return 0x1b, 1
	case 'f':
		return '\f', 1
	case 'n':
		return '\n', 1
	case 'r':
		return '\r', 1
	case 't':
		return '\t', 1
	case 'v':
		return '\v', 1
	}
	return s[0], 1
}

// splitBraces cuts a decommented line into statements at each { and }
// outside double quotes, each brace being a statement of its own:
// `url { path / }` is "url", "{", "path /", "}".
func splitBraces(s string) []string {
	var out []string
	for s != "" {
		i := braceIndex(s)
		switch {
		case i < 0:
			return append(out, s)
		case i == 0:
			out = append(out, s[:1])
			s = strings.TrimLeft(s[1:], " \t")
		default:
			out = append(out, strings.TrimRight(s[:i], " \t"))
			s = s[i:]
		}
	}
	return out
}

// braceIndex returns the index of the first { or } outside double quotes, or -1.
func braceIndex(s string) int {
	quote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quote = !quote
		case '{', '}':
			if !quote {
				return i
			}
		}
	}
	return -1
}

// includeOf returns the file pattern of an include directive (include,
// or the includer/includem/includew/includeb/includea variants, which only
// change how keepalived reports a missing file), and whether s is one.
func includeOf(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "include")
	if !ok || rest == "" {
		return "", false
	}
	if rest[0] != ' ' && rest[0] != '\t' {
		if len(rest) < 2 || !strings.ContainsRune("rmwba", rune(rest[0])) || rest[1] != ' ' && rest[1] != '\t' {
			return "", false
		}
		rest = rest[1:]
	}
	return strings.TrimSpace(rest), true
}
