// Package config loads and validates the seesawd YAML configuration.
//
// Loading is parse, validate, return: Load returns a complete Config or one
// *Error naming every problem by its field path and line
// (seesawd.yaml:12: services[0].port: ...), never a half-valid value. The
// checks are the ones the daemon's packages apply when they start, run here
// too, so `seesawd --check-config` accepts exactly the files `seesawd
// --config` runs. configs/seesawd.yaml documents every key and its default.
//
// The YAML is read twice: first into yaml.v3 nodes, which keep line numbers
// and let duplicate keys (and keys differing only in case, which viper would
// silently merge) be refused; then by viper, which decodes it into Config.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// Config is the whole daemon configuration.
type Config struct {
	Node       Node           `mapstructure:"node"`
	Log        Log            `mapstructure:"log"`
	IPVS       IPVS           `mapstructure:"ipvs"`
	VRRP       []VRRPInstance `mapstructure:"vrrp"`
	SyncGroups []SyncGroup    `mapstructure:"sync_groups"`
	Services   []Service      `mapstructure:"services"`
	Metrics    Metrics        `mapstructure:"metrics"`
	Control    Control        `mapstructure:"control"`
	BGP        *BGP           `mapstructure:"bgp"`

	// Warnings are findings that do not stop the configuration from
	// running (a service VIP that no VRRP instance holds, say).
	Warnings []Problem `mapstructure:"-"`
	// Hash is the SHA-256 of the file's bytes, hex, to tell configurations apart.
	Hash string `mapstructure:"-"`
}

// Node identifies this load balancer.
type Node struct {
	// Name defaults to the hostname.
	Name string `mapstructure:"name"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error (default info).
	Level string `mapstructure:"level"`
	// Format is auto (console on a terminal, json otherwise), console or json.
	Format string `mapstructure:"format"`
}

// Problem is one configuration error (or warning) at a field path.
type Problem struct {
	Path string
	// Line is the line of the YAML the path comes from, 0 when unknown.
	Line int
	Msg  string
}

// String returns "path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Located returns the problem as a compiler would print it: "file:line: path: message".
func (p Problem) Located(file string) string {
	var b strings.Builder
	if file != "" {
		b.WriteString(file + ":")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:", p.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(p.String())
	return b.String()
}

// Error lists every problem found in a configuration.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	fmt.Fprintf(&b, "%d problem(s)", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.Located(e.File))
	}
	return b.String()
}

// Strings returns every problem located in the file, for structured logs.
func (e *Error) Strings() []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.Located(e.File)
	}
	return out
}

// Load reads, parses and validates the YAML file at path.
func Load(path string) (*Config, error) { return new(Loader).Load(path) }

// Parse parses and validates a YAML document.
func Parse(data []byte) (*Config, error) { return new(Loader).Parse(data) }

// A Loader loads a configuration again and again, as a daemon does at
// each reload. Each load gives the result Parse gives, but a Loader keeps
// the services of the last file it read, each with its text: a service
// whose text and the rest of the file are unchanged is taken as validated
// before, and only the others are parsed, decoded and validated (a reload
// that edits one service of a thousand reads that one). Each service gets
// the fingerprint of its text and the rest of the file
// (engine.Service.Fingerprint). What it keeps is shared with the
// configurations it returns (about 3 MB more for 1,000 services of 10
// backends): they are read-only. Its methods may be called from several
// goroutines; loads run one at a time.
type Loader struct {
	mu    sync.Mutex
	cache itemCache
}

// Load reads, parses and validates the YAML file at path.
func (l *Loader) Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := l.Parse(data)
	var ce *Error
	if errors.As(err, &ce) {
		ce.File = path
	}
	return c, err
}

// Parse parses and validates a YAML document.
func (l *Loader) Parse(data []byte) (*Config, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	settings, doc, list, probs := checkYAML(data, &l.cache)
	defer l.cache.drop()
	// lineOf reads the nodes of the services a problem is in.
	place := func(p *Problem) {
		if list != nil {
			p.Line = list.lineOf(doc, p.Path)
		} else {
			p.Line = lineOf(doc, p.Path)
		}
	}
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, &Error{Problems: probs}
	}
	// The services are most of a large file: they are decoded by hand, in
	// parallel (decodeServices), and viper decodes the rest.
	var services []any
	for k, val := range settings {
		if list, ok := val.([]any); ok && strings.EqualFold(k, "services") {
			services = list
			delete(settings, k)
		}
	}
	v := viper.New()
	if err := v.MergeConfigMap(settings); err != nil {
		return nil, &Error{Problems: []Problem{{Msg: "config: " + err.Error()}}}
	}
	var c Config
	err := v.UnmarshalExact(&c, decoderConfig)
	if err != nil {
		probs = append(probs, decodeProblems(err)...)
	}
	// The services the cache holds as validated from the same text and
	// rest of the file are taken as they were.
	var reuse []*validated
	if list != nil && len(list.items) == len(services) {
		reuse = make([]*validated, len(services))
		for i, r := range list.reused {
			if r {
				reuse[i] = list.items[i].valid
			}
		}
	}
	if services != nil {
		c.Services = decodeServices(services, reuse)
	}
	v2 := &validator{c: &c, reused: reuse}
	c.defaultsAndValidate(v2)
	probs = append(probs, v2.probs...)
	for i := range probs {
		place(&probs[i])
	}
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, &Error{Problems: probs}
	}
	for _, w := range v2.warns {
		place(&w)
		c.Warnings = append(c.Warnings, w)
	}
	// A service is validated from its text and the rest of the file alone:
	// the same two give the same service, which the next load takes as it is.
	if reuse != nil {
		for i := range c.Services {
			c.Services[i].engine.Fingerprint = list.fingerprints[i]
			if reuse[i] == nil {
				list.items[i].valid = &validated{fingerprint: list.fingerprints[i], svc: c.Services[i]}
			}
		}
	}
	sortProblems(c.Warnings)
	sum := sha256.Sum256(data)
	c.Hash = hex.EncodeToString(sum[:])
	return &c, nil
}

func sortProblems(p []Problem) {
	sort.SliceStable(p, func(i, j int) bool { return p[i].Path < p[j].Path })
}

// decodeProblems turns mapstructure's joined errors into problems with paths.
func decodeProblems(err error) []Problem {
	var out []Problem
	var walk func(error)
	walk = func(err error) {
		if de, ok := err.(*mapstructure.DecodeError); ok {
			msg := de.Unwrap().Error()
			if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
				for _, k := range strings.Split(keys, ", ") {
					out = append(out, Problem{Path: joinPath(de.Name(), k), Msg: "unknown key"})
				}
				return
			}
			out = append(out, Problem{Path: de.Name(), Msg: msg})
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if u := errors.Unwrap(err); u != nil {
			walk(u)
			return
		}
		out = append(out, Problem{Msg: err.Error()})
	}
	walk(err)
	return out
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// validator collects problems and warnings while defaults are filled in.
type validator struct {
	c     *Config
	probs []Problem
	warns []Problem
	// reused are, by index, the services taken as validated before.
	reused []*validated
}

func (v *validator) bad(path, format string, args ...any) {
	p := Problem{Path: path, Msg: fmt.Sprintf(format, args...)}
	// A service's health check is validated once per backend: say it once.
	if !slices.Contains(v.probs, p) {
		v.probs = append(v.probs, p)
	}
}

func (v *validator) warn(path, format string, args ...any) {
	v.warns = append(v.warns, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// defaultsAndValidate fills defaults in place and records every problem.
func (c *Config) defaultsAndValidate(v *validator) {
	if c.Node.Name == "" {
		if h, err := os.Hostname(); err == nil {
			c.Node.Name = h
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
	switch c.Log.Format {
	case "auto", "console", "json":
	default:
		v.bad("log.format", "%q is not one of auto, console, json", c.Log.Format)
	}
	c.validateVRRP(v)
	c.IPVS.defaultsAndValidate(v)
	c.validateBGP(v)
	c.validateServices(v)
	c.validateSync(v)
	c.validateOps(v)
}

func ptr[T any](v T) *T { return &v }

// durationOr returns *d, or def when d is nil.
func durationOr(d *time.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return *d
}
