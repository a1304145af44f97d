// Package sdnotifytest is the receiving end of systemd's notify protocol
// (sd_notify(3)) for tests: a unixgram socket for NOTIFY_SOCKET, read
// datagram by datagram as systemd reads /run/systemd/notify, so a test can
// check what seesawd tells its service manager, in which order and in which
// datagram, without systemd as PID 1.
package sdnotifytest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is a fake service manager's notification socket.
type Socket struct {
	// Path is the value for NOTIFY_SOCKET.
	Path string
	conn *net.UnixConn
}

// Listen opens a socket in a fresh directory, removed at the end of the test.
func Listen(t testing.TB) *Socket {
	t.Helper()
	// Short: a socket path has at most 107 bytes, and t.TempDir's carry the test's name.
	dir, err := os.MkdirTemp("", "sdnotify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Socket{Path: path, conn: conn}
}

// Env is what systemd puts in a Type=notify service's environment: the
// socket and, when watchdog is non-zero, WATCHDOG_USEC (with no
// WATCHDOG_PID, which only the process being started would know).
func (s *Socket) Env(watchdog time.Duration) []string {
	env := []string{"NOTIFY_SOCKET=" + s.Path}
	if watchdog > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(watchdog.Microseconds(), 10))
	}
	return env
}

// Message is one datagram.
type Message struct {
	Raw string
	// Fields are its KEY=value assignments.
	Fields map[string]string
}

// Has reports whether the message sets key to value.
func (m Message) Has(key, value string) bool {
	v, ok := m.Fields[key]
	return ok && v == value
}

// IsPing reports whether the message is a watchdog ping and nothing else.
func (m Message) IsPing() bool { return len(m.Fields) == 1 && m.Has("WATCHDOG", "1") }

func (m Message) String() string { return strconv.Quote(m.Raw) }

// Parse splits a datagram into its assignments as systemd does: lines of
// KEY=value. A line that is not an assignment, or a key set twice, is an
// error: systemd would ignore or misread it.
func Parse(raw string) (Message, error) {
	m := Message{Raw: raw, Fields: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSuffix(raw, "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return m, fmt.Errorf("sdnotifytest: line %q of %q is not KEY=value", line, raw)
		}
		if _, dup := m.Fields[k]; dup {
			return m, fmt.Errorf("sdnotifytest: %q sets %s twice", raw, k)
		}
		m.Fields[k] = v
	}
	return m, nil
}

// Next returns the next datagram, waiting at most d; ok is false when none
// came. A malformed datagram fails the test.
func (s *Socket) Next(t testing.TB, d time.Duration) (m Message, ok bool) {
	t.Helper()
	if err := s.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64*1024)
	n, err := s.conn.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return Message{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, buf[:n]), true
}

// mustParse parses a received datagram, failing the test when it is malformed.
func mustParse(t testing.TB, b []byte) Message {
	t.Helper()
	m, err := Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Queued returns the datagrams already received. A sender that writes
// before it returns (sd_notify does) has them all queued by then. It reads
// without waiting: a read deadline, however short, could expire before a
// loaded machine gets to the read, and Go then reports the timeout without
// looking at the queue.
func (s *Socket) Queued(t testing.TB) []Message {
	t.Helper()
	rc, err := s.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var out []Message
	buf := make([]byte, 64*1024)
	for {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if errors.Is(rerr, unix.EAGAIN) {
			return out
		}
		if rerr != nil {
			t.Fatal(rerr)
		}
		out = append(out, mustParse(t, buf[:n]))
	}
}

// Await returns the first datagram that is not a watchdog ping, waiting at
// most d, and how many pings came before it. It fails the test when none
// comes.
func (s *Socket) Await(t testing.TB, what string, d time.Duration) (m Message, pings int) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			t.Fatalf("no notification within %v: %s", d, what)
		}
		m, ok := s.Next(t, left)
		if !ok {
			t.Fatalf("no notification within %v: %s", d, what)
		}
		if !m.IsPing() {
			return m, pings
		}
		pings++
	}
}

// MonotonicUsec is CLOCK_MONOTONIC in microseconds, the clock of
// MONOTONIC_USEC=.
func MonotonicUsec(t testing.TB) uint64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano() / 1000)
}

// CheckReloading fails the test unless m is the start of a reload that
// systemd's Type=notify-reload accepts as answering a signal sent at
// CLOCK_MONOTONIC signalled (µs): RELOADING=1 and MONOTONIC_USEC= in the
// same datagram, the timestamp not earlier than the signal and not later
// than now.
func CheckReloading(t testing.TB, m Message, signalled uint64) {
	t.Helper()
	now := MonotonicUsec(t)
	if !m.Has("RELOADING", "1") {
		t.Fatalf("%v is not RELOADING=1", m)
	}
	v, ok := m.Fields["MONOTONIC_USEC"]
	if !ok {
		t.Fatalf("%v has RELOADING=1 without MONOTONIC_USEC= in the same datagram: systemd would wait for its reload timeout", m)
	}
	usec, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%v: MONOTONIC_USEC is not a number: %v", m, err)
	}
	if usec < signalled || usec > now {
		t.Fatalf("%v: MONOTONIC_USEC=%d is not between the signal (%d) and now (%d)", m, usec, signalled, now)
	}
}
