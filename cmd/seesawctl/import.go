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
seesawd would refuse the result.`,
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
	yaml := res.YAML
	if out == "" {
		if _, err := stdout.Write(yaml); err != nil {
			return &exitError{importBadInput, err}
		}
	} else if err := os.WriteFile(out, yaml, 0o644); err != nil {
		return &exitError{importBadInput, err}
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "%s:%d: %s\n", shown(n.File), n.Line, n.Text)
	}
	if !check {
		return nil
	}
	where := out
	if where == "" {
		where = "<stdout>"
	}
	c, err := config.Parse(yaml)
	var ce *config.Error
	switch {
	case errors.As(err, &ce):
		ce.File = where
		for _, p := range ce.Strings() {
			fmt.Fprintln(stderr, p)
		}
		return &exitError{importRefused, fmt.Errorf("seesawd would refuse the translation (%d problem(s))", len(ce.Problems))}
	case err != nil:
		return &exitError{importRefused, err}
	}
	for _, w := range c.Warnings {
		fmt.Fprintln(stderr, "warning:", w.Located(where))
	}
	return &exitError{importOK, nil}
}
