package kaimport

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Node is one statement of a keepalived configuration: a keyword with its
// arguments, and the statements of its { } block when it opens one.
type Node struct {
	// File and Line locate the statement: the file it was read from (after
	// includes) and its line there, from 1.
	File string
	Line int
	// Words are the keyword and its arguments, unquoted and unescaped.
	Words []string
	// Block says the statement opened a { } block, whose statements are
	// Children (possibly none).
	Block    bool
	Children []*Node

	// handled records that the translator translated or noted the
	// statement, so that nothing is dropped silently.
	handled bool
}

// Keyword returns the first word.
func (n *Node) Keyword() string { return n.Words[0] }

// Arg returns argument i (from 1), or "" when there is none.
func (n *Node) Arg(i int) string {
	if i < len(n.Words) {
		return n.Words[i]
	}
	return ""
}

// String returns the words as they could be written back.
func (n *Node) String() string {
	ws := make([]string, len(n.Words))
	for i, w := range n.Words {
		if w == "" || strings.ContainsAny(w, " \t\"'#!{}\\") {
			w = strconv.Quote(w)
		}
		ws[i] = w
	}
	s := strings.Join(ws, " ")
	if n.Block {
		s += " { ... }"
	}
	return s
}

// Note is something the importer could not translate, or translated only
// approximately, at a line of the keepalived configuration.
type Note struct {
	File string
	Line int
	Text string
}

// String returns the note as a compiler would print it: "file:line: text".
func (n Note) String() string { return fmt.Sprintf("%s:%d: %s", n.File, n.Line, n.Text) }

// ParseError is a configuration keepalived's parser would not read as
// intended: unbalanced braces, an unterminated quote, an include cycle.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("kaimport: %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("kaimport: %s: %s", e.File, e.Msg)
}

// Limits that keep hostile input bounded.
const (
	// maxDepth bounds nested { } blocks; keepalived's deepest is four
	// (virtual_server, real_server, HTTP_GET, url).
	maxDepth = 32
	// maxIncludeDepth bounds nested includes.
	maxIncludeDepth = 16
	// maxFileSize bounds one file.
	maxFileSize = 16 << 20
	// maxStatements bounds the statements of a whole configuration,
	// includes and parameter expansions included.
	maxStatements = 1 << 20
)

// Options configure Parse and Import.
type Options struct {
	// ConfigID is keepalived's --config-id (-i): a line "@ID ..." is read
	// only when ID is ConfigID, "@^ID ..." only when it is not. Empty
	// leaves every conditional line out, each with a note, because which
	// node the file was meant for is not known.
	ConfigID string
	// Source names the configuration in the YAML's header comment; empty
	// is the name Import was given.
	Source string
}

func (o *Options) source() string {
	if o == nil {
		return ""
	}
	return o.Source
}

// Parse reads the keepalived configuration file name from fsys, with the
// files it includes, into its top-level statements. Names are fs.FS names
// (slash-separated, unrooted): an include of an absolute path /etc/x reads
// etc/x, one of a relative path is relative to the including file. The
// notes are what the reader left out (conditional lines, ~SEQ blocks,
// includes that match nothing). A *ParseError is returned for a file
// keepalived would misread: unbalanced braces or quotes, include cycles.
func Parse(fsys fs.FS, name string, opts *Options) ([]*Node, []Note, error) {
	if opts == nil {
		opts = &Options{}
	}
	r := newReader(fsys, *opts)
	if err := r.readFile(name, "", 0); err != nil {
		return nil, nil, err
	}
	nodes, err := build(r.stmts)
	if err != nil {
		return nil, nil, err
	}
	return nodes, r.notes, nil
}

// build makes the statement tree, treating "{" and "}" statements as the
// opening and closing of the block of the statement before.
func build(stmts []statement) ([]*Node, error) {
	root := &Node{Block: true}
	stack := []*Node{root}
	var last *Node
	for _, s := range stmts {
		top := stack[len(stack)-1]
		switch {
		case len(s.words) == 1 && s.words[0] == "{":
			if last == nil || last.Block {
				return nil, &ParseError{s.file, s.line, "'{' with no keyword before it"}
			}
			if len(stack) > maxDepth {
				return nil, &ParseError{s.file, s.line, fmt.Sprintf("blocks nested deeper than %d", maxDepth)}
			}
			last.Block = true
			stack = append(stack, last)
			last = nil
		case len(s.words) == 1 && s.words[0] == "}":
			if len(stack) == 1 {
				return nil, &ParseError{s.file, s.line, "'}' closes no block"}
			}
			last = top
			stack = stack[:len(stack)-1]
		default:
			n := &Node{File: s.file, Line: s.line, Words: s.words}
			top.Children = append(top.Children, n)
			last = n
		}
	}
	if len(stack) > 1 {
		open := stack[len(stack)-1]
		return nil, &ParseError{open.File, open.Line, fmt.Sprintf("block of %q is never closed", open.Keyword())}
	}
	return root.Children, nil
}
