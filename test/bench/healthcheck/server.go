//go:build linux

package main

import (
	"fmt"
	"log"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Addresses the listeners use: 127.0.0.2 onward, at most perAddr
// listeners each, so the 4-tuples of 10,000 checks/s spread widely.
const perAddr = 1000

// serve opens one TCP listener per check (distinct targets, so the
// manager cannot merge them) completed by a single epoll loop that accepts
// and resets, plus a few HTTP listeners (HTTP checks differ by path). It
// prints "READY tcp=a,b,...;http=c,d" and serves until killed.
func serve() {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Fatal(err)
	}
	var tcp []string
	for i := range *checks {
		ip := [4]byte{127, 0, byte(i/perAddr/250 + 0), byte(i/perAddr%250 + 2)}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			log.Fatalf("server: socket: %v", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ip}); err != nil {
			log.Fatalf("server: bind: %v", err)
		}
		if err := unix.Listen(fd, 4096); err != nil {
			log.Fatalf("server: listen: %v", err)
		}
		sa, _ := unix.Getsockname(fd)
		tcp = append(tcp, fmt.Sprintf("%d.%d.%d.%d:%d", ip[0], ip[1], ip[2], ip[3], sa.(*unix.SockaddrInet4).Port))
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			log.Fatal(err)
		}
	}
	go acceptLoop(epfd)

	// HTTP: a minimal epoll responder (read the request, answer 200, close),
	// so that the server process, which shares the 2 cores, costs as little
	// as possible and the benchmark measures the checkers.
	hep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Fatal(err)
	}
	listeners := map[int32]bool{}
	var hts []string
	for i := range 16 {
		ip := [4]byte{127, 0, 1, byte(i + 1)}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			log.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ip}); err != nil {
			log.Fatal(err)
		}
		if err := unix.Listen(fd, 4096); err != nil {
			log.Fatal(err)
		}
		sa, _ := unix.Getsockname(fd)
		hts = append(hts, fmt.Sprintf("127.0.1.%d:%d", i+1, sa.(*unix.SockaddrInet4).Port))
		listeners[int32(fd)] = true
		if err := unix.EpollCtl(hep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			log.Fatal(err)
		}
	}
	go httpLoop(hep, listeners)
	fmt.Fprintf(os.Stdout, "READY tcp=%s;http=%s\n", strings.Join(tcp, " "), strings.Join(hts, " "))
	select {}
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
				// would fail the naive checker's dial (ECONNRESET).
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
			// The whole request fits one read on loopback; answer and close.
			fd := int(ev.Fd)
			if m, err := unix.Read(fd, buf); err == unix.EAGAIN || err == nil && m > 0 && !strings.Contains(string(buf[:m]), "\r\n\r\n") {
				continue
			}
			_, _ = unix.Write(fd, response)
			unix.Close(fd)
		}
	}
}
