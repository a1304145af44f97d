package healthcheck

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketControl returns a net.Dialer Control func setting SO_MARK (when
// mark is non-zero) and SO_LINGER 0 (when linger0).
func socketControl(mark uint32, linger0 bool) func(network, address string, c syscall.RawConn) error {
	if mark == 0 && !linger0 {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = setSockopts(int(fd), mark, linger0 && network[:3] == "tcp") })
		if err != nil {
			return err
		}
		return serr
	}
}

func setSockopts(fd int, mark uint32, linger0 bool) error {
	if mark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
			return &opError{"setsockopt SO_MARK", err}
		}
	}
	if linger0 {
		if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
			return &opError{"setsockopt SO_LINGER", err}
		}
	}
	return nil
}

type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return "healthcheck: " + e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// zoneIndex returns the index of the interface an IPv6 zone names.
func zoneIndex(zone string) (uint32, error) {
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, err
	}
	return uint32(ifi.Index), nil
}
