//go:build linux

package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/google/go-cmp/cmp"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/pkg/clock"
)

// childEnv makes the test binary a helper process: "client PATH" asks for
// the status and prints the outcome as JSON, "listen PATH" holds a
// control socket open until its stdin closes.
const childEnv = "SEESAW_CONTROL_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode, path, ok := strings.Cut(os.Getenv(childEnv), " "); ok {
		os.Exit(child(mode, path))
	}
	os.Exit(m.Run())
}

// childResult is what a client child reports.
type childResult struct {
	OK         bool   `json:"ok"`
	NotRunning bool   `json:"not_running"`
	Permission bool   `json:"permission"`
	Code       Code   `json:"code"`
	Error      string `json:"error"`
}

func child(mode, path string) int {
	switch mode {
	case "client":
		_, err := (&Client{Path: path, Timeout: 10 * time.Second}).Status(context.Background())
		res := childResult{OK: err == nil, NotRunning: errors.Is(err, ErrNotRunning), Permission: errors.Is(err, ErrPermission)}
		var ce *Error
		if errors.As(err, &ce) {
			res.Code = ce.Code
		}
		if err != nil {
			res.Error = err.Error()
		}
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return 0
	case "listen":
		l, err := Listen(path, nil)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("listening")
		_, _ = io.Copy(io.Discard, os.Stdin)
		l.Close()
		return 0
	}
	return 2
}

// fakeDaemon is a Daemon whose status has one service, web, with three
// backends; drains change it.
type fakeDaemon struct {
	mu      sync.Mutex
	st      Status
	drains  []string
	reload  chan struct{} // Reload waits on it when set
	reloads int
}

func newFakeDaemon() *fakeDaemon {
	return &fakeDaemon{st: Status{Node: "lb1", IPVS: true, Ready: true, Config: ConfigInfo{Path: "/etc/seesawd/seesawd.yaml"},
		Services: []Service{{Name: "web", Key: "tcp 192.0.2.100:80", State: "up", Healthy: 3, Total: 3, Backends: []Backend{
			{Address: "10.0.1.11:8080", Health: "up", Weight: 1},
			{Address: "10.0.1.12:8080", Health: "up", Weight: 1},
			{Address: "10.0.1.13:8080", Health: "up", Weight: 1, Drained: "config"},
		}}}}}
}

func (f *fakeDaemon) Status(ctx context.Context) (*Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(f.st) // a deep copy
	var st Status
	_ = json.Unmarshal(b, &st)
	return &st, nil
}

func (f *fakeDaemon) Drain(ctx context.Context, service string, backend netip.AddrPort, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drains = append(f.drains, fmt.Sprintf("%s %s %v", service, backend, on))
	for i := range f.st.Services[0].Backends {
		b := &f.st.Services[0].Backends[i]
		if b.Address == backend.String() && b.Drained != "config" {
			b.Drained = ""
			if on {
				b.Drained = "runtime"
			}
		}
	}
	return nil
}

func (f *fakeDaemon) DrainNode(ctx context.Context, on bool) (*NodeDrainResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := f.st.NodeDrained != on
	f.st.NodeDrained = on
	return &NodeDrainResult{Drained: on, Changed: changed, BGP: true}, nil
}

func (f *fakeDaemon) Reload(ctx context.Context) (*ReloadResult, error) {
	f.mu.Lock()
	f.reloads++
	wait := f.reload
	f.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &ReloadResult{Outcome: ReloadRefused, Problems: []string{"f.yaml:3: services[0].port: 99999 out of range"}}, nil
}

// serve starts a server for d on a socket in a new directory and returns
// the socket's path.
func serve(t *testing.T, d Daemon, cfg *ServerConfig) (string, *Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "seesawd.sock")
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(d, cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path, srv
}

func wantCode(t *testing.T, err error, code Code) *Error {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	return ce
}

func TestServerOps(t *testing.T) {
	d := newFakeDaemon()
	path, _ := serve(t, d, nil)
	c := &Client{Path: path}
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := d.Status(ctx)
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}

	res, err := c.Drain(ctx, "web", "10.0.1.12", true)
	if err != nil {
		t.Fatal(err)
	}
	if want := (DrainResult{Service: "web", Backend: "10.0.1.12:8080", Drained: "runtime", Changed: true}); *res != want {
		t.Errorf("Drain = %+v, want %+v", *res, want)
	}
	if res, err := c.Drain(ctx, "web", "10.0.1.12:8080", true); err != nil || res.Changed {
		t.Errorf("Drain again = %+v, %v; want unchanged", res, err)
	}
	if res, err := c.Drain(ctx, "web", "10.0.1.12:8080", false); err != nil || !res.Changed || res.Drained != "" {
		t.Errorf("Undrain = %+v, %v; want changed, not drained", res, err)
	}
	if res, err := c.Drain(ctx, "web", "10.0.1.11:8080", false); err != nil || res.Changed {
		t.Errorf("Undrain of a backend never drained = %+v, %v; want unchanged", res, err)
	}
	// Draining a backend the configuration drains sets the run-time drain
	// too; undraining it cannot undo the configuration's and says so.
	if res, err := c.Drain(ctx, "web", "10.0.1.13", true); err != nil || res.Drained != "config" || res.Changed {
		t.Errorf("Drain of a configured drain = %+v, %v", res, err)
	}
	_, err = c.Drain(ctx, "web", "10.0.1.13", false)
	if ce := wantCode(t, err, CodeConflict); !strings.Contains(ce.Hint, "/etc/seesawd/seesawd.yaml") {
		t.Errorf("hint %q does not name the file to edit", ce.Hint)
	}
	wantDrains := []string{"web 10.0.1.12:8080 true", "web 10.0.1.12:8080 true", "web 10.0.1.12:8080 false",
		"web 10.0.1.11:8080 false", "web 10.0.1.13:8080 true", "web 10.0.1.13:8080 false"}
	if diff := cmp.Diff(wantDrains, d.drains); diff != "" {
		t.Errorf("drains the daemon got (-want +got):\n%s", diff)
	}

	_, err = c.Drain(ctx, "webb", "10.0.1.12", true)
	if ce := wantCode(t, err, CodeNotFound); ce.Message != `no service "webb" (services: web)` {
		t.Errorf("message %q", ce.Message)
	}
	wantCode(t, (func() error { _, err := c.Drain(ctx, "web", "10.0.1.99", true); return err })(), CodeNotFound)
	wantCode(t, (func() error { _, err := c.Drain(ctx, "web", "", true); return err })(), CodeBadRequest)
	wantCode(t, c.Do(ctx, Request{Op: "restart"}, nil), CodeBadRequest)

	r, err := c.Reload(ctx)
	if err != nil || r.Outcome != ReloadRefused || len(r.Problems) != 1 || !r.Failed() {
		t.Errorf("Reload = %+v, %v", r, err)
	}

	if nd, err := c.DrainNode(ctx, true); err != nil || *nd != (NodeDrainResult{Drained: true, Changed: true, BGP: true}) {
		t.Errorf("DrainNode = %+v, %v", nd, err)
	}
	if st, err := c.Status(ctx); err != nil || !st.NodeDrained {
		t.Errorf("Status after DrainNode: node_drained %v, %v", st != nil && st.NodeDrained, err)
	}
	if nd, err := c.DrainNode(ctx, false); err != nil || *nd != (NodeDrainResult{Drained: false, Changed: true, BGP: true}) {
		t.Errorf("UndrainNode = %+v, %v", nd, err)
	}

	d.mu.Lock()
	d.st.IPVS = false
	d.mu.Unlock()
	wantCode(t, (func() error { _, err := c.Drain(ctx, "web", "10.0.1.11", true); return err })(), CodeUnavailable)
}

// rawRequest writes b on a new connection and returns the answer.
func rawRequest(t *testing.T, path string, b []byte) []byte {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if b != nil {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestServerBadRequests(t *testing.T) {
	path, _ := serve(t, newFakeDaemon(), &ServerConfig{ReadTimeout: 200 * time.Millisecond})
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"garbage", []byte("status\n"), "malformed"},
		{"newer version", []byte(`{"version":2,"op":"status"}`), "protocol version 2, seesawd speaks 1"},
		{"silent client", nil, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := rawRequest(t, path, tc.in)
			err := DecodeResponse(out, nil)
			var ce *Error
			if !errors.As(err, &ce) || !strings.Contains(ce.Message, tc.want) {
				t.Errorf("answer %s: error %v, want one saying %q", out, err, tc.want)
			}
		})
	}
}

func TestServerCloseEndsRequestsInFlight(t *testing.T) {
	d := newFakeDaemon()
	d.reload = make(chan struct{}) // never closed: the reload hangs
	path, srv := serve(t, d, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := (&Client{Path: path}).Reload(context.Background())
		errc <- err
	}()
	testenv.WaitFor(t, "the reload to reach the daemon", 10*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.reloads == 1
	})
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a reload was in flight")
	}
	if err := <-errc; err == nil {
		t.Error("the interrupted reload reported success")
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket after Close: %v, want it removed", err)
	}
}

func TestListenMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "seesawd")
	path := filepath.Join(dir, "seesawd.sock")
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket 0600", fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Errorf("socket owner %d, want %d", st.Uid, os.Geteuid())
	}
	di, err := os.Stat(dir)
	if err != nil || di.Mode().Perm() != 0o755 {
		t.Errorf("directory %v, %v; want created 0755", di.Mode(), err)
	}
	// No temporary name is left behind.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want the socket alone", len(ents))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket after Close: %v, want removed", err)
	}
}

func TestListenGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root to give the socket to a group")
	}
	path := filepath.Join(t.TempDir(), "seesawd.sock")
	l, err := Listen(path, &ListenConfig{Group: "4242"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, _ := os.Lstat(path)
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o660 || st.Gid != 4242 {
		t.Errorf("socket mode %v group %d, want 0660 and 4242", fi.Mode().Perm(), st.Gid)
	}
	if _, err := Listen(path, &ListenConfig{Group: "no-such-group-seesawd"}); !errors.Is(err, ErrNoGroup) {
		t.Errorf("Listen with an unknown group: %v, want ErrNoGroup", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("a refused Listen touched the socket: %v", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seesawd.sock")
	// A killed daemon leaves its socket file, with nobody listening.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := (&Client{Path: path}).Status(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Status on a stale socket: %v, want ErrNotRunning", err)
	}
	serveOn(t, path)
	if _, err := (&Client{Path: path}).Status(context.Background()); err != nil {
		t.Errorf("Status after replacing the stale socket: %v", err)
	}
}

// serveOn serves a fake daemon on path.
func serveOn(t *testing.T, path string) *Listener {
	t.Helper()
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(newFakeDaemon(), nil)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l
}

func TestListenReplacesOwnSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seesawd.sock")
	first := serveOn(t, path)
	second := serveOn(t, path)
	// The first closing must not take the second's socket with it.
	first.Close()
	if _, err := (&Client{Path: path}).Status(context.Background()); err != nil {
		t.Errorf("Status after the replaced listener closed: %v", err)
	}
	second.Close()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket after both closed: %v, want removed", err)
	}
}

func TestListenLeavesOthersAlone(t *testing.T) {
	dir := t.TempDir()
	notSocket := filepath.Join(dir, "file")
	if err := os.WriteFile(notSocket, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(notSocket, nil); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("Listen on a regular file: %v", err)
	}
	if b, _ := os.ReadFile(notSocket); string(b) != "keep" {
		t.Errorf("the file was replaced")
	}

	// Another live process keeps its socket.
	path := filepath.Join(dir, "seesawd.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=listen "+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line := make([]byte, 64)
	n, _ := stdout.Read(line)
	if !strings.HasPrefix(string(line[:n]), "listening") {
		t.Fatalf("child: %q", line[:n])
	}
	_, err := Listen(path, nil)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), fmt.Sprintf("process %d ", cmd.Process.Pid)) {
		t.Errorf("Listen on a live socket: %v, want ErrInUse naming pid %d", err, cmd.Process.Pid)
	}
}

func TestClientErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := (&Client{Path: filepath.Join(dir, "none.sock")}).Status(context.Background())
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "no socket at "+dir) {
		t.Errorf("no socket: %v", err)
	}

	// A daemon that never answers.
	path := filepath.Join(dir, "mute.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, err = (&Client{Path: path, Timeout: 200 * time.Millisecond}).Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "did not answer in time") || time.Since(start) > 5*time.Second {
		t.Errorf("mute daemon: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err = (&Client{Path: path}).Status(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

func TestRefusalLogPaced(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	clk := clock.NewFake(t0)
	s := NewServer(newFakeDaemon(), &ServerConfig{Logger: zap.New(core), Clock: clk})
	p := Peer{PID: 7, UID: 1000, GID: 1000, Command: "curl"}
	s.logRefusal(p, "status")
	s.logRefusal(p, "status")
	s.logRefusal(p, "drain")
	clk.Advance(refusalLogEvery)
	s.logRefusal(p, "reload")
	got := logs.All()
	if len(got) != 2 {
		t.Fatalf("%d log lines for 4 refusals, want 2", len(got))
	}
	if f := got[0].ContextMap(); f["uid"] != int64(1000) || f["command"] != "curl" || f["op"] != "status" {
		t.Errorf("first line %v", f)
	}
	if f := got[1].ContextMap(); f["refused_since_last_line"] != int64(2) || f["op"] != "reload" {
		t.Errorf("second line %v, want 2 refusals counted", f)
	}
}

// runAs runs the client child as uid with gid and groups, and returns
// what it reports.
func runAs(t *testing.T, bin, path string, uid, gid uint32, groups ...uint32) childResult {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=client "+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client as uid %d: %v: %s", uid, err, out)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	return res
}

// TestIntegrationPeerCredentials runs clients as other users: the socket's
// permissions keep them out, and where they do not (a socket made 0666 by
// mistake) the peer check does; members of the group get in.
func TestIntegrationPeerCredentials(t *testing.T) {
	testenv.Integration(t)
	// Somewhere uid 65534 can reach: t.TempDir is 0700.
	dir, err := os.MkdirTemp("", "control-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "control.test")
	self, _ := os.Executable()
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	const nobody, group = 65534, 4242

	core, logs := observer.New(zap.InfoLevel)
	path := filepath.Join(dir, "root.sock")
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(newFakeDaemon(), &ServerConfig{Logger: zap.New(core)})
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	if res := runAs(t, bin, path, nobody, nobody); !res.Permission {
		t.Errorf("nobody on a 0600 socket: %+v, want permission denied by the file's mode", res)
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("%d log lines for a peer the kernel refused, want none", n)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	res := runAs(t, bin, path, nobody, nobody)
	if res.Code != CodePermission || !strings.Contains(res.Error, "uid 65534 is not root") {
		t.Errorf("nobody on a 0666 socket: %+v, want refused by the peer check", res)
	}
	warned := logs.FilterMessageSnippet("refused").All()
	if len(warned) != 1 || warned[0].ContextMap()["uid"] != int64(nobody) || warned[0].Level != zap.WarnLevel {
		t.Errorf("log after a refusal: %v, want one warning naming uid %d", logs.All(), nobody)
	}
	if res := runAs(t, bin, path, 0, 0); !res.OK {
		t.Errorf("root: %+v", res)
	}

	gpath := filepath.Join(dir, "group.sock")
	gl, err := Listen(gpath, &ListenConfig{Group: fmt.Sprint(group)})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(gl)
	if res := runAs(t, bin, gpath, nobody, nobody, group); !res.OK {
		t.Errorf("a member of the group (supplementary): %+v", res)
	}
	if res := runAs(t, bin, gpath, nobody, group); !res.OK {
		t.Errorf("a member of the group (primary): %+v", res)
	}
	if res := runAs(t, bin, gpath, nobody, nobody); !res.Permission {
		t.Errorf("not a member: %+v, want permission denied", res)
	}
	if err := os.Chmod(gpath, 0o666); err != nil {
		t.Fatal(err)
	}
	if res := runAs(t, bin, gpath, nobody, nobody, 100); res.Code != CodePermission || !strings.Contains(res.Error, "nor a member of group 4242") {
		t.Errorf("not a member, 0666 socket: %+v, want refused by the peer check", res)
	}
}
