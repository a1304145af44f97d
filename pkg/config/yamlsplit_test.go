package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
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

// checkSplit parses data split (into parts, from minItems services, with
// cache) and whole; when the split parse answers, it must be the whole
// parse's.
func checkSplit(t *testing.T, data []byte, parts, minItems int, cache *itemCache) bool {
	t.Helper()
	split, list := parseSplit(data, parts, minItems, cache)
	if split == nil {
		return false
	}
	// Items whose nodes the cache dropped have them again.
	list.hydrateAll()
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
	if !checkSplit(t, []byte(big), 4, 64, nil) {
		t.Fatal("the generated file was not split")
	}
	if checkSplit(t, []byte(bigConfig(10, 3)), 4, 64, nil) {
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
		// Found by FuzzParseSplitCached: alone, the item's literal loses
		// its only line, which looks like a comment.
		"block scalar": "services:\n  - z: |\n     #00000000000000",
		"folded":       strings.Replace(big, "port: 80\n", "port: >-\n      80\n", 1),
	} {
		if checkSplit(t, []byte(data), 4, 1, nil) {
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
		checkSplit(t, data, 8, 1, nil)
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
	split, ok := decodeSplit(&doc, 1, nil)
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

// TestParseSplitReuses: a parse with the cache of the file before reads
// only the items whose text changed, and gives what the whole-file parse
// gives, whether items kept their lines, moved, went or came.
func TestParseSplitReuses(t *testing.T) {
	before := bigConfig(200, 3)
	edits := map[string]struct {
		after    string
		reparsed int
	}{
		"unchanged":       {before, 0},
		"one weight":      {strings.Replace(before, "port: 10150, weight: 2", "port: 10150, weight: 7", 1), 1},
		"a backend added": {strings.Replace(before, "      - { address: 10.1.0.3, port: 10005, weight: 3 }\n", "      - { address: 10.1.0.3, port: 10005, weight: 3 }\n      - { address: 10.1.0.9, port: 10005 }\n", 1), 1},
		"a service gone":  {regexp.MustCompile(`(?s)  - name: s7\n.*?(  - name: s8\n)`).ReplaceAllString(before, "$1"), 0},
		// The comment ends s99's text; the items after it move.
		"a comment in the list": {strings.Replace(before, "  # block 1\n", "  # block 1\n  # more\n", 1), 1},
		// The rest of the file changed: every service is validated again.
		"lines above": {strings.Replace(before, "# the services\n", "# the\n# services\n\n", 1), 200},
	}
	for name, e := range edits {
		cache := &itemCache{}
		_, list := parseSplit([]byte(before), 2, 64, cache)
		if list == nil {
			t.Fatal("the file was not split")
		}
		validAll(list)
		cache.drop()
		if !checkSplit(t, []byte(e.after), 2, 64, cache) {
			t.Fatalf("%s: not split", name)
		}
		reparsed := 0
		for _, it := range cache.items {
			if it.valid == nil {
				reparsed++
			}
		}
		if reparsed != e.reparsed {
			t.Errorf("%s: %d items parsed again, want %d", name, reparsed, e.reparsed)
		}
	}
}

// validAll marks every item of list validated, as a valid file's are.
func validAll(list *splitList) {
	for i, it := range list.items {
		it.valid = &validated{fingerprint: list.fingerprints[i]}
	}
}

// TestLoaderMatchesParse: a Loader reading a sequence of edits of a file
// gives, at each step, the configuration Parse gives for it, problems and
// warnings with their lines included.
func TestLoaderMatchesParse(t *testing.T) {
	base := bigConfig(100, 2)
	steps := []string{
		base,
		strings.Replace(base, "port: 10050, weight: 2", "port: 10050, weight: 9", 1),
		"# moved\n" + base,
		strings.Replace(base, "    port: 80\n", "    port: 80\n    bogus: 1\n", 1),
		strings.Replace(base, "    vip: 10.200.0.51\n", "    vip: 10.200.0.50\n", 1),
		base,
	}
	var l Loader
	for i, data := range steps {
		want, wantErr := Parse([]byte(data))
		got, gotErr := l.Parse([]byte(data))
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("step %d: Loader %v, Parse %v", i, gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: Loader and Parse disagree", i)
		}
	}
}

func FuzzParseSplit(f *testing.F) {
	f.Add([]byte(bigConfig(3, 2)))
	f.Add([]byte("services:\n- name: a\n  port: 1\n- name: b\nnode: {}\n"))
	f.Add([]byte("a: 1\nservices:\n  # c\n  - x: 'it''s'\n    y: \"q\\\"\"\n\n  - z: |\n      - not an item\nb: 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSplit(t, data, 3, 1, nil)
		checkDecodeSplit(t, data)
	})
}

// FuzzParseSplitCached: with the cache of another file's parse (before),
// the split parse of data is still the whole-file parse.
func FuzzParseSplitCached(f *testing.F) {
	big := bigConfig(3, 2)
	f.Add([]byte(big), []byte(strings.Replace(big, "weight: 2", "weight: 3", 1)))
	f.Add([]byte(big), []byte("# x\n"+big))
	f.Add([]byte("services:\n- name: a\n  port: 1\n- name: b\nnode: {}\n"), []byte("services:\n- name: b\n- name: a\n  port: 1\nnode: {}\n"))
	f.Add([]byte("a: 1\nservices:\n  # c\n  - x: 'it''s'\n    y: \"q\\\"\"\n\n  - z: |\n      - not an item\nb: 2\n"), []byte("services:\n  - z: |\n      - not an item\n"))
	defer func(n int) { splitMinItems = n }(splitMinItems)
	splitMinItems = 1
	f.Fuzz(func(t *testing.T, before, data []byte) {
		cache := &itemCache{}
		parseSplit(before, 3, 1, cache)
		checkSplit(t, data, 3, 1, cache)
		cache = &itemCache{}
		if _, list := parseSplit(before, 3, 1, cache); list != nil {
			validAll(list)
		}
		cache.drop()
		checkSplit(t, data, 3, 1, cache)
		// A Loader that read before gives for data what Parse gives.
		var l Loader
		l.Parse(before)
		got, gotErr := l.Parse(data)
		want, wantErr := Parse(data)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("after\n%s\na Loader gave %v (%v), Parse %v (%v)", before, got, gotErr, want, wantErr)
		}
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

// TestFingerprints: a service's fingerprint stays while its text and the
// rest of the file do, wherever it moves, and changes with either.
func TestFingerprints(t *testing.T) {
	base := bigConfig(100, 2)
	fps := func(data string) map[string]string {
		t.Helper()
		c, err := Parse([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, s := range c.Engine().Services {
			if s.Fingerprint == "" {
				t.Fatalf("%s: no fingerprint", s.Name)
			}
			out[s.Name] = s.Fingerprint
		}
		return out
	}
	before := fps(base)
	for name, e := range map[string]struct {
		data    string
		changed []string // the services whose fingerprint changes
	}{
		"one weight":   {strings.Replace(base, "port: 10050, weight: 2", "port: 10050, weight: 9", 1), []string{"s50"}},
		"moved down":   {strings.Replace(base, "port: 10010, weight: 2 }\n", "port: 10010, weight: 2 }\n      - { address: 10.1.0.9, port: 10010 }\n", 1), []string{"s10"}},
		"rest changed": {strings.Replace(base, "resync_interval: 30s", "resync_interval: 20s", 1), []string{"*"}},
		"reordered": {regexp.MustCompile(`(?s)(  - name: s3\n.*?)(  - name: s4\n.*?)(  - name: s5\n)`).
			ReplaceAllString(base, "$2$1$3"), nil},
	} {
		after := fps(e.data)
		for n, fp := range after {
			want := slices.Contains(e.changed, n) || slices.Contains(e.changed, "*")
			if got := fp != before[n]; got != want {
				t.Errorf("%s: %s's fingerprint changed: %v, want %v", name, n, got, want)
			}
		}
	}
}
