package vm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// RunResult runs argv in the guest as Run does, for a program that prints
// its result as one line of JSON after prefix: that line is decoded into
// out, and the guest's other output is forwarded to progress as it comes
// (cfg.Stdout is replaced). An exit status other than 0, or no such line,
// is an error.
func RunResult(ctx context.Context, cfg *Config, progress io.Writer, prefix string, out any, argv ...string) error {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	var buf bytes.Buffer
	c.Stdout = io.MultiWriter(&buf, &lineFilter{w: progress, drop: prefix})
	rc, err := Run(ctx, &c, argv...)
	if err != nil {
		return err
	}
	if rc != 0 {
		return fmt.Errorf("vm: %s failed (exit %d)", argv[0], rc)
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if js, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			if err := json.Unmarshal([]byte(js), out); err != nil {
				return fmt.Errorf("vm: %s's result: %w", argv[0], err)
			}
			return nil
		}
	}
	return fmt.Errorf("vm: %s printed no result line (%q)", argv[0], prefix)
}

// RunSelfResult runs this very program in the guest with args as a
// RunResult, shipping it and the files of cfg.Files; GuestPath names a
// shipped file in args.
func RunSelfResult(ctx context.Context, cfg *Config, progress io.Writer, prefix string, out any, args ...string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c.Files = append([]string{self}, c.Files...)
	return RunResult(ctx, &c, progress, prefix, out, append([]string{GuestPath(self)}, args...)...)
}

// GuestPath is where the guest sees a file shipped in Config.Files.
func GuestPath(host string) string { return "/run/seesaw-vm/" + filepath.Base(host) }

// lineFilter forwards whole lines to w, except those starting with drop.
type lineFilter struct {
	w       io.Writer
	drop    string
	partial []byte
}

func (f *lineFilter) Write(b []byte) (int, error) {
	f.partial = append(f.partial, b...)
	for {
		i := bytes.IndexByte(f.partial, '\n')
		if i < 0 {
			break
		}
		line := f.partial[:i+1]
		if f.w != nil && !bytes.HasPrefix(line, []byte(f.drop)) {
			_, _ = f.w.Write(line)
		}
		f.partial = f.partial[i+1:]
	}
	return len(b), nil
}
