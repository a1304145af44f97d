package kaimport

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// statement is one line (or brace-separated part of a line) of the
// configuration once comments, conditions, parameters and includes are
// resolved.
type statement struct {
	file  string
	line  int
	words []string
}

// paramDef is a $NAME=VALUE definition; a multi-line one has several lines.
type paramDef struct {
	lines []string
}

// reader turns files into statements the way keepalived's read_line does:
// per line, a conditional prefix, a parameter definition, ~SEQ/~LST, then
// parameter substitution, include, and the split at braces.
type reader struct {
	fsys  fs.FS
	opts  Options
	defs  map[string]*paramDef
	stmts []statement
	notes []Note
	// files is the chain of files being read, the outermost first.
	files []string
	// pending is the multi-line definition whose lines are being read.
	pending *paramDef
	// expansions counts parameter substitutions and expanded the text
	// they made, which a definition using itself would multiply without end.
	expansions int
	expanded   int
}

// Parameter expansion limits: keepalived would loop forever on $A=$A.
const (
	// maxExpansions bounds the rounds of substitution of one line
	// (keepalived's own nesting, ${BASE} in a ${NET}, takes two or three).
	maxExpansions = 8
	maxLineLen    = 64 << 10
	// maxExpansionWork and maxExpandedBytes bound the substitutions of a
	// whole configuration and the text they make: a large templated file
	// makes many short ones, a runaway definition long ones.
	maxExpansionWork = 1 << 18
	maxExpandedBytes = 64 << 20
)

func newReader(fsys fs.FS, opts Options) *reader {
	r := &reader{fsys: fsys, opts: opts, defs: map[string]*paramDef{
		// keepalived's predefined parameters that mean the same here;
		// _PWD and _RANDOM are left as they are.
		"_HASH": {lines: []string{"#"}},
		"_BANG": {lines: []string{"!"}},
	}}
	if opts.ConfigID != "" {
		r.defs["_INSTANCE"] = &paramDef{lines: []string{opts.ConfigID}}
	}
	return r
}

func (r *reader) note(file string, line int, format string, args ...any) {
	r.notes = append(r.notes, Note{File: file, Line: line, Text: fmt.Sprintf(format, args...)})
}

// readFile reads one file; from and fromLine locate the include that
// names it ("" for the main file).
func (r *reader) readFile(name, from string, fromLine int) error {
	if i := slices.Index(r.files, name); i >= 0 {
		chain := strings.Join(append(slices.Clone(r.files[i:]), name), " -> ")
		return &ParseError{from, fromLine, "include cycle: " + chain}
	}
	if len(r.files) >= maxIncludeDepth {
		return &ParseError{from, fromLine, fmt.Sprintf("includes nested deeper than %d", maxIncludeDepth)}
	}
	data, err := fs.ReadFile(r.fsys, name)
	if err == nil && len(data) > maxFileSize {
		err = fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	if err != nil {
		if from == "" {
			return fmt.Errorf("kaimport: %w", err)
		}
		r.note(from, fromLine, "include %s: cannot be read (%v): its contents are not translated", name, err)
		return nil
	}
	r.files = append(r.files, name)
	defer func() { r.files = r.files[:len(r.files)-1] }()
	for i, raw := range strings.Split(string(data), "\n") {
		raw = strings.TrimRight(raw, "\r")
		if err := r.line(raw, name, i+1); err != nil {
			return err
		}
	}
	r.pending = nil // a definition does not run on into the next file
	return nil
}

// line processes one physical line.
func (r *reader) line(raw, file string, num int) error {
	if r.pending != nil && raw == "" {
		r.pending = nil
		return nil
	}
	text, cont := decomment(raw)
	if r.pending != nil {
		if text != "" {
			r.pending.lines = append(r.pending.lines, text)
		}
		if !cont {
			r.pending = nil
		}
		return nil
	}
	if text == "" {
		return nil
	}
	if cont {
		text += `\` // only a definition continues; elsewhere the backslash stays
	}
	return r.logical(text, file, num, 0)
}

// logical processes a decommented line; depth counts multi-line parameter
// expansions that led to it.
func (r *reader) logical(text, file string, num, depth int) error {
	var more []string
	for pass := 0; ; pass++ {
		if strings.HasPrefix(text, "@") {
			var keep bool
			if text, keep = r.conditional(text, file, num); !keep {
				return nil
			}
		}
		if strings.HasPrefix(text, "$") && r.define(text) {
			return nil
		}
		if strings.HasPrefix(text, "~SEQ") || strings.HasPrefix(text, "~LST") {
			r.note(file, num, "%s: keepalived's ~SEQ/~LST generated lines are not expanded: write them out", text[:4])
			return nil
		}
		if !strings.Contains(text, "$") || pass == maxExpansions {
			if pass == maxExpansions {
				r.note(file, num, "parameters still unexpanded after %d rounds (a definition refers to itself?)", maxExpansions)
			}
			break
		}
		expanded, extra, changed := r.expand(text)
		if !changed {
			break
		}
		r.expansions++
		r.expanded += len(expanded)
		if r.expansions > maxExpansionWork || r.expanded > maxExpandedBytes {
			return &ParseError{file, num, fmt.Sprintf("parameters expand without end (more than %d substitutions or %d MiB)",
				maxExpansionWork, maxExpandedBytes>>20)}
		}
		if len(expanded) > maxLineLen {
			r.note(file, num, "parameter expansion makes a line longer than %d bytes: left unexpanded", maxLineLen)
			break
		}
		more = append(extra, more...)
		text, _ = decomment(expanded)
		if text == "" {
			break
		}
	}
	if text != "" {
		if err := r.statements(text, file, num); err != nil {
			return err
		}
	}
	for _, m := range more {
		if depth >= maxExpansions {
			r.note(file, num, "multi-line parameters nested deeper than %d: left unexpanded", maxExpansions)
			return nil
		}
		if err := r.logical(m, file, num, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// statements handles an include or splits the line at braces.
func (r *reader) statements(text, file string, num int) error {
	if pattern, ok := includeOf(text); ok {
		return r.include(pattern, file, num)
	}
	for _, part := range splitBraces(text) {
		words, err := splitWords(part)
		if errors.Is(err, errTrailingBackslash) {
			r.note(file, num, "line ends in a backslash: keepalived ignores it, so does the translation")
			continue
		}
		if err != nil {
			return &ParseError{file, num, err.Error()}
		}
		if len(words) == 0 {
			continue
		}
		if name := r.undefinedParam(part); name != "" {
			r.note(file, num, "$%s is not defined here (keepalived leaves it as it is too)", name)
		}
		if len(r.stmts) >= maxStatements {
			return &ParseError{file, num, fmt.Sprintf("more than %d statements", maxStatements)}
		}
		r.stmts = append(r.stmts, statement{file: file, line: num, words: words})
	}
	return nil
}

// undefinedParam returns the name of a reference to an undefined
// parameter left in s, or "". keepalived's run-time parameters (_PWD,
// _RANDOM, _INSTANCE) are left alone: they mean something only in scripts,
// which are not translated.
func (r *reader) undefinedParam(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		name, _ := paramRef(s, i)
		if name != "" && r.defs[name] == nil && name != "_PWD" && name != "_RANDOM" && name != "_INSTANCE" {
			return name
		}
	}
	return ""
}

// conditional applies an "@ID" or "@^ID" prefix: it returns the rest of
// the line and whether keepalived would read it for r.opts.ConfigID.
func (r *reader) conditional(text, file string, num int) (string, bool) {
	rev := strings.HasPrefix(text, "@^")
	id := text[1:]
	if rev {
		id = text[2:]
	}
	sp := strings.IndexAny(id, " \t")
	if sp < 0 {
		return "", false // nothing after the id: keepalived ignores the line
	}
	rest := strings.TrimLeft(id[sp:], " \t")
	id = id[:sp]
	if r.opts.ConfigID == "" {
		cond := "@" + id
		if rev {
			cond = "@^" + id
		}
		r.note(file, num, "conditional line %s left out: keepalived reads it only %s (give the config id to read it: seesawctl import-keepalived --config-id)",
			cond, map[bool]string{false: "with -i " + id, true: "when -i is not " + id}[rev])
		return "", false
	}
	if (id == r.opts.ConfigID) == rev {
		return "", false
	}
	return rest, true
}

// define records a "$NAME=VALUE" definition and reports whether text was
// one. A value ending in a backslash continues on the next lines.
func (r *reader) define(text string) bool {
	name, value, ok := strings.Cut(text[1:], "=")
	if !ok || !isParamName(name) { // keepalived allows no blank before the =
		return false
	}
	value = strings.TrimLeft(value, " \t")
	d := &paramDef{}
	if v, cont := strings.CutSuffix(value, `\`); cont {
		if v = strings.TrimRight(v, " \t"); v != "" {
			d.lines = append(d.lines, v)
		}
		r.pending = d
	} else {
		d.lines = []string{value}
	}
	r.defs[name] = d
	return true
}

func isParamName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// expand replaces each defined $NAME (followed by a blank, ',', ')' or the
// end of the line) and ${NAME} once. A multi-line definition is only
// expanded at the end of a line: its first line takes the place of the
// reference and the others are returned, to be read as the next lines.
func (r *reader) expand(s string) (string, []string, bool) {
	var b strings.Builder
	var extra []string
	changed := false
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		name, end := paramRef(s, i)
		d := r.defs[name]
		if name == "" || d == nil || len(d.lines) > 1 && end != len(s) {
			b.WriteByte(s[i])
			continue
		}
		changed = true
		if len(d.lines) > 0 {
			b.WriteString(d.lines[0])
			extra = append(extra, d.lines[1:]...)
		}
		i = end - 1
	}
	return b.String(), extra, changed
}

// paramRef returns the name of the parameter referred to at s[i] ('$') and
// the index just past the reference, or "" when there is none.
func paramRef(s string, i int) (string, int) {
	j := i + 1
	braces := s[j] == '{'
	if braces {
		j++
	}
	k := j
	for k < len(s) && (s[k] == '_' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z' || s[k] >= '0' && s[k] <= '9') {
		k++
	}
	name := s[j:k]
	if !isParamName(name) {
		return "", 0
	}
	if braces {
		if k == len(s) || s[k] != '}' {
			return "", 0
		}
		return name, k + 1
	}
	if k < len(s) && !strings.ContainsRune(" \t,)", rune(s[k])) {
		return "", 0
	}
	return name, k
}

// include reads the files an include names, in order, resolving a
// relative pattern against the including file's directory and expanding
// {a,b} alternatives and glob patterns as keepalived's glob() does.
func (r *reader) include(pattern, file string, num int) error {
	if pattern == "" {
		r.note(file, num, "include with no file name")
		return nil
	}
	var names []string
	for _, p := range expandAlternatives(pattern, 256) {
		if strings.HasPrefix(p, "/") {
			p = strings.TrimLeft(p, "/")
		} else {
			p = path.Join(path.Dir(file), p)
		}
		p = path.Clean(p)
		if !fs.ValidPath(p) {
			r.note(file, num, "include %s: outside the files that can be read", pattern)
			continue
		}
		if !strings.ContainsAny(p, "*?[") {
			if _, err := fs.Stat(r.fsys, p); err == nil {
				names = append(names, p)
			}
			continue
		}
		m, err := fs.Glob(r.fsys, p)
		if err != nil {
			r.note(file, num, "include %s: bad pattern: %v", pattern, err)
			continue
		}
		names = append(names, m...)
	}
	if len(names) == 0 {
		r.note(file, num, "include %s: matches no file (keepalived skips it too)", pattern)
		return nil
	}
	for _, n := range names {
		if err := r.readFile(n, file, num); err != nil {
			return err
		}
	}
	return nil
}

// expandAlternatives expands csh-style {a,b} alternatives, nested or not,
// into at most limit patterns.
func expandAlternatives(p string, limit int) []string {
	open := strings.IndexByte(p, '{')
	if open < 0 {
		return []string{p}
	}
	depth, close := 0, -1
	var commas []int
	for i := open; i < len(p) && close < 0; i++ {
		switch p[i] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				close = i
			}
		case ',':
			if depth == 1 {
				commas = append(commas, i)
			}
		}
	}
	if close < 0 || len(commas) == 0 {
		return []string{p} // not an alternative: a literal brace
	}
	var out []string
	start := open + 1
	for _, end := range append(commas, close) {
		for _, e := range expandAlternatives(p[:open]+p[start:end]+p[close+1:], limit-len(out)) {
			if len(out) == limit {
				return out
			}
			out = append(out, e)
		}
		start = end + 1
	}
	return out
}
