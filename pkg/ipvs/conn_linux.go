//go:build linux

package ipvs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

// Socket buffer sizes: a batch of defaultBatchBytes must fit the send
// buffer, and the error replies of a whole batch of failures the receive
// buffer (each one costs the kernel well under a kilobyte of truesize).
const (
	sndBuf = 2 << 20
	rcvBuf = 4 << 20
)

// sockConn is a NETLINK_GENERIC socket: the family lookup goes through
// mdlayher/genetlink, requests and replies through the raw socket with
// buffers the Client owns, so the hot path allocates nothing.
type sockConn struct {
	gc *genetlink.Conn
	rc syscall.RawConn

	// Scratch for the raw callbacks, which are built once.
	buf     []byte
	n       int
	err     error
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

func dial(cfg *Config) (Conn, error) {
	ncfg := &netlink.Config{NetNS: cfg.NetNS}
	if cfg.NetNSPath != "" {
		f, err := os.Open(cfg.NetNSPath)
		if err != nil {
			return nil, fmt.Errorf("ipvs: open network namespace: %w", err)
		}
		defer f.Close()
		ncfg.NetNS = int(f.Fd())
	}
	gc, err := genetlink.Dial(ncfg)
	if err != nil {
		return nil, fmt.Errorf("ipvs: open generic netlink socket: %w", err)
	}
	rc, err := gc.SyscallConn()
	if err != nil {
		_ = gc.Close()
		return nil, fmt.Errorf("ipvs: raw socket: %w", err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		s := int(fd)
		// The FORCE variants pass net.core.[rw]mem_max; they need
		// CAP_NET_ADMIN, which IPVS needs anyway.
		if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBuf) != nil {
			_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_SNDBUF, sndBuf)
		}
		if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
			_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
		}
		// Error replies carry only the failed request's header, not its
		// whole payload, and may carry the kernel's message text.
		serr = unix.SetsockoptInt(s, unix.SOL_NETLINK, u.NETLINK_CAP_ACK, 1)
		_ = unix.SetsockoptInt(s, unix.SOL_NETLINK, u.NETLINK_EXT_ACK, 1)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		_ = gc.Close()
		return nil, fmt.Errorf("ipvs: socket options: %w", err)
	}
	c := &sockConn{gc: gc, rc: rc}
	c.readFn = c.read
	c.writeFn = c.write
	return c, nil
}

func (c *sockConn) Family(name string) (uint16, error) {
	f, err := c.gc.GetFamily(name)
	return f.ID, err
}

func (c *sockConn) write(fd uintptr) bool {
	n, err := unix.Write(int(fd), c.buf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return false
	}
	c.n, c.err = n, err
	return true
}

func (c *sockConn) read(fd uintptr) bool {
	// recvfrom without an address (none to allocate), with MSG_TRUNC so the
	// full datagram length comes back even when it did not fit.
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.buf[0])), uintptr(len(c.buf)),
		unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	if e != 0 {
		c.err = e
	} else {
		c.n = int(r)
	}
	return true
}

func (c *sockConn) Send(b []byte) error {
	c.buf, c.n, c.err = b, 0, nil
	if err := c.rc.Write(c.writeFn); err != nil {
		return err
	}
	if c.err != nil {
		return os.NewSyscallError("write", c.err)
	}
	if c.n != len(b) {
		return fmt.Errorf("ipvs: short netlink write: %d of %d bytes", c.n, len(b))
	}
	return nil
}

func (c *sockConn) Receive(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errors.New("ipvs: empty receive buffer")
	}
	c.buf, c.n, c.err = b, 0, nil
	if err := c.rc.Read(c.readFn); err != nil {
		return 0, err
	}
	if c.err != nil {
		return 0, os.NewSyscallError("recvfrom", c.err)
	}
	if c.n > len(b) {
		return 0, fmt.Errorf("ipvs: netlink reply of %d bytes truncated to %d", c.n, len(b))
	}
	return c.n, nil
}

func (c *sockConn) SetDeadline(t time.Time) error { return c.gc.SetDeadline(t) }

func (c *sockConn) Close() error { return c.gc.Close() }
