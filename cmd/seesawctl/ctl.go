package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seesawd/seesawd/pkg/control"
)

// Exit codes of the commands that talk to seesawd.
const (
	ctlOK     = 0
	ctlFailed = 1 // seesawd unreachable, or it refused the request
	ctlReload = 2 // reload: the file was refused (or partly)
)

// socketEnv overrides the default socket path, as --socket does.
const socketEnv = "SEESAWD_SOCKET"

// ctlFlags are the flags of every command that talks to seesawd.
type ctlFlags struct {
	socket  string
	timeout time.Duration
	json    bool
}

// add registers the flags on cmd; withJSON adds --json.
func (f *ctlFlags) add(cmd *cobra.Command, withJSON bool) {
	def := os.Getenv(socketEnv)
	if def == "" {
		def = control.DefaultSocket
	}
	fl := cmd.Flags()
	fl.StringVar(&f.socket, "socket", def, "seesawd's control socket `PATH` (control.socket; $"+socketEnv+")")
	fl.DurationVar(&f.timeout, "timeout", 0, "give up after `DURATION` (default 30s, 5m for reload)")
	if withJSON {
		fl.BoolVar(&f.json, "json", false, "print JSON (fields documented in docs/seesawctl.md)")
	}
}

func (f *ctlFlags) client() *control.Client {
	return &control.Client{Path: f.socket, Timeout: f.timeout}
}

// status fetches the status, or returns the error to print.
func (f *ctlFlags) status(ctx context.Context) (*control.Status, error) {
	st, err := f.client().Status(ctx)
	if err != nil {
		return nil, f.explain(err)
	}
	return st, nil
}

// explain turns a client error into what the operator reads: what went
// wrong and what to do next.
func (f *ctlFlags) explain(err error) error {
	var ce *control.Error
	switch {
	case errors.Is(err, control.ErrNotRunning):
		msg := strings.TrimPrefix(err.Error(), "control: ")
		return &exitError{ctlFailed, fmt.Errorf("%s: systemctl start seesawd\n  (if it runs with another control.socket: seesawctl --socket PATH)", msg)}
	case errors.Is(err, control.ErrPermission):
		return &exitError{ctlFailed, fmt.Errorf("permission denied on %s: run seesawctl as root (sudo seesawctl ...), or as a member of the group seesawd's control.group names", f.socket)}
	case errors.As(err, &ce):
		if ce.Hint != "" {
			return &exitError{ctlFailed, fmt.Errorf("%s\n  %s", ce.Message, ce.Hint)}
		}
		return &exitError{ctlFailed, errors.New(ce.Message)}
	}
	return &exitError{ctlFailed, err}
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// colorOK reports whether w is a terminal that takes colours: not
// redirected, NO_COLOR unset, TERM not dumb.
func colorOK(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
