// Package kaimport translates keepalived configurations (keepalived.conf(5),
// keepalived 2.2) into seesawd's YAML, and says by file and line what it
// could not translate or translated only approximately.
//
//	res, err := kaimport.Import(os.DirFS("/"), "etc/keepalived/keepalived.conf", nil)
//	os.Stdout.Write(res.YAML)
//	for _, n := range res.Notes {
//		fmt.Fprintln(os.Stderr, n) // etc/keepalived/keepalived.conf:42: digest: ...
//	}
//
// It is pure: files are read through an fs.FS, nothing else is touched.
//
// # Reading
//
// Parse reads a file the way keepalived's own parser (lib/parser.c) does,
// so that it means here what it means to keepalived: comments from # or !
// outside double quotes, words grouped by single or double quotes and
// backslash escapes, { and } as statements of their own wherever they are
// on a line, include directives (globs and {a,b} alternatives, a relative
// pattern resolved against the including file's directory, even inside a
// block), "@id" conditional lines (Options.ConfigID), and $NAME parameters,
// multi-line ones included. It returns a tree of Nodes with their file and
// line. Hostile input is bounded: nesting depth, include depth and cycles,
// file size, statement count and parameter expansion work all have limits,
// and a file keepalived would misread (unbalanced braces or quotes, an
// include cycle) is a *ParseError.
//
// # Translating
//
// Translate maps vrrp_instance, vrrp_sync_group, virtual_server (and
// virtual_server_group), real_server and their checkers onto
// pkg/config's schema, stating keepalived's effective values rather than
// its defaults by name: keepalived checks every 60s with a 5s timeout and
// one retry unless told otherwise, seesawd has other defaults, so every
// translated check spells out interval, timeout, rise and fall. Where
// keepalived behaves in a way seesawd cannot express, or seesawd would
// refuse the literal value (a timeout not below the interval), the output
// carries the nearest equivalent, a comment above it in the YAML, and a
// Note. Every statement is either translated or the subject of a note;
// the tests hold the translator to that. docs/migration-keepalived.md
// has the keyword table.
//
// The translation is held to keepalived itself: the package's
// integration test runs keepalived 2.2.7's checker on each test
// configuration in the VM lab and compares the IPVS table it programs and
// the checker settings it dumps with the translation.
package kaimport
