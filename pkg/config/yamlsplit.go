package config

import (
	"bytes"
	"runtime"
	"sync"

	"go.yaml.in/yaml/v3"
)

// A file of a thousand services is most of a reload's time in the YAML
// parser, which runs on one core. parseSplit parses the items of the
// top-level services list in parallel, a slice of the list per core, when
// the file is written in the plain block style the examples and generators
// use; anything it is not sure of (anchors, aliases, tabs, non-ASCII, several
// documents, quotes spanning lines, a flow-style list) goes to the whole-
// file parse, which also gives the errors. Each slice is parsed at its
// place in the file (the lines before it blank), so every node has the
// line and column the whole-file parse gives it; FuzzParseSplit holds the
// two parses equal.

// splitMinItems is the smallest list worth parsing in parallel.
const splitMinItems = 64

// parseYAML parses data into a document node, in parallel when it can.
func parseYAML(data []byte) (*yaml.Node, error) {
	if doc := parseSplit(data, runtime.GOMAXPROCS(0), splitMinItems); doc != nil {
		return doc, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// parseSplit returns the document parsed in up to parts slices, or nil when
// the file is not one it splits (fewer than minItems services included) or a
// slice does not parse.
func parseSplit(data []byte, parts, minItems int) *yaml.Node {
	if parts < 2 || !plainASCII(data) || bytes.ContainsAny(data, "&*") || bytes.Contains(data, []byte("<<")) {
		return nil
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	start, end, items := servicesBlock(lines)
	if items == nil || len(items) < minItems {
		return nil
	}
	// The rest of the file, the services block blanked out (lines kept).
	rest := make([]byte, 0, len(data)/8)
	for i, l := range lines {
		switch {
		case i == start:
			rest = append(rest, "services: []\n"...)
		case i > start && i < end:
			rest = append(rest, '\n')
		default:
			rest = append(rest, l...)
		}
	}
	parts = min(parts, len(items))
	type slice struct {
		doc yaml.Node
		err error
	}
	out := make([]slice, parts)
	var wg sync.WaitGroup
	for p := range parts {
		from, to := items[p*len(items)/parts], end
		if next := (p + 1) * len(items) / parts; next < len(items) {
			to = items[next]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b []byte
			b = append(b, bytes.Repeat([]byte("\n"), from)...)
			for _, l := range lines[from:to] {
				b = append(b, l...)
			}
			out[p].err = yaml.Unmarshal(b, &out[p].doc)
		}()
	}
	var doc yaml.Node
	err := yaml.Unmarshal(rest, &doc)
	wg.Wait()
	if err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	var seq *yaml.Node
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "services" && root.Content[i].Line == start+1 {
			seq = root.Content[i+1]
		}
	}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	var content []*yaml.Node
	for _, s := range out {
		if s.err != nil || len(s.doc.Content) != 1 || s.doc.Content[0].Kind != yaml.SequenceNode {
			return nil
		}
		content = append(content, s.doc.Content[0].Content...)
	}
	if len(content) != len(items) {
		return nil
	}
	first := out[0].doc.Content[0]
	seq.Content, seq.Style, seq.Line, seq.Column = content, first.Style, first.Line, first.Column
	return &doc
}

// servicesBlock finds the block-style top-level services list: the index
// of its "services:" line, of the first line after the list, and of each
// item's first line. items is nil when the file has no such list or has
// something the split does not handle.
func servicesBlock(lines [][]byte) (start, end int, items []int) {
	start = -1
	for i, l := range lines {
		if bytes.HasPrefix(l, []byte("---")) || bytes.HasPrefix(l, []byte("...")) || bytes.HasPrefix(l, []byte("%")) {
			return 0, 0, nil // several documents, directives
		}
		if !bytes.HasPrefix(l, []byte("services:")) {
			continue
		}
		rest := l[len("services:"):]
		if start >= 0 || len(rest) > 0 && rest[0] != '\n' && (rest[0] != ' ' || !blankOrComment(rest)) {
			return 0, 0, nil // twice (an error to report), or a value on the line
		}
		start = i
	}
	if start < 0 {
		return 0, 0, nil
	}
	indent := -1
	end = len(lines)
	for i := start + 1; i < len(lines); i++ {
		l := lines[i]
		if blankOrComment(l) {
			continue
		}
		n := len(l) - len(bytes.TrimLeft(l, " "))
		if indent < 0 {
			indent = n
		}
		if n < indent || (n == 0 && !bytes.HasPrefix(l, []byte("- "))) {
			if n > 0 {
				return 0, 0, nil // not a top-level key: leave it to the parser
			}
			end = i
			break
		}
		if n == indent {
			if !bytes.HasPrefix(l[n:], []byte("- ")) {
				return 0, 0, nil
			}
			items = append(items, i)
		}
		if !quotesClosed(l) {
			return 0, 0, nil
		}
	}
	// Trailing comments and blank lines belong after the list.
	for end > start+1 && blankOrComment(lines[end-1]) {
		end--
	}
	if len(items) == 0 || items[0] != firstContent(lines, start+1) {
		return 0, 0, nil
	}
	return start, end, items
}

func firstContent(lines [][]byte, from int) int {
	for i := from; i < len(lines); i++ {
		if !blankOrComment(lines[i]) {
			return i
		}
	}
	return -1
}

// plainASCII reports whether data is printable ASCII and newlines: other
// bytes may be line breaks to the parser (NEL, LS, PS, CR) or refused by it
// in a comment the split leaves out.
func plainASCII(data []byte) bool {
	for _, c := range data {
		if (c < 0x20 && c != '\n') || c > 0x7e {
			return false
		}
	}
	return true
}

// blankOrComment reports whether l holds nothing but spaces and a comment.
func blankOrComment(l []byte) bool {
	t := bytes.TrimLeft(l, " ")
	return len(t) == 0 || t[0] == '\n' || t[0] == '#'
}

// quotesClosed reports whether every quoted scalar that opens on l closes
// on it (a comment ends the check): a multi-line quoted scalar could hold
// a line that looks like a list item.
func quotesClosed(l []byte) bool {
	var q byte
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case q == 0 && c == '#' && (i == 0 || l[i-1] == ' '):
			return true
		case q == 0 && (c == '"' || c == '\''):
			q = c
		case q == '"' && c == '\\':
			i++
		case q == '"' && c == '"':
			q = 0
		case q == '\'' && c == '\'':
			if i+1 < len(l) && l[i+1] == '\'' {
				i++
			} else {
				q = 0
			}
		}
	}
	return q == 0
}
