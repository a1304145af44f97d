package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"runtime"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A file of a thousand services is most of a reload's time in the YAML
// parser, which runs on one core. parseSplit parses each item of the
// top-level services list on its own, in parallel, when the file is written
// in the plain block style the examples and generators use; anything it is
// not sure of (anchors, aliases, tabs, non-ASCII, several documents, quotes
// spanning lines, block scalars, a flow-style list) goes to the whole-file
// parse, which also gives the errors. Each item's nodes are moved to its
// lines, so every node has the line and column the whole-file parse gives
// it; FuzzParseSplit and FuzzParseSplitCached hold the two parses equal.

// splitMinItems is the smallest list worth parsing in parallel (a
// variable for the tests).
var splitMinItems = 64

// A reload usually changes a few services of many. itemCache keeps each
// item of the services list of the last file split, by its text, with the
// service validated from it when the file was valid. A service is
// validated from its text and the rest of the file alone, so an item whose
// text and rest are unchanged (same fingerprint) is neither parsed,
// decoded nor validated again: its service is taken as it was. Other items
// are parsed. An item's nodes are kept only during a parse, and made again
// to place a problem or a warning in it. What a cached item holds is not
// changed once made, but for the lines it learns. It holds one file's
// items, those of the last split parse.
type itemCache struct {
	items map[string]*parsedItem
}

// parsedItem is one item of the services list.
type parsedItem struct {
	text string
	line int // the item's first line in its file, 1-based
	// node is the item parsed, at its line; nil when not parsed (reused).
	node *yaml.Node
	// valid is the service validated from the item, when its file was valid.
	valid *validated
	// seqColumn and seqStyle are those of the list's node when this item
	// is its first.
	seqColumn int
	seqStyle  yaml.Style
	// lines are the lines, from the item's first, of the paths in it
	// ("backends[1].port", "" for the item) that a problem or a warning
	// was placed at.
	lines map[string]int
}

// validated is a service as validation left it, and its fingerprint.
type validated struct {
	fingerprint string
	svc         Service
}

// parse parses the item's text alone and places its nodes at its line.
func (it *parsedItem) parse() error {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(it.text), &doc); err != nil {
		return err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode || len(doc.Content[0].Content) != 1 {
		return errNotOneItem
	}
	seq := doc.Content[0]
	it.node, it.seqColumn, it.seqStyle = seq.Content[0], seq.Column, seq.Style
	shift(it.node, it.line-1)
	return nil
}

var errNotOneItem = errors.New("not one list item")

// drop lets go of the items' nodes.
func (c *itemCache) drop() {
	for _, it := range c.items {
		it.node = nil
	}
}

// splitList is the services list of a split parse: its node, whose items
// are the items' nodes or, for an item whose nodes were dropped, an empty
// mapping standing in for it until hydrate parses it again.
type splitList struct {
	seq   *yaml.Node
	items []*parsedItem
	// reused are the items whose validated service is taken as it was:
	// not parsed (an empty mapping stands in for each), nor decoded.
	reused []bool
	// fingerprints are the items' (engine.Service.Fingerprint).
	fingerprints []string
}

// fingerprint identifies an item's text with the rest of the file's
// digest: what the service it configures is validated from.
func fingerprint(restSum []byte, text string) string {
	h := sha256.New()
	h.Write(restSum)
	h.Write([]byte(text))
	return hex.EncodeToString(h.Sum(nil))
}

// hydrate gives item i its nodes in the list.
func (l *splitList) hydrate(i int) {
	it := l.items[i]
	// The text parsed before, alone: it parses again.
	if it.node != nil || it.parse() == nil {
		l.seq.Content[i] = it.node
	}
}

// lineOf is the line of path in doc, the document of this list: a path in
// an item whose nodes were dropped is placed by the line the item keeps
// for it, or its nodes are made again.
func (l *splitList) lineOf(doc *yaml.Node, path string) int {
	rest, ok := strings.CutPrefix(path, "services[")
	n, sub, ok2 := strings.Cut(rest, "]")
	i, err := strconv.Atoi(n)
	if !ok || !ok2 || err != nil || i < 0 || i >= len(l.items) {
		return lineOf(doc, path)
	}
	it := l.items[i]
	if rel, ok := it.lines[sub]; ok {
		return it.line + rel
	}
	l.hydrate(i)
	line := lineOf(doc, path)
	if line >= it.line {
		if it.lines == nil {
			it.lines = map[string]int{}
		}
		it.lines[sub] = line - it.line
	}
	return line
}

func (l *splitList) hydrateAll() {
	for i := range l.items {
		l.hydrate(i)
	}
}

// parseYAML parses data into a document node, in parallel when it can,
// reusing (and then replacing) cache when it is not nil. list is the
// services list when the file was split.
func parseYAML(data []byte, cache *itemCache) (*yaml.Node, *splitList, error) {
	if doc, list := parseSplit(data, runtime.GOMAXPROCS(0), splitMinItems, cache); doc != nil {
		return doc, list, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err
	}
	return &doc, nil, nil
}

// parseSplit returns the document with the services list's items parsed
// one by one on up to parts goroutines, those cache holds taken from it;
// or nil when the file is not one it splits (fewer than minItems services
// included) or an item does not parse alone.
func parseSplit(data []byte, parts, minItems int, cache *itemCache) (*yaml.Node, *splitList) {
	if !plainASCII(data) || bytes.ContainsAny(data, "&*") || bytes.Contains(data, []byte("<<")) {
		return nil, nil
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	start, end, at := servicesBlock(lines)
	if at == nil || len(at) < minItems {
		return nil, nil
	}
	offsets := make([]int, len(lines)+1)
	for i, l := range lines {
		offsets[i+1] = offsets[i] + len(l)
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
	h := sha256.New()
	for _, l := range lines[:start] {
		h.Write(l)
	}
	for _, l := range lines[end:] {
		h.Write(l)
	}
	restSum := h.Sum(nil)
	items := make([]*parsedItem, len(at))
	list := &splitList{items: items, reused: make([]bool, len(at)), fingerprints: make([]string, len(at))}
	var miss []int
	for i, from := range at {
		to := end
		if i+1 < len(at) {
			to = at[i+1]
		}
		text := string(data[offsets[from]:offsets[to]])
		list.fingerprints[i] = fingerprint(restSum, text)
		var old *parsedItem
		if cache != nil {
			old = cache.items[text]
		}
		switch {
		case old == nil || old.valid == nil || old.valid.fingerprint != list.fingerprints[i]:
			items[i] = &parsedItem{text: text, line: from + 1}
			miss = append(miss, i)
		case old.line == from+1:
			items[i], list.reused[i] = old, true
		default:
			c := *old
			c.line, c.node = from+1, nil
			items[i], list.reused[i] = &c, true
		}
	}
	errs := make([]error, len(miss))
	parallelOn(parts, len(miss), func(j int) { errs[j] = items[miss[j]].parse() })
	var doc yaml.Node
	if yaml.Unmarshal(rest, &doc) != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	for _, err := range errs {
		if err != nil {
			return nil, nil
		}
	}
	var seq *yaml.Node
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "services" && root.Content[i].Line == start+1 {
			seq = root.Content[i+1]
		}
	}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil, nil
	}
	seq.Content = make([]*yaml.Node, len(items))
	for i, it := range items {
		if seq.Content[i] = it.node; it.node == nil {
			seq.Content[i] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: it.line}
		}
	}
	// The list's own node is where its first item's dash is.
	seq.Style, seq.Line, seq.Column = items[0].seqStyle, items[0].line, items[0].seqColumn
	if cache != nil {
		cache.items = make(map[string]*parsedItem, len(items))
		for _, it := range items {
			cache.items[it.text] = it
		}
	}
	list.seq = seq
	return &doc, list
}

// shift adds delta to the line of n and of every node below it.
func shift(n *yaml.Node, delta int) {
	n.Line += delta
	for _, c := range n.Content {
		shift(c, delta)
	}
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
		if !quotesClosed(l) || blockScalar(l) {
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

// blockScalar reports whether l may open a block scalar (a | or > header
// ends it): the parser reads its lines by rules an item parsed alone does
// not follow the same way (a first line that looks like a comment is
// content in the file, nothing in the item alone), so such a file is
// parsed whole. A comment is cut at its " #"; a quoted "#" only makes the
// check say yes more often.
func blockScalar(l []byte) bool {
	if i := bytes.Index(l, []byte(" #")); i >= 0 {
		l = l[:i]
	}
	l = bytes.TrimRight(l, " \n")
	tok := l[bytes.LastIndexByte(l, ' ')+1:]
	if len(tok) == 0 || tok[0] != '|' && tok[0] != '>' {
		return false
	}
	return len(bytes.Trim(tok[1:], "+-123456789")) == 0
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
