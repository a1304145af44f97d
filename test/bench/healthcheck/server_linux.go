package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// httpListeners is how many listeners serve the HTTP scenarios (HTTP
// checks differ by path, so they need not differ by port).
const httpListeners = 16

// serve opens -checks TCP listeners spread round-robin over addrs (each a
// distinct address and port, so no two checks are the same definition)
// served by one epoll thread that accepts and closes, and, when
// -http-checks is set, a few minimal HTTP responders on the first address.
// It prints "READY tcp=a:p ...;http=a:p ..." and serves until killed.
func serve(addrs []string) error {
	ips := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil || !ip.Is4() {
			return fmt.Errorf("server: bad address %q", a)
		}
		ips[i] = ip
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	var tcp []string
	for i := range *checks {
		fd, ap, err := listen(ips[i%len(ips)])
		if err != nil {
			return err
		}
		tcp = append(tcp, ap.String())
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			return err
		}
	}
	go acceptLoop(epfd)

	// HTTP: a minimal epoll responder (read the request, answer 200,
	// close), so that the listener process, which shares the cores,
	// costs as little as possible and the benchmark measures the checkers.
	var hts []string
	if *httpChecks > 0 {
		hep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return err
		}
		listeners := map[int32]bool{}
		for range httpListeners {
			fd, ap, err := listen(ips[0])
			if err != nil {
				return err
			}
			hts = append(hts, ap.String())
			listeners[int32(fd)] = true
			if err := unix.EpollCtl(hep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
				return err
			}
		}
		go httpLoop(hep, listeners)
	}
	fmt.Fprintf(os.Stdout, "READY tcp=%s;http=%s\n", strings.Join(tcp, " "), strings.Join(hts, " "))
	select {}
}

// listen opens a listener on ip and a port the kernel picks.
func listen(ip netip.Addr) (int, netip.AddrPort, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, netip.AddrPort{}, fmt.Errorf("server: socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ip.As4()}); err != nil {
		return -1, netip.AddrPort{}, fmt.Errorf("server: bind %s: %w", ip, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return -1, netip.AddrPort{}, fmt.Errorf("server: listen: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return -1, netip.AddrPort{}, fmt.Errorf("server: getsockname: %w", err)
	}
	return fd, netip.AddrPortFrom(ip, uint16(sa.(*unix.SockaddrInet4).Port)), nil
}

func acceptLoop(epfd int) {
	runtime.LockOSThread()
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if err != nil {
			continue
		}
		for _, ev := range events[:n] {
			for {
				c, _, err := unix.Accept4(int(ev.Fd), unix.SOCK_CLOEXEC)
				if err != nil {
					break
				}
				// A graceful close, as a real server's: resetting here
				// would fail a checker that looks after connecting.
				unix.Close(c)
			}
		}
	}
}

var response = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")

func httpLoop(epfd int, listeners map[int32]bool) {
	runtime.LockOSThread()
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 4096)
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if err != nil {
			continue
		}
		for _, ev := range events[:n] {
			if listeners[ev.Fd] {
				for {
					c, _, err := unix.Accept4(int(ev.Fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					_ = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, c, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c)})
				}
				continue
			}
			// The whole request fits one read; answer and close.
			fd := int(ev.Fd)
			m, err := unix.Read(fd, buf)
			if err == unix.EAGAIN || err == nil && m > 0 && !bytes.Contains(buf[:m], []byte("\r\n\r\n")) {
				continue
			}
			if err == nil && m > 0 {
				_, _ = unix.Write(fd, response)
			}
			unix.Close(fd)
		}
	}
}
