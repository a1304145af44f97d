package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/seesawd/seesawd/pkg/clock"
	"github.com/seesawd/seesawd/pkg/engine"
)

// Daemon is what the server asks of seesawd. Its methods are called from
// the server's connection goroutines, concurrently.
type Daemon interface {
	// Status returns a snapshot of the node; it must not wait on the
	// engine's loop.
	Status(ctx context.Context) (*Status, error)
	// Drain sets (on) or clears a run-time drain of a configured backend.
	Drain(ctx context.Context, service string, backend netip.AddrPort, on bool) error
	// Reload runs the SIGHUP path and returns its outcome.
	Reload(ctx context.Context) (*ReloadResult, error)
	// DrainNode sets (on) or clears the node's drain: BGP withdraws every
	// route, IPVS keeps serving.
	DrainNode(ctx context.Context, on bool) (*NodeDrainResult, error)
}

// ServerConfig configures a Server. The zero value (or nil) is usable.
type ServerConfig struct {
	// Logger defaults to zap.NewNop(); its messages do not say "control",
	// so name it (Logger.Named("control")).
	Logger *zap.Logger
	// Clock paces the log of refused peers; default the system clock.
	Clock clock.Clock
	// ReadTimeout bounds the wait for a request once connected (default 5s).
	ReadTimeout time.Duration
}

// Timeouts of the server's work on one connection.
const (
	defaultReadTimeout = 5 * time.Second
	writeTimeout       = 10 * time.Second
	statusTimeout      = 15 * time.Second
	drainTimeout       = 30 * time.Second
	// reloadTimeout is long: a reload of thousands of services waits for
	// the kernel.
	reloadTimeout = 5 * time.Minute
	// maxConns bounds the connections served at once; more wait in the
	// kernel's backlog.
	maxConns = 32
	// refusalLogEvery bounds the log of refused peers to a line per period.
	refusalLogEvery = 10 * time.Second
)

// Server answers control requests on Listeners.
type Server struct {
	d      Daemon
	log    *zap.Logger
	clock  clock.Clock
	readTO time.Duration
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup

	mu        sync.Mutex
	listeners map[*Listener]bool
	closed    bool
	// refusal log pacing
	nextRefusalLog time.Time
	suppressed     int
}

// NewServer returns a server asking d.
func NewServer(d Daemon, cfg *ServerConfig) *Server {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	s := &Server{d: d, log: cfg.Logger, clock: cfg.Clock, readTO: cfg.ReadTimeout,
		sem: make(chan struct{}, maxConns), listeners: map[*Listener]bool{}}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.clock == nil {
		s.clock = clock.System{}
	}
	if s.readTO <= 0 {
		s.readTO = defaultReadTimeout
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections on l until l or the server is closed, then
// closes l and returns nil (or the error that stopped accepting).
func (s *Server) Serve(l *Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	backoff := 5 * time.Millisecond
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return nil
			}
			// Out of file descriptors, say: wait rather than spin.
			s.log.Warn("accept failed", zap.Error(err), zap.Duration("retry_in", backoff))
			t := s.clock.NewTimer(backoff)
			select {
			case <-t.C():
			case <-s.ctx.Done():
				t.Stop()
				return nil
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			c.Close()
			return nil
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			s.handle(l, c)
		}()
	}
}

// Close stops every listener, cancels the requests in flight and waits for
// their connections to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ls := make([]*Listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	s.cancel()
	var errs []error
	for _, l := range ls {
		errs = append(errs, l.Close())
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// handle serves one connection: one request, one response.
func (s *Server) handle(l *Listener, c *net.UnixConn) {
	defer c.Close()
	peer, perr := peerOf(c)
	_ = c.SetDeadline(time.Now().Add(s.readTO))
	req, rerr := ReadRequest(c)
	var data any
	var err error
	switch {
	case perr != nil:
		s.log.Error("refused a connection whose peer is unknown", zap.Error(perr))
		err = Errorf(CodePermission, "", "permission denied: seesawd cannot tell who you are")
	case !l.allowed(peer):
		err = l.refusal(peer)
		s.logRefusal(peer, req.Op)
	case rerr != nil:
		s.log.Debug("bad request", append(peerFields(peer), zap.Error(rerr))...)
		err = rerr
	default:
		data, err = s.do(peer, req)
	}
	b, eerr := EncodeResponse(data, err)
	if eerr != nil {
		s.log.Error("cannot encode the response", zap.Error(eerr), zap.String("op", req.Op))
		b, _ = EncodeResponse(nil, eerr)
	}
	_ = c.SetDeadline(time.Now().Add(writeTimeout))
	if _, err := c.Write(b); err != nil {
		s.log.Debug("write response", zap.Error(err), zap.String("op", req.Op))
	}
}

func (s *Server) do(peer Peer, req Request) (any, error) {
	switch req.Op {
	case OpStatus:
		ctx, cancel := context.WithTimeout(s.ctx, statusTimeout)
		defer cancel()
		return s.d.Status(ctx)
	case OpDrain, OpUndrain:
		ctx, cancel := context.WithTimeout(s.ctx, drainTimeout)
		defer cancel()
		return s.drain(ctx, peer, req)
	case OpReload:
		ctx, cancel := context.WithTimeout(s.ctx, reloadTimeout)
		defer cancel()
		s.log.Info("reload requested over the control socket", peerFields(peer)...)
		return s.d.Reload(ctx)
	case OpDrainNode, OpUndrainNode:
		ctx, cancel := context.WithTimeout(s.ctx, drainTimeout)
		defer cancel()
		res, err := s.d.DrainNode(ctx, req.Op == OpDrainNode)
		if err == nil && res.Changed {
			s.log.Info(req.Op+" requested over the control socket", peerFields(peer)...)
		}
		return res, err
	}
	return nil, Errorf(CodeBadRequest, "", "unknown op %q (ops: %s)", req.Op,
		strings.Join([]string{OpStatus, OpDrain, OpUndrain, OpReload, OpDrainNode, OpUndrainNode}, ", "))
}

// drain resolves the backend in the current status and sets or clears
// its run-time drain.
func (s *Server) drain(ctx context.Context, peer Peer, req Request) (*DrainResult, error) {
	on := req.Op == OpDrain
	if req.Service == "" || req.Backend == "" {
		return nil, Errorf(CodeBadRequest, "", "%s needs a service and a backend", req.Op)
	}
	st, err := s.d.Status(ctx)
	if err != nil {
		return nil, err
	}
	if !st.IPVS {
		return nil, Errorf(CodeUnavailable, "", "this node runs no services (VRRP only: the kernel has no IPVS)")
	}
	svc, err := st.FindService(req.Service)
	if err != nil {
		return nil, err
	}
	addr, err := svc.ResolveBackend(req.Backend)
	if err != nil {
		return nil, err
	}
	var before string
	for _, b := range svc.Backends {
		if b.Address == addr.String() && !b.Leaving {
			before = b.Drained
		}
	}
	if err := s.d.Drain(ctx, svc.Name, addr, on); err != nil {
		if errors.Is(err, engine.ErrUnknownBackend) {
			return nil, Errorf(CodeNotFound, "a reload changed the services: seesawctl backends "+svc.Name+" shows them now",
				"service %s has no backend %s any more", svc.Name, addr)
		}
		return nil, err
	}
	s.log.Info(req.Op+" requested over the control socket", append(peerFields(peer), zap.String("service", svc.Name), zap.Stringer("backend", addr))...)
	res := &DrainResult{Service: svc.Name, Backend: addr.String()}
	switch {
	case on && before == "config":
		res.Drained = "config"
	case on:
		res.Drained, res.Changed = "runtime", before == ""
	case before == "config":
		return nil, Errorf(CodeConflict, fmt.Sprintf("remove drain: true from the backend in %s, then seesawctl reload", st.Config.Path),
			"%s %s is drained by the configuration (drain: true), which seesawctl does not override", svc.Name, addr)
	default:
		res.Changed = before == "runtime"
	}
	return res, nil
}

// logRefusal logs a refused peer, at most a line per refusalLogEvery: a
// loop of refused requests must not flood the log.
func (s *Server) logRefusal(p Peer, op string) {
	now := s.clock.Now()
	s.mu.Lock()
	if now.Before(s.nextRefusalLog) {
		s.suppressed++
		s.mu.Unlock()
		return
	}
	suppressed := s.suppressed
	s.suppressed, s.nextRefusalLog = 0, now.Add(refusalLogEvery)
	s.mu.Unlock()
	fields := append(peerFields(p), zap.String("op", op))
	if suppressed > 0 {
		fields = append(fields, zap.Int("refused_since_last_line", suppressed))
	}
	s.log.Warn("refused a request from a peer that is neither root nor in the control group", fields...)
}

func peerFields(p Peer) []zap.Field {
	return []zap.Field{zap.Int("uid", p.UID), zap.Int("gid", p.GID), zap.Int("pid", p.PID), zap.String("command", p.Command)}
}
