package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// lines maps a field path ("services[0].backends[1].port") to the line of
// the YAML that set it, so every problem can point at the file.
type lines map[string]int

// line returns the line of path or of its nearest ancestor that has one.
func (l lines) line(path string) int {
	for path != "" {
		if n, ok := l[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// checkYAML parses the document into nodes before viper sees it, because
// viper folds keys to lower case and keeps the last of duplicate keys: a
// file with `vrid: 1` and `VRID: 2` in one mapping would silently mean 2.
// It returns the line of every field path and the problems: syntax errors
// and keys given twice (exactly, or differing only in case).
// The settings are returned too, decoded from the same nodes, so the
// document is parsed once.
func checkYAML(data []byte) (map[string]any, lines, []Problem) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p := Problem{Msg: "yaml: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		p.Line = yamlErrorLine(err.Error())
		return nil, nil, []Problem{p}
	}
	l := lines{}
	var probs []Problem
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
			seen := map[string]*yaml.Node{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "<<" { // a merge key brings its keys in, like an include
					walk(v, path)
					continue
				}
				folded := strings.ToLower(k.Value)
				p := joinPath(path, folded)
				if first, dup := seen[folded]; dup {
					msg := fmt.Sprintf("key %q given twice (first at line %d)", k.Value, first.Line)
					if first.Value != k.Value {
						msg = fmt.Sprintf("keys %q (line %d) and %q differ only in case; keys are not case-sensitive, keep one",
							first.Value, first.Line, k.Value)
					}
					probs = append(probs, Problem{Path: p, Line: k.Line, Msg: msg})
					continue
				}
				seen[folded] = k
				l[p] = k.Line
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := path + "[" + strconv.Itoa(i) + "]"
				l[p] = c.Line
				walk(c, p)
			}
		}
	}
	walk(&doc, "")
	if len(probs) > 0 {
		return nil, l, probs
	}
	var settings map[string]any
	if err := doc.Decode(&settings); err != nil {
		return nil, l, []Problem{{Msg: "yaml: " + strings.TrimPrefix(err.Error(), "yaml: "), Line: yamlErrorLine(err.Error())}}
	}
	return settings, l, nil
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
