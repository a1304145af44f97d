package nettopo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is a long-running program started inside a namespace, with its
// combined output kept in memory.
type Process struct {
	// Name labels the process in errors ("keepalived lb1").
	Name string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
}

// Start starts name inside the namespace. The process is not tied to a
// context: stop it with Stop or Kill (Topology.Close kills leftovers).
func (n *Netns) Start(label, name string, args ...string) (*Process, error) {
	return n.StartTo(nil, label, name, args...)
}

// StartTo is Start with the process's output written to w (a log file that
// outlives the process) instead of kept in memory; nil keeps it in memory.
func (n *Netns) StartTo(w io.Writer, label, name string, args ...string) (*Process, error) {
	p := &Process{Name: label, done: make(chan struct{})}
	p.cmd = n.Command(context.Background(), name, args...)
	if w == nil {
		w = &p.out
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("nettopo: start %s: %w", label, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output returns everything the process wrote so far.
func (p *Process) Output() string { return p.out.String() }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error {
	if p.Exited() {
		return fmt.Errorf("nettopo: %s already exited: %v", p.Name, p.err)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("nettopo: signal %s: %w", p.Name, err)
	}
	return nil
}

// Stop sends SIGTERM and waits for the exit, killing the process if it has
// not exited within grace. It returns the exit error of a process that did
// not stop cleanly.
func (p *Process) Stop(grace time.Duration) error {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("nettopo: %s did not stop within %v after SIGTERM", p.Name, grace)
		}
	}
	var ee *exec.ExitError
	if p.err != nil && !(errors.As(p.err, &ee) && ee.ExitCode() == 0) {
		return fmt.Errorf("nettopo: %s: %w", p.Name, p.err)
	}
	return nil
}

// Kill kills the process and waits for it.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// Wait waits for the process to exit or ctx to end.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
