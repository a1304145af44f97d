package kaimport

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecomment(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		cont     bool
	}{
		{"  weight 1   # the usual", "weight 1", false},
		{"weight 1 ! the old way", "weight 1", false},
		{"! a whole comment", "", false},
		{`misc_path "/bin/check #1 !x"  # real comment`, `misc_path "/bin/check #1 !x"`, false},
		{`script /bin/echo \#not\!comment`, "script /bin/echo #not!comment", false},
		{`$RS= \`, "$RS=", true},
		{`"unterminated # still quoted`, `"unterminated # still quoted`, false},
		{`'single quotes # do not protect'`, `'single quotes`, false},
	} {
		got, cont := decomment(tc.in)
		if got != tc.want || cont != tc.cont {
			t.Errorf("decomment(%q) = %q, %v; want %q, %v", tc.in, got, cont, tc.want, tc.cont)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  error
	}{
		{"real_server 10.0.0.1 80", []string{"real_server", "10.0.0.1", "80"}, nil},
		{`notify "/bin/a b"  x`, []string{"notify", "/bin/a b", "x"}, nil},
		// keepalived.conf(5): abcd" efg h jkl "mnop is one string.
		{`abcd" efg h jkl "mnop`, []string{"abcd efg h jkl mnop"}, nil},
		{`abcd "efg h jkl" mnop`, []string{"abcd", "efg h jkl", "mnop"}, nil},
		{`'it''s' "a\"b" c\ d`, []string{"its", `a"b`, "c d"}, nil},
		{`x\n\t\x41\101\cA\q`, []string{"x\n\tAA\x01q"}, nil},
		{`""`, []string{""}, nil},
		{`"open`, nil, errUnterminatedQuote},
		{`end\`, nil, errTrailingBackslash},
	} {
		got, err := splitWords(tc.in)
		if !errors.Is(err, tc.err) {
			t.Errorf("splitWords(%q) error %v, want %v", tc.in, err, tc.err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("splitWords(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestSplitBraces(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"url { path / }", []string{"url", "{", "path /", "}"}},
		{"virtual_server 10.0.0.1 80 {", []string{"virtual_server 10.0.0.1 80", "{"}},
		{"}", []string{"}"}},
		{"} }", []string{"}", "}"}},
		{`regex "a{2}" }`, []string{`regex "a{2}"`, "}"}},
		{"group { VI_1 VI_2 }", []string{"group", "{", "VI_1 VI_2", "}"}},
	} {
		if diff := cmp.Diff(tc.want, splitBraces(tc.in)); diff != "" {
			t.Errorf("splitBraces(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestIncludeOf(t *testing.T) {
	for _, tc := range []struct {
		in, pattern string
		ok          bool
	}{
		{"include /etc/keepalived/*.conf", "/etc/keepalived/*.conf", true},
		{"includer conf.d/x", "conf.d/x", true},
		{"includea\tx", "x", true},
		{"include_check readable", "", false},
		{"includex foo", "", false},
		{"include", "", false},
	} {
		p, ok := includeOf(tc.in)
		if p != tc.pattern || ok != tc.ok {
			t.Errorf("includeOf(%q) = %q, %v; want %q, %v", tc.in, p, ok, tc.pattern, tc.ok)
		}
	}
}

func TestExpandAlternatives(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a.conf", []string{"a.conf"}},
		{"{a,b}.conf", []string{"a.conf", "b.conf"}},
		{"x/{a,{b,c}d}/y", []string{"x/a/y", "x/bd/y", "x/cd/y"}},
		{"{lone}", []string{"{lone}"}},
		{"{a,b", []string{"{a,b"}},
	} {
		if diff := cmp.Diff(tc.want, expandAlternatives(tc.in, 100)); diff != "" {
			t.Errorf("expandAlternatives(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	if n := len(expandAlternatives("{a,b}{c,d}{e,f}{g,h}", 5)); n != 5 {
		t.Errorf("expansion limited to 5 gave %d", n)
	}
}
