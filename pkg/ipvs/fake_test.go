package ipvs

// A fake kernel: an in-memory IPVS behind the Conn interface, answering
// with netlink messages framed as the kernel frames them, so the client's
// batching, sequence matching, multi-part dumps, DUMP_INTR, error mapping
// and timeouts can be tested without root.

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

const fakeFamily = 0x20

type fakeKernel struct {
	mu       sync.Mutex
	kick     chan struct{}
	deadline time.Time
	queue    [][]byte
	closed   bool

	// Knobs.
	noFamily  bool
	perDgram  int  // dump messages per datagram (default 4)
	intrOnce  bool // set NLM_F_DUMP_INTR on the next dump's first message
	stall     int  // swallow the replies of this many sendmsg calls
	lateStale bool // deliver swallowed replies before the next ones
	mangle    func(dgram []byte) []byte

	// Observations.
	sends    [][]byte // each sendmsg's buffer (copied)
	stalled  [][]byte
	services []fakeService
}

type fakeService struct {
	s     Service
	dests []Destination
}

func newFakeKernel() *fakeKernel { return &fakeKernel{kick: make(chan struct{}, 1), perDgram: 4} }

func (k *fakeKernel) Family(name string) (uint16, error) {
	if k.noFamily || name != "IPVS" {
		return 0, &os.SyscallError{Syscall: "getfamily", Err: syscall.ENOENT}
	}
	return fakeFamily, nil
}

func (k *fakeKernel) SetDeadline(t time.Time) error {
	k.mu.Lock()
	k.deadline = t
	k.mu.Unlock()
	k.wake()
	return nil
}

func (k *fakeKernel) wake() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

func (k *fakeKernel) Close() error {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	k.wake()
	return nil
}

func (k *fakeKernel) Receive(b []byte) (int, error) {
	for {
		k.mu.Lock()
		if k.closed {
			k.mu.Unlock()
			return 0, os.ErrClosed
		}
		if len(k.queue) > 0 {
			d := k.queue[0]
			k.queue = k.queue[1:]
			k.mu.Unlock()
			if len(d) > len(b) {
				return 0, errors.New("fake: datagram longer than the buffer")
			}
			return copy(b, d), nil
		}
		dl := k.deadline
		k.mu.Unlock()
		var timer <-chan time.Time
		if !dl.IsZero() {
			wait := time.Until(dl)
			if wait <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-k.kick:
		case <-timer:
		}
	}
}

func (k *fakeKernel) Send(b []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return os.ErrClosed
	}
	k.sends = append(k.sends, append([]byte(nil), b...))
	var out [][]byte
	for len(b) > 0 {
		m, rest, err := nextMsg(b)
		if err != nil {
			return err
		}
		b = rest
		out = append(out, k.handle(m)...)
	}
	if k.mangle != nil {
		for i := range out {
			out[i] = k.mangle(out[i])
		}
	}
	if k.stall > 0 {
		k.stall--
		k.stalled = append(k.stalled, out...)
		return nil
	}
	if k.lateStale {
		k.queue = append(k.queue, k.stalled...)
		k.stalled = nil
	}
	k.queue = append(k.queue, out...)
	k.wake()
	return nil
}

// ack frames an NLMSG_ERROR as a NETLINK_CAP_ACK socket gets it.
func ack(m nlMsg, errno syscall.Errno) []byte {
	b := ne.AppendUint32(nil, 36)
	b = ne.AppendUint16(b, u.NLMSG_ERROR)
	flags := uint16(u.NLM_F_CAPPED)
	b = ne.AppendUint16(b, flags)
	b = ne.AppendUint32(b, m.seq)
	b = ne.AppendUint32(b, 1234)
	b = ne.AppendUint32(b, uint32(-int32(errno)))
	// The request's header (capped: no payload).
	b = ne.AppendUint32(b, uint32(u.NLMSG_HDRLEN+len(m.payload)))
	b = ne.AppendUint16(b, m.typ)
	b = ne.AppendUint16(b, m.flags)
	b = ne.AppendUint32(b, m.seq)
	return ne.AppendUint32(b, 0)
}

func done(seq uint32) []byte {
	b := ne.AppendUint32(nil, 20)
	b = ne.AppendUint16(b, u.NLMSG_DONE)
	b = ne.AppendUint16(b, u.NLM_F_MULTI)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 1234)
	return ne.AppendUint32(b, 0)
}

// reply frames one generic netlink reply message around attrs.
func reply(seq uint32, cmd uint8, flags uint16, attrs []byte) []byte {
	b := beginMsg(nil, header{family: fakeFamily, flags: flags, seq: seq, cmd: cmd})
	ne.PutUint16(b[6:], flags) // no NLM_F_REQUEST on replies
	b = append(b, attrs...)
	return endMsg(b, 0)
}

// kernelService packs a service as the kernel does (16-byte address, stats).
func kernelService(s Service) []byte {
	b, nest := beginNest(nil, u.IPVS_CMD_ATTR_SERVICE)
	b = putU16(b, u.IPVS_SVC_ATTR_AF, uint16(s.Family))
	if s.FWMark != 0 {
		b = putU32(b, u.IPVS_SVC_ATTR_FWMARK, s.FWMark)
	} else {
		b = putU16(b, u.IPVS_SVC_ATTR_PROTOCOL, uint16(s.Protocol))
		a := s.Address.As16()
		if s.Family == IPv4 {
			a4 := s.Address.As4()
			a = [16]byte{a4[0], a4[1], a4[2], a4[3]}
		}
		b = putBytes(b, u.IPVS_SVC_ATTR_ADDR, a[:])
		b = putBE16(b, u.IPVS_SVC_ATTR_PORT, s.Port)
	}
	b = putString(b, u.IPVS_SVC_ATTR_SCHED_NAME, s.Scheduler)
	b = attrHdr(b, u.IPVS_SVC_ATTR_FLAGS, 8)
	b = ne.AppendUint32(b, uint32(s.Flags|hashedFlag))
	b = ne.AppendUint32(b, ^uint32(0))
	b = putU32(b, u.IPVS_SVC_ATTR_TIMEOUT, s.Timeout)
	b = appendNetmask(b, s.Family, s.Netmask)
	st, sn := beginNest(b, u.IPVS_SVC_ATTR_STATS64)
	st = append(attrHdr(st, u.IPVS_STATS_ATTR_CONNS, 8), ne.AppendUint64(nil, s.Stats.Connections)...)
	b = endNest(st, sn)
	return endNest(b, nest)
}

func kernelDest(d Destination) []byte {
	b, nest := beginNest(nil, u.IPVS_CMD_ATTR_DEST)
	b = putAddr(b, u.IPVS_DEST_ATTR_ADDR, d.Address, d.Family)
	b = putBE16(b, u.IPVS_DEST_ATTR_PORT, d.Port)
	b = putU32(b, u.IPVS_DEST_ATTR_FWD_METHOD, uint32(d.Forward))
	b = putU32(b, u.IPVS_DEST_ATTR_WEIGHT, d.Weight)
	b = putU16(b, u.IPVS_DEST_ATTR_ADDR_FAMILY, uint16(d.Family))
	return endNest(b, nest)
}

func (k *fakeKernel) find(s Service) int {
	for i := range k.services {
		if k.services[i].s.Key() == s.Key() {
			return i
		}
	}
	return -1
}

func (k *fakeKernel) handle(m nlMsg) [][]byte {
	if m.typ != fakeFamily || len(m.payload) < 4 {
		return [][]byte{ack(m, syscall.EINVAL)}
	}
	cmd := m.payload[0]
	var svc *Service
	var dst *Destination
	it := attrs(m.payload[4:])
	for it.next() {
		switch it.typ {
		case u.IPVS_CMD_ATTR_SERVICE:
			svc = new(Service)
			if err := decodeServiceAttrs(it.data, svc); err != nil {
				return [][]byte{ack(m, syscall.EINVAL)}
			}
		case u.IPVS_CMD_ATTR_DEST:
			dst = new(Destination)
			if err := decodeDestAttrs(it.data, svc.Family, dst); err != nil {
				return [][]byte{ack(m, syscall.EINVAL)}
			}
		}
	}
	var errno syscall.Errno
	var data [][]byte
	switch cmd {
	case u.IPVS_CMD_NEW_SERVICE:
		if k.find(*svc) >= 0 {
			errno = syscall.EEXIST
		} else if svc.Scheduler == "nosuch" {
			errno = syscall.ENOENT
		} else {
			k.services = append(k.services, fakeService{s: *svc})
		}
	case u.IPVS_CMD_DEL_SERVICE:
		if i := k.find(*svc); i < 0 {
			errno = syscall.ESRCH
		} else {
			k.services = append(k.services[:i], k.services[i+1:]...)
		}
	case u.IPVS_CMD_NEW_DEST:
		i := k.find(*svc)
		switch {
		case i < 0:
			errno = syscall.ESRCH
		default:
			for _, d := range k.services[i].dests {
				if d.Key() == dst.Key() {
					errno = syscall.EEXIST
				}
			}
			if errno == 0 {
				k.services[i].dests = append(k.services[i].dests, *dst)
			}
		}
	case u.IPVS_CMD_GET_SERVICE:
		if m.flags&u.NLM_F_DUMP == 0 {
			i := k.find(*svc)
			if i < 0 {
				errno = syscall.ESRCH
				break
			}
			data = append(data, reply(m.seq, u.IPVS_CMD_NEW_SERVICE, 0, kernelService(k.services[i].s)))
			break
		}
		for _, s := range k.services {
			data = append(data, reply(m.seq, u.IPVS_CMD_NEW_SERVICE, u.NLM_F_MULTI, kernelService(s.s)))
		}
	case u.IPVS_CMD_GET_DEST:
		if i := k.find(*svc); i >= 0 {
			for _, d := range k.services[i].dests {
				data = append(data, reply(m.seq, u.IPVS_CMD_NEW_DEST, u.NLM_F_MULTI, kernelDest(d)))
			}
		}
	case u.IPVS_CMD_FLUSH:
		k.services = nil
	default:
		errno = syscall.EOPNOTSUPP
	}
	if m.flags&u.NLM_F_DUMP != 0 {
		// Pack the dump into datagrams of perDgram messages, then DONE.
		var out [][]byte
		for i := 0; i < len(data); i += k.perDgram {
			var dg []byte
			for j := i; j < len(data) && j < i+k.perDgram; j++ {
				msg := data[j]
				if k.intrOnce && j == 0 {
					ne.PutUint16(msg[6:], ne.Uint16(msg[6:])|u.NLM_F_DUMP_INTR)
					k.intrOnce = false
				}
				dg = append(dg, msg...)
			}
			out = append(out, dg)
		}
		return append(out, done(m.seq))
	}
	out := data
	if errno != 0 || m.flags&u.NLM_F_ACK != 0 {
		out = append(out, ack(m, errno))
	}
	return out
}
