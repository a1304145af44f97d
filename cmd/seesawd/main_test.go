package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seesawd/seesawd/pkg/config"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunRefusesBadConfig(t *testing.T) {
	bad := writeFile(t, "bad.yaml", `
bogus: true
vrrp:
  - name: front
    interface: eth0
    vrid: 300
    priority: 0
    virtual_ips: [192.0.2.100/24, not-an-ip]
  - name: back
    interface: eth0
    vrid: 300
    virtual_ips: [192.0.2.200/24]
`)
	tests := []struct {
		name string
		args []string
	}{
		{"config", []string{"--config", bad}},
		{"check-config", []string{"--check-config", bad}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(tt.args, &out, &out); code != exitConfig {
				t.Errorf("exit code %d, want %d", code, exitConfig)
			}
			for _, want := range []string{
				"bogus: unknown key",
				"vrrp[0].vrid: 300 out of range 1-255",
				"vrrp[0].priority: 0 out of range 1-255",
				`vrrp[0].virtual_ips[1]: "not-an-ip" is not an address`,
				"vrrp[1].vrid: 300 out of range 1-255",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestRunCheckConfigOK(t *testing.T) {
	var out bytes.Buffer
	var errOut bytes.Buffer
	if code := run([]string{"--check-config", "../../configs/seesawd.yaml"}, &out, &errOut); code != exitOK {
		t.Errorf("exit code %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "configs/seesawd.yaml: ok (1 VRRP instance(s), 1 service(s))") || errOut.Len() > 0 {
		t.Errorf("check-config printed %q on stdout and %q on stderr, want the verdict on stdout", out.String(), errOut.String())
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"--nope"}, {"--config"}, {"--config", "a", "extra"}} {
		var out bytes.Buffer
		if code := run(args, &out, &out); code != exitConfig {
			t.Errorf("run(%q) = %d, want %d", args, code, exitConfig)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"--config", "/nonexistent/seesawd.yaml"}, &out, &out); code != exitConfig {
		t.Errorf("missing file: exit %d", code)
	}
}

func TestNewLogger(t *testing.T) {
	for _, f := range []string{"auto", "json", "console"} {
		var out bytes.Buffer
		l, err := newLogger(configLog("info", f), &out)
		if err != nil {
			t.Fatal(err)
		}
		l.Info("hello")
		l.Debug("hidden")
		if !strings.Contains(out.String(), "hello") || strings.Contains(out.String(), "hidden") {
			t.Errorf("format %s: %q", f, out.String())
		}
		// Not a terminal: auto means json.
		if f != "console" && !strings.HasPrefix(out.String(), "{") {
			t.Errorf("format %s wrote %q, want json", f, out.String())
		}
	}
}

func configLog(level, format string) config.Log { return config.Log{Level: level, Format: format} }

func TestRunVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--version"}, &out, &errOut); code != exitOK || errOut.Len() > 0 {
		t.Fatalf("exit code %d: %s", code, out.String())
	}
	if !strings.HasPrefix(out.String(), "seesawd ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("--version printed %q", out.String())
	}
}
