//go:build !linux

package healthcheck

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

func listenICMP(v6 bool, src netip.Addr, mark uint32) (net.PacketConn, bool, error) {
	return nil, false, fmt.Errorf("healthcheck: icmp: %w", ErrUnsupported)
}

func sendNoWait(rc syscall.RawConn, b []byte, dst netip.Addr) error {
	return fmt.Errorf("healthcheck: icmp: %w", ErrUnsupported)
}

func recvErrEnabled(rc syscall.RawConn, v6 bool) bool { return false }

func (p *Pinger) readErrQueue(s *pingSock) { p.read(s) }
