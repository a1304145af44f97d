package healthcheck

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

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
	if kernelID {
		// A ping socket reports ICMP errors for its echoes only on its
		// error queue, and only with IP_RECVERR; a raw socket receives the
		// errors as packets and must not set it (the option would also
		// turn each error into a pending socket error). Without it errors
		// go unseen and a ping to an unreachable host times out, so a
		// failure here is not fatal.
		if v6 {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
		} else {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
		}
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

// recvErrEnabled reports whether the socket has IP_RECVERR (IPV6_RECVERR)
// set, so the kernel queues ICMP errors on its error queue.
func recvErrEnabled(rc syscall.RawConn, v6 bool) bool {
	level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
	if v6 {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		return false
	}
	return gerr == nil && v != 0
}

// readErrQueue is the receive loop of a ping socket with IP_RECVERR; it
// ends when the socket closes. The kernel puts the ICMP errors about our
// echoes on the error queue and flags each with a pending socket error,
// which a plain read returns before any queued reply. So the loop reads
// replies until the receive queue is empty, and looks at the error queue
// only when a read returns that error, and once more before it waits (a
// send may have taken the pending error first). One extra system call per
// wake-up rather than per reply; one loop, because EPOLLERR and EPOLLIN
// wake the same reader.
func (p *Pinger) readErrQueue(s *pingSock) {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	oob := make([]byte, 256)
	failures := 0
	for {
		var (
			n, oobn int
			from    unix.Sockaddr
			queued  bool
			rerr    error
		)
		errQueue := func(fd uintptr) bool {
			var qerr error
			n, oobn, _, from, qerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
			queued = qerr == nil
			return queued
		}
		err := s.raw.Read(func(fd uintptr) bool {
			for {
				n, from, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
				switch rerr {
				case nil:
					return true
				case unix.EINTR:
					continue
				case unix.EAGAIN:
					if errQueue(fd) {
						rerr = nil
						return true
					}
					return false // both queues empty: wait
				}
				// The pending error of an ICMP error: its details are queued.
				if errQueue(fd) {
					rerr = nil
				}
				return true
			}
		})
		if err != nil {
			if p.readStopped(err) {
				return
			}
			continue
		}
		if rerr != nil {
			// A pending socket error with nothing on the error queue (a
			// send took the entry's details first). It clears as it is
			// read; anything that does not must not spin.
			if failures++; failures > 8 {
				time.Sleep(time.Millisecond)
			}
			continue
		}
		failures = 0
		now := p.clk.Now()
		if !queued {
			p.reply(s, buf[:n], sockaddrIP(from), now)
			continue
		}
		ee, ok := parseRecvErr(oob[:oobn], s.v6)
		if !ok || !isEchoError(s.v6, ee.Type) {
			continue
		}
		q, ok := parseQuotedEcho(buf[:n], s.v6)
		if !ok {
			continue
		}
		p.unreachable(s, icmpError{Type: ee.Type, Code: ee.Code, Dst: sockaddrIP(from), Echo: q}, ee.Offender, now)
	}
}

func sockaddrIP(sa unix.Sockaddr) netip.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}

// recvErr is the part of an IP_RECVERR control message (struct
// sock_extended_err from linux/errqueue.h, then the offender's address) that
// describes an ICMP error.
type recvErr struct {
	Errno      unix.Errno
	Type, Code uint8
	// Offender is who sent the ICMP error, the zero Addr when unknown.
	Offender netip.Addr
}

const (
	sizeofSockExtendedErr = 16 // ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data
	soEEOriginICMP        = 2  // SO_EE_ORIGIN_ICMP
	soEEOriginICMP6       = 3  // SO_EE_ORIGIN_ICMP6
)

// parseRecvErr finds the IP_RECVERR (IPV6_RECVERR) control message in oob,
// as recvmsg(MSG_ERRQUEUE) returns it, and reports whether it describes an
// ICMP (ICMPv6) error. Multi-byte fields other than addresses are in host
// byte order.
func parseRecvErr(oob []byte, v6 bool) (recvErr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return recvErr{}, false
	}
	level, typ, origin := int32(unix.SOL_IP), int32(unix.IP_RECVERR), uint8(soEEOriginICMP)
	if v6 {
		level, typ, origin = unix.SOL_IPV6, unix.IPV6_RECVERR, soEEOriginICMP6
	}
	for _, m := range msgs {
		d := m.Data
		if m.Header.Level != level || m.Header.Type != typ || len(d) < sizeofSockExtendedErr || d[4] != origin {
			continue
		}
		e := recvErr{Errno: unix.Errno(binary.NativeEndian.Uint32(d[0:4])), Type: d[5], Code: d[6]}
		// SO_EE_OFFENDER: a sockaddr_in or sockaddr_in6 right after.
		sa := d[sizeofSockExtendedErr:]
		if len(sa) >= 2 {
			switch binary.NativeEndian.Uint16(sa[0:2]) {
			case unix.AF_INET:
				if len(sa) >= unix.SizeofSockaddrInet4 {
					e.Offender = netip.AddrFrom4([4]byte(sa[4:8]))
				}
			case unix.AF_INET6:
				if len(sa) >= unix.SizeofSockaddrInet6 {
					e.Offender = netip.AddrFrom16([16]byte(sa[8:24])).Unmap()
				}
			}
		}
		return e, true
	}
	return recvErr{}, false
}
