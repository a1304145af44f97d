package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/seesawd/seesawd/pkg/control"
)

func init() { commands = append(commands, reloadCmd) }

func reloadCmd() *cobra.Command {
	var f ctlFlags
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Reload seesawd's configuration file, as SIGHUP does, and report the outcome",
		Long: `reload makes seesawd read its configuration file again, validate it and
apply only the difference, exactly as SIGHUP does, and prints the outcome
with every problem and warning (FILE:LINE: PATH: MESSAGE). A refused file
changes nothing: the running configuration stays.

Exit status: 0 when applied or unchanged, 2 when refused or partly applied
(VRRP changes applied, services refused), 1 when seesawd could not be asked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := f.client().Reload(cmd.Context())
			if err != nil {
				return f.explain(err)
			}
			out := cmd.OutOrStdout()
			if f.json {
				if err := printJSON(out, res); err != nil {
					return err
				}
			} else {
				writeReload(out, res)
			}
			if res.Failed() {
				return &exitError{code: ctlReload}
			}
			return nil
		},
	}
	f.add(cmd, true)
	return cmd
}

func writeReload(w io.Writer, r *control.ReloadResult) {
	took := human(time.Duration(r.Took))
	switch r.Outcome {
	case control.ReloadApplied:
		hash := r.Hash
		if len(hash) > 12 {
			hash = hash[:12]
		}
		fmt.Fprintf(w, "reload applied in %s (config %s)\n", took, hash)
	case control.ReloadUnchanged:
		fmt.Fprintf(w, "reload: the configuration is unchanged (took %s)\n", took)
	case control.ReloadPartial:
		fmt.Fprintf(w, "reload partly applied in %s: the VRRP changes are applied, the services were refused and the running ones stay:\n", took)
	case control.ReloadRefused:
		fmt.Fprintf(w, "reload refused: the running configuration stays (took %s):\n", took)
	default:
		fmt.Fprintf(w, "reload %s (took %s)\n", r.Outcome, took)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  "+p)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintln(w, "warning: "+warn)
	}
}
