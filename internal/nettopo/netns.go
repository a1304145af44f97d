package nettopo

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Netns is a named network namespace (one under /run/netns).
type Netns struct {
	// Name is the namespace name given to ip netns.
	Name string
}

// Command returns a command that runs name inside the namespace with
// ip netns exec, which execs it directly: the command's PID is the program's.
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs name inside the namespace and returns its combined output.
func (n *Netns) Run(ctx context.Context, name string, args ...string) (string, error) {
	var out bytes.Buffer
	c := n.Command(ctx, name, args...)
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("nettopo: netns %s: %s %s: %w: %s",
			n.Name, name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Sh runs a shell command line inside the namespace.
func (n *Netns) Sh(ctx context.Context, cmdline string) (string, error) {
	return n.Run(ctx, "sh", "-c", cmdline)
}

// IP runs "ip -n NAME args..." from the calling namespace.
func (n *Netns) IP(ctx context.Context, args ...string) (string, error) {
	return run(ctx, "ip", append([]string{"-n", n.Name}, args...)...)
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("nettopo: %s %s: %w: %s", name, strings.Join(args, " "), err,
			strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
