package kaimport

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// dump writes the tree one statement a line: "file:line words", indented
// by depth, "{" marking a block.
func dump(nodes []*Node) string {
	var b strings.Builder
	var walk func([]*Node, int)
	walk = func(ns []*Node, depth int) {
		for _, n := range ns {
			fmt.Fprintf(&b, "%s%s:%d %s", strings.Repeat("  ", depth), n.File, n.Line, strings.Join(n.Words, "|"))
			if n.Block {
				b.WriteString(" {")
			}
			b.WriteString("\n")
			walk(n.Children, depth+1)
		}
	}
	walk(nodes, 0)
	return b.String()
}

func notesText(notes []Note) []string {
	var out []string
	for _, n := range notes {
		out = append(out, n.String())
	}
	return out
}

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		configID string
		want     string
		notes    []string
	}{{
		name: "blocks and braces anywhere",
		files: map[string]string{"k.conf": `virtual_server 10.0.0.1 80
{
    real_server 10.0.0.2 80 { weight 2
        TCP_CHECK { connect_timeout 3 } }
}
vrrp_sync_group G { group { A B } }
`},
		want: `k.conf:1 virtual_server|10.0.0.1|80 {
  k.conf:3 real_server|10.0.0.2|80 {
    k.conf:3 weight|2
    k.conf:4 TCP_CHECK {
      k.conf:4 connect_timeout|3
k.conf:6 vrrp_sync_group|G {
  k.conf:6 group {
    k.conf:6 A|B
`,
	}, {
		name: "includes: relative to the including file, absolute, globs, alternatives, inside a block",
		files: map[string]string{
			"etc/k/keepalived.conf": "global_defs {\n  router_id a\n}\ninclude conf.d/*.conf\ninclude /etc/common/{x,y}.conf\ninclude missing.conf\n",
			"etc/k/conf.d/1.conf":   "virtual_server 10.0.0.1 80 {\n  include ../rs/*.conf\n}\n",
			"etc/k/conf.d/2.conf":   "! nothing but a comment\n",
			"etc/k/rs/a.conf":       "real_server 10.0.0.2 80 {\n}\n",
			"etc/common/y.conf":     "vrrp_script s {\n}\n",
		},
		want: `etc/k/keepalived.conf:1 global_defs {
  etc/k/keepalived.conf:2 router_id|a
etc/k/conf.d/1.conf:1 virtual_server|10.0.0.1|80 {
  etc/k/rs/a.conf:1 real_server|10.0.0.2|80 {
etc/common/y.conf:1 vrrp_script|s {
`,
		notes: []string{"etc/k/keepalived.conf:6: include missing.conf: matches no file (keepalived skips it too)"},
	}, {
		name:  "conditional lines without a config id are left out and noted",
		files: map[string]string{"k.conf": "@lb1 priority 150\n@^lb1 priority 100\n@lb1\nweight 1\n"},
		want:  "k.conf:4 weight|1\n",
		notes: []string{
			"k.conf:1: conditional line @lb1 left out: keepalived reads it only with -i lb1 (give the config id to read it: seesawctl import-keepalived --config-id)",
			"k.conf:2: conditional line @^lb1 left out: keepalived reads it only when -i is not lb1 (give the config id to read it: seesawctl import-keepalived --config-id)",
		},
	}, {
		name:     "conditional lines with a config id",
		files:    map[string]string{"k.conf": "@lb1 priority 150\n@^lb1 priority 100\n@lb2 priority 50\n@^lb2 weight 7\n"},
		configID: "lb1",
		want:     "k.conf:1 priority|150\nk.conf:4 weight|7\n",
	}, {
		name: "parameters, predefined ones and multi-line ones",
		files: map[string]string{"k.conf": `$IP=10.0.0.1
$PORT=80
$NOTADEF = 1
$RS= \
   real_server ${IP} $PORT { \
       weight 3 \
   }

virtual_server $IP $PORT {
    $RS
    script "a${_HASH}b"
    $UNDEFINED x
}
`},
		want: `k.conf:3 $NOTADEF|=|1
k.conf:9 virtual_server|10.0.0.1|80 {
  k.conf:10 real_server|10.0.0.1|80 {
    k.conf:10 weight|3
  k.conf:11 script|a#b
  k.conf:12 $UNDEFINED|x
`,
		notes: []string{
			"k.conf:3: $NOTADEF is not defined here (keepalived leaves it as it is too)",
			"k.conf:12: $UNDEFINED is not defined here (keepalived leaves it as it is too)",
		},
	}, {
		name:  "a parameter defined by itself is expanded a bounded number of times",
		files: map[string]string{"k.conf": "$A=x$A\nkw $A\n"},
		want:  "k.conf:2 kw|xxxxxxxx$A\n",
		notes: []string{
			"k.conf:2: parameters still unexpanded after 8 rounds (a definition refers to itself?)",
		},
	}, {
		name:  "~SEQ and a trailing backslash",
		files: map[string]string{"k.conf": "~SEQ(I, 1, 3) ip 10.0.0.${I}\nkw a\\\nkw b\n"},
		want:  "k.conf:3 kw|b\n",
		notes: []string{
			"k.conf:1: ~SEQ: keepalived's ~SEQ/~LST generated lines are not expanded: write them out",
			"k.conf:2: line ends in a backslash: keepalived ignores it, so does the translation",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := mapFS(tc.files)
			main := "k.conf"
			if _, ok := tc.files[main]; !ok {
				main = "etc/k/keepalived.conf"
			}
			nodes, notes, err := Parse(fsys, main, &Options{ConfigID: tc.configID})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, dump(nodes)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.notes, notesText(notes)); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("a {\n", maxDepth+1) + strings.Repeat("}\n", maxDepth+1)
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  ParseError
	}{
		{"unclosed block", map[string]string{"k.conf": "a {\n b {\n }\n"}, ParseError{"k.conf", 1, `block of "a" is never closed`}},
		{"extra brace", map[string]string{"k.conf": "a {\n}\n}\n"}, ParseError{"k.conf", 3, "'}' closes no block"}},
		{"brace with no keyword", map[string]string{"k.conf": "{\n}\n"}, ParseError{"k.conf", 1, "'{' with no keyword before it"}},
		{"two braces", map[string]string{"k.conf": "a {\n} {\n}\n"}, ParseError{"k.conf", 2, "'{' with no keyword before it"}},
		{"unterminated quote", map[string]string{"k.conf": "a {\n notify \"/bin/x\n}\n"}, ParseError{"k.conf", 2, "missing closing quote"}},
		{"too deep", map[string]string{"k.conf": deep}, ParseError{"k.conf", maxDepth + 1, fmt.Sprintf("blocks nested deeper than %d", maxDepth)}},
		{"include cycle", map[string]string{"k.conf": "include a.conf\n", "a.conf": "x 1\ninclude b.conf\n", "b.conf": "include a.conf\n"},
			ParseError{"b.conf", 1, "include cycle: a.conf -> b.conf -> a.conf"}},
		{"self include", map[string]string{"k.conf": "include k.conf\n"}, ParseError{"k.conf", 1, "include cycle: k.conf -> k.conf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(mapFS(tc.files), "k.conf", nil)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *ParseError", err)
			}
			if *pe != tc.want {
				t.Errorf("error %+v, want %+v", *pe, tc.want)
			}
		})
	}
	if _, _, err := Parse(mapFS(nil), "k.conf", nil); err == nil || errors.As(err, new(*ParseError)) {
		t.Errorf("a missing main file gave %v, want an I/O error", err)
	}
}

// TestIncludeDepth: a chain of includes deeper than the limit is refused,
// not followed until the stack or the file descriptors run out.
func TestIncludeDepth(t *testing.T) {
	files := map[string]string{}
	for i := 0; i <= maxIncludeDepth; i++ {
		files[fmt.Sprintf("f%d.conf", i)] = fmt.Sprintf("include f%d.conf\n", i+1)
	}
	files[fmt.Sprintf("f%d.conf", maxIncludeDepth+1)] = "x 1\n"
	_, _, err := Parse(mapFS(files), "f0.conf", nil)
	var pe *ParseError
	if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "nested deeper") {
		t.Fatalf("got %v, want includes nested too deep", err)
	}
}

// TestParameterExpansionIsBounded: definitions that use themselves would
// make keepalived loop or grow without end; the reader stops with a note
// (one line) or a ParseError (a whole configuration's worth of work).
func TestParameterExpansionIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		err        bool
	}{
		{"a line that keeps growing", "$A=x $A\nkw $A\n", false},
		{"every line growing", "$A=$A$A$A$A\n" + strings.Repeat("$A\n", 20000), false},
		{"a multi-line definition using itself twice", "$M= \\\n $M \\\n $M\n$M\n", true},
		{"a definition quadrupling itself", "$A=$A $A $A $A\nkw $A\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, notes, err := Parse(mapFS(map[string]string{"k.conf": tc.conf}), "k.conf", nil)
			var pe *ParseError
			if tc.err != errors.As(err, &pe) {
				t.Fatalf("error %v, want a ParseError: %v", err, tc.err)
			}
			if !tc.err && len(notes) == 0 {
				t.Errorf("no note about the unexpanded parameter")
			}
		})
	}
}
