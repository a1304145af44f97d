//go:build linux

package vrrp

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// receiver is the receiving half of an advertisement socket: a raw socket kept
// out of the Go runtime's poller and read with recvmmsg straight into the
// callers' buffers. Under the poller, every packet of a flood woke a thread
// blocked in epoll_wait even while the reader was waiting on purpose to take
// many at once (12,000 context switches a second at 50,000 packets/s); here
// nothing wakes the process until its reader asks, and a read allocates
// nothing. The sending half is a separate socket that admits nothing.
type receiver struct {
	fd   int
	wake int // an eventfd Close writes to, so a reader blocked in poll returns
	// mu is held by a read from start to end; Close takes it before closing
	// the descriptors, so none is reused under a read.
	mu     sync.Mutex
	closed atomic.Bool
	once   sync.Once

	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // IPv6: each message's source
	oob   []byte                  // IPv6: oob6 bytes of control messages per message
	v6    bool
}

// openReceiver opens the raw VRRP socket of family f bound to ifi and joined
// to the VRRP group there. It admits every VRRP packet until setFilter.
func openReceiver(ifi *net.Interface, f Family) (*receiver, error) {
	domain := unix.AF_INET
	if f == IPv6 {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_RAW|unix.SOCK_CLOEXEC, IPProto)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	r := &receiver{fd: fd, wake: -1, v6: f == IPv6}
	fail := func(op string, err error) (*receiver, error) {
		_ = unix.Close(fd)
		if r.wake >= 0 {
			_ = unix.Close(r.wake)
		}
		return nil, fmt.Errorf("vrrp: receive socket on %s: %w", ifi.Name, os.NewSyscallError(op, err))
	}
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifi.Name); err != nil {
		return fail("setsockopt SO_BINDTODEVICE", err)
	}
	if f == IPv4 {
		// The IPv4 header, which a raw IPv4 socket returns, gives the TTL and
		// both addresses.
		mreq := &unix.IPMreqn{Multiaddr: GroupIPv4.As4(), Ifindex: int32(ifi.Index)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
			return fail("setsockopt IP_ADD_MEMBERSHIP", err)
		}
	} else {
		mreq := &unix.IPv6Mreq{Multiaddr: GroupIPv6.As16(), Interface: uint32(ifi.Index)}
		if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq); err != nil {
			return fail("setsockopt IPV6_JOIN_GROUP", err)
		}
		for _, opt := range []int{unix.IPV6_RECVHOPLIMIT, unix.IPV6_RECVPKTINFO} {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, opt, 1); err != nil {
				return fail("setsockopt IPV6_RECV*", err)
			}
		}
	}
	if r.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fail("eventfd", err)
	}
	return r, nil
}

// setVRIDs makes the socket admit only advertisements for vrids (see
// vridFilter), replacing the previous filter. Its owner calls it, never
// concurrently with Close.
func (r *receiver) setVRIDs(vrids []uint8) error {
	if r.closed.Load() {
		return net.ErrClosed
	}
	prog, err := vridFilter(!r.v6, vrids)
	if err != nil {
		return err
	}
	return attachFilter(r.fd, prog)
}

func attachFilter(fd int, prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		return fmt.Errorf("vrrp: empty socket filter")
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp))
}

// read fills the first n of msgs, blocking until at least one message is
// there; hdrs[i] tells each one's length, source and control messages.
func (r *receiver) read(msgs []Message) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(msgs) == 0 {
		return 0, nil
	}
	r.prepare(msgs)
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}, {Fd: int32(r.wake), Events: unix.POLLIN}}
	for {
		if r.closed.Load() {
			return 0, net.ErrClosed
		}
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.hdrs[0])),
			uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
		default:
			return 0, os.NewSyscallError("recvmmsg", errno)
		}
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return 0, os.NewSyscallError("poll", err)
		}
	}
}

func (r *receiver) prepare(msgs []Message) {
	if len(r.hdrs) < len(msgs) {
		r.hdrs = make([]unix.Mmsghdr, len(msgs))
		r.iovs = make([]unix.Iovec, len(msgs))
		if r.v6 {
			r.names = make([]unix.RawSockaddrInet6, len(msgs))
			r.oob = make([]byte, len(msgs)*oob6)
		}
	}
	for i := range msgs {
		h := &r.hdrs[i]
		*h = unix.Mmsghdr{}
		r.iovs[i].Base = &msgs[i].Buf[0]
		r.iovs[i].SetLen(len(msgs[i].Buf))
		h.Hdr.Iov = &r.iovs[i]
		h.Hdr.SetIovlen(1)
		if r.v6 {
			h.Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
			h.Hdr.Namelen = unix.SizeofSockaddrInet6
			h.Hdr.Control = &r.oob[i*oob6]
			h.Hdr.SetControllen(oob6)
		}
	}
}

// Close makes a blocked read return net.ErrClosed and closes the socket.
func (r *receiver) Close() error {
	var err error
	r.once.Do(func() {
		r.closed.Store(true)
		one := [8]byte{1}
		_, _ = unix.Write(r.wake, one[:])
		r.mu.Lock()
		defer r.mu.Unlock()
		err = unix.Close(r.fd)
		_ = unix.Close(r.wake)
	})
	return err
}
