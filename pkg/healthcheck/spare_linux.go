package healthcheck

import (
	"net/netip"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A TCP socket whose connect succeeded can be made ready for another
// connect by connecting it to AF_UNSPEC: the kernel aborts the connection
// (an RST, as a close with SO_LINGER 0 sends) and returns the socket to the
// unconnected state, keeping its options (SO_LINGER, SO_MARK) and any bound
// source address, releasing its port. A probe decided inline hands its
// socket back that way, and the next probe with the same family, mark and
// source takes it instead of opening one: connect, poll and disconnect
// where a fresh socket costs socket, setsockopt, connect, poll and close,
// and the kernel neither allocates nor frees a socket and a descriptor per
// check (about a fifth of a check's CPU on a loopback path).
//
// Probes decided inline run one after another on the Manager's goroutine,
// so one spare per kind is enough; a probe that waits for the network
// keeps its socket until the connector closes it.

// maxSpares bounds the spare sockets a connector keeps, of all kinds.
const maxSpares = 4

// spareKind is what makes two probes' sockets interchangeable.
type spareKind struct {
	family int
	mark   uint32
	src    netip.Addr
}

type spare struct {
	kind spareKind
	fd   int
}

// spares is a connector's idle, unconnected probe sockets.
type spares struct {
	mu     sync.Mutex
	idle   []spare
	closed bool
}

// take returns a spare socket of kind k, or -1 when there is none.
func (s *spares) take(k spareKind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sp := range s.idle {
		if sp.kind == k {
			last := len(s.idle) - 1
			s.idle[i] = s.idle[last]
			s.idle = s.idle[:last]
			return sp.fd
		}
	}
	return -1
}

// put disconnects fd, a connected socket of kind k, and keeps it for the
// next probe of that kind; it closes fd instead when that fails, when the
// spares are full or closed.
func (s *spares) put(k spareKind, fd int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.idle) >= maxSpares || rawDisconnect(fd) != nil {
		rawClose(fd)
		return
	}
	s.idle = append(s.idle, spare{k, fd})
}

// close closes the spare sockets; any put after it closes its socket.
func (s *spares) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, sp := range s.idle {
		rawClose(sp.fd)
	}
	s.idle = nil
}

var unspec = unix.RawSockaddr{Family: unix.AF_UNSPEC}

// rawDisconnect connects a TCP socket to AF_UNSPEC: it aborts the
// connection and leaves the socket ready for another connect. It passes
// the family alone, all the kernel reads: a connect with an address length
// of 2 is a disconnect in a system-call trace (the benchmark counts checks
// by the other connects).
func rawDisconnect(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec.Family))
	return errnoErr(e)
}
