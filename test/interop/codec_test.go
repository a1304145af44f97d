package interop

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/seesawd/seesawd/internal/nettopo"
	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

// advertSender sends pkg/vrrp advertisements from a node as a VRRP router
// would: IP protocol 112 to 224.0.0.18 or ff02::12, TTL / hop limit 255,
// IPv6 from the link-local address.
type advertSender struct {
	node *nettopo.Node
	v4   *ipv4.PacketConn
	v6   *ipv6.PacketConn
}

func newAdvertSender(t *testing.T, n *nettopo.Node, v6 bool) *advertSender {
	t.Helper()
	s := &advertSender{node: n}
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(n.Iface)
		if err != nil {
			return err
		}
		if !v6 {
			c, err := net.ListenPacket("ip4:112", "0.0.0.0")
			if err != nil {
				return err
			}
			s.v4 = ipv4.NewPacketConn(c)
			if err := s.v4.SetMulticastTTL(255); err != nil {
				return err
			}
			return s.v4.SetMulticastInterface(ifi)
		}
		c, err := net.ListenPacket("ip6:112", "::")
		if err != nil {
			return err
		}
		s.v6 = ipv6.NewPacketConn(c)
		if err := s.v6.SetMulticastHopLimit(255); err != nil {
			return err
		}
		return s.v6.SetMulticastInterface(ifi)
	})
	if err != nil {
		t.Fatalf("advert socket in %s: %v", n.Name, err)
	}
	t.Cleanup(func() {
		if s.v4 != nil {
			_ = s.v4.Close()
		}
		if s.v6 != nil {
			_ = s.v6.Close()
		}
	})
	return s
}

func (s *advertSender) send(a *vrrp.Advertisement, mode vrrp.ChecksumMode) error {
	if s.v4 != nil {
		src, dst := s.node.IPv4.Addr(), netip.MustParseAddr("224.0.0.18")
		b, err := a.Marshal(src, dst, mode)
		if err != nil {
			return err
		}
		cm := &ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: s.node.Index}
		_, err = s.v4.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
		return err
	}
	src, dst := s.node.LinkLocal, netip.MustParseAddr("ff02::12")
	b, err := a.Marshal(src, dst, mode)
	if err != nil {
		return err
	}
	cm := &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: s.node.Index}
	_, err = s.v6.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

// TestIntegrationCodecAgainstKeepalived sends adverts encoded by pkg/vrrp to
// a keepalived master: with the RFC 5798 checksum a higher priority advert
// makes keepalived step down; with the IPv4 checksum without pseudo-header
// keepalived 2.2.7 rejects every one as "Invalid VRRPv3 checksum" and stays
// master. This checks the codec and both checksum modes against the real
// peer without needing the daemon.
func TestIntegrationCodecAgainstKeepalived(t *testing.T) {
	testenv.Integration(t, "keepalived", "sysctl")
	cases := []struct {
		name     string
		vip      netip.Prefix
		mode     vrrp.ChecksumMode
		stepDown bool
	}{
		{"ipv4-rfc5798", nettopo.VIPv4, vrrp.ChecksumRFC5798, true},
		{"ipv4-no-pseudo-header", nettopo.VIPv4, vrrp.ChecksumIPv4NoPseudoHeader, false},
		{"ipv6-rfc5798", nettopo.VIPv6, vrrp.ChecksumRFC5798, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, nil, nettopo.Keepalived{}, c.vip, nettopo.ChecksumRFC5798)
			p.start(p.lo)
			p.waitHolder(p.lo, true, masterDown(loPriority)+3*time.Second, "keepalived alone")

			sender := newAdvertSender(t, p.hi.node, c.vip.Addr().Is6())
			adv := &vrrp.Advertisement{VRID: uint8(p.lo.inst.VRID), Priority: hiPriority,
				MaxAdvertInterval: uint16(advert / (10 * time.Millisecond)), Addresses: []netip.Addr{c.vip.Addr()}}
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				tick := time.NewTicker(advert)
				defer tick.Stop()
				for {
					if err := sender.send(adv, c.mode); err != nil {
						errc <- err
						return
					}
					select {
					case <-ctx.Done():
						errc <- nil
						return
					case <-tick.C:
					}
				}
			}()
			defer func() {
				cancel()
				if err := <-errc; err != nil {
					t.Errorf("send: %v", err)
				}
			}()

			if c.stepDown {
				deadline := time.Now().Add(3 * advert)
				for {
					if _, lo := p.holders(); !lo {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("keepalived still holds %v %v after higher priority adverts\n%s", p.vip, 3*advert, p.lo.proc.Output())
					}
					time.Sleep(10 * time.Millisecond)
				}
				// And stays backup while the adverts keep coming.
				for end := time.Now().Add(masterDown(loPriority) + advert); time.Now().Before(end); {
					if _, lo := p.holders(); lo {
						t.Fatalf("keepalived took %v back while pkg/vrrp adverts were arriving\n%s", p.vip, p.lo.proc.Output())
					}
					time.Sleep(20 * time.Millisecond)
				}
				if want := fmt.Sprintf("higher priority %d", hiPriority); !outputHas(p.lo, want) {
					t.Errorf("keepalived did not log %q", want)
				}
				return
			}
			deadline := time.Now().Add(masterDown(loPriority) + advert)
			for !outputHas(p.lo, "Invalid VRRPv3 checksum") {
				if time.Now().After(deadline) {
					t.Fatalf("keepalived logged no invalid checksum\n%s", p.lo.proc.Output())
				}
				time.Sleep(20 * time.Millisecond)
			}
			p.holdExclusive(p.lo, masterDown(loPriority), "keepalived ignoring adverts with the other checksum")
		})
	}
}
