package kaimport

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ymap is an ordered YAML mapping under construction, each key with an
// optional comment written above it.
type ymap struct {
	flow  bool
	items []yitem
}

type yitem struct {
	key     string
	value   any // string, int, bool, *ymap, yseq
	comment string
}

// yseq is a YAML sequence; items may carry a comment written above them.
type yseq struct {
	flow     bool
	items    []any
	comments []string
}

func (m *ymap) set(key string, value any) { m.items = append(m.items, yitem{key: key, value: value}) }

// setc sets key with a comment above it ("" for none).
func (m *ymap) setc(key string, value any, comment string) {
	m.items = append(m.items, yitem{key: key, value: value, comment: comment})
}

func (s *yseq) add(v any, comment string) {
	s.items = append(s.items, v)
	s.comments = append(s.comments, comment)
}

// toNode converts a value to a yaml.Node. Scalars carry their tag, so that
// yaml.v3 quotes a string like "80" or "yes" that would read as another type.
func toNode(v any) *yaml.Node {
	switch v := v.(type) {
	case *ymap:
		n := &yaml.Node{Kind: yaml.MappingNode}
		if v.flow {
			n.Style = yaml.FlowStyle
		}
		for _, it := range v.items {
			k := scalar(it.key)
			k.HeadComment = comment(it.comment)
			n.Content = append(n.Content, k, toNode(it.value))
		}
		return n
	case *yseq:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.flow {
			n.Style = yaml.FlowStyle
		}
		for i, it := range v.items {
			c := toNode(it)
			c.HeadComment = comment(v.comments[i])
			n.Content = append(n.Content, c)
		}
		return n
	}
	return scalar(v)
}

func scalar(v any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode}
	switch v := v.(type) {
	case int:
		n.Tag, n.Value = "!!int", strconv.Itoa(v)
	case bool:
		n.Tag, n.Value = "!!bool", strconv.FormatBool(v)
	case string:
		n.Tag, n.Value = "!!str", strings.ToValidUTF8(v, "\uFFFD")
	default:
		n.Tag, n.Value = "!!str", fmt.Sprint(v)
	}
	return n
}

// comment turns text into a YAML comment body; yaml.v3 adds the "# ".
func comment(text string) string {
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = "# " + l
	}
	return strings.Join(lines, "\n")
}

// render writes the document with header as its leading comment.
func render(header string, root *ymap) ([]byte, error) {
	doc := toNode(root)
	doc.HeadComment = comment(header)
	if len(root.items) == 0 {
		// An empty mapping would render as "{}": say so in words instead.
		return []byte(comment(header) + "\n# nothing to translate\n{}\n"), nil
	}
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(2)
	if err := e.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc}}); err != nil {
		return nil, fmt.Errorf("kaimport: writing YAML: %w", err)
	}
	if err := e.Close(); err != nil {
		return nil, fmt.Errorf("kaimport: writing YAML: %w", err)
	}
	return b.Bytes(), nil
}
