package healthcheck

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls of a probe decided inline (socket and setsockopt unless
// a spare socket serves, connect, a zero-timeout ppoll, and close or the
// disconnect that makes the socket a spare) go to the kernel without the
// Go runtime's system call bookkeeping: none of them can block (the socket
// is non-blocking, the poll does not wait, a close with SO_LINGER 0 and a
// disconnect reset), and the bookkeeping is what wakes the runtime's
// sysmon thread from its deep sleep at the first check of every scheduler
// pass, after which it polls every 20µs for a while (nanosleep, futex,
// context switches: in a TCG guest a large share of a check's cost). Each
// call here costs what the kernel takes; on a loopback or veth path that
// is a few microseconds.

// rawSockaddr is a destination in the kernel's struct sockaddr layout.
type rawSockaddr struct {
	in4 unix.RawSockaddrInet4
	in6 unix.RawSockaddrInet6
	len uintptr // 0 for none
}

// newRawSockaddr lays out ap, with zone index zone for IPv6.
func newRawSockaddr(ap netip.AddrPort, zone uint32) rawSockaddr {
	var r rawSockaddr
	// The port in network byte order, as the kernel reads it from memory.
	var be [2]byte
	binary.BigEndian.PutUint16(be[:], ap.Port())
	port := binary.NativeEndian.Uint16(be[:])
	a := ap.Addr().Unmap()
	if a.Is4() {
		r.in4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: port, Addr: a.As4()}
		r.len = unix.SizeofSockaddrInet4
	} else {
		r.in6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: port, Addr: a.As16(), Scope_id: zone}
		r.len = unix.SizeofSockaddrInet6
	}
	return r
}

func (r *rawSockaddr) ptr() unsafe.Pointer {
	if r.len == unix.SizeofSockaddrInet4 {
		return unsafe.Pointer(&r.in4)
	}
	return unsafe.Pointer(&r.in6)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// rawSocket opens a non-blocking, close-on-exec stream socket.
func rawSocket(family int) (int, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

var linger0 = unix.Linger{Onoff: 1, Linger: 0}

// rawLinger0 sets SO_LINGER {1, 0}: close resets the connection.
func rawLinger0(fd int) error {
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER,
		uintptr(unsafe.Pointer(&linger0)), unsafe.Sizeof(linger0), 0)
	return errnoErr(e)
}

// rawConnect starts a connect on a non-blocking socket.
func rawConnect(fd int, sa *rawSockaddr) error {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(sa.ptr()), sa.len)
	return errnoErr(e)
}

// rawPollOut is poll(POLLOUT) with a zero timeout: the events fd has, or
// 0 when it has none yet.
func rawPollOut(fd int) (int16, error) {
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
	var ts unix.Timespec
	n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 || n == 0 {
		return 0, errnoErr(e)
	}
	return pfd.Revents, nil
}

// rawClose closes fd.
func rawClose(fd int) { unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }
