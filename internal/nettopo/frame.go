package nettopo

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// FrameKind classifies the Ethernet frames a failover measurement cares about.
type FrameKind int

const (
	// FrameOther is anything else.
	FrameOther FrameKind = iota
	// FrameVRRP is a VRRP packet (IP protocol 112) over IPv4 or IPv6.
	FrameVRRP
	// FrameGARP is a gratuitous ARP (sender and target address equal),
	// request or reply.
	FrameGARP
	// FrameNA is an ICMPv6 neighbour advertisement.
	FrameNA
)

// String returns the kind's name.
func (k FrameKind) String() string {
	switch k {
	case FrameOther:
		return "other"
	case FrameVRRP:
		return "vrrp"
	case FrameGARP:
		return "garp"
	case FrameNA:
		return "na"
	}
	return fmt.Sprintf("FrameKind(%d)", int(k))
}

// Frame is one classified Ethernet frame.
type Frame struct {
	// At is when the capture read it.
	At   time.Time
	Kind FrameKind
	// Src is the Ethernet source address.
	Src net.HardwareAddr
	// Addr is the IP source of a VRRP packet, or the address a GARP or
	// neighbour advertisement announces.
	Addr netip.Addr
	// VRID and Priority are set for VRRP.
	VRID, Priority int
}

// ClassifyFrame parses an Ethernet frame far enough to classify it. It
// never fails: short or unknown frames are FrameOther.
func ClassifyFrame(b []byte) Frame {
	f := Frame{Kind: FrameOther}
	if len(b) < 14 {
		return f
	}
	f.Src = net.HardwareAddr(append([]byte(nil), b[6:12]...))
	p := b[14:]
	switch binary.BigEndian.Uint16(b[12:14]) {
	case 0x0806: // ARP for IPv4 over Ethernet
		if len(p) < 28 || binary.BigEndian.Uint16(p[0:2]) != 1 || binary.BigEndian.Uint16(p[2:4]) != 0x0800 ||
			p[4] != 6 || p[5] != 4 {
			return f
		}
		spa, tpa := netip.AddrFrom4([4]byte(p[14:18])), netip.AddrFrom4([4]byte(p[24:28]))
		if spa == tpa {
			f.Kind, f.Addr = FrameGARP, spa
		}
	case 0x0800:
		if len(p) < 20 || p[0]>>4 != 4 {
			return f
		}
		ihl := int(p[0]&0x0f) * 4
		if ihl < 20 || len(p) < ihl+8 || p[9] != 112 {
			return f
		}
		f.Kind, f.Addr = FrameVRRP, netip.AddrFrom4([4]byte(p[12:16]))
		f.VRID, f.Priority = int(p[ihl+1]), int(p[ihl+2])
	case 0x86dd:
		// Only packets without extension headers: VRRP and neighbour
		// advertisements carry none.
		if len(p) < 40 || p[0]>>4 != 6 {
			return f
		}
		src := netip.AddrFrom16([16]byte(p[8:24]))
		switch p[6] {
		case 112:
			if len(p) < 48 {
				return f
			}
			f.Kind, f.Addr, f.VRID, f.Priority = FrameVRRP, src, int(p[41]), int(p[42])
		case 58:
			if len(p) < 64 || p[40] != 136 {
				return f
			}
			f.Kind, f.Addr = FrameNA, netip.AddrFrom16([16]byte(p[48:64]))
		}
	}
	return f
}
