//go:build linux

package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxPath is the longest socket path: sun_path holds 108 bytes with the NUL.
const maxPath = 107

// Listen creates the control socket at path, in a directory created 0755
// if missing. The socket gets its mode (0600, or 0660 and the group with
// cfg.Group) before it listens, so no connection is ever accepted on a
// socket with the wrong permissions, and is renamed into place, replacing
// a stale socket left by a killed daemon. A socket a live process listens
// on is left alone (ErrInUse), unless that process is this one.
func Listen(path string, cfg *ListenConfig) (*Listener, error) {
	if cfg == nil {
		cfg = &ListenConfig{}
	}
	l := &Listener{path: path, group: cfg.Group, gid: -1, owner: os.Geteuid()}
	mode := os.FileMode(0o600)
	if cfg.Group != "" {
		gid, err := lookupGroup(cfg.Group)
		if err != nil {
			return nil, err
		}
		l.gid, mode = gid, 0o660
	}
	if len(path) > maxPath {
		return nil, fmt.Errorf("control: socket path %s is longer than %d bytes", path, maxPath)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := checkStale(path); err != nil {
		return nil, err
	}
	// Bound under a temporary name, then renamed over path: the swap is
	// atomic. A path too long for the temporary name is bound directly.
	tmp := filepath.Join(dir, "."+filepath.Base(path)+"."+strconv.Itoa(os.Getpid()))
	if len(tmp) > maxPath {
		tmp = path
		_ = os.Remove(path) // stale: checkStale said so
	}
	fd, err := bindSocket(tmp, mode, l.gid)
	if err != nil {
		return nil, fmt.Errorf("control: %s: %w", path, err)
	}
	if tmp != path {
		if err := os.Rename(tmp, path); err != nil {
			unix.Close(fd)
			os.Remove(tmp)
			return nil, fmt.Errorf("control: %w", err)
		}
	}
	if l.file, err = os.Lstat(path); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("control: %w", err)
	}
	f := os.NewFile(uintptr(fd), path)
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("control: %w", err)
	}
	l.ln = ln.(*net.UnixListener)
	l.ln.SetUnlinkOnClose(false)
	return l, nil
}

// bindSocket returns a listening socket bound at path with its mode and
// group set before listen(2).
func bindSocket(path string, mode os.FileMode, gid int) (fd int, err error) {
	fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
			os.Remove(path)
		}
	}()
	_ = os.Remove(path) // a temporary name left by a crash of this pid
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return -1, os.NewSyscallError("bind", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return -1, err
	}
	if gid >= 0 {
		if err := os.Lchown(path, -1, gid); err != nil {
			return -1, err
		}
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// checkStale returns nil when path is free to take: absent, a socket
// nobody listens on, or this process's own.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control: %s exists and is not a socket: remove it, or set control.socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: probe %s: %w", path, err)
	}
	defer c.Close()
	p, err := peerOf(c.(*net.UnixConn))
	if err == nil && p.PID == os.Getpid() {
		return nil
	}
	who := "another process"
	if p.PID > 0 {
		who = fmt.Sprintf("process %d (%s)", p.PID, p.Command)
	}
	return fmt.Errorf("%w: %s listens on %s: stop it, or give this seesawd another control.socket", ErrInUse, who, path)
}

// peerOf returns the credentials the kernel recorded for c's peer when it
// connected (or, on a client's socket, when the server called listen),
// with its supplementary groups and name from /proc.
func peerOf(c *net.UnixConn) (Peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Peer{}, fmt.Errorf("control: peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, fmt.Errorf("control: peer credentials: %w", err)
	}
	if cerr != nil {
		return Peer{}, fmt.Errorf("control: peer credentials: %w", os.NewSyscallError("getsockopt", cerr))
	}
	p := Peer{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}
	if p.PID > 0 {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/status"); err == nil {
			ps := parseProcStatus(b)
			p.Command = ps.name
			// Groups are those of the process now: they count only if
			// it still is the one that connected (same effective uid).
			if ps.euid == p.UID {
				p.Groups = ps.groups
			}
		}
	}
	return p, nil
}
