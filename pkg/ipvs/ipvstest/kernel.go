// Package ipvstest is a fake of the kernel's IPVS for tests: an in-memory
// model of net/netfilter/ipvs/ip_vs_ctl.c behind pkg/ipvs's Conn
// interface, answering generic netlink requests with the messages the
// kernel would send, so that code built on pkg/ipvs can be tested without
// root or a VM.
//
//	k := ipvstest.NewKernel()
//	c, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
//
// The model keeps the kernel's rules: what it refuses and with which errno
// (EEXIST, ENOENT, ESRCH, EINVAL, ERANGE, EAFNOSUPPORT), what it stores as
// sent and what it normalises, and how a dump is produced one part at a
// time as the reader consumes the previous one, resuming by position, so
// that changes made while a dump is read repeat or skip entries as they do
// in the kernel. Each Conn is one socket with its own replies and dump.
//
// Knobs make the kernel misbehave on purpose: fail the next requests with
// an errno, leave an entry out of dumps or repeat it, flag a dump
// interrupted, hold replies back or delay them, mangle them. State can be
// changed behind the client's back, as another tool would (Flush, SetWeight
// and the rest), and the requests received are logged (Count, Sendmsgs).
package ipvstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/seesawd/seesawd/pkg/ipvs"
	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

// FamilyID is the generic netlink family ID the fake kernel gives IPVS.
const FamilyID = 0x2a

// Cmd is an IPVS generic netlink command.
type Cmd uint8

// The IPVS commands (IPVS_CMD_*).
const (
	CmdNewService Cmd = u.IPVS_CMD_NEW_SERVICE
	CmdSetService Cmd = u.IPVS_CMD_SET_SERVICE
	CmdDelService Cmd = u.IPVS_CMD_DEL_SERVICE
	CmdGetService Cmd = u.IPVS_CMD_GET_SERVICE
	CmdNewDest    Cmd = u.IPVS_CMD_NEW_DEST
	CmdSetDest    Cmd = u.IPVS_CMD_SET_DEST
	CmdDelDest    Cmd = u.IPVS_CMD_DEL_DEST
	CmdGetDest    Cmd = u.IPVS_CMD_GET_DEST
	CmdNewDaemon  Cmd = u.IPVS_CMD_NEW_DAEMON
	CmdDelDaemon  Cmd = u.IPVS_CMD_DEL_DAEMON
	CmdGetDaemon  Cmd = u.IPVS_CMD_GET_DAEMON
	CmdSetConfig  Cmd = u.IPVS_CMD_SET_CONFIG
	CmdGetConfig  Cmd = u.IPVS_CMD_GET_CONFIG
	CmdGetInfo    Cmd = u.IPVS_CMD_GET_INFO
	CmdZero       Cmd = u.IPVS_CMD_ZERO
	CmdFlush      Cmd = u.IPVS_CMD_FLUSH
)

var cmdNames = [...]string{"unspec", "new-service", "set-service", "del-service", "get-service",
	"new-dest", "set-dest", "del-dest", "get-dest", "new-daemon", "del-daemon", "get-daemon",
	"set-config", "get-config", "set-info", "get-info", "zero", "flush"}

// String returns "new-service", "get-dest", ... or the number.
func (c Cmd) String() string {
	if int(c) < len(cmdNames) {
		return cmdNames[c]
	}
	return fmt.Sprintf("cmd(%d)", uint8(c))
}

// Netlink request flags, as a Request's Flags carry them.
const (
	FlagAck  = u.NLM_F_ACK
	FlagDump = u.NLM_F_DUMP
)

// Request is one request message the kernel received.
type Request struct {
	Cmd   Cmd
	Flags uint16 // netlink flags: FlagAck, FlagDump, ...
	Seq   uint32
	// Errno is what the kernel answered: 0 for success (and for every
	// dump, whose errors come with its parts).
	Errno syscall.Errno
}

// Dump reports whether the request asked for a dump.
func (r Request) Dump() bool { return r.Flags&FlagDump == FlagDump }

// Kernel is a fake IPVS: one network namespace's services, destinations,
// timeouts and sync daemons, reached through any number of Conns. It is
// safe for concurrent use.
type Kernel struct {
	mu      sync.Mutex
	st      state
	conns   []*Conn
	waiting chan struct{}
	admin   *ipvs.Client

	// Knobs.
	unloaded   bool
	partSize   int
	intrNext   bool
	fails      []failRule
	miss       map[dumpKey]int
	repeat     map[dumpKey]int
	blocked    bool
	latency    time.Duration
	stallSends int
	mangle     func([]byte) []byte

	// Observations.
	log [][]Request
}

type failRule struct {
	cmd   Cmd // 0: any
	n     int
	errno syscall.Errno
}

// dumpKey names a service, or a destination of one, for the dump knobs.
type dumpKey struct {
	svc  ipvs.ServiceKey
	dest ipvs.DestinationKey // zero for the service itself
}

// NewKernel returns a fake kernel with IPVS loaded, no services, and the
// kernel's default timeouts (900, 120, 300 s).
func NewKernel() *Kernel {
	return &Kernel{st: newState(), waiting: make(chan struct{}, 1),
		miss: map[dumpKey]int{}, repeat: map[dumpKey]int{}}
}

// Conn opens a socket to the kernel: one Client's worth of replies and at
// most one dump in progress, as a netlink socket has.
func (k *Kernel) Conn() *Conn { return k.newConn(false) }

func (k *Kernel) newConn(admin bool) *Conn {
	c := &Conn{k: k, kick: make(chan struct{}, 1), admin: admin}
	k.mu.Lock()
	k.conns = append(k.conns, c)
	k.mu.Unlock()
	return c
}

// Unload makes the kernel one without IPVS: Family fails from now on, as
// it does before `modprobe ip_vs`.
func (k *Kernel) Unload() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.unloaded = true
}

// SetDumpPartSize makes every dump part carry n entries; 0 (the default)
// fills parts up to about 4 KiB, as the kernel's NLMSG_GOODSIZE buffers.
func (k *Kernel) SetDumpPartSize(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.partSize = n
}

// InterruptNextDump sets NLM_F_DUMP_INTR on the messages of the next dump,
// which IPVS itself never does.
func (k *Kernel) InterruptNextDump() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.intrNext = true
}

// FailNext answers the next n requests of command cmd (0: of any command)
// with errno, without carrying them out.
func (k *Kernel) FailNext(cmd Cmd, n int, errno syscall.Errno) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fails = append(k.fails, failRule{cmd: cmd, n: n, errno: errno})
}

// MissInDumps leaves service svc out of the next n service dumps, as a
// dump read while other services come and go can. Reading it alone
// (Client.Service) still finds it.
func (k *Kernel) MissInDumps(svc ipvs.ServiceKey, n int) { k.knob(k.miss, dumpKey{svc: svc}, n) }

// RepeatInDumps lists service svc twice in the next n service dumps.
func (k *Kernel) RepeatInDumps(svc ipvs.ServiceKey, n int) { k.knob(k.repeat, dumpKey{svc: svc}, n) }

// MissDestinationInDumps leaves destination d of service svc out of the
// next n dumps of svc's destinations.
func (k *Kernel) MissDestinationInDumps(svc ipvs.ServiceKey, d ipvs.DestinationKey, n int) {
	k.knob(k.miss, dumpKey{svc: svc, dest: d}, n)
}

// RepeatDestinationInDumps lists destination d of service svc twice in
// the next n dumps of svc's destinations.
func (k *Kernel) RepeatDestinationInDumps(svc ipvs.ServiceKey, d ipvs.DestinationKey, n int) {
	k.knob(k.repeat, dumpKey{svc: svc, dest: d}, n)
}

func (k *Kernel) knob(m map[dumpKey]int, key dumpKey, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m[key] = n
}

// Block holds every reply back, on every Conn, until Unblock. A Receive
// waits meanwhile, until its deadline.
func (k *Kernel) Block() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.blocked = true
}

// Unblock releases the replies Block held back.
func (k *Kernel) Unblock() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.blocked = false
	k.wakeAll()
}

// SetLatency makes each reply readable only d after its request was sent
// (for a dump, after the part before it was read). It applies to the
// replies already queued too: SetLatency(0) releases them.
func (k *Kernel) SetLatency(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.latency = d
	k.wakeAll()
}

// StallReplies holds back the replies to the next n sendmsg calls on any
// Conn; each Conn gets them, stale, just before the replies to its next
// sendmsg after that.
func (k *Kernel) StallReplies(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stallSends = n
}

// Mangle passes every reply datagram through f before it is queued (nil:
// none), to feed a client malformed replies.
func (k *Kernel) Mangle(f func(datagram []byte) []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.mangle = f
}

// Waiting returns a channel that receives a value when a Receive on any
// Conn starts waiting for a reply (at most one value is buffered): the
// condition to wait on, rather than a sleep, before cancelling or closing a
// blocked call.
func (k *Kernel) Waiting() <-chan struct{} { return k.waiting }

// Count returns how many requests of command cmd (0: of any command) the
// kernel has received, dumps included.
func (k *Kernel) Count(cmd Cmd) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, batch := range k.log {
		for _, r := range batch {
			if cmd == 0 || r.Cmd == cmd {
				n++
			}
		}
	}
	return n
}

// Sendmsgs returns the requests received so far, one slice per sendmsg.
func (k *Kernel) Sendmsgs() [][]Request {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([][]Request, len(k.log))
	for i, b := range k.log {
		out[i] = append([]Request(nil), b...)
	}
	return out
}

// ResetLog forgets the requests received so far.
func (k *Kernel) ResetLog() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.log = nil
}

// client returns the Client through which the state methods act, as
// another tool on the same kernel would: its Conn bypasses every knob and
// the log.
func (k *Kernel) client() *ipvs.Client {
	k.mu.Lock()
	c := k.admin
	k.mu.Unlock()
	if c != nil {
		return c
	}
	c, err := ipvs.New(&ipvs.Config{Conn: k.newConn(true), Timeout: -1})
	if err != nil {
		panic("ipvstest: " + err.Error()) // the fake's own Conn cannot fail this
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.admin == nil {
		k.admin = c
	} else {
		_ = c.Close()
	}
	return k.admin
}

// State returns every service with its destinations, as a dump would
// report them, bypassing every knob.
func (k *Kernel) State() []ipvs.ServiceDestinations {
	all, err := k.client().DumpAll(context.Background())
	if err != nil {
		panic("ipvstest: " + err.Error()) // nothing changes it behind this dump's back but a test racing itself
	}
	return all
}

// Flush removes every service, as `ipvsadm -C` does.
func (k *Kernel) Flush() error { return k.client().Flush(context.Background()) }

// AddService creates a service behind the client's back.
func (k *Kernel) AddService(s ipvs.Service) error {
	return k.client().CreateService(context.Background(), s)
}

// UpdateService changes a service behind the client's back.
func (k *Kernel) UpdateService(s ipvs.Service) error {
	return k.client().UpdateService(context.Background(), s)
}

// RemoveService removes a service behind the client's back.
func (k *Kernel) RemoveService(s ipvs.Service) error {
	return k.client().RemoveService(context.Background(), s)
}

// AddDestination creates a destination behind the client's back.
func (k *Kernel) AddDestination(s ipvs.Service, d ipvs.Destination) error {
	return k.client().CreateDestination(context.Background(), s, d)
}

// UpdateDestination changes a destination behind the client's back.
func (k *Kernel) UpdateDestination(s ipvs.Service, d ipvs.Destination) error {
	return k.client().UpdateDestination(context.Background(), s, d)
}

// RemoveDestination removes a destination behind the client's back.
func (k *Kernel) RemoveDestination(s ipvs.Service, d ipvs.Destination) error {
	return k.client().RemoveDestination(context.Background(), s, d)
}

// errNoSuch is what the direct state setters return for a missing object.
var errNoSuch = fmt.Errorf("ipvstest: %w", os.ErrNotExist)

// SetWeight sets the weight of destination d of service svc, as a
// hand-edited `ipvsadm -e -w` would.
func (k *Kernel) SetWeight(svc ipvs.ServiceKey, d ipvs.DestinationKey, weight uint32) error {
	return k.editDest(svc, d, func(x *dest) { x.weight = int32(weight) })
}

// SetConnections sets the connection counters of destination d of service
// svc, as traffic would.
func (k *Kernel) SetConnections(svc ipvs.ServiceKey, d ipvs.DestinationKey, active, inactive, persistent uint32) error {
	return k.editDest(svc, d, func(x *dest) { x.active, x.inactive, x.persist = active, inactive, persistent })
}

// SetStats sets the counters of destination d of service svc (and adds
// the difference to the service's), as traffic would.
func (k *Kernel) SetStats(svc ipvs.ServiceKey, d ipvs.DestinationKey, st ipvs.Stats) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.st.findKey(svc)
	if s == nil {
		return errNoSuch
	}
	for _, x := range s.dests {
		if x.key() == d {
			x.stats = st
			s.stats = ipvs.Stats{}
			for _, y := range s.dests {
				addStats(&s.stats, &y.stats)
			}
			return nil
		}
	}
	return errNoSuch
}

func addStats(a, b *ipvs.Stats) {
	a.Connections += b.Connections
	a.PacketsIn += b.PacketsIn
	a.PacketsOut += b.PacketsOut
	a.BytesIn += b.BytesIn
	a.BytesOut += b.BytesOut
	a.CPS += b.CPS
	a.PPSIn += b.PPSIn
	a.PPSOut += b.PPSOut
	a.BPSIn += b.BPSIn
	a.BPSOut += b.BPSOut
}

func (k *Kernel) editDest(svc ipvs.ServiceKey, d ipvs.DestinationKey, f func(*dest)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.st.findKey(svc)
	if s == nil {
		return errNoSuch
	}
	for _, x := range s.dests {
		if x.key() == d {
			f(x)
			return nil
		}
	}
	return errNoSuch
}

func (k *Kernel) wakeAll() {
	for _, c := range k.conns {
		c.wake()
	}
}

// handle carries out one request from Conn c and returns its replies. It
// runs with k.mu held.
func (k *Kernel) handle(c *Conn, m nlmsg) ([][]byte, Request) {
	if m.typ != FamilyID || len(m.payload) < u.GENL_HDRLEN {
		return [][]byte{errMsg(m, syscall.EINVAL)}, Request{Flags: m.flags, Seq: m.seq, Errno: syscall.EINVAL}
	}
	cmd := m.payload[0]
	req := Request{Cmd: Cmd(cmd), Flags: m.flags, Seq: m.seq}
	if !c.admin {
		for i := range k.fails {
			f := &k.fails[i]
			if f.n > 0 && (f.cmd == 0 || f.cmd == req.Cmd) {
				f.n--
				req.Errno = f.errno
				return [][]byte{errMsg(m, f.errno)}, req
			}
		}
	}
	a, err := parseAttrs(m.payload[u.GENL_HDRLEN:], u.IPVS_CMD_ATTR_MAX, cmdPolicy)
	if err != nil {
		req.Errno = syscall.EINVAL
		return [][]byte{errMsg(m, syscall.EINVAL)}, req
	}
	if m.flags&u.NLM_F_DUMP == u.NLM_F_DUMP {
		switch cmd {
		case u.IPVS_CMD_GET_SERVICE, u.IPVS_CMD_GET_DEST, u.IPVS_CMD_GET_DAEMON:
		default:
			req.Errno = syscall.EOPNOTSUPP
			return [][]byte{errMsg(m, syscall.EOPNOTSUPP)}, req
		}
		if c.dump != nil {
			req.Errno = syscall.EBUSY
			return [][]byte{errMsg(m, syscall.EBUSY)}, req
		}
		c.dump = k.startDump(c, m.seq, cmd, a[u.IPVS_CMD_ATTR_SERVICE])
		return [][]byte{k.dumpPart(c)}, req
	}
	var data [][]byte
	var errno syscall.Errno
	switch cmd {
	case u.IPVS_CMD_NEW_SERVICE, u.IPVS_CMD_SET_SERVICE, u.IPVS_CMD_DEL_SERVICE,
		u.IPVS_CMD_NEW_DEST, u.IPVS_CMD_SET_DEST, u.IPVS_CMD_DEL_DEST,
		u.IPVS_CMD_ZERO, u.IPVS_CMD_FLUSH, u.IPVS_CMD_SET_CONFIG:
		errno = k.st.setCmd(cmd, a)
	case u.IPVS_CMD_NEW_DAEMON, u.IPVS_CMD_DEL_DAEMON:
		errno = k.st.daemonCmd(cmd, a)
	case u.IPVS_CMD_GET_SERVICE:
		_, svc, e := k.st.parseService(a[u.IPVS_CMD_ATTR_SERVICE], false)
		switch {
		case e != 0:
			errno = e
		case svc == nil:
			errno = syscall.ESRCH
		default:
			r := genlmsgPut(m.seq, 0, u.IPVS_CMD_NEW_SERVICE)
			fillService(r, svc)
			data = append(data, r.end())
		}
	case u.IPVS_CMD_GET_INFO:
		r := genlmsgPut(m.seq, 0, u.IPVS_CMD_SET_INFO)
		r.putU32(u.IPVS_INFO_ATTR_VERSION, u.IP_VS_VERSION_CODE)
		r.putU32(u.IPVS_INFO_ATTR_CONN_TAB_SIZE, 4096)
		data = append(data, r.end())
	case u.IPVS_CMD_GET_CONFIG:
		r := genlmsgPut(m.seq, 0, u.IPVS_CMD_SET_CONFIG)
		r.putU32(u.IPVS_CMD_ATTR_TIMEOUT_TCP, uint32(k.st.timeouts[0]/HZ))
		r.putU32(u.IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, uint32(k.st.timeouts[1]/HZ))
		r.putU32(u.IPVS_CMD_ATTR_TIMEOUT_UDP, uint32(k.st.timeouts[2]/HZ))
		data = append(data, r.end())
	default: // no doit for GET_DEST and GET_DAEMON, or no such command
		errno = syscall.EOPNOTSUPP
	}
	req.Errno = errno
	if errno != 0 || m.flags&u.NLM_F_ACK != 0 {
		data = append(data, errMsg(m, errno))
	}
	return data, req
}

// dump is a dump in progress on a Conn: netlink_callback's state.
type dump struct {
	seq     uint32
	cmd     uint8  // the request's GET_ command
	reply   uint8  // the command of the reply messages: NEW_SERVICE, NEW_DEST, NEW_DAEMON
	svcAttr []byte // GET_DEST: the service, found again for every part as the kernel does
	start   int    // cb->args[0]: entries already dumped
	flags   uint16 // NLM_F_DUMP_INTR when asked for
	miss    map[dumpKey]bool
	repeat  map[dumpKey]bool
}

// startDump sets up a dump, consuming one use of the matching knobs.
func (k *Kernel) startDump(c *Conn, seq uint32, cmd uint8, svcAttr []byte) *dump {
	reply := map[uint8]uint8{u.IPVS_CMD_GET_SERVICE: u.IPVS_CMD_NEW_SERVICE, u.IPVS_CMD_GET_DEST: u.IPVS_CMD_NEW_DEST,
		u.IPVS_CMD_GET_DAEMON: u.IPVS_CMD_NEW_DAEMON}[cmd]
	d := &dump{seq: seq, cmd: cmd, reply: reply, svcAttr: append([]byte(nil), svcAttr...),
		miss: map[dumpKey]bool{}, repeat: map[dumpKey]bool{}}
	if c.admin {
		return d
	}
	if k.intrNext {
		d.flags, k.intrNext = u.NLM_F_DUMP_INTR, false
	}
	// The knobs that apply to this dump: for a service dump, those about
	// services; for a destination dump, those about its service's.
	forService := cmd == u.IPVS_CMD_GET_SERVICE
	var of ipvs.ServiceKey
	if cmd == u.IPVS_CMD_GET_DEST {
		if _, s, e := k.st.parseService(svcAttr, false); e == 0 && s != nil {
			of = s.key()
		}
	}
	for _, p := range []struct {
		knob map[dumpKey]int
		set  map[dumpKey]bool
	}{{k.miss, d.miss}, {k.repeat, d.repeat}} {
		for key, n := range p.knob {
			isService := key.dest == ipvs.DestinationKey{}
			if n > 0 && (forService && isService || !forService && !isService && key.svc == of) {
				p.set[key] = true
				p.knob[key] = n - 1
			}
		}
	}
	return d
}

// partBytes is the size of a dump part, as NLMSG_GOODSIZE sizes the
// kernel's first buffers.
const partBytes = 3776

// dumpPart produces the next datagram of c's dump: the entries from where
// the last part stopped, found in the state as it is now, or the
// NLMSG_DONE that ends it.
func (k *Kernel) dumpPart(c *Conn) []byte {
	d := c.dump
	var part []byte
	n, idx := 0, 0
	full := func(msg []byte) bool {
		if k.partSize > 0 {
			return n >= k.partSize
		}
		return len(part)+len(msg) > partBytes
	}
	// emit adds one entry's messages (two when it is to be repeated); it
	// reports false when the part is full.
	emit := func(key dumpKey, fill func(*skb)) bool {
		idx++
		if idx <= d.start {
			return true
		}
		if d.miss[key] {
			d.start = idx
			return true
		}
		m := genlmsgPut(d.seq, u.NLM_F_MULTI|d.flags, d.reply)
		fill(m)
		msg := m.end()
		if d.repeat[key] {
			msg = append(msg, msg...)
		}
		if n > 0 && full(msg) {
			return false
		}
		part = append(part, msg...)
		n++
		d.start = idx
		return true
	}
	switch d.cmd {
	case u.IPVS_CMD_GET_SERVICE:
		k.st.each(func(s *service) bool {
			return emit(dumpKey{svc: s.key()}, func(m *skb) { fillService(m, s) })
		})
	case u.IPVS_CMD_GET_DEST:
		if _, s, e := k.st.parseService(d.svcAttr, false); e == 0 && s != nil {
			for _, x := range s.dests {
				if !emit(dumpKey{svc: s.key(), dest: x.key()}, func(m *skb) { fillDest(m, x) }) {
					break
				}
			}
		}
	case u.IPVS_CMD_GET_DAEMON:
		for i := range k.st.daemons {
			if c := &k.st.daemons[i]; c.running {
				state := uint32(i + 1)
				if !emit(dumpKey{}, func(m *skb) { fillDaemon(m, state, c) }) {
					break
				}
			}
		}
	}
	if n == 0 {
		c.dump = nil
		return doneMsg(d.seq, d.flags)
	}
	return part
}

// Conn is one socket to a Kernel; it implements ipvs.Conn.
type Conn struct {
	k     *Kernel
	kick  chan struct{}
	admin bool // the Kernel's own: no knobs, no log

	// Guarded by k.mu.
	queue    []datagram
	stalled  [][]byte
	deadline time.Time
	closed   bool
	dump     *dump
}

type datagram struct {
	b    []byte
	sent time.Time // readable from sent + the kernel's latency
	part bool      // a part of the dump in progress
}

// Family returns FamilyID for "IPVS", or an error that is os.ErrNotExist
// once the kernel is unloaded.
func (c *Conn) Family(name string) (uint16, error) {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	if c.k.unloaded || name != u.IPVS_GENL_NAME {
		return 0, os.NewSyscallError("getfamily", syscall.ENOENT)
	}
	return FamilyID, nil
}

// Send hands the kernel one sendmsg's worth of requests, which it carries
// out at once, as netlink does inside sendmsg.
func (c *Conn) Send(b []byte) error {
	k := c.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if c.closed {
		return os.ErrClosed
	}
	var out [][]byte
	var batch []Request
	part := -1 // the index in out of the first part of a dump started here
	for _, m := range splitMsgs(append([]byte(nil), b...)) {
		dumping := c.dump != nil
		replies, req := k.handle(c, m)
		if !dumping && c.dump != nil {
			part = len(out)
		}
		out = append(out, replies...)
		batch = append(batch, req)
	}
	if !c.admin {
		k.log = append(k.log, batch)
		out = k.mangled(out)
		if k.stallSends > 0 {
			k.stallSends--
			c.stalled = append(c.stalled, out...)
			return nil
		}
		c.enqueue(c.stalled, false)
		c.stalled = nil
	}
	for i, d := range out {
		c.enqueue([][]byte{d}, i == part)
	}
	return nil
}

func (k *Kernel) mangled(ds [][]byte) [][]byte {
	if k.mangle == nil {
		return ds
	}
	out := make([][]byte, len(ds))
	for i, d := range ds {
		out[i] = k.mangle(d)
	}
	return out
}

func (c *Conn) enqueue(ds [][]byte, part bool) {
	now := time.Now()
	for _, d := range ds {
		c.queue = append(c.queue, datagram{b: d, sent: now, part: part})
	}
	c.wake()
}

func (c *Conn) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Receive reads one datagram. While a dump is in progress, reading its
// part makes the kernel produce the next one from the state as it is then.
func (c *Conn) Receive(b []byte) (int, error) {
	k := c.k
	k.mu.Lock()
	for {
		if c.closed {
			k.mu.Unlock()
			return 0, os.ErrClosed
		}
		now := time.Now()
		var wait time.Duration = -1
		if len(c.queue) > 0 && (!k.blocked || c.admin) {
			at := c.queue[0].sent
			if !c.admin {
				at = at.Add(k.latency)
			}
			if d := c.queue[0]; !now.Before(at) {
				c.queue = c.queue[1:]
				if d.part && c.dump != nil {
					next := k.dumpPart(c)
					if !c.admin {
						next = k.mangledOne(next)
					}
					c.enqueue([][]byte{next}, c.dump != nil)
				}
				k.mu.Unlock()
				if len(d.b) > len(b) {
					return 0, errors.New("ipvstest: datagram longer than the receive buffer")
				}
				return copy(b, d.b), nil
			} else {
				wait = at.Sub(now)
			}
		}
		if !c.deadline.IsZero() {
			left := c.deadline.Sub(now)
			if left <= 0 {
				k.mu.Unlock()
				return 0, os.ErrDeadlineExceeded
			}
			if wait < 0 || left < wait {
				wait = left
			}
		}
		if !c.admin {
			select {
			case k.waiting <- struct{}{}:
			default:
			}
		}
		k.mu.Unlock()
		var timer <-chan time.Time
		if wait >= 0 {
			t := time.NewTimer(wait)
			timer = t.C
			select {
			case <-c.kick:
			case <-timer:
			}
			t.Stop()
		} else {
			<-c.kick
		}
		k.mu.Lock()
	}
}

func (k *Kernel) mangledOne(d []byte) []byte {
	if k.mangle == nil {
		return d
	}
	return k.mangle(d)
}

// SetDeadline bounds the Receive calls that follow; a deadline in the past
// wakes a waiting one.
func (c *Conn) SetDeadline(t time.Time) error {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	c.deadline = t
	c.wake()
	return nil
}

// Close closes the socket, waking a waiting Receive.
func (c *Conn) Close() error {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	c.closed = true
	c.dump = nil
	c.wake()
	return nil
}

// Closed reports whether Close was called.
func (c *Conn) Closed() bool {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	return c.closed
}
