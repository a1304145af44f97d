package kaimport

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seesawd/seesawd/pkg/config"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

// goldenCase is one keepalived configuration under testdata and what to
// call its golden files.
type goldenCase struct {
	file     string // under testdata
	configID string
	golden   string // under testdata/golden, without extension
}

func goldenCases(t *testing.T) []goldenCase {
	t.Helper()
	samples, err := filepath.Glob("testdata/debian/keepalived.conf.*")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no Debian samples under testdata/debian: %v", err)
	}
	var cases []goldenCase
	for _, s := range samples {
		f := strings.TrimPrefix(filepath.ToSlash(s), "testdata/")
		cases = append(cases, goldenCase{file: f, golden: f})
	}
	return append(cases,
		goldenCase{file: "realworld/lvs-nat-pair.conf", golden: "realworld/lvs-nat-pair"},
		goldenCase{file: "realworld/dr-fwmark.conf", golden: "realworld/dr-fwmark"},
		goldenCase{file: "realworld/ipv6.conf", golden: "realworld/ipv6"},
		goldenCase{file: "realworld/quirks.conf", golden: "realworld/quirks"},
		goldenCase{file: "realworld/includes/keepalived.conf", golden: "realworld/includes"},
		goldenCase{file: "realworld/includes/keepalived.conf", configID: "lb-a", golden: "realworld/includes-lb-a"},
		goldenCase{file: "realworld/includes/keepalived.conf", configID: "lb-b", golden: "realworld/includes-lb-b"},
	)
}

// TestGolden translates every Debian sample and the hand-written
// configurations: the YAML and the notes must match their golden files
// (go test -update rewrites them), seesawd must accept the YAML, and every
// statement must have been translated or noted on purpose.
func TestGolden(t *testing.T) {
	fsys := os.DirFS("testdata")
	var summary []string
	for _, c := range goldenCases(t) {
		t.Run(c.golden, func(t *testing.T) {
			res, err := Import(fsys, c.file, &Options{ConfigID: c.configID})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range res.unhandled {
				t.Errorf("%s:%d: %q was not looked at by any translation step", n.File, n.Line, n.String())
			}
			var notes bytes.Buffer
			for _, n := range res.Notes {
				fmt.Fprintln(&notes, n)
			}
			compareGolden(t, "testdata/golden/"+c.golden+".yaml", res.YAML)
			compareGolden(t, "testdata/golden/"+c.golden+".notes", notes.Bytes())
			cfg, err := config.Parse(res.YAML)
			if err != nil {
				t.Fatalf("seesawd refuses the translation:\n%v\n%s", err, res.YAML)
			}
			summary = append(summary, fmt.Sprintf("%-45s %2d VRRP, %2d services, %2d notes",
				c.golden, len(cfg.VRRP), len(cfg.Services), len(res.Notes)))
		})
	}
	t.Logf("translated:\n%s", strings.Join(summary, "\n"))
}

func compareGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", file, diff)
	}
}

// untranslatable are keywords seesawd has no equivalent for: each such
// statement of a test input must have a note at its line, at the line of a
// block around it (noted as a whole), or at a line inside its block (whose
// statements were noted one by one).
var untranslatable = regexp.MustCompile(`^(digest|notify\w*|smtp_\w+|notification_email\w*|MISC_CHECK|authentication|` +
	`track_script|lvs_sync_daemon\w*|virtual_routes|virtual_rules|static_\w+|quorum_up|quorum_down|omega|ha_suspend|` +
	`vrrp_script|unicast_src_ip|mcast_src_ip|garp_master_delay|use_vmac|enable_script_security|SMTP_CHECK|UDP_CHECK|SSL_GET)$`)

func TestNotesCoverUntranslatable(t *testing.T) {
	fsys := os.DirFS("testdata")
	for _, c := range goldenCases(t) {
		res, err := Import(fsys, c.file, &Options{ConfigID: c.configID})
		if err != nil {
			t.Fatal(err)
		}
		noted := map[string]bool{}
		for _, n := range res.Notes {
			noted[fmt.Sprintf("%s:%d", n.File, n.Line)] = true
		}
		nodes, _, err := Parse(fsys, c.file, &Options{ConfigID: c.configID})
		if err != nil {
			t.Fatal(err)
		}
		at := func(n *Node) bool { return noted[fmt.Sprintf("%s:%d", n.File, n.Line)] }
		var inside func(n *Node) bool
		inside = func(n *Node) bool {
			for _, ch := range n.Children {
				if at(ch) || inside(ch) {
					return true
				}
			}
			return false
		}
		var walk func(ns []*Node, around bool)
		walk = func(ns []*Node, around bool) {
			for _, n := range ns {
				if untranslatable.MatchString(n.Keyword()) && !around && !at(n) && !inside(n) {
					t.Errorf("%s:%d: %q has no note", n.File, n.Line, n.String())
				}
				walk(n.Children, around || at(n))
			}
		}
		walk(nodes, false)
	}
}

// TestGoldenNamesAreUnique guards the test table itself: two cases writing
// one golden file would hide each other's changes.
func TestGoldenNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range goldenCases(t) {
		if seen[c.golden] {
			t.Errorf("golden name %s used twice", c.golden)
		}
		seen[c.golden] = true
		if path.Clean(c.golden) != c.golden {
			t.Errorf("golden name %s is not clean", c.golden)
		}
	}
}
