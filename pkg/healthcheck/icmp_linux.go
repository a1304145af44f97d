package healthcheck

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenICMP opens an unprivileged ICMP datagram socket ("ping socket")
// when net.ipv4.ping_group_range allows it and a raw socket otherwise.
func listenICMP(v6 bool, src netip.Addr, mark uint32) (net.PacketConn, bool, error) {
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if v6 {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	kernelID := true
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		kernelID = false
		fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return nil, false, fmt.Errorf("healthcheck: icmp socket (neither ping nor raw): %w", err)
		}
	}
	// Replies to thousands of checks can arrive in bursts, and requests
	// wait in the send buffer while the stack is busy: give both room.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	}
	if err := setSockopts(fd, mark, false); err != nil {
		unix.Close(fd)
		return nil, false, err
	}
	if src.IsValid() {
		var sa unix.Sockaddr
		if v6 {
			sa = &unix.SockaddrInet6{Addr: src.As16()}
		} else {
			sa = &unix.SockaddrInet4{Addr: src.As4()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return nil, false, fmt.Errorf("healthcheck: icmp bind %s: %w", src, err)
		}
	}
	f := os.NewFile(uintptr(fd), "icmp")
	conn, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		return nil, false, fmt.Errorf("healthcheck: icmp socket: %w", err)
	}
	return conn, kernelID, nil
}

// sendNoWait sends b to dst with MSG_DONTWAIT.
func sendNoWait(rc syscall.RawConn, b []byte, dst netip.Addr) error {
	var sa unix.Sockaddr
	if dst.Is4() {
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
	} else {
		sa6 := &unix.SockaddrInet6{Addr: dst.As16()}
		if z := dst.Zone(); z != "" {
			if zi, err := zoneIndex(z); err == nil {
				sa6.ZoneId = zi
			}
		}
		sa = sa6
	}
	var serr error
	err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, unix.MSG_DONTWAIT, sa)
		return true
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("sendto: %w", serr)
	}
	return nil
}
