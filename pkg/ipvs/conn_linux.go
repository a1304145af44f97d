//go:build linux

package ipvs

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
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

// sockConn is a NETLINK_GENERIC socket driven with plain system calls.
//
// It is deliberately not registered with Go's network poller: with the
// poller, every reply the kernel queues wakes the poller's epoll_wait on
// another thread, a context switch per datagram that measurably slowed
// request/reply exchanges (most of all under emulation). Replies are
// read with MSG_DONTWAIT, and only when none is queued does Receive block,
// in poll(2) on the socket and an eventfd that SetDeadline signals to
// interrupt it.
//
// The family lookup goes through mdlayher/genetlink on a short-lived
// socket in the same namespace.
type sockConn struct {
	fd, efd  int
	famID    uint16 // the IPVS family, looked up by dial
	famErr   error
	deadline atomic.Int64 // unix nanoseconds, 0 = none
	pfd      [2]unix.PollFd
	iov      [2]unix.Iovec
	mm       [2]mmsghdr
}

func dial(cfg *Config) (Conn, error) {
	nsfd := cfg.NetNS
	if cfg.NetNSPath != "" {
		f, err := os.Open(cfg.NetNSPath)
		if err != nil {
			return nil, fmt.Errorf("ipvs: open network namespace: %w", err)
		}
		defer f.Close()
		nsfd = int(f.Fd())
	}
	fd, err := socketIn(nsfd)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ipvs: eventfd: %w", err)
	}
	c := &sockConn{fd: fd, efd: efd}
	c.famID, c.famErr = lookupFamily(nsfd, u.IPVS_GENL_NAME)
	c.pfd = [2]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(efd), Events: unix.POLLIN}}
	return c, nil
}

// socketIn opens and configures the netlink socket, in the network
// namespace nsfd when it is not 0. The namespace switch happens on a
// dedicated, locked thread that is thrown away if it cannot switch back.
func socketIn(nsfd int) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if nsfd != 0 {
			orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- result{-1, fmt.Errorf("ipvs: current network namespace: %w", err)}
				return // the thread is still clean, but exit locked anyway
			}
			defer unix.Close(orig)
			if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
				ch <- result{-1, fmt.Errorf("ipvs: enter network namespace: %w", err)}
				return
			}
			fd, err := newSocket()
			ch <- result{fd, err}
			if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			} // else: exit with the thread locked, so the runtime kills it
			return
		}
		fd, err := newSocket()
		ch <- result{fd, err}
		runtime.UnlockOSThread()
	}()
	r := <-ch
	return r.fd, r.err
}

func newSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_GENERIC)
	if err != nil {
		return -1, fmt.Errorf("ipvs: open generic netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("ipvs: bind netlink socket: %w", err)
	}
	// The FORCE variants pass net.core.[rw]mem_max; they need
	// CAP_NET_ADMIN, which IPVS needs anyway.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndBuf)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
	// Error replies carry only the failed request's header, not its whole
	// payload, and may carry the kernel's message text.
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, u.NETLINK_CAP_ACK, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("ipvs: NETLINK_CAP_ACK: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, u.NETLINK_EXT_ACK, 1)
	return fd, nil
}

// lookupFamily resolves a generic netlink family with mdlayher/genetlink,
// on a short-lived socket in the namespace nsfd (family IDs are global, but
// the lookup must not mix with the client socket's replies).
func lookupFamily(nsfd int, name string) (uint16, error) {
	gc, err := genetlink.Dial(&netlink.Config{NetNS: nsfd})
	if err != nil {
		return 0, fmt.Errorf("ipvs: open generic netlink socket: %w", err)
	}
	defer gc.Close()
	f, err := gc.GetFamily(name)
	return f.ID, err
}

// Family returns the IPVS family ID dial looked up.
func (c *sockConn) Family(name string) (uint16, error) {
	if name != u.IPVS_GENL_NAME {
		return 0, fmt.Errorf("ipvs: family %q: %w", name, os.ErrNotExist)
	}
	return c.famID, c.famErr
}

func (c *sockConn) Send(b []byte) error {
	for {
		r, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(c.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		switch e {
		case 0:
			if int(r) != len(b) {
				return fmt.Errorf("ipvs: short netlink write: %d of %d bytes", r, len(b))
			}
			return nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if err := c.wait(unix.POLLOUT); err != nil {
				return err
			}
			continue
		}
		return os.NewSyscallError("write", e)
	}
}

// mmsghdr is struct mmsghdr of recvmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [unsafe.Sizeof(uintptr(0)) - 4]byte
}

// Receive reads up to two datagrams with one recvmmsg(2) and returns them
// concatenated (netlink datagrams are 4-byte aligned, so the messages of
// the second follow those of the first). Two, because a dump's last
// datagram is its NLMSG_DONE, which the kernel queues while the data
// before it is being read: the pair then costs one system call, not two.
func (c *sockConn) Receive(b []byte) (int, error) {
	if len(b) < 2*u.NLMSG_HDRLEN {
		return 0, errors.New("ipvs: receive buffer too small")
	}
	half := len(b) / 2 &^ 3
	c.iov[0].Base, c.iov[1].Base = &b[0], &b[half]
	c.iov[0].SetLen(half)
	c.iov[1].SetLen(len(b) - half)
	for i := range c.mm {
		c.mm[i] = mmsghdr{}
		c.mm[i].hdr.Iov = &c.iov[i]
		c.mm[i].hdr.SetIovlen(1)
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&c.mm[0])), 2,
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			n := int(c.mm[0].len)
			if c.mm[0].hdr.Flags&unix.MSG_TRUNC != 0 || r == 2 && c.mm[1].hdr.Flags&unix.MSG_TRUNC != 0 {
				return 0, fmt.Errorf("ipvs: netlink reply truncated to %d bytes", half)
			}
			if r == 2 {
				n = (n+3)&^3 + copy(b[(n+3)&^3:], b[half:half+int(c.mm[1].len)])
			}
			c.iov[0].Base, c.iov[1].Base = nil, nil
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if err := c.wait(unix.POLLIN); err != nil {
				return 0, err
			}
			continue
		}
		return 0, os.NewSyscallError("recvmmsg", e)
	}
}

// wait blocks until the socket is ready for events, the deadline passes
// (os.ErrDeadlineExceeded) or SetDeadline interrupts it.
func (c *sockConn) wait(events int16) error {
	for {
		timeout := -1
		if dl := c.deadline.Load(); dl != 0 {
			rem := dl - time.Now().UnixNano()
			if rem <= 0 {
				return os.ErrDeadlineExceeded
			}
			timeout = int((rem + int64(time.Millisecond) - 1) / int64(time.Millisecond))
		}
		c.pfd[0].Events, c.pfd[0].Revents, c.pfd[1].Revents = events, 0, 0
		_, err := unix.Poll(c.pfd[:], timeout)
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("poll", err)
		}
		if c.pfd[1].Revents != 0 {
			var buf [8]byte
			_, _ = unix.Read(c.efd, buf[:]) // the deadline changed: look again
			continue
		}
		if c.pfd[0].Revents != 0 {
			return nil
		}
	}
}

// SetDeadline sets the deadline of the calls that follow, and wakes a
// blocked call so it sees the new one.
func (c *sockConn) SetDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
		if ns == 0 {
			ns = 1
		}
	}
	old := c.deadline.Swap(ns)
	if ns != 0 && ns <= time.Now().UnixNano() && old != ns {
		one := [8]byte{1}
		_, _ = unix.Write(c.efd, one[:])
	}
	return nil
}

func (c *sockConn) Close() error {
	err := unix.Close(c.fd)
	_ = unix.Close(c.efd)
	return err
}
