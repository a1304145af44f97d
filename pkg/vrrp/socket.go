package vrrp

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Receive buffers: a reader fills one batch while Run works through the other,
// so no message is copied and none allocated per packet.
const (
	rxBatchSize  = 64
	rxBatchCount = 2
	// rxCoalesce is how long a busy reader lets messages gather before it reads
	// again, unless its last read filled a batch. A flood then costs a few
	// wake-ups per millisecond instead of a couple per packet, and an
	// advertisement waits at most this long when another arrived just before
	// it; a quiet socket is read at once.
	rxCoalesce = time.Millisecond
)

// rxBufSize returns the buffer that holds the longest advertisement of the
// family (255 addresses), behind a 60 byte IPv4 header for IPv4; a longer
// packet is cut and then fails the length checks.
func rxBufSize(f Family) int {
	if f == IPv4 {
		return 60 + HeaderLen + 255*4
	}
	return HeaderLen + 255*16
}

type sockKey struct {
	ifname string
	fam    Family
}

// socket is one advertisement socket (per interface and family) with the
// instances it carries and its announcer.
type socket struct {
	key    sockKey
	conn   PacketConn
	ann    Announcer
	byVRID [256]*instance
	// filtered is the VRID set the conn admits.
	filtered []uint8
	reading  bool
	// free holds the batches the reader may fill; stop ends the reader.
	free   chan *rxBatch
	stop   chan struct{}
	closed bool
}

type rxBatch struct {
	sock *socket
	msgs []Message
	n    int
}

func newSocket(key sockKey, conn PacketConn) *socket {
	s := &socket{key: key, conn: conn, free: make(chan *rxBatch, rxBatchCount), stop: make(chan struct{})}
	for range rxBatchCount {
		b := &rxBatch{sock: s, msgs: make([]Message, rxBatchSize)}
		for i := range b.msgs {
			b.msgs[i].Buf = make([]byte, rxBufSize(key.fam))
		}
		s.free <- b
	}
	return s
}

// vrids returns the VRIDs of the socket's instances, ascending.
func (s *socket) vrids() []uint8 {
	var out []uint8
	for v, inst := range s.byVRID {
		if inst != nil {
			out = append(out, uint8(v))
		}
	}
	return out
}

// openSockets reads the interfaces and opens the sockets machines need that are
// not open yet. It changes nothing unless every one succeeds.
func (n *Node) openSockets(machines []*Machine) error {
	var opened []*socket
	fail := func(err error) error {
		for _, s := range opened {
			_ = s.conn.Close()
		}
		return err
	}
	for _, m := range machines {
		cfg := m.Config()
		if _, ok := n.ifaces[cfg.Interface]; !ok {
			l, err := n.net.Link(cfg.Interface)
			if err != nil {
				return fail(fmt.Errorf("vrrp: interface %s: %w", cfg.Interface, err))
			}
			n.ifaces[cfg.Interface] = &ifState{link: l, up: l.Up, known: true}
		}
		key := sockKey{cfg.Interface, cfg.Family}
		if n.sockets[key] != nil || slices.ContainsFunc(opened, func(s *socket) bool { return s.key == key }) {
			continue
		}
		conn, err := n.net.ListenVRRP(cfg.Interface, cfg.Family)
		if err != nil {
			return fail(fmt.Errorf("vrrp: %v socket on %s: %w", cfg.Family, cfg.Interface, err))
		}
		opened = append(opened, newSocket(key, conn))
	}
	for _, s := range opened {
		n.sockets[s.key] = s
	}
	return nil
}

// syncSockets makes each socket's kernel filter admit the VRIDs of its
// instances, closes sockets left without instances and starts the readers of
// new ones.
func (n *Node) syncSockets() {
	for key, s := range n.sockets {
		vrids := s.vrids()
		if len(vrids) == 0 {
			n.closeSocket(s)
			delete(n.sockets, key)
			continue
		}
		if !slices.Equal(vrids, s.filtered) || s.filtered == nil {
			if err := s.conn.SetVRIDs(vrids); err != nil {
				// The Node checks every packet anyway: it only costs more CPU.
				n.log.Error("vrrp: socket filter not installed, every VRRP packet on the interface reaches userspace",
					zap.String("interface", key.ifname), zap.Stringer("family", key.fam), zap.Error(err))
			} else {
				s.filtered = vrids
			}
		}
		if !s.reading {
			s.reading = true
			n.readers.Add(1)
			go n.read(s)
		}
	}
}

func (n *Node) closeSocket(s *socket) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.stop)
	_ = s.conn.Close()
	if s.ann != nil {
		_ = s.ann.Close()
	}
	n.limiter.forget(s)
}

func (n *Node) closeSockets() {
	for _, s := range n.sockets {
		n.closeSocket(s)
	}
}

// read hands batches of messages from s to Run until the socket is closed.
func (n *Node) read(s *socket) {
	defer n.readers.Done()
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	// wait returns false when the socket closes first.
	wait := func(d time.Duration) bool {
		pause.Reset(d)
		select {
		case <-s.stop:
			return false
		case <-pause.C:
			return true
		}
	}
	var last time.Time
	full := false
	for {
		var b *rxBatch
		select {
		case b = <-s.free:
		case <-s.stop:
			return
		}
		if since := time.Since(last); !full && since < rxCoalesce && !wait(rxCoalesce-since) {
			return
		}
		k, err := s.conn.ReadBatch(b.msgs)
		last, full = time.Now(), k == len(b.msgs)
		if err != nil {
			s.free <- b
			select {
			case <-s.stop:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n.log.Warn("vrrp read", zap.String("interface", s.key.ifname), zap.Error(err))
			if !wait(100 * time.Millisecond) {
				return
			}
			continue
		}
		b.n = k
		select {
		case n.pktCh <- b:
		case <-s.stop:
			return
		}
	}
}

// receiveBatch processes a batch and gives its buffers back to the reader.
func (n *Node) receiveBatch(b *rxBatch) {
	if !b.sock.closed {
		now := n.clock.Now()
		for i := range b.n {
			n.receive(now, b.sock, &b.msgs[i])
		}
	}
	b.sock.free <- b
}
