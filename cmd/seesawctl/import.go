package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/kaimport"
)

func init() { commands = append(commands, importKeepalivedCmd) }

// Exit codes of import-keepalived.
const (
	importOK       = 0
	importBadInput = 1 // unreadable, or a file keepalived would misread
	importRefused  = 2 // --check: seesawd would refuse the translation
)

func importKeepalivedCmd() *cobra.Command {
	var out, configID string
	var check bool
	cmd := &cobra.Command{
		Use:   "import-keepalived FILE",
		Short: "Translate a keepalived.conf into a seesawd configuration",
		Long: `import-keepalived translates a keepalived configuration (vrrp_instance,
vrrp_sync_group, virtual_server and real_server with their health checks)
into seesawd's YAML, written to stdout or to -o FILE. Includes are followed
relative to the file that names them.

Everything it could not translate, or translated only approximately, is
listed on stderr as FILE:LINE: note. Exit status: 0 when translated (notes
or not), 1 when FILE cannot be read or keepalived would misread it
(unbalanced braces or quotes, an include cycle), 2 with --check when
seesawd would refuse the result (then -o FILE is not written).`,
		Example: `  seesawctl import-keepalived /etc/keepalived/keepalived.conf -o /etc/seesawd/seesawd.yaml --check
  seesawctl import-keepalived --config-id lb1 keepalived.conf   # keep the "@lb1 ..." lines`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return importKeepalived(args[0], out, configID, check, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "write the YAML to `FILE` instead of stdout")
	f.BoolVar(&check, "check", false, "validate the result as seesawd --check-config does; exit 2 if it would be refused")
	f.StringVar(&configID, "config-id", "", "keepalived's -i `ID`: read the conditional lines \"@ID ...\" meant for that node")
	return cmd
}

func importKeepalived(file, out, configID string, check bool, stdout, stderr io.Writer) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return &exitError{importBadInput, err}
	}
	// Includes may name absolute paths: read from the root, and show
	// names the way the user wrote the main one.
	root := filepath.VolumeName(abs) + string(filepath.Separator)
	name := filepath.ToSlash(strings.TrimPrefix(abs, root))
	cwd, _ := os.Getwd()
	shown := func(n string) string {
		if n == name {
			return file
		}
		p := root + filepath.FromSlash(n)
		if rel, err := filepath.Rel(cwd, p); err == nil && cwd != "" && !strings.HasPrefix(rel, "..") {
			return rel
		}
		return p
	}
	res, err := kaimport.Import(os.DirFS(root), name, &kaimport.Options{ConfigID: configID, Source: file})
	var pe *kaimport.ParseError
	switch {
	case errors.As(err, &pe):
		return &exitError{importBadInput, fmt.Errorf("%s:%d: %s", shown(pe.File), pe.Line, pe.Msg)}
	case err != nil:
		return &exitError{importBadInput, err}
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "%s:%d: %s\n", shown(n.File), n.Line, n.Text)
	}
	where := out
	if where == "" {
		where = "<stdout>"
	}
	var refused error
	if check {
		c, err := config.Parse(res.YAML)
		var ce *config.Error
		switch {
		case errors.As(err, &ce):
			ce.File = where
			for _, p := range ce.Strings() {
				fmt.Fprintln(stderr, p)
			}
			refused = fmt.Errorf("seesawd would refuse the translation (%d problem(s))", len(ce.Problems))
		case err != nil:
			refused = err
		default:
			for _, w := range c.Warnings {
				fmt.Fprintln(stderr, "warning:", w.Located(where))
			}
		}
	}
	switch {
	case out == "":
		if _, err := stdout.Write(res.YAML); err != nil {
			return &exitError{importBadInput, err}
		}
	case refused != nil:
		// Do not put a file seesawd refuses where it may be loaded.
		refused = fmt.Errorf("%w; %s not written", refused, out)
	default:
		if err := writeFile(out, res.YAML); err != nil {
			return &exitError{importBadInput, err}
		}
	}
	if refused != nil {
		return &exitError{importRefused, refused}
	}
	return nil
}

// writeFile replaces path with data at once (write, sync, rename), so a
// daemon reloading meanwhile reads the old file or the new, never half.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, there is nothing left to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
