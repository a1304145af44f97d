package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// Errors of the Client that say the daemon could not be asked.
var (
	// ErrNotRunning: no socket at the path, or nothing listens on it.
	ErrNotRunning = errors.New("control: seesawd is not running")
	// ErrPermission: the socket's permissions keep this user out.
	ErrPermission = errors.New("control: permission denied")
)

// Client asks seesawd over its control socket. The zero value uses
// DefaultSocket.
type Client struct {
	// Path is the socket; "" is DefaultSocket.
	Path string
	// Timeout bounds a request when ctx has no earlier deadline; 0 is
	// 30s, and 5m for a reload.
	Timeout time.Duration
}

// Status asks for the node's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.Do(ctx, Request{Op: OpStatus}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Drain drains (on) or undrains a backend of a service at run time.
func (c *Client) Drain(ctx context.Context, service, backend string, on bool) (*DrainResult, error) {
	op := OpUndrain
	if on {
		op = OpDrain
	}
	var res DrainResult
	if err := c.Do(ctx, Request{Op: op, Service: service, Backend: backend}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Reload makes seesawd reload its configuration file, as SIGHUP does, and
// returns the outcome. A refused file is an outcome, not an error.
func (c *Client) Reload(ctx context.Context) (*ReloadResult, error) {
	var res ReloadResult
	if err := c.Do(ctx, Request{Op: OpReload}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// DrainNode drains (on) or undrains the node: BGP withdraws every route
// while IPVS keeps serving established flows.
func (c *Client) DrainNode(ctx context.Context, on bool) (*NodeDrainResult, error) {
	op := OpUndrainNode
	if on {
		op = OpDrainNode
	}
	var res NodeDrainResult
	if err := c.Do(ctx, Request{Op: op}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// SocketPath returns the path the client dials.
func (c *Client) SocketPath() string {
	if c.Path == "" {
		return DefaultSocket
	}
	return c.Path
}

// Do sends req and decodes the answer's data into out (unless nil). The
// error is an *Error when the daemon refused, and wraps ErrNotRunning or
// ErrPermission when it could not be asked.
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
		if req.Op == OpReload {
			timeout = reloadTimeout + 10*time.Second
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	path := c.SocketPath()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (no socket at %s)", ErrNotRunning, path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (nothing listens on %s)", ErrNotRunning, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w on %s", ErrPermission, path)
	case err != nil:
		return fmt.Errorf("control: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Close wakes the reads and writes below when ctx ends early.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := conn.Write(EncodeRequest(req)); err != nil {
		return c.ioError(ctx, err)
	}
	b, err := io.ReadAll(io.LimitReader(conn, MaxResponse+1))
	if err != nil {
		return c.ioError(ctx, err)
	}
	if len(b) == 0 {
		return fmt.Errorf("control: seesawd closed the connection without answering")
	}
	return DecodeResponse(b, out)
}

func (c *Client) ioError(ctx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
		if cerr := context.Cause(ctx); errors.Is(cerr, context.Canceled) {
			return fmt.Errorf("control: %w", cerr)
		}
		return fmt.Errorf("control: seesawd did not answer in time: %w", context.DeadlineExceeded)
	}
	return fmt.Errorf("control: %w", err)
}
