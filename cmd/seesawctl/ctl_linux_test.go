//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seesawd/seesawd/pkg/control"
)

// fakeDaemon answers with exampleStatus and records drains.
type fakeDaemon struct {
	mu          sync.Mutex
	drains      []string
	reload      control.ReloadResult
	nodeDrained bool
}

func (f *fakeDaemon) Status(ctx context.Context) (*control.Status, error) {
	st := exampleStatus()
	st.Services[0].Backends[2].Drained = "config"
	f.mu.Lock()
	defer f.mu.Unlock()
	st.NodeDrained = f.nodeDrained
	if st.BGP != nil {
		st.BGP.NodeDrained = f.nodeDrained
	}
	return st, nil
}

func (f *fakeDaemon) DrainNode(ctx context.Context, on bool) (*control.NodeDrainResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := f.nodeDrained != on
	f.nodeDrained = on
	return &control.NodeDrainResult{Drained: on, Changed: changed, BGP: true}, nil
}

func (f *fakeDaemon) Drain(ctx context.Context, service string, backend netip.AddrPort, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drains = append(f.drains, fmt.Sprint(service, " ", backend, " ", on))
	return nil
}

func (f *fakeDaemon) Reload(ctx context.Context) (*control.ReloadResult, error) {
	r := f.reload
	return &r, nil
}

// daemon serves d on a socket and returns its path.
func daemon(t *testing.T, d control.Daemon) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seesawd.sock")
	l, err := control.Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := control.NewServer(d, nil)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return path
}

func TestReadCommands(t *testing.T) {
	d := &fakeDaemon{}
	sock := daemon(t, d)
	code, out, errs := seesawctl(t, "status", "--socket", sock)
	if code != 0 || !strings.Contains(out, "node lb1: seesawd v1.2.0") || !strings.Contains(out, "web      tcp 192.0.2.100:80  up") || errs != "" {
		t.Errorf("status: exit %d\n%s\nstderr: %s", code, out, errs)
	}
	// The socket flag may come before the command too.
	if code, out, _ := seesawctl(t, "--socket", sock, "vrrp"); code != 0 || !strings.HasPrefix(out, "INSTANCE    STATE") {
		t.Errorf("--socket before vrrp: exit %d\n%s", code, out)
	}
	if code, out, _ := seesawctl(t, "backends", "web", "--socket", sock); code != 0 || !strings.Contains(out, "10.0.1.12:8080  masq  up      2       0       runtime") {
		t.Errorf("backends web: exit %d\n%s", code, out)
	}
	if code, out, _ := seesawctl(t, "services", "--socket", sock); code != 0 || !strings.Contains(out, "dns      udp 192.0.2.100:53  rr     down") {
		t.Errorf("services: exit %d\n%s", code, out)
	}

	// --json prints what the daemon sent, field for field.
	want, _ := d.Status(context.Background())
	for _, tc := range []struct {
		args []string
		got  any
		want any
	}{
		{[]string{"status"}, &control.Status{}, want},
		{[]string{"services"}, &[]control.Service{}, &want.Services},
		{[]string{"backends", "dns"}, &control.Service{}, &want.Services[1]},
		{[]string{"vrrp"}, &[]control.Instance{}, &want.VRRP},
	} {
		code, out, _ := seesawctl(t, append(tc.args, "--json", "--socket", sock)...)
		if code != 0 {
			t.Fatalf("%v --json: exit %d", tc.args, code)
		}
		if err := json.Unmarshal([]byte(out), tc.got); err != nil {
			t.Fatalf("%v --json: %v\n%s", tc.args, err, out)
		}
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%v --json (-want +got):\n%s", tc.args, diff)
		}
	}
	if !strings.Contains(func() string { _, out, _ := seesawctl(t, "status", "--json", "--socket", sock); return out }(),
		`"kernel_weight": 3`) {
		t.Error("status --json lacks the documented field kernel_weight")
	}

	code, _, errs = seesawctl(t, "backends", "webb", "--socket", sock)
	if code != ctlFailed || errs != "seesawctl: no service \"webb\" (services: web, dns)\n  seesawctl services lists them\n" {
		t.Errorf("backends webb: exit %d, stderr %q", code, errs)
	}
}

func TestDrainCommands(t *testing.T) {
	d := &fakeDaemon{}
	sock := daemon(t, d)
	code, out, errs := seesawctl(t, "drain", "web", "10.0.1.11", "--socket", sock)
	if code != 0 || out != "drained web 10.0.1.11:8080: weight 0, its established connections finish (undo: seesawctl undrain web 10.0.1.11:8080)\n" {
		t.Errorf("drain: exit %d, %q %q", code, out, errs)
	}
	code, out, _ = seesawctl(t, "undrain", "web", "10.0.1.12:8080", "--socket", sock)
	if code != 0 || out != "undrained web 10.0.1.12:8080: it takes new connections when healthy\n" {
		t.Errorf("undrain: exit %d, %q", code, out)
	}
	code, _, errs = seesawctl(t, "undrain", "web", "10.0.1.13", "--socket", sock)
	if code != ctlFailed || !strings.Contains(errs, "drained by the configuration (drain: true)") ||
		!strings.Contains(errs, "remove drain: true from the backend in /etc/seesawd/seesawd.yaml, then seesawctl reload") {
		t.Errorf("undrain of a configured drain: exit %d, %q", code, errs)
	}
	code, _, errs = seesawctl(t, "drain", "web", "10.0.1.99", "--socket", sock)
	if code != ctlFailed || !strings.Contains(errs, "service web has no backend 10.0.1.99 (its backends: 10.0.1.11:8080, 10.0.1.12:8080, 10.0.1.13:8080)") {
		t.Errorf("drain of an unknown backend: exit %d, %q", code, errs)
	}
	want := []string{"web 10.0.1.11:8080 true", "web 10.0.1.12:8080 false", "web 10.0.1.13:8080 false"}
	if diff := cmp.Diff(want, d.drains); diff != "" {
		t.Errorf("drains (-want +got):\n%s", diff)
	}
	if code, _, _ := seesawctl(t, "drain", "web", "--socket", sock); code != 1 {
		t.Errorf("drain without a backend: exit %d, want 1", code)
	}
}

func TestReloadCommand(t *testing.T) {
	d := &fakeDaemon{reload: control.ReloadResult{Outcome: control.ReloadRefused, Problems: []string{"f.yaml:7: services[0].port: 99999 out of range"}}}
	sock := daemon(t, d)
	code, out, _ := seesawctl(t, "reload", "--socket", sock)
	if code != ctlReload || !strings.Contains(out, "reload refused") || !strings.Contains(out, "\n  f.yaml:7: services[0].port: 99999 out of range\n") {
		t.Errorf("refused reload: exit %d\n%s", code, out)
	}
	code, out, _ = seesawctl(t, "reload", "--json", "--socket", sock)
	var r control.ReloadResult
	if code != ctlReload || json.Unmarshal([]byte(out), &r) != nil || r.Outcome != "refused" {
		t.Errorf("reload --json: exit %d\n%s", code, out)
	}
	d.reload = control.ReloadResult{Outcome: control.ReloadApplied, Hash: "00112233445566778899"}
	if code, out, _ := seesawctl(t, "reload", "--socket", sock); code != 0 || !strings.HasPrefix(out, "reload applied in 0µs (config 001122334455)") {
		t.Errorf("applied reload: exit %d\n%s", code, out)
	}
}

func TestNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "seesawd.sock")
	for _, args := range [][]string{{"status"}, {"reload"}, {"drain", "web", "10.0.1.11"}} {
		code, out, errs := seesawctl(t, append(args, "--socket", sock)...)
		want := "seesawctl: seesawd is not running (no socket at " + sock + "): systemctl start seesawd\n"
		if code != ctlFailed || out != "" || !strings.HasPrefix(errs, want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", args, code, errs, want)
		}
	}
	t.Setenv(socketEnv, sock)
	if _, _, errs := seesawctl(t, "status"); !strings.Contains(errs, "no socket at "+sock) {
		t.Errorf("$%s not used: %q", socketEnv, errs)
	}
}

func TestNodeDrainCommands(t *testing.T) {
	d := &fakeDaemon{}
	sock := daemon(t, d)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"drain-node"}, "node drained: every BGP route withdrawn, IPVS keeps serving established flows (undo: seesawctl undrain-node)\n"},
		{[]string{"drain-node"}, "the node was drained already\n"},
		{[]string{"undrain-node"}, "node undrained: the VIPs of the services that are up are announced again\n"},
		{[]string{"undrain-node"}, "the node was not drained\n"},
	} {
		code, out, errs := seesawctl(t, append(tc.args, "--socket", sock)...)
		if code != 0 || out != tc.want {
			t.Errorf("%v: exit %d, %q (stderr %q), want %q", tc.args, code, out, errs, tc.want)
		}
	}
	if _, err := d.DrainNode(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	code, out, _ := seesawctl(t, "status", "--socket", sock)
	if code != 0 || !strings.Contains(out, "node drained (seesawctl drain-node)") {
		t.Errorf("status of a drained node: exit %d\n%s", code, out)
	}
	if code, _, _ := seesawctl(t, "drain-node", "web", "--socket", sock); code != 1 {
		t.Errorf("drain-node with an argument: exit %d, want 1", code)
	}
}
