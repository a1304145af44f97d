package kaimport

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Result is a translated configuration.
type Result struct {
	// YAML is the seesawd configuration.
	YAML []byte
	// Notes are what was not translated, or translated only approximately,
	// in the order of the files and lines they refer to.
	Notes []Note

	// unhandled are statements no translation step looked at (they got a
	// generic note); the tests require there are none.
	unhandled []*Node
}

// Import reads the keepalived configuration name from fsys (see Parse) and
// translates it (see Translate). The notes of both are in the Result.
func Import(fsys fs.FS, name string, opts *Options) (*Result, error) {
	nodes, notes, err := Parse(fsys, name, opts)
	if err != nil {
		return nil, err
	}
	source := opts.source()
	if source == "" {
		source = name
	}
	res, err := Translate(nodes, source)
	if err != nil {
		return nil, err
	}
	res.Notes = sortNotes(nodes, append(notes, res.Notes...))
	return res, nil
}

// Translate turns parsed keepalived statements into a seesawd
// configuration. source names the keepalived file in the YAML's header.
// Every statement is either translated or the subject of a note.
func Translate(nodes []*Node, source string) (*Result, error) {
	var clear func([]*Node)
	clear = func(ns []*Node) {
		for _, n := range ns {
			n.handled = false
			clear(n.Children)
		}
	}
	clear(nodes) // a second translation of the same tree starts afresh
	t := newTranslator()
	out := t.translate(nodes)
	t.leftovers(nodes)
	notes := sortNotes(nodes, t.notes)
	header := fmt.Sprintf("seesawd configuration translated by seesawctl import-keepalived from\n"+
		"the keepalived configuration %s.\n%s\n"+
		"Check it with: seesawd --check-config FILE", source, noteSummary(notes))
	y, err := render(header, out)
	if err != nil {
		return nil, err
	}
	return &Result{YAML: y, Notes: notes, unhandled: t.unhandled}, nil
}

func noteSummary(notes []Note) string {
	switch len(notes) {
	case 0:
		return "Everything was translated."
	case 1:
		return "Read the note seesawctl printed: it says what was not translated,\nor only approximately."
	}
	return fmt.Sprintf("Read the %d notes seesawctl printed: they say what was not translated,\nor only approximately.", len(notes))
}

// sortNotes orders notes by file (in the order files were read) and line,
// keeping the order of notes on one line, and drops exact duplicates.
func sortNotes(nodes []*Node, notes []Note) []Note {
	order := map[string]int{}
	var walk func([]*Node)
	walk = func(ns []*Node) {
		for _, n := range ns {
			if _, ok := order[n.File]; !ok {
				order[n.File] = len(order)
			}
			walk(n.Children)
		}
	}
	walk(nodes)
	rank := func(f string) int {
		if r, ok := order[f]; ok {
			return r
		}
		return len(order)
	}
	out := slices.Clone(notes)
	slices.SortStableFunc(out, func(a, b Note) int {
		if ra, rb := rank(a.File), rank(b.File); ra != rb {
			return ra - rb
		}
		if a.File != b.File {
			return strings.Compare(a.File, b.File)
		}
		return a.Line - b.Line
	})
	return slices.Compact(out)
}

// translator holds what one translation has learnt and produced.
type translator struct {
	notes []Note
	g     globals
	ssl   sslContext
	// vsgs are the virtual_server_group blocks by name, and which a
	// virtual_server used.
	vsgs    map[string]*Node
	usedVSG map[string]bool
	// scripts are the vrrp_script blocks by name.
	scripts map[string]*Node
	// syncOf is the sync group (its node) of each instance name, read
	// before the instances because membership changes their tracking.
	syncOf map[string]*Node

	vrrp       []*vrrpOut
	vrrpByName map[string]*vrrpOut
	syncGroups []*ymap
	services   []*serviceOut
	svcNames   map[string]bool
	svcKeys    map[string]*Node
	vrrpNames  map[string]bool
	// vrids are the instances by "interface vrid ipv6?".
	vrids       map[string]string
	unhandled   []*Node
	firstNote   map[string]*Node
	nodeName    string
	ipvsSection *ymap
}

func newTranslator() *translator {
	return &translator{
		g:          defaultGlobals(),
		vsgs:       map[string]*Node{},
		usedVSG:    map[string]bool{},
		scripts:    map[string]*Node{},
		syncOf:     map[string]*Node{},
		vrrpByName: map[string]*vrrpOut{},
		svcNames:   map[string]bool{},
		svcKeys:    map[string]*Node{},
		vrrpNames:  map[string]bool{},
		vrids:      map[string]string{},
		firstNote:  map[string]*Node{},
	}
}

// use marks n translated.
func (t *translator) use(n *Node) { n.handled = true }

// note records a note about n and marks it handled (its block too: a note
// on a block covers what is in it unless the block's statements are
// looked at one by one).
func (t *translator) note(n *Node, format string, args ...any) {
	t.notes = append(t.notes, Note{File: n.File, Line: n.Line, Text: fmt.Sprintf(format, args...)})
	markAll(n)
}

// noteRepeat records a note that may recur for many statements (every
// instance, say): the first time in full, then shortly, pointing back.
func (t *translator) noteRepeat(n *Node, key, full, short string) {
	if first, ok := t.firstNote[key]; ok {
		t.noteOnly(n, "%s: see the note at %s", short, noteRef(first.File, first.Line, n.File))
		return
	}
	t.firstNote[key] = n
	t.noteOnly(n, "%s", full)
}

// noteRef names the place of a note for another note in file from.
func noteRef(file string, line int, from string) string {
	if file == from {
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("%s:%d", path.Base(file), line)
}

// noteOnly records a note about n without marking what its block holds.
func (t *translator) noteOnly(n *Node, format string, args ...any) {
	t.notes = append(t.notes, Note{File: n.File, Line: n.Line, Text: fmt.Sprintf(format, args...)})
	n.handled = true
}

// uintArg reads the argument of n as an integer from lo to hi and marks n
// translated, or notes that it is not one.
func (t *translator) uintArg(n *Node, lo, hi uint64) (int, bool) {
	v, ok := parseUint(n.Arg(1), lo, hi)
	if !ok {
		t.note(n, "%s %q is not a number from %d to %d: ignored, as keepalived does", n.Keyword(), n.Arg(1), lo, hi)
		return 0, false
	}
	t.use(n)
	return int(v), true
}

func markAll(n *Node) {
	n.handled = true
	for _, c := range n.Children {
		markAll(c)
	}
}

// leftovers notes every statement no translation step looked at. None
// should be left: the tests hold the translator to that; this keeps a
// statement missed by a future keepalived keyword from vanishing silently.
func (t *translator) leftovers(nodes []*Node) {
	for _, n := range nodes {
		if !n.handled {
			t.unhandled = append(t.unhandled, n)
			t.note(n, "%s: not translated", n.Keyword())
			continue
		}
		t.leftovers(n.Children)
	}
}

// translate runs the steps in the order their results depend on each other.
func (t *translator) translate(nodes []*Node) *ymap {
	var instances, servers []*Node
	for _, n := range nodes {
		switch n.Keyword() {
		case "global_defs":
			t.globalDefs(n)
		case "SSL":
			t.sslBlock(n)
		case "virtual_server_group":
			t.defineVSG(n)
		case "vrrp_script":
			t.vrrpScript(n)
		case "vrrp_sync_group":
			t.readSyncGroup(n)
		case "vrrp_instance":
			instances = append(instances, n)
		case "virtual_server":
			servers = append(servers, n)
		default:
			t.topLevel(n)
		}
	}
	for _, n := range instances {
		t.vrrpInstance(n)
	}
	for _, n := range nodes {
		if n.Keyword() == "vrrp_sync_group" {
			t.syncGroup(n)
		}
	}
	for _, n := range servers {
		t.virtualServer(n)
	}
	if t.ssl.node != nil && !t.ssl.used {
		t.noteOnly(t.ssl.node, "SSL: no SSL_GET was translated, so its files are not used")
	}
	for _, name := range sortedKeys(t.vsgs) {
		if n := t.vsgs[name]; !t.usedVSG[name] {
			t.note(n, "virtual_server_group %s: no virtual_server uses it, so it configures nothing (in keepalived either)", name)
		}
	}
	return t.output()
}

// output assembles the YAML document.
func (t *translator) output() *ymap {
	root := &ymap{}
	if t.nodeName != "" {
		root.setc("node", &ymap{items: []yitem{{key: "name", value: t.nodeName}}}, "from global_defs router_id")
	}
	if t.ipvsSection != nil {
		root.set("ipvs", t.ipvsSection)
	}
	if len(t.vrrp) > 0 {
		seq := &yseq{}
		for _, v := range t.vrrp {
			seq.add(v.yaml(), v.comment)
		}
		root.set("vrrp", seq)
	}
	if len(t.syncGroups) > 0 {
		seq := &yseq{}
		for _, g := range t.syncGroups {
			seq.add(g, "")
		}
		root.set("sync_groups", seq)
	}
	if len(t.services) > 0 {
		seq := &yseq{}
		for _, s := range t.services {
			seq.add(s.yaml(), s.comment)
		}
		root.set("services", seq)
	}
	return root
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
