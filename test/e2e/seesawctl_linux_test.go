//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/internal/lab"
	"github.com/seesawd/seesawd/internal/testenv"
	"github.com/seesawd/seesawd/pkg/control"
)

// ctlLab is the lab with seesawctl: each LB's seesawd has a control socket
// of its own (the LBs share one filesystem, so the default path would be
// one socket for both).
type ctlLab struct {
	*env
	bin      string
	ipvsYAML string
}

// setupCtl is setup, then a reload on each LB that moves its control
// socket to a path of its own, in a directory anyone may search (so that
// a non-root user meets the socket's own mode, not the directory's).
func setupCtl(t *testing.T, ipvsYAML, services string, ports ...uint16) *ctlLab {
	t.Helper()
	testenv.Integration(t, "ipvsadm", "nft")
	bin := os.Getenv(ctlEnv)
	if bin == "" {
		testenv.Skip(t, "no seesawctl binary (%s): the host builds it before booting the VM", ctlEnv)
	}
	e := setup(t, ipvsYAML, services, ports...)
	dir, err := os.MkdirTemp("/run", "seesawd-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &ctlLab{env: e, bin: bin, ipvsYAML: ipvsYAML}
	for _, lb := range []*lab.LB{e.lb1, e.lb2} {
		// A socket in a directory a non-root user can reach.
		lb.ControlSocket = filepath.Join(dir, lb.Name+".sock")
		c.writeConfig(lb, services)
		if err := lb.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		e.waitFor(lb.Name+" answers on its own control socket", 10*time.Second, func() bool {
			code, _, _ := c.ctl(lb, "status")
			return code == 0
		})
	}
	return c
}

// writeConfig writes lb's configuration with services.
func (c *ctlLab) writeConfig(lb *lab.LB, services string) {
	c.t.Helper()
	if err := lb.WriteConfig(c.ipvsYAML, services); err != nil {
		c.t.Fatal(err)
	}
}

// ctl runs seesawctl against lb's daemon as root.
func (c *ctlLab) ctl(lb *lab.LB, args ...string) (code int, stdout, stderr string) {
	return c.ctlAs(nil, lb, args...)
}

// ctlAs runs seesawctl with the given credentials (nil: this process's).
func (c *ctlLab) ctlAs(cred *syscall.Credential, lb *lab.LB, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append(args, "--socket", lb.ControlSocket)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("seesawctl %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// status returns `seesawctl status --json` on lb.
func (c *ctlLab) status(lb *lab.LB) *control.Status {
	c.t.Helper()
	code, out, errs := c.ctl(lb, "status", "--json")
	if code != 0 {
		c.t.Fatalf("%s: seesawctl status: exit %d: %s", lb.Name, code, errs)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		c.t.Fatalf("%s: seesawctl status --json: %v\n%s", lb.Name, err, out)
	}
	return &st
}

var ipvsadmDest = regexp.MustCompile(`(?m)^-a -t (\S+) -r (\S+) -m -w (\d+)`)

// kernelWeights reads the destinations' weights from `ipvsadm -Sn` on lb,
// by "service -> backend".
func (c *ctlLab) kernelWeights(lb *lab.LB) map[string]uint32 {
	out := map[string]uint32{}
	for _, m := range ipvsadmDest.FindAllStringSubmatch(c.ipvs(lb), -1) {
		w, _ := strconv.ParseUint(m[3], 10, 32)
		out[m[1]+" -> "+m[2]] = uint32(w)
	}
	return out
}

// statusWeights is kernelWeights as seesawctl status reports it.
func statusWeights(st *control.Status) map[string]uint32 {
	out := map[string]uint32{}
	for _, s := range st.Services {
		for _, b := range s.Backends {
			if b.InKernel {
				out[s.Address+":"+strconv.Itoa(int(s.Port))+" -> "+b.Address] = b.KernelWeight
			}
		}
	}
	return out
}

// matchesKernel reports whether lb's status agrees with the kernel (ipvsadm)
// and with which node holds the VIP, and why not.
func (c *ctlLab) matchesKernel(lb *lab.LB) (bool, string) {
	st := c.status(lb)
	kernel, reported := c.kernelWeights(lb), statusWeights(st)
	if !mapsEqual(kernel, reported) {
		return false, "weights: ipvsadm " + fmtMap(kernel) + ", seesawctl " + fmtMap(reported)
	}
	holds := lb.HoldsVIP(c.ctx)
	for _, in := range st.VRRP {
		if (in.State == "master") != holds {
			return false, in.Name + "/" + in.Family + " is " + in.State + " while holding the VIP is " + strconv.FormatBool(holds)
		}
	}
	if len(st.VRRP) != 2 {
		return false, "VRRP instances: " + strconv.Itoa(len(st.VRRP))
	}
	return true, ""
}

func mapsEqual(a, b map[string]uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func fmtMap(m map[string]uint32) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// backend returns the status of web's backend addr on lb.
func (c *ctlLab) backend(lb *lab.LB, addr string) control.Backend {
	c.t.Helper()
	for _, s := range c.status(lb).Services {
		for _, b := range s.Backends {
			if s.Name == "web" && b.Address == addr {
				return b
			}
		}
	}
	c.t.Fatalf("%s: web has no backend %s", lb.Name, addr)
	return control.Backend{}
}

// TestIntegrationSeesawctl drives the lab's daemons with seesawctl as an
// operator would: status checked against ipvsadm and the VIP, a run-time
// drain kept across a reload and a restart, a bad reload reported, and a
// non-root user refused.
func TestIntegrationSeesawctl(t *testing.T) {
	c := setupCtl(t, "resync_interval: 5s\n", natWeighted, 8080)
	lb1, lb2 := c.lb1, c.lb2
	for _, lb := range []*lab.LB{lb1, lb2} {
		c.waitIPVS(lb, 5*time.Second, natLines, nil)
	}
	const b2 = "10.0.1.12:8080"
	drainedLine := "-a -t 192.0.2.100:80 -r " + b2 + " -m -w 0"

	t.Run("status matches the kernel and VRRP", func(t *testing.T) {
		for _, lb := range []*lab.LB{lb1, lb2} {
			// Polled: a status is a snapshot and may trail the kernel by a
			// reconcile.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				ok, why := c.matchesKernel(lb)
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s: seesawctl status disagrees: %s", lb.Name, why)
					break
				}
			}
		}
		c.waitFor("web up with 3/3 healthy on lb1", 10*time.Second, func() bool {
			st := c.status(lb1)
			return len(st.Services) == 1 && st.Services[0].State == "up" && st.Services[0].Healthy == 3
		})
		code, out, _ := c.ctl(lb1, "status")
		t.Logf("seesawctl status on lb1:\n%s", out)
		for _, want := range []string{"node lb1: seesawd", "front/ipv4  master", "back/ipv4   master", "web      tcp 192.0.2.100:80  up     3/3      yes"} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("seesawctl status on lb1 (exit %d) lacks %q:\n%s", code, want, out)
			}
		}
		if _, out, _ := c.ctl(lb2, "vrrp"); !strings.Contains(out, "front/ipv4  backup") {
			t.Errorf("seesawctl vrrp on lb2:\n%s", out)
		}
	})

	t.Run("drain sets the kernel weight to 0", func(t *testing.T) {
		code, out, errs := c.ctl(lb1, "drain", "web", "10.0.1.12")
		if code != 0 || !strings.Contains(out, "drained web "+b2) {
			t.Fatalf("seesawctl drain: exit %d: %s%s", code, out, errs)
		}
		c.waitIPVS(lb1, 5*time.Second, []string{drainedLine}, nil)
		c.waitFor("status shows the run-time drain", 5*time.Second, func() bool {
			b := c.backend(lb1, b2)
			return b.Drained == "runtime" && b.InKernel && b.KernelWeight == 0 && b.Weight == 2
		})
		_, out, _ = c.ctl(lb1, "backends", "web")
		t.Logf("seesawctl backends web on lb1:\n%s", out)
		if !regexp.MustCompile(`10\.0\.1\.12:8080 +masq +up +2 +0 +runtime`).MatchString(out) {
			t.Error("seesawctl backends web does not show the run-time drain")
		}
		// Only lb1 was asked.
		if strings.Contains(c.ipvs(lb2), drainedLine) {
			t.Error("lb2 drained the backend too")
		}
		if got := c.assertServes("http://192.0.2.100/", 12, "b2"); got["b1"] == 0 {
			t.Errorf("requests by backend %v", got)
		}
	})

	t.Run("the drain survives a reload", func(t *testing.T) {
		// b3's weight changes, so the reload applies something.
		c.writeConfig(lb1, strings.Replace(natWeighted, "port: 8080, weight: 1 }", "port: 8080, weight: 4 }", 1))
		if err := lb1.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		c.waitIPVS(lb1, 5*time.Second, []string{"-a -t 192.0.2.100:80 -r 10.0.1.13:8080 -m -w 4", drainedLine}, nil)
		if b := c.backend(lb1, b2); b.Drained != "runtime" || b.KernelWeight != 0 {
			t.Errorf("after the reload: %+v", b)
		}
		code, out, _ := c.ctl(lb1, "reload")
		if code != 0 || !strings.HasPrefix(out, "reload: the configuration is unchanged") {
			t.Errorf("seesawctl reload of the same file: exit %d: %s", code, out)
		}
	})

	t.Run("the drain survives a restart", func(t *testing.T) {
		if err := lb1.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(c.ipvs(lb1), drainedLine) {
			t.Error("stopping seesawd undrained the backend")
		}
		if err := lb1.Start(); err != nil {
			t.Fatal(err)
		}
		c.waitMaster(lb1, lb2)
		c.waitFor("lb1's status after the restart", 10*time.Second, func() bool {
			code, _, _ := c.ctl(lb1, "status")
			return code == 0
		})
		if b := c.backend(lb1, b2); b.Drained != "runtime" || b.KernelWeight != 0 {
			t.Errorf("after the restart: %+v", b)
		}
		if !strings.Contains(c.ipvs(lb1), drainedLine) {
			t.Error("the restarted seesawd undrained the backend")
		}
	})

	t.Run("undrain restores the weight", func(t *testing.T) {
		code, out, errs := c.ctl(lb1, "undrain", "web", b2)
		if code != 0 || !strings.Contains(out, "undrained web "+b2) {
			t.Fatalf("seesawctl undrain: exit %d: %s%s", code, out, errs)
		}
		c.waitIPVS(lb1, 5*time.Second, []string{"-a -t 192.0.2.100:80 -r " + b2 + " -m -w 2"}, nil)
		if b := c.backend(lb1, b2); b.Drained != "" {
			t.Errorf("after undrain: %+v", b)
		}
	})

	t.Run("a bad reload is reported", func(t *testing.T) {
		before := c.ipvs(lb1)
		bad := strings.Replace(natWeighted, "port: 80\n", "port: 99999\n", 1)
		c.writeConfig(lb1, bad)
		code, out, _ := c.ctl(lb1, "reload")
		if code != 2 || !strings.HasPrefix(out, "reload refused: the running configuration stays") ||
			!regexp.MustCompile(regexp.QuoteMeta(lb1.ConfigPath)+`:\d+: services\[0\]\.port: 99999 out of range`).MatchString(out) {
			t.Errorf("seesawctl reload of a bad file: exit %d:\n%s", code, out)
		}
		if after := c.ipvs(lb1); after != before {
			t.Errorf("the refused reload changed the kernel:\n%s\nwas:\n%s", after, before)
		}
	})

	t.Run("a non-root user is refused", func(t *testing.T) {
		nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
		code, _, errs := c.ctlAs(nobody, lb1, "status")
		if code != 1 || !strings.Contains(errs, "permission denied on "+lb1.ControlSocket+": run seesawctl as root") {
			t.Errorf("nobody, socket 0600: exit %d: %s", code, errs)
		}
		// A socket opened to everyone by mistake: the peer check still refuses.
		if err := os.Chmod(lb1.ControlSocket, 0o666); err != nil {
			t.Fatal(err)
		}
		code, _, errs = c.ctlAs(nobody, lb1, "drain", "web", "10.0.1.11")
		if code != 1 || !strings.Contains(errs, "permission denied: uid 65534 is not root") {
			t.Errorf("nobody, socket 0666: exit %d: %s", code, errs)
		}
		c.waitFor("lb1 logs the refusal", 5*time.Second, func() bool {
			return strings.Contains(lb1.Log(), "refused a request from a peer that is neither root nor in the control group")
		})
		if strings.Contains(c.ipvs(lb1), "-r 10.0.1.11:8080 -m -w 0") {
			t.Error("the refused drain drained")
		}
	})
}
