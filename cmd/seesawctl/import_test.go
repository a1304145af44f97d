package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seesawd/seesawd/pkg/config"
)

func write(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func seesawctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

const pair = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 150
    virtual_ipaddress {
        192.0.2.10/24
    }
    notify_master /etc/keepalived/master.sh
}
virtual_server 192.0.2.10 80 {
    protocol TCP
    include rs.conf
}
`

func TestImportKeepalived(t *testing.T) {
	dir := t.TempDir()
	conf := write(t, dir, "keepalived.conf", pair)
	write(t, dir, "rs.conf", "real_server 10.0.0.1 8080 {\n    TCP_CHECK {\n        smtp_alert\n    }\n}\n")

	code, stdout, stderr := seesawctl(t, "import-keepalived", conf)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := config.Parse([]byte(stdout)); err != nil {
		t.Errorf("stdout is not a configuration seesawd accepts: %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, "the keepalived configuration "+conf+".") {
		t.Errorf("the header does not name %s:\n%s", conf, stdout)
	}
	// Notes name the file the user gave and the included one, by line.
	for _, want := range []string{conf + ":1: vrrp_instance VI_1 runs VRRPv2", conf + ":8: notify_master:",
		filepath.Join(dir, "rs.conf") + ":3: unknown keyword smtp_alert in TCP_CHECK"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	// -o and --check.
	out := filepath.Join(dir, "seesawd.yaml")
	code, stdout, stderr = seesawctl(t, "import-keepalived", "-o", out, "--check", conf)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if _, err := config.Load(out); err != nil {
		t.Errorf("-o wrote a file seesawd refuses: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".seesawd.yaml.*")); len(left) > 0 {
		t.Errorf("-o left temporary files: %v", left)
	}
}

func TestImportKeepalivedRelativeNames(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "keepalived.conf", "include conf.d/*.conf\n")
	write(t, dir, "conf.d/a.conf", "vrrp_instance X {\n    bogus 1\n}\n")
	t.Chdir(dir)
	code, _, stderr := seesawctl(t, "import-keepalived", "keepalived.conf")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "conf.d/a.conf:2: unknown keyword bogus") {
		t.Errorf("an included file is not named relative to the working directory:\n%s", stderr)
	}
}

func TestImportKeepalivedExitCodes(t *testing.T) {
	dir := t.TempDir()
	broken := write(t, dir, "broken.conf", "virtual_server 192.0.2.1 80 {\n    real_server 10.0.0.1 80 {\n}\n")
	cycle := write(t, dir, "cycle.conf", "include cycle.conf\n")
	// The client certificate of an SSL_GET lives on the keepalived host:
	// seesawd loads it at start, so --check refuses the translation here.
	certs := write(t, dir, "certs.conf", `SSL {
    certificate /nonexistent/client.pem
    key /nonexistent/client.key
}
virtual_server 192.0.2.1 443 {
    protocol TCP
    real_server 10.0.0.1 443 {
        SSL_GET {
            url {
                path /
            }
        }
    }
}
`)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unclosed block", []string{broken}, 1, broken + `:1: block of "virtual_server" is never closed`},
		{"include cycle", []string{cycle}, 1, "include cycle"},
		{"missing file", []string{filepath.Join(dir, "none.conf")}, 1, "no such file"},
		{"no file", nil, 1, "accepts 1 arg"},
		{"refused by seesawd", []string{"--check", certs}, 2, "seesawd would refuse the translation"},
		{"refused, not written", []string{"--check", "-o", filepath.Join(dir, "out.yaml"), certs}, 2, "out.yaml not written"},
		{"not checked", []string{certs}, 0, "never verifies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := seesawctl(t, append([]string{"import-keepalived"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, want %d; stderr (want %q):\n%s", code, tc.code, tc.stderr, stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "out.yaml")); err == nil {
				t.Errorf("a translation seesawd refuses was written")
			}
		})
	}
}

func TestRootListsImportKeepalived(t *testing.T) {
	code, stdout, _ := seesawctl(t, "--help")
	if code != 0 || !strings.Contains(stdout, "import-keepalived") {
		t.Errorf("exit %d, help:\n%s", code, stdout)
	}
}
