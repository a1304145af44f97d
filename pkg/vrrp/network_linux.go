//go:build linux

package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"unsafe"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// tosInternetworkControl is the DSCP CS6 class keepalived and routers send VRRP with.
const tosInternetworkControl = 0xc0

type linuxNetwork struct {
	h *netlink.Handle
	// ns is the network namespace the network was created in; every socket is
	// opened in it, whichever thread asks.
	ns netns.NsHandle
	// watchers are Watch's goroutines, which use h until their context ends.
	watchers sync.WaitGroup
}

// NewLinuxNetwork returns the Network of the Linux kernel in the calling thread's
// network namespace: raw IP sockets for protocol 112, rtnetlink for addresses and
// links, packet sockets for gratuitous ARP and ICMPv6 sockets for neighbour
// advertisements. Sockets it opens later belong to that namespace too, so its
// user's goroutine need not stay on the thread. Close releases it.
func NewLinuxNetwork() (Network, error) {
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("vrrp: current network namespace: %w", err)
	}
	l := &linuxNetwork{ns: ns}
	// Not NewHandleAt(ns): it enters ns even when the thread is in it
	// already, and setns needs CAP_SYS_ADMIN, which the daemon has not
	// (its unit grants CAP_NET_ADMIN and CAP_NET_RAW only).
	err = l.inNetns(func() (err error) {
		l.h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		_ = ns.Close()
		return nil, fmt.Errorf("vrrp: netlink: %w", err)
	}
	return l, nil
}

// Close releases the netlink handle and the namespace, once the contexts of
// every Watch have ended.
func (l *linuxNetwork) Close() error {
	l.watchers.Wait()
	l.h.Close()
	return l.ns.Close()
}

// inNetns runs f on a thread in the network's namespace, as sockets belong to
// the namespace of the thread that opens them.
func (l *linuxNetwork) inNetns(f func() error) error {
	runtime.LockOSThread()
	cur, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("vrrp: current network namespace: %w", err)
	}
	defer cur.Close()
	if cur.Equal(l.ns) {
		runtime.UnlockOSThread()
		return f()
	}
	if err := netns.Set(l.ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("vrrp: enter network namespace: %w", err)
	}
	ferr := f()
	if err := netns.Set(cur); err != nil {
		// The thread stays locked, so it ends with its goroutine rather
		// than run others in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("vrrp: restore network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

func (l *linuxNetwork) Link(name string) (Link, error) {
	lk, err := l.h.LinkByName(name)
	if err != nil {
		return Link{}, err
	}
	return l.linkInfo(lk)
}

func (l *linuxNetwork) linkInfo(lk netlink.Link) (Link, error) {
	a := lk.Attrs()
	out := Link{
		Name:         a.Name,
		Index:        a.Index,
		HardwareAddr: a.HardwareAddr,
		Up:           a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0,
	}
	v4, err := l.addrList(lk, netlink.FAMILY_V4)
	if err != nil {
		return out, err
	}
	// Primary (non-secondary) addresses first, as the kernel would choose a source.
	sort.SliceStable(v4, func(i, j int) bool {
		return v4[i].Flags&unix.IFA_F_SECONDARY == 0 && v4[j].Flags&unix.IFA_F_SECONDARY != 0
	})
	for _, a := range v4 {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			out.Addrs4 = append(out.Addrs4, ip)
		}
	}
	v6, err := l.addrList(lk, netlink.FAMILY_V6)
	if err != nil {
		return out, err
	}
	for _, a := range v6 {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		out.Addrs6 = append(out.Addrs6, ip)
		if !out.Primary6.IsValid() && ip.IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			out.Primary6 = ip
		}
	}
	return out, nil
}

// addrList lists lk's addresses, retrying a dump the kernel interrupted
// because addresses changed meanwhile (common while many VIPs are added at
// once): the partial result of an interrupted dump must not be trusted.
func (l *linuxNetwork) addrList(lk netlink.Link, family int) ([]netlink.Addr, error) {
	var err error
	for range 5 {
		var addrs []netlink.Addr
		addrs, err = l.h.AddrList(lk, family)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return addrs, err
		}
	}
	return nil, fmt.Errorf("vrrp: list addresses of %s: %w", lk.Attrs().Name, err)
}

func (l *linuxNetwork) iface(name string) (*net.Interface, error) {
	lk, err := l.h.LinkByName(name)
	if err != nil {
		return nil, err
	}
	a := lk.Attrs()
	return &net.Interface{Index: a.Index, MTU: a.MTU, Name: a.Name, HardwareAddr: a.HardwareAddr, Flags: a.Flags}, nil
}

func bindToDevice(ifname string) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
		}); err != nil {
			return err
		}
		return serr
	}
}

func (l *linuxNetwork) ListenVRRP(ifname string, f Family) (PacketConn, error) {
	return openIn(l, func() (PacketConn, error) { return l.listenVRRP(ifname, f) })
}

// openIn runs open in the network's namespace.
func openIn[T any](l *linuxNetwork, open func() (T, error)) (T, error) {
	var v T
	err := l.inNetns(func() error {
		var err error
		v, err = open()
		return err
	})
	return v, err
}

// listenVRRP opens the two halves of an advertisement socket: a receiver
// (recv_linux.go) and a sending socket that admits nothing, so that what it
// would receive neither queues nor wakes anyone.
func (l *linuxNetwork) listenVRRP(ifname string, f Family) (PacketConn, error) {
	ifi, err := l.iface(ifname)
	if err != nil {
		return nil, err
	}
	if f != IPv4 && f != IPv6 {
		return nil, fmt.Errorf("vrrp: family %v", f)
	}
	r, err := openReceiver(ifi, f)
	if err != nil {
		return nil, err
	}
	network, laddr := "ip4:112", "0.0.0.0"
	if f == IPv6 {
		network, laddr = "ip6:112", "::"
	}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		if err := bindToDevice(ifname)(network, address, c); err != nil {
			return err
		}
		var ferr error
		err := c.Control(func(fd uintptr) { ferr = attachFilter(int(fd), rejectAll) })
		return errors.Join(err, ferr)
	}}
	c, err := lc.ListenPacket(context.Background(), network, laddr)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	var steps []func() error
	var conn PacketConn
	if f == IPv4 {
		p := ipv4.NewPacketConn(c)
		steps = []func() error{
			func() error { return p.SetMulticastInterface(ifi) },
			func() error { return p.SetMulticastTTL(TTL) },
			func() error { return p.SetTTL(TTL) },
			func() error { return p.SetMulticastLoopback(false) },
			func() error { return p.SetTOS(tosInternetworkControl) },
		}
		conn = &conn4{p: p, r: r, ifindex: ifi.Index}
	} else {
		p := ipv6.NewPacketConn(c)
		steps = []func() error{
			func() error { return p.SetMulticastInterface(ifi) },
			func() error { return p.SetMulticastHopLimit(TTL) },
			func() error { return p.SetHopLimit(TTL) },
			func() error { return p.SetMulticastLoopback(false) },
			func() error { return p.SetTrafficClass(tosInternetworkControl) },
		}
		conn = &conn6{p: p, r: r, ifindex: ifi.Index}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// rejectAll is the socket filter of sockets that only send.
var rejectAll = func() []bpf.RawInstruction {
	prog, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		panic(err)
	}
	return prog
}()

// conn4 receives through its receiver: a raw IPv4 socket returns the IP
// header with each message, which gives the TTL and both addresses.
type conn4 struct {
	p       *ipv4.PacketConn
	r       *receiver
	ifindex int
}

func (c *conn4) ReadBatch(msgs []Message) (int, error) {
	k, err := c.r.read(msgs)
	if err != nil {
		return 0, err
	}
	for i := range k {
		b := msgs[i].Buf[:c.r.hdrs[i].Len]
		info := RecvInfo{TTL: -1, IfIndex: c.ifindex}
		ihl := 0
		if len(b) >= ipv4.HeaderLen && b[0]>>4 == 4 {
			ihl = min(int(b[0]&0x0f)*4, len(b))
			info.TTL = int(b[8])
			info.Src = netip.AddrFrom4([4]byte(b[12:16]))
			info.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		}
		msgs[i].Data, msgs[i].Info = b[ihl:], info
	}
	return k, nil
}

func (c *conn4) WriteTo(b []byte, src, dst netip.Addr) error {
	cm := &ipv4.ControlMessage{IfIndex: c.ifindex, Src: src.AsSlice()}
	_, err := c.p.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

func (c *conn4) SetVRIDs(vrids []uint8) error { return c.r.setVRIDs(vrids) }

func (c *conn4) Close() error { return errors.Join(c.r.Close(), c.p.Close()) }

// conn6 receives through its receiver too. A raw IPv6 socket returns the VRRP message
// alone: the source comes from the message's name, the hop limit and
// destination from control messages, parsed in place.
type conn6 struct {
	p       *ipv6.PacketConn
	r       *receiver
	ifindex int
}

// oob6 fits IPV6_HOPLIMIT and IPV6_PKTINFO.
var oob6 = unix.CmsgSpace(4) + unix.CmsgSpace(unix.SizeofInet6Pktinfo)

func (c *conn6) ReadBatch(msgs []Message) (int, error) {
	k, err := c.r.read(msgs)
	if err != nil {
		return 0, err
	}
	for i := range k {
		h := &c.r.hdrs[i]
		info := RecvInfo{TTL: -1}
		if name := c.r.names[i]; h.Hdr.Namelen >= unix.SizeofSockaddrInet6 && name.Family == unix.AF_INET6 {
			info.Src = netip.AddrFrom16(name.Addr)
		}
		oob := c.r.oob[i*oob6:]
		parseCmsg6(oob[:min(int(h.Hdr.Controllen), len(oob))], &info)
		msgs[i].Data, msgs[i].Info = msgs[i].Buf[:h.Len], info
	}
	return k, nil
}

// parseCmsg6 reads the hop limit and the packet info (destination, interface)
// from the control messages b without allocating.
func parseCmsg6(b []byte, info *RecvInfo) {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(b) {
			return
		}
		data := b[unix.CmsgLen(0):l]
		if h.Level == unix.IPPROTO_IPV6 {
			switch {
			case h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
				info.TTL = int(int32(binary.NativeEndian.Uint32(data)))
			case h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
				info.Dst = netip.AddrFrom16([16]byte(data[:16]))
				info.IfIndex = int(binary.NativeEndian.Uint32(data[16:20]))
			}
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(b) {
			return
		}
		b = b[next:]
	}
}

func (c *conn6) WriteTo(b []byte, src, dst netip.Addr) error {
	cm := &ipv6.ControlMessage{IfIndex: c.ifindex, Src: src.AsSlice(), HopLimit: TTL}
	_, err := c.p.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

func (c *conn6) SetVRIDs(vrids []uint8) error { return c.r.setVRIDs(vrids) }

func (c *conn6) Close() error { return errors.Join(c.r.Close(), c.p.Close()) }

func (l *linuxNetwork) AddAddress(ifname string, p netip.Prefix) error {
	lk, err := l.h.LinkByName(ifname)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: prefixNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := l.h.AddrAdd(lk, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("vrrp: add %v on %s: %w", p, ifname, err)
	}
	return nil
}

func (l *linuxNetwork) DelAddress(ifname string, p netip.Prefix) error {
	lk, err := l.h.LinkByName(ifname)
	if err != nil {
		return err
	}
	if err := l.h.AddrDel(lk, &netlink.Addr{IPNet: prefixNet(p)}); err != nil &&
		!errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("vrrp: delete %v on %s: %w", p, ifname, err)
	}
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

func (l *linuxNetwork) Announcer(ifname string, f Family) (Announcer, error) {
	return openIn(l, func() (Announcer, error) { return l.announcer(ifname, f) })
}

func (l *linuxNetwork) announcer(ifname string, f Family) (Announcer, error) {
	ifi, err := l.iface(ifname)
	if err != nil {
		return nil, err
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("vrrp: %s has no ethernet address", ifname)
	}
	switch f {
	case IPv4:
		c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		if err != nil {
			return nil, fmt.Errorf("vrrp: arp socket on %s: %w", ifname, err)
		}
		// We only send: a filter that accepts nothing keeps the receive queue empty.
		if err := c.SetBPF(rejectAll); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("vrrp: arp socket filter: %w", err)
		}
		return &garp{c: c, mac: ifi.HardwareAddr}, nil
	case IPv6:
		c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
		if err != nil {
			return nil, fmt.Errorf("vrrp: ndp socket on %s: %w", ifname, err)
		}
		var filt ipv6.ICMPFilter
		filt.SetAll(true)
		if err := c.SetICMPFilter(&filt); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("vrrp: ndp socket filter: %w", err)
		}
		return &unsolicitedNA{c: c, mac: ifi.HardwareAddr}, nil
	}
	return nil, fmt.Errorf("vrrp: family %v", f)
}

// garp sends gratuitous ARP in both forms (RFC 5227 section 3): a request and a
// reply, each with sender and target protocol address set to the announced address.
type garp struct {
	c   *packet.Conn
	mac net.HardwareAddr
}

func (g *garp) Announce(a netip.Addr) error {
	for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
		tha := ethernet.Broadcast
		if op == arp.OperationReply {
			tha = g.mac
		}
		p, err := arp.NewPacket(op, g.mac, a, tha, a)
		if err != nil {
			return err
		}
		pb, err := p.MarshalBinary()
		if err != nil {
			return err
		}
		f := &ethernet.Frame{Destination: ethernet.Broadcast, Source: g.mac, EtherType: ethernet.EtherTypeARP, Payload: pb}
		fb, err := f.MarshalBinary()
		if err != nil {
			return err
		}
		if _, err := g.c.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
			return fmt.Errorf("vrrp: gratuitous arp for %v: %w", a, err)
		}
	}
	return nil
}

func (g *garp) Close() error { return g.c.Close() }

// unsolicitedNA sends unsolicited neighbour advertisements (RFC 4861 section 7.2.6) to
// all-nodes with the override flag and our link-layer address.
type unsolicitedNA struct {
	c   *ndp.Conn
	mac net.HardwareAddr
}

var allNodes = netip.MustParseAddr("ff02::1")

func (u *unsolicitedNA) Announce(a netip.Addr) error {
	m := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: a,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: u.mac}},
	}
	if err := u.c.WriteTo(m, nil, allNodes); err != nil {
		return fmt.Errorf("vrrp: unsolicited na for %v: %w", a, err)
	}
	return nil
}

func (u *unsolicitedNA) Close() error { return u.c.Close() }

func (l *linuxNetwork) Watch(ctx context.Context, ch chan<- NetEvent) error {
	done := make(chan struct{})
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 256)
	var errMu sync.Mutex
	var subErr error
	errCb := func(err error) {
		errMu.Lock()
		if subErr == nil {
			subErr = err
		}
		errMu.Unlock()
	}
	const rcvbuf = 1 << 20
	// In the namespace rather than with Namespace: set, which would setns
	// (CAP_SYS_ADMIN) even into the namespace the thread is in.
	if err := l.inNetns(func() error {
		return netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{
			ErrorCallback: errCb, ReceiveBufferSize: rcvbuf})
	}); err != nil {
		return err
	}
	if err := l.inNetns(func() error {
		return netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{
			ErrorCallback: errCb, ReceiveBufferSize: rcvbuf})
	}); err != nil {
		close(done)
		return err
	}
	send := func(ev NetEvent) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	failed := func() {
		errMu.Lock()
		err := subErr
		errMu.Unlock()
		if err == nil {
			err = errors.New("subscription closed")
		}
		send(NetEvent{Kind: WatchFailed, Err: fmt.Errorf("vrrp: netlink subscription: %w", err)})
	}
	l.watchers.Add(1)
	go func() {
		defer l.watchers.Done()
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-links:
				if !ok {
					failed()
					return
				}
				a := u.Link.Attrs()
				up := u.Header.Type != unix.RTM_DELLINK && a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
				if !send(NetEvent{Kind: LinkChanged, Ifname: a.Name, Up: up}) {
					return
				}
			case u, ok := <-addrs:
				if !ok {
					failed()
					return
				}
				lk, err := l.h.LinkByIndex(u.LinkIndex)
				if err != nil {
					continue
				}
				ip, ok := netip.AddrFromSlice(u.LinkAddress.IP)
				if !ok {
					continue
				}
				if u.LinkAddress.IP.To4() != nil {
					ip = ip.Unmap()
				}
				ones, _ := u.LinkAddress.Mask.Size()
				kind := AddressRemoved
				if u.NewAddr {
					kind = AddressAdded
				}
				if !send(NetEvent{Kind: kind, Ifname: lk.Attrs().Name, Prefix: netip.PrefixFrom(ip, ones)}) {
					return
				}
			}
		}
	}()
	return nil
}
