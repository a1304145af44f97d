package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Errors of Listen and of the peer check.
var (
	// ErrUnsupported: peer credentials, and so the server, are Linux-only.
	ErrUnsupported = errors.New("control: the control socket needs Linux (peer credentials)")
	// ErrInUse: a live process listens on the socket path.
	ErrInUse = errors.New("control: socket in use")
	// ErrNoGroup: the configured group does not exist.
	ErrNoGroup = errors.New("control: no such group")
)

// ListenConfig configures Listen. The zero value (or nil) is a root-only socket.
type ListenConfig struct {
	// Group, a name or a numeric id, may use the socket too: the socket is
	// then mode 0660 and owned by the group, and its members pass the
	// peer check. Empty makes the socket 0600, for root (and the daemon's
	// own user) only.
	Group string
}

// Listener is a control socket, created by Listen.
type Listener struct {
	ln   *net.UnixListener
	path string
	// file identifies the socket file this listener created, so Close
	// does not remove another's that replaced it.
	file os.FileInfo
	// group and gid are the configured group, gid -1 without one.
	group string
	gid   int
	// owner is the daemon's effective uid, always allowed.
	owner int
	once  sync.Once
}

// Path returns the socket's path.
func (l *Listener) Path() string { return l.path }

// Close stops accepting and removes the socket file, unless another
// listener has replaced it since.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		err = l.ln.Close()
		if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.file) {
			_ = os.Remove(l.path)
		}
	})
	return err
}

// Peer is the process at the other end of a connection, as the kernel
// recorded it when it connected.
type Peer struct {
	PID, UID, GID int
	// Groups are its supplementary groups.
	Groups []int
	// Command is its process name, for the log.
	Command string
}

// allowed reports whether p may use the socket: root, the daemon's own
// user, or a member of the group.
func (l *Listener) allowed(p Peer) bool {
	return p.UID == 0 || p.UID == l.owner || l.gid >= 0 && (p.GID == l.gid || slices.Contains(p.Groups, l.gid))
}

// refusal is the error a refused peer gets.
func (l *Listener) refusal(p Peer) *Error {
	if l.gid < 0 {
		return Errorf(CodePermission, "run seesawctl as root (sudo seesawctl ...), or let a group in with control.group in seesawd's configuration",
			"permission denied: uid %d is not root", p.UID)
	}
	return Errorf(CodePermission, "run seesawctl as root, or as a member of group "+l.group,
		"permission denied: uid %d is neither root nor a member of group %s (gid %d)", p.UID, l.group, l.gid)
}

// lookupGroup resolves a group name or numeric id.
func lookupGroup(name string) (int, error) {
	if gid, err := strconv.Atoi(name); err == nil && gid >= 0 {
		return gid, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1, fmt.Errorf("%w %q (control.group): %v", ErrNoGroup, name, err)
	}
	return strconv.Atoi(g.Gid)
}

// procStatus is what the peer check reads from /proc/PID/status.
type procStatus struct {
	name   string
	euid   int
	groups []int
}

// parseProcStatus reads the Name, Uid (effective) and Groups lines of a
// /proc/PID/status file; a missing or malformed line leaves its field
// empty (euid -1), which grants nothing.
func parseProcStatus(b []byte) procStatus {
	ps := procStatus{euid: -1}
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		switch key {
		case "Name":
			ps.name = strings.TrimSpace(val)
		case "Uid":
			if len(f) >= 2 {
				if n, err := strconv.Atoi(f[1]); err == nil {
					ps.euid = n
				}
			}
		case "Groups":
			var gs []int
			for _, g := range f {
				n, err := strconv.Atoi(g)
				if err != nil {
					gs = nil
					break
				}
				gs = append(gs, n)
			}
			ps.groups = gs
		}
	}
	return ps
}
