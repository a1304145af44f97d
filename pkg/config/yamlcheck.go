package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// lines maps a field path ("services[0].backends[1].port") to the line of
// the YAML that set it.
type lines map[string]int

// lineOf returns the line of the YAML that set path, or of its nearest
// ancestor in the document: it follows the path down the nodes, so placing
// a problem costs only its depth.
func lineOf(doc *yaml.Node, path string) int {
	if doc == nil {
		return 0
	}
	n, line := doc, 0
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for path != "" {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var seg string
		if path[0] == '[' {
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return line
			}
			i, err := strconv.Atoi(path[1:end])
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return line
			}
			n, line, path = n.Content[i], n.Content[i].Line, strings.TrimPrefix(path[end+1:], ".")
			continue
		}
		end := strings.IndexAny(path, ".[")
		if end < 0 {
			end = len(path)
		}
		seg, path = path[:end], strings.TrimPrefix(path[end:], ".")
		next := mappingValue(n, seg)
		if next == nil {
			return line
		}
		n, line = next.v, next.k.Line
	}
	return line
}

type keyValue struct{ k, v *yaml.Node }

// mappingValue finds key in mapping n, case-insensitively, through merge keys.
func mappingValue(n *yaml.Node, key string) *keyValue {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" {
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			if kv := mappingValue(v, key); kv != nil {
				return kv
			}
			continue
		}
		if strings.EqualFold(k.Value, key) {
			return &keyValue{k, v}
		}
	}
	return nil
}

// checkYAML parses the document into nodes before viper sees it, because
// viper folds keys to lower case and keeps the last of duplicate keys: a
// file with `vrid: 1` and `VRID: 2` in one mapping would silently mean 2.
// It returns the settings decoded from the nodes (so the document is parsed
// once), the document for lineMap, and the problems: syntax errors and keys
// given twice (exactly, or differing only in case). cache, when not nil,
// carries the services' parse from one call to the next (itemCache).
func checkYAML(data []byte, cache *itemCache) (map[string]any, *yaml.Node, *splitList, []Problem) {
	doc, list, err := parseYAML(data, cache)
	if err != nil {
		p := Problem{Msg: "yaml: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		p.Line = yamlErrorLine(err.Error())
		return nil, nil, nil, []Problem{p}
	}
	var reused []bool
	if list != nil {
		reused = list.reused
	}
	var dups [][2]*yaml.Node // first, second
	// A reused item was walked in the parse that validated it.
	checked := map[*yaml.Node]bool{}
	for i, r := range reused {
		if r {
			checked[list.seq.Content[i]] = true
		}
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if checked[n] {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c)
			}
		case yaml.MappingNode:
			// Mappings are small (a service has a dozen keys): compare
			// pairs, and use a map only for a large one.
			var seen map[string]*yaml.Node
			if len(n.Content) > 32 {
				seen = make(map[string]*yaml.Node, len(n.Content)/2)
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Value != "<<" {
					if seen != nil {
						f := strings.ToLower(k.Value)
						if first, dup := seen[f]; dup {
							dups = append(dups, [2]*yaml.Node{first, k})
						} else {
							seen[f] = k
						}
					} else {
						for j := 0; j < i; j += 2 {
							if strings.EqualFold(n.Content[j].Value, k.Value) {
								dups = append(dups, [2]*yaml.Node{n.Content[j], k})
								break
							}
						}
					}
				}
				walk(n.Content[i+1])
			}
		}
	}
	walk(doc)
	if len(dups) > 0 {
		paths := lineMap(doc)
		var probs []Problem
		for _, d := range dups {
			first, k := d[0], d[1]
			msg := fmt.Sprintf("key %q given twice (first at line %d)", k.Value, first.Line)
			if first.Value != k.Value {
				msg = fmt.Sprintf("keys %q (line %d) and %q differ only in case; keys are not case-sensitive, keep one",
					first.Value, first.Line, k.Value)
			}
			probs = append(probs, Problem{Path: paths.of[k], Line: k.Line, Msg: msg})
		}
		return nil, doc, list, probs
	}
	if settings, ok := decodeSplit(doc, splitMinItems, reused); ok {
		return settings, doc, list, nil
	}
	if list != nil {
		list.hydrateAll()
		clear(list.reused)
	}
	var settings map[string]any
	if err := doc.Decode(&settings); err != nil {
		return nil, doc, list, []Problem{{Msg: "yaml: " + strings.TrimPrefix(err.Error(), "yaml: "), Line: yamlErrorLine(err.Error())}}
	}
	return settings, doc, list, nil
}

// pathLines are the field paths of a document: the line of each path, and
// the path of each key node.
type pathLines struct {
	lines
	of map[*yaml.Node]string
}

// lineMap walks the document for the paths of its nodes. It is built only
// when there is a problem or a warning to place: a 10,000-backend file has
// 50,000 paths.
func lineMap(doc *yaml.Node) pathLines {
	pl := pathLines{lines: lines{}, of: map[*yaml.Node]string{}}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "<<" { // a merge key brings its keys in, like an include
					walk(v, path)
					continue
				}
				p := joinPath(path, strings.ToLower(k.Value))
				pl.of[k] = p
				if _, seen := pl.lines[p]; !seen {
					pl.lines[p] = k.Line
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := path + "[" + strconv.Itoa(i) + "]"
				pl.lines[p] = c.Line
				walk(c, p)
			}
		}
	}
	walk(doc, "")
	return pl
}

// yamlErrorLine extracts N from yaml's "yaml: line N: ..." messages.
func yamlErrorLine(msg string) int {
	_, rest, ok := strings.Cut(msg, "line ")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}

// decodeSplit decodes the document as doc.Decode does, the items of the
// top-level services list in parallel (most of a large file); false sends
// the caller to the whole-document decode, for its error. The items
// reused marks (a split parse's) are left nil in the list: their services
// are taken as validated before.
func decodeSplit(doc *yaml.Node, minItems int, reused []bool) (map[string]any, bool) {
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, false
	}
	root := doc.Content[0]
	var seq *yaml.Node
	var key string
	for i := 0; i+1 < len(root.Content); i += 2 {
		if v := root.Content[i+1]; strings.EqualFold(root.Content[i].Value, "services") && v.Kind == yaml.SequenceNode {
			if seq != nil {
				return nil, false
			}
			seq, key = v, root.Content[i].Value
		}
	}
	if seq == nil || len(seq.Content) < minItems {
		return nil, false
	}
	nodes := seq.Content
	seq.Content = nil
	var settings map[string]any
	err := doc.Decode(&settings)
	seq.Content = nodes
	if err != nil {
		return nil, false
	}
	if len(reused) != len(nodes) {
		reused = nil
	}
	list := make([]any, len(nodes))
	errs := make([]error, len(nodes))
	parallel(len(nodes), func(i int) {
		if reused == nil || !reused[i] {
			errs[i] = nodes[i].Decode(&list[i])
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, false
		}
	}
	settings[key] = list
	return settings, true
}
