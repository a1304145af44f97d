package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// bigConfig is a file of services × backends in the style of the examples
// (and of the engine benchmark), with comments between services.
func bigConfig(services, backends int) string {
	var b strings.Builder
	b.WriteString("node: { name: big }\nipvs: { resync_interval: 30s }\n# the services\nservices:\n")
	for i := range services {
		if i%100 == 0 {
			fmt.Fprintf(&b, "  # block %d\n\n", i/100)
		}
		fmt.Fprintf(&b, "  - name: s%d\n    vip: 10.200.%d.%d\n    port: 80\n    scheduler: wrr\n", i, i/250, 1+i%250)
		b.WriteString("    healthcheck: { type: http, path: \"/healthz\", interval: 1s, timeout: 500ms, rise: 2, fall: 3 }\n    backends:\n")
		for j := range backends {
			fmt.Fprintf(&b, "      - { address: 10.1.0.%d, port: %d, weight: %d }\n", 1+j, 10000+i, 1+j)
		}
	}
	b.WriteString("# after the list\nmetrics: { listen: \"\" }\n")
	return b.String()
}

// sameNodes reports where two node trees differ in what Parse reads: kind,
// style, tag, value, line and column (comments are not read).
func sameNodes(a, b *yaml.Node, path string) error {
	if a.Kind != b.Kind || a.Tag != b.Tag || a.Value != b.Value || a.Line != b.Line || a.Column != b.Column ||
		a.Style != b.Style || len(a.Content) != len(b.Content) {
		return fmt.Errorf("%s: split %v %q %q line %d col %d style %v (%d children), whole %v %q %q line %d col %d style %v (%d children)",
			path, a.Kind, a.Tag, a.Value, a.Line, a.Column, a.Style, len(a.Content), b.Kind, b.Tag, b.Value, b.Line, b.Column, b.Style, len(b.Content))
	}
	for i := range a.Content {
		if err := sameNodes(a.Content[i], b.Content[i], fmt.Sprintf("%s/%d", path, i)); err != nil {
			return err
		}
	}
	return nil
}

// checkSplit parses data split (into parts, from minItems services) and
// whole; when the split parse answers, it must be the whole parse's.
func checkSplit(t *testing.T, data []byte, parts, minItems int) bool {
	t.Helper()
	split := parseSplit(data, parts, minItems)
	if split == nil {
		return false
	}
	var whole yaml.Node
	if err := yaml.Unmarshal(data, &whole); err != nil {
		t.Fatalf("the split parse accepted what the whole parse refuses (%v):\n%s", err, data)
	}
	if err := sameNodes(split, &whole, ""); err != nil {
		t.Fatalf("%v\nin:\n%s", err, data)
	}
	var a, b any
	errA, errB := split.Decode(&a), whole.Decode(&b)
	if fmt.Sprint(errA) != fmt.Sprint(errB) {
		t.Fatalf("decode errors differ: split %v, whole %v", errA, errB)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("decoded values differ:\nsplit %v\nwhole %v", a, b)
	}
	return true
}

func TestParseSplit(t *testing.T) {
	big := bigConfig(300, 3)
	if !checkSplit(t, []byte(big), 4, 64) {
		t.Fatal("the generated file was not split")
	}
	if checkSplit(t, []byte(bigConfig(10, 3)), 4, 64) {
		t.Error("a file of 10 services was split (fewer than the minimum)")
	}
	for name, data := range map[string]string{
		"anchor":            strings.Replace(big, "port: 80\n", "port: &p 80\n", 1),
		"tab":               strings.Replace(big, "port: 80\n", "port:\t80\n", 1),
		"two documents":     big + "---\nnode: { name: x }\n",
		"services twice":    big + "services:\n  - name: x\n",
		"flow list":         "services: [{ name: a }]\n",
		"multi-line quotes": strings.Replace(big, "port: 80\n", "port: \"80\n  - 81\"\n", 1),
		"odd indentation":   strings.Replace(big, "    port: 80\n", " port: 80\n", 1),
	} {
		if checkSplit(t, []byte(data), 4, 1) {
			t.Errorf("%s: split, want the whole-file parse", name)
		}
	}
	// Everything the configs directory and testdata hold, split as finely
	// as can be.
	files, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, filepath.Join("..", "..", "configs", "seesawd.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkSplit(t, data, 8, 1)
	}
}

// TestParseSplitErrorsAsWhole: a file the split parse refuses is reported
// by the whole-file parse, with its line.
func TestParseSplitErrorsAsWhole(t *testing.T) {
	bad := strings.Replace(bigConfig(100, 2), "    port: 80\n", "    port: [80\n", 1)
	_, err := Parse([]byte(bad))
	if err == nil || !strings.Contains(err.Error(), "yaml:") {
		t.Fatalf("Parse of broken YAML: %v", err)
	}
}

// checkDecodeSplit decodes data's document with the services decoded in
// parallel and whole; when the split decode answers, it must be the
// whole decode's.
func checkDecodeSplit(t *testing.T, data []byte) bool {
	t.Helper()
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return false
	}
	split, ok := decodeSplit(&doc, 1)
	if !ok {
		return false
	}
	var whole map[string]any
	if err := doc.Decode(&whole); err != nil {
		t.Fatalf("the split decode accepted what the whole decode refuses (%v):\n%s", err, data)
	}
	if !reflect.DeepEqual(split, whole) {
		t.Fatalf("decoded values differ:\nsplit %v\nwhole %v", split, whole)
	}
	return true
}

func TestDecodeSplit(t *testing.T) {
	anchors := "x-check: &hc { type: tcp, interval: 2s }\n" +
		regexp.MustCompile(`    healthcheck: .*\n`).ReplaceAllString(bigConfig(5, 2), "    healthcheck: *hc\n    <<: { quorum: 2 }\n")
	for name, data := range map[string]string{"plain": bigConfig(100, 2), "anchors and merges": anchors} {
		if !checkDecodeSplit(t, []byte(data)) {
			t.Errorf("%s: not decoded in parallel", name)
		}
	}
}

func FuzzParseSplit(f *testing.F) {
	f.Add([]byte(bigConfig(3, 2)))
	f.Add([]byte("services:\n- name: a\n  port: 1\n- name: b\nnode: {}\n"))
	f.Add([]byte("a: 1\nservices:\n  # c\n  - x: 'it''s'\n    y: \"q\\\"\"\n\n  - z: |\n      - not an item\nb: 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSplit(t, data, 3, 1)
		checkDecodeSplit(t, data)
	})
}

func BenchmarkParse1000x10(b *testing.B) {
	data := []byte(bigConfig(1000, 10))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
