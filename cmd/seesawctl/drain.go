package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, drainCmd, undrainCmd) }

func drainCmd() *cobra.Command {
	var f ctlFlags
	cmd := &cobra.Command{
		Use:   "drain SERVICE BACKEND",
		Short: "Drain a backend: weight 0, its established connections finish",
		Long: `drain sets BACKEND of SERVICE to weight 0 in the kernel: it takes no new
connections and its established ones finish. BACKEND is ADDRESS:PORT, or
ADDRESS when the service has one backend at that address.

The drain is kept by seesawd across reloads and restarts, and shown as
"runtime" by seesawctl backends, until seesawctl undrain.`,
		Example: `  seesawctl drain web 10.0.1.11:8080
  seesawctl drain web 10.0.1.11`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := f.client().Drain(cmd.Context(), args[0], args[1], true)
			if err != nil {
				return f.explain(err)
			}
			out := cmd.OutOrStdout()
			switch {
			case res.Drained == "config":
				fmt.Fprintf(out, "%s %s is drained by the configuration already; now also at run time\n", res.Service, res.Backend)
			case !res.Changed:
				fmt.Fprintf(out, "%s %s was drained already\n", res.Service, res.Backend)
			default:
				fmt.Fprintf(out, "drained %s %s: weight 0, its established connections finish (undo: seesawctl undrain %s %s)\n",
					res.Service, res.Backend, res.Service, res.Backend)
			}
			return nil
		},
	}
	f.add(cmd, false)
	return cmd
}

func undrainCmd() *cobra.Command {
	var f ctlFlags
	cmd := &cobra.Command{
		Use:   "undrain SERVICE BACKEND",
		Short: "Undo seesawctl drain: the backend takes new connections again when healthy",
		Long: `undrain clears the run-time drain of BACKEND of SERVICE: it gets its
configured weight back as soon as it is healthy. A backend drained by the
configuration (drain: true) stays drained until the file says otherwise;
undrain then fails and says so.`,
		Example: `  seesawctl undrain web 10.0.1.11:8080`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := f.client().Drain(cmd.Context(), args[0], args[1], false)
			if err != nil {
				return f.explain(err)
			}
			if !res.Changed {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s was not drained\n", res.Service, res.Backend)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "undrained %s %s: it takes new connections when healthy\n", res.Service, res.Backend)
			return nil
		},
	}
	f.add(cmd, false)
	return cmd
}
