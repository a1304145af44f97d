package ipvs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

// Conn is the netlink socket under a Client: a NETLINK_GENERIC socket on
// Linux (see New), or a fake kernel in tests. Send and Receive move raw
// datagrams; the Client does all framing.
type Conn interface {
	// Family returns the ID of the named generic netlink family; an error
	// for which errors.Is(err, os.ErrNotExist) holds means there is none.
	Family(name string) (uint16, error)
	// Send writes b, one or more complete netlink messages, in one sendmsg.
	Send(b []byte) error
	// Receive reads one or more whole datagrams into b, one after the
	// other, and returns their total length. A datagram that does not fit
	// is an error, never silently cut.
	Receive(b []byte) (int, error)
	// SetDeadline bounds the Send and Receive calls that follow; a zero
	// time means none. A deadline in the past wakes a blocked Receive.
	SetDeadline(t time.Time) error
	// Close releases the socket.
	Close() error
}

// Config configures New. The zero value (or a nil *Config) opens a socket in
// the caller's network namespace with the default limits.
type Config struct {
	// NetNS is a file descriptor of a network namespace to open the socket
	// in (as netlink.Config.NetNS); 0 means the current one.
	NetNS int
	// NetNSPath names a network namespace file to open the socket in, such
	// as /run/netns/NAME or /proc/PID/ns/net. It wins over NetNS.
	NetNSPath string
	// Timeout bounds each call when its context has no earlier deadline.
	// Zero means 30 seconds; negative means no bound besides the context.
	Timeout time.Duration
	// BatchOps and BatchBytes bound how many requests, and bytes, Apply
	// packs into one sendmsg (defaults 1024 and 256 KiB). The socket
	// buffers are sized for the defaults.
	BatchOps   int
	BatchBytes int
	// Conn, when set, is used instead of opening a socket (a fake kernel in
	// tests, see package ipvstest). The Client owns it and closes it on
	// Close.
	Conn Conn
}

const (
	defaultTimeout    = 30 * time.Second
	defaultBatchOps   = 1024
	defaultBatchBytes = 256 << 10
)

// recvSlot is the buffer offered to the kernel for each datagram. The
// kernel sizes the buffers of a dump from the largest read the socket has
// made (up to 32 KiB), and allocating 32 KiB per dump step, twice per
// destination dump, cost more kernel time than the whole rest of the dump.
// min(page size, 8 KiB) is never below NLMSG_GOODSIZE, the smallest dump
// buffer, and the kernel trims its dump buffers to the size it sized them
// for, so no datagram is ever longer (one that were would be an error,
// never cut silently).
var recvSlot = min(os.Getpagesize(), 8192)

// readBufSize holds two datagrams (see sockConn.Receive).
var readBufSize = 2 * recvSlot

// Client talks to the kernel's IPVS over generic netlink. It is safe for
// concurrent use: calls are serialised on one socket.
type Client struct {
	family  uint16
	timeout time.Duration
	maxOps  int
	maxLen  int
	closing atomic.Bool

	main sock
}

// sock is the netlink socket and the state of the exchanges on it. Its
// fields other than conn are guarded by mu.
type sock struct {
	c    *Client
	mu   sync.Mutex
	conn Conn

	seq         uint32
	wbuf, rbuf  []byte
	idx         []int32 // Apply: request number in the batch -> index into ops
	dumpPending bool    // a dump was abandoned and must be drained
	dumpSeq     uint32
	deadline    time.Time // of the call in progress: its context's or Config.Timeout's

	cancels     sync.WaitGroup // context.AfterFunc callbacks in flight
	interruptFn func()
}

// New opens a Client. It fails with ErrNoIPVS when the kernel has no IPVS.
func New(cfg *Config) (*Client, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	conn := cfg.Conn
	if conn == nil {
		var err error
		if conn, err = dial(cfg); err != nil {
			return nil, err
		}
	}
	id, err := conn.Family(u.IPVS_GENL_NAME)
	if err != nil {
		_ = conn.Close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoIPVS
		}
		return nil, &OpError{Op: opFamily, Target: u.IPVS_GENL_NAME, Err: err}
	}
	c := &Client{
		family:  id,
		timeout: cfg.Timeout,
		maxOps:  cfg.BatchOps,
		maxLen:  cfg.BatchBytes,
	}
	if c.timeout == 0 {
		c.timeout = defaultTimeout
	}
	if c.maxOps <= 0 {
		c.maxOps = defaultBatchOps
	}
	if c.maxLen <= 0 {
		c.maxLen = defaultBatchBytes
	}
	c.main = sock{c: c, conn: conn, seq: uint32(time.Now().UnixNano()),
		wbuf: make([]byte, 0, 4096), rbuf: make([]byte, readBufSize)}
	c.main.interruptFn = c.main.interrupt
	return c, nil
}

// Close closes the socket, waking a call blocked on it. Calls after Close
// fail with ErrClosed.
func (c *Client) Close() error {
	if c.closing.Swap(true) {
		return nil
	}
	k := &c.main
	_ = k.conn.SetDeadline(time.Unix(1, 0))
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.conn.Close()
}

// interrupt runs when a call's context is done: it makes the pending
// Receive return at once.
func (k *sock) interrupt() {
	defer k.cancels.Done()
	_ = k.conn.SetDeadline(time.Unix(1, 0))
}

// begin locks the socket and sets its deadline from ctx and the configured
// timeout. The caller must call end with what begin returned.
func (k *sock) begin(ctx context.Context) (func() bool, error) {
	k.mu.Lock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if k.c.closing.Load() {
		return nil, ErrClosed
	}
	if k.dumpPending {
		k.drain()
	}
	var dl time.Time
	if k.c.timeout > 0 {
		dl = time.Now().Add(k.c.timeout)
	}
	if d, ok := ctx.Deadline(); ok && (dl.IsZero() || d.Before(dl)) {
		dl = d
	}
	k.deadline = dl
	if err := k.expired(ctx); err != nil {
		return nil, err
	}
	if err := k.conn.SetDeadline(dl); err != nil {
		return nil, err
	}
	if k.c.closing.Load() { // Close ran between the check and SetDeadline
		return nil, ErrClosed
	}
	if ctx.Done() == nil {
		return nil, nil
	}
	k.cancels.Add(1)
	return context.AfterFunc(ctx, k.interruptFn), nil
}

// end undoes begin.
func (k *sock) end(stop func() bool) {
	if stop != nil {
		if stop() {
			k.cancels.Done()
		} else {
			k.cancels.Wait() // the interrupt ran or runs: let it finish before the next call arms
		}
	}
	k.mu.Unlock()
}

// expired reports why the call in progress must stop (its context ended,
// or its deadline passed), or nil. The socket deadline alone cannot tell:
// a Receive that finds a reply queued, as every part of a dump is while
// the one before is read, never waits and so never looks at it.
func (k *sock) expired(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.deadline.IsZero() || time.Now().Before(k.deadline) {
		return nil
	}
	if d, ok := ctx.Deadline(); ok && !d.After(k.deadline) {
		return context.DeadlineExceeded
	}
	return errNoReplyInTime
}

var errNoReplyInTime = fmt.Errorf("no reply from the kernel in time: %w", os.ErrDeadlineExceeded)

// drain reads what is left of a dump an earlier call abandoned, so that the
// kernel (which runs one dump per socket at a time) accepts the next one.
func (k *sock) drain() {
	// The kernel queues each part of a dump while the previous one is being
	// read, so whatever is left is already queued: no need to wait long.
	_ = k.conn.SetDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		n, err := k.conn.Receive(k.rbuf)
		if err != nil {
			// Nothing more came: the dump had ended. Any other trouble
			// surfaces on the next exchange.
			k.dumpPending = false
			return
		}
		b := k.rbuf[:n]
		for len(b) > 0 {
			m, rest, err := nextMsg(b)
			if err != nil {
				break
			}
			b = rest
			if m.seq == k.dumpSeq && (m.typ == u.NLMSG_DONE || m.typ == u.NLMSG_ERROR) {
				k.dumpPending = false
				return
			}
		}
	}
}

func (k *sock) nextSeq() uint32 {
	k.seq++
	return k.seq
}

// ioErr explains a transport error, preferring the context's reason.
func (k *sock) ioErr(ctx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		// The socket deadline may fire a hair before the context's timer.
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return context.DeadlineExceeded
		}
		if k.c.closing.Load() {
			return ErrClosed
		}
		return errNoReplyInTime
	}
	return err
}

// exchange sends k.wbuf, which holds requests numbered first..last, and
// reads replies until the last one is answered: its ACK or error, or for a
// dump its NLMSG_DONE. onData gets each reply of the IPVS family; onErr gets
// the sequence number and errno of each failed request. Replies to other
// sequence numbers (left over from an abandoned call) are skipped. The
// error returned is a transport, decode, deadline or dump-interrupted
// error; a dump stops at its deadline even while the kernel keeps its parts
// coming.
func (k *sock) exchange(ctx context.Context, first, last uint32, dump bool,
	onData func(nlMsg) error, onErr func(seq uint32, errno syscall.Errno, text string)) error {
	if err := k.conn.Send(k.wbuf); err != nil {
		return k.ioErr(ctx, err)
	}
	var dataErr error
	intr := false
	for done, reads := false, 0; !done; reads++ {
		if dump && reads > 0 {
			if err := k.expired(ctx); err != nil {
				k.dumpPending, k.dumpSeq = true, last
				return err
			}
		}
		n, err := k.conn.Receive(k.rbuf)
		if err != nil {
			if dump {
				k.dumpPending, k.dumpSeq = true, last
			}
			return k.ioErr(ctx, err)
		}
		b := k.rbuf[:n]
		for len(b) > 0 {
			m, rest, err := nextMsg(b)
			if err != nil {
				if dump {
					k.dumpPending, k.dumpSeq = true, last
				}
				return err
			}
			b = rest
			if m.seq-first > last-first {
				continue
			}
			if m.flags&u.NLM_F_DUMP_INTR != 0 {
				intr = true
			}
			switch m.typ {
			case u.NLMSG_NOOP, u.NLMSG_OVERRUN:
			case u.NLMSG_DONE:
				if !dump || m.seq != last {
					continue
				}
				done = true
				// NLMSG_DONE carries the dump's final status.
				if len(m.payload) >= 4 {
					if code := int32(ne.Uint32(m.payload)); code < 0 && code > -4096 && onErr != nil {
						onErr(m.seq, syscall.Errno(-code), "")
					}
				}
			case u.NLMSG_ERROR:
				errno, text, perr := parseError(m)
				if perr != nil {
					if dataErr == nil {
						dataErr = perr
					}
				} else if errno != 0 && onErr != nil {
					onErr(m.seq, errno, text)
				}
				if m.seq == last {
					done = true
				}
			default:
				if m.typ == k.c.family && onData != nil && dataErr == nil {
					dataErr = onData(m)
				}
			}
		}
	}
	if intr && dataErr == nil {
		dataErr = ErrDumpInterrupted
	}
	return dataErr
}

// builder appends one request to b.
type builder func(b []byte, h header) ([]byte, error)

// roundTrip performs one request (a dump when flags has NLM_F_DUMP) on the
// Client's own socket.
func (c *Client) roundTrip(ctx context.Context, op string, cmd uint8, flags uint16,
	build builder, onData func(nlMsg) error, s *Service, d *Destination) error {
	return c.main.roundTrip(ctx, op, cmd, flags, build, onData, s, d)
}

func (k *sock) roundTrip(ctx context.Context, op string, cmd uint8, flags uint16,
	build builder, onData func(nlMsg) error, s *Service, d *Destination) error {
	stop, err := k.begin(ctx)
	defer k.end(stop)
	if err != nil {
		return opError(op, s, d, err, "")
	}
	seq := k.nextSeq()
	b, err := build(k.wbuf[:0], header{family: k.c.family, flags: flags, seq: seq, cmd: cmd})
	if err != nil {
		return opError(op, s, d, err, "")
	}
	k.wbuf = b
	var kerr syscall.Errno
	var text string
	err = k.exchange(ctx, seq, seq, flags&u.NLM_F_DUMP != 0, onData, func(_ uint32, e syscall.Errno, t string) {
		kerr, text = e, t
	})
	if kerr != 0 {
		return opError(op, s, d, kerr, text)
	}
	if err != nil {
		return opError(op, s, d, err, "")
	}
	return nil
}

func opError(op string, s *Service, d *Destination, err error, text string) error {
	if err == ErrClosed {
		return err
	}
	e := &OpError{Op: op, Err: err, Message: text}
	if errno, ok := err.(syscall.Errno); ok {
		e.Hint = hint(op, errno, s, d)
	}
	if s != nil {
		e.Target = s.String()
	}
	if d != nil {
		if e.Target != "" {
			e.Target += " -> "
		}
		e.Target += d.String()
	}
	return e
}

// Info returns the IPVS version and connection table size.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var in Info
	got := false
	err := c.roundTrip(ctx, opInfo, u.IPVS_CMD_GET_INFO, u.NLM_F_ACK, emptyBuilder, func(m nlMsg) error {
		p, err := genlPayload(m, u.IPVS_CMD_SET_INFO)
		if err != nil {
			return err
		}
		got = true
		return decodeInfo(p, &in)
	}, nil, nil)
	if err == nil && !got {
		err = &OpError{Op: opInfo, Err: malformed("no info in the reply")}
	}
	return in, err
}

func emptyBuilder(b []byte, h header) ([]byte, error) { return appendEmptyMsg(b, h), nil }

// Timeouts returns the TCP, TCP FIN and UDP connection timeouts.
func (c *Client) Timeouts(ctx context.Context) (Timeouts, error) {
	var t Timeouts
	got := false
	err := c.roundTrip(ctx, opTimeouts, u.IPVS_CMD_GET_CONFIG, u.NLM_F_ACK, emptyBuilder, func(m nlMsg) error {
		p, err := genlPayload(m, u.IPVS_CMD_SET_CONFIG)
		if err != nil {
			return err
		}
		got = true
		return decodeTimeouts(p, &t)
	}, nil, nil)
	if err == nil && !got {
		err = &OpError{Op: opTimeouts, Err: malformed("no timeouts in the reply")}
	}
	return t, err
}

// SetTimeouts sets the connection timeouts; a zero field is left unchanged.
// The kernel keeps whole seconds, so a duration that is not one (400 ms,
// 1.5 s) is refused with os.ErrInvalid rather than rounded: rounding 400 ms
// down would send 0, "leave unchanged", and rounding up would read back as
// something else than was set. The kernel refuses more than 2^31/HZ
// seconds (EINVAL).
func (c *Client) SetTimeouts(ctx context.Context, t Timeouts) error {
	return c.roundTrip(ctx, opSetTimeouts, u.IPVS_CMD_SET_CONFIG, u.NLM_F_ACK, func(b []byte, h header) ([]byte, error) {
		return appendTimeoutsMsg(b, h, t)
	}, nil, nil, nil)
}

// Flush removes every service and destination.
func (c *Client) Flush(ctx context.Context) error {
	return c.roundTrip(ctx, opFlush, u.IPVS_CMD_FLUSH, u.NLM_F_ACK, emptyBuilder, nil, nil, nil)
}

// Zero resets the counters of one service and its destinations, or of
// everything when s is nil.
func (c *Client) Zero(ctx context.Context, s *Service) error {
	if s == nil {
		return c.roundTrip(ctx, opZero, u.IPVS_CMD_ZERO, u.NLM_F_ACK, emptyBuilder, nil, nil, nil)
	}
	return c.roundTrip(ctx, opZero, u.IPVS_CMD_ZERO, u.NLM_F_ACK, func(b []byte, h header) ([]byte, error) {
		return appendServiceMsg(b, h, s, false)
	}, nil, s, nil)
}

// CreateService adds a virtual service. An existing one fails with an
// error for which errors.Is(err, os.ErrExist) holds.
func (c *Client) CreateService(ctx context.Context, s Service) error {
	return c.serviceOp(ctx, opCreateService, u.IPVS_CMD_NEW_SERVICE, &s, true)
}

// UpdateService changes the scheduler, flags, timeout, netmask and
// persistence engine of an existing service.
func (c *Client) UpdateService(ctx context.Context, s Service) error {
	return c.serviceOp(ctx, opUpdateService, u.IPVS_CMD_SET_SERVICE, &s, true)
}

// RemoveService deletes a service and its destinations.
func (c *Client) RemoveService(ctx context.Context, s Service) error {
	return c.serviceOp(ctx, opRemoveService, u.IPVS_CMD_DEL_SERVICE, &s, false)
}

func (c *Client) serviceOp(ctx context.Context, op string, cmd uint8, s *Service, full bool) error {
	return c.roundTrip(ctx, op, cmd, u.NLM_F_ACK, func(b []byte, h header) ([]byte, error) {
		return appendServiceMsg(b, h, s, full)
	}, nil, s, nil)
}

// Service reads back the service with the identity of s (see Service.Key),
// in one request and one reply: the way to confirm that a service a dump
// did not list is really gone before acting on its absence. A missing one
// fails with errors.Is(err, os.ErrNotExist).
func (c *Client) Service(ctx context.Context, s Service) (Service, error) {
	return c.main.service(ctx, s)
}

func (k *sock) service(ctx context.Context, s Service) (Service, error) {
	var out Service
	got := false
	err := k.roundTrip(ctx, opGetService, u.IPVS_CMD_GET_SERVICE, u.NLM_F_ACK, func(b []byte, h header) ([]byte, error) {
		return appendServiceMsg(b, h, &s, false)
	}, func(m nlMsg) error {
		p, err := genlPayload(m, u.IPVS_CMD_NEW_SERVICE)
		if err != nil {
			return err
		}
		got = true
		return decodeService(p, &out)
	}, &s, nil)
	if err == nil && !got {
		err = opError(opGetService, &s, nil, malformed("no service in the reply"), "")
	}
	return out, err
}

// Services dumps every service.
//
// A dump is not a snapshot (see the package documentation): under
// concurrent changes it may list a service twice and miss others. When it
// lists one twice, Services returns the list without the repeat and an
// error for which errors.Is(err, ErrDumpInconsistent) holds; likewise for
// ErrDumpInterrupted. Any other error comes with no list.
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	var out []Service
	err := c.roundTrip(ctx, opDumpServices, u.IPVS_CMD_GET_SERVICE, u.NLM_F_DUMP, emptyBuilder, func(m nlMsg) error {
		p, err := genlPayload(m, u.IPVS_CMD_NEW_SERVICE)
		if err != nil {
			return err
		}
		out = append(out, Service{})
		if err := decodeService(p, &out[len(out)-1]); err != nil {
			out = out[:len(out)-1]
			return err
		}
		return nil
	}, nil, nil)
	if err != nil && !errors.Is(err, ErrDumpInterrupted) {
		return nil, err
	}
	out, repeated := dedupe(out, Service.Key)
	if repeated && err == nil {
		err = opError(opDumpServices, nil, nil, ErrDumpInconsistent, "")
	}
	return out, err
}

// CreateDestination adds destination d to service s.
func (c *Client) CreateDestination(ctx context.Context, s Service, d Destination) error {
	return c.destOp(ctx, opCreateDestination, u.IPVS_CMD_NEW_DEST, &s, &d, true)
}

// UpdateDestination changes the forwarding method, weight, thresholds and
// tunnel settings of an existing destination.
func (c *Client) UpdateDestination(ctx context.Context, s Service, d Destination) error {
	return c.destOp(ctx, opUpdateDestination, u.IPVS_CMD_SET_DEST, &s, &d, true)
}

// RemoveDestination removes destination d from service s.
func (c *Client) RemoveDestination(ctx context.Context, s Service, d Destination) error {
	return c.destOp(ctx, opRemoveDestination, u.IPVS_CMD_DEL_DEST, &s, &d, false)
}

func (c *Client) destOp(ctx context.Context, op string, cmd uint8, s *Service, d *Destination, full bool) error {
	return c.roundTrip(ctx, op, cmd, u.NLM_F_ACK, func(b []byte, h header) ([]byte, error) {
		return appendDestMsg(b, h, s, d, full)
	}, nil, s, d)
}

// Destinations dumps the destinations of service s. A missing service
// fails with errors.Is(err, os.ErrNotExist) (the kernel has no request for
// a single destination, so this is also how to confirm that one is gone).
//
// The kernel fills each part of a dump under its IPVS mutex, so the
// destinations of a service that fit one part (about 10) are a consistent
// view; longer lists may repeat or miss entries under concurrent changes,
// and a repeat is reported as for Services.
func (c *Client) Destinations(ctx context.Context, s Service) ([]Destination, error) {
	return c.main.destinations(ctx, s)
}

func (k *sock) destinations(ctx context.Context, s Service) ([]Destination, error) {
	out := make([]Destination, 0, 16) // one allocation for most services
	f := s.family()
	err := k.roundTrip(ctx, opDumpDestinations, u.IPVS_CMD_GET_DEST, u.NLM_F_DUMP, func(b []byte, h header) ([]byte, error) {
		return appendDestMsg(b, h, &s, nil, false)
	}, func(m nlMsg) error {
		p, err := genlPayload(m, u.IPVS_CMD_NEW_DEST)
		if err != nil {
			return err
		}
		out = append(out, Destination{})
		if err := decodeDest(p, f, &out[len(out)-1]); err != nil {
			out = out[:len(out)-1]
			return err
		}
		return nil
	}, &s, nil)
	if err != nil && !errors.Is(err, ErrDumpInterrupted) {
		return nil, err
	}
	if len(out) == 0 {
		if err == nil {
			// The kernel dumps nothing, without an error, for a service it
			// does not have; tell that apart from a service without
			// destinations.
			_, gerr := k.service(ctx, s)
			var oe *OpError
			if errors.Is(gerr, os.ErrNotExist) && errors.As(gerr, &oe) {
				return nil, opError(opDumpDestinations, &s, nil, oe.Err, "")
			}
			return nil, gerr
		}
		return nil, err
	}
	out, repeated := dedupe(out, Destination.Key)
	if repeated && err == nil {
		err = opError(opDumpDestinations, &s, nil, ErrDumpInconsistent, "")
	}
	return out, err
}

// StartDaemon starts a connection sync daemon.
func (c *Client) StartDaemon(ctx context.Context, d Daemon) error {
	return c.roundTrip(ctx, opStartDaemon, u.IPVS_CMD_NEW_DAEMON, u.NLM_F_ACK, func(b []byte, h header) ([]byte, error) {
		return appendDaemonMsg(b, h, &d, true)
	}, nil, nil, nil)
}

// StopDaemon stops the sync daemon in the given state (Master or Backup).
func (c *Client) StopDaemon(ctx context.Context, state DaemonState) error {
	d := Daemon{State: state}
	return c.roundTrip(ctx, opStopDaemon, u.IPVS_CMD_DEL_DAEMON, u.NLM_F_ACK, func(b []byte, h header) ([]byte, error) {
		return appendDaemonMsg(b, h, &d, false)
	}, nil, nil, nil)
}

// Daemons lists the running sync daemons.
func (c *Client) Daemons(ctx context.Context) ([]Daemon, error) {
	var out []Daemon
	err := c.roundTrip(ctx, opDumpDaemons, u.IPVS_CMD_GET_DAEMON, u.NLM_F_DUMP, emptyBuilder, func(m nlMsg) error {
		p, err := genlPayload(m, u.IPVS_CMD_NEW_DAEMON)
		if err != nil {
			return err
		}
		var d Daemon
		if err := decodeDaemon(p, &d); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	}, nil, nil)
	return out, err
}
