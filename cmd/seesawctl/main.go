// Command seesawctl is the operator's tool for seesawd.
//
//	seesawctl import-keepalived /etc/keepalived/keepalived.conf -o seesawd.yaml --check
//
// Each subcommand lives in a file of its own that appends its constructor
// to commands from an init function; rootCmd adds them all, so adding a
// subcommand never touches this file.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// commands holds the constructors of the subcommands, appended by their
// files' init functions.
var commands []func() *cobra.Command

// exitError makes a subcommand exit with code after printing err (if any).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// rootCmd returns the seesawctl command with every subcommand.
func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "seesawctl",
		Short:         "Operate seesawd",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, c := range commands {
		root.AddCommand(c())
	}
	return root
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code: a subcommand's
// own (see exitError), 1 for any other failure, usage errors included.
func run(args []string, stdout, stderr io.Writer) int {
	root := rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "seesawctl:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "seesawctl:", err)
	return 1
}
