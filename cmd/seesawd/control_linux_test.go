//go:build linux

package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/pkg/control"
)

// controlSocket returns a control socket path for the daemon named name,
// in a directory of its own: never the host's /run/seesawd, and short
// enough for a socket address whatever the test's name.
func controlSocket(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "seesawd-ctl-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, name+".sock")
}

var socketLine = regexp.MustCompile(`control: \{ socket: (\S+) \}`)

// TestIntegrationControl asks a running seesawd (VRRP only: the host has
// no IPVS) over its control socket: the status matches what the node
// holds, a reload of a bad file reports the problem and changes nothing, a
// reload that sets control.group re-creates the socket for the group, and
// the socket goes when the daemon stops.
func TestIntegrationControl(t *testing.T) {
	testenv.Integration(t, "go")
	bin := seesawdBinary(t)
	l := testenv.NewLAN(t)
	ns, _ := l.Attach(t, "192.0.2.1/24", "02:00:00:00:00:0a")
	cfg := seesawConfig(t, "a", 200, "100ms")
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sock := socketLine.FindStringSubmatch(string(good))[1]
	d := startDaemon(t, ns, "seesawd", bin, "--config", cfg)
	testenv.WaitFor(t, "the node holds the VIPs", 5*time.Second, func() bool { return holds(t, ns) })

	c := &control.Client{Path: sock}
	ctx := context.Background()
	var st *control.Status
	testenv.WaitFor(t, "status reports both instances master", 5*time.Second, func() bool {
		st, err = c.Status(ctx)
		return err == nil && len(st.VRRP) == 2 && st.VRRP[0].State == "master" && st.VRRP[1].State == "master"
	})
	if st.Node != "a" || st.IPVS || !st.Ready || st.Config.Path != cfg || len(st.Config.Hash) != 64 || st.PID == 0 {
		t.Errorf("status: node %q ipvs %v ready %v config %+v pid %d", st.Node, st.IPVS, st.Ready, st.Config, st.PID)
	}
	for _, in := range st.VRRP {
		if in.Name != "front" || in.Interface != "eth0" || in.VRID != 51 || in.Priority != 200 || in.AdvertsSent == 0 {
			t.Errorf("instance %+v", in)
		}
	}
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %v, %v; want mode 0600", fi, err)
	}
	var ce *control.Error
	if _, err := c.Drain(ctx, "web", "10.0.1.11", true); !errors.As(err, &ce) || ce.Code != control.CodeUnavailable {
		t.Errorf("drain on a node without IPVS: %v, want unavailable", err)
	}

	// A bad file: refused with its problem, nothing changes.
	if err := os.WriteFile(cfg, []byte("vrrp: [{vrid: 999}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := c.Reload(ctx)
	if err != nil || r.Outcome != control.ReloadRefused || !strings.Contains(strings.Join(r.Problems, "\n"), cfg+":1: vrrp[0].vrid: 999 out of range") {
		t.Fatalf("reload of a bad file: %+v, %v", r, err)
	}
	if !d.running() || !holds(t, ns) {
		t.Fatal("the refused reload stopped the daemon or cost it the VIPs")
	}

	// control.group set by a reload: the socket is re-created for the group.
	withGroup := strings.Replace(string(good), "control: { socket: "+sock+" }", "control: { socket: "+sock+", group: \"4242\" }", 1)
	if err := os.WriteFile(cfg, []byte(withGroup), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Reload(ctx); err != nil || r.Outcome != control.ReloadApplied || r.Took <= 0 {
		t.Fatalf("reload setting control.group: %+v, %v", r, err)
	}
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Sys().(*syscall.Stat_t).Gid != 4242 {
		t.Errorf("socket after the reload: %v, %v; want 0660 group 4242", fi, err)
	}
	if st, err := c.Status(ctx); err != nil || st.Config.Loaded.Before(st.Started) {
		t.Errorf("status on the new socket: %v", err)
	}
	if !strings.Contains(d.output(), `"reload requested over the control socket"`) {
		t.Error("the log does not say who asked for the reload")
	}

	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket after seesawd stopped: %v, want removed", err)
	}
	if _, err := c.Status(ctx); !errors.Is(err, control.ErrNotRunning) {
		t.Errorf("status after seesawd stopped: %v, want ErrNotRunning", err)
	}
}
