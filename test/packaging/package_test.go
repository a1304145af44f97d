package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPackageContents lists what the package installs, with owners and
// modes, and its control fields and conffiles.
func TestPackageContents(t *testing.T) {
	deb := debPath(t)
	type entry struct{ Mode, Owner string }
	got := map[string]entry{}
	for _, line := range strings.Split(strings.TrimSpace(run(t, "dpkg-deb", "-c", deb)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || strings.HasPrefix(f[0], "d") {
			continue
		}
		got[strings.TrimPrefix(f[5], ".")] = entry{f[0], f[1]}
	}
	exe, file := entry{"-rwxr-xr-x", "root/root"}, entry{"-rw-r--r--", "root/root"}
	want := map[string]entry{
		"/usr/sbin/seesawd":                                     exe,
		"/usr/bin/seesawctl":                                    exe,
		"/lib/systemd/system/seesawd.service":                   file,
		"/lib/systemd/system-generators/seesawd-systemd-compat": exe,
		"/etc/seesawd/seesawd.yaml":                             file,
		"/usr/share/doc/seesawd/examples/seesawd.yaml":          file,
		"/usr/share/doc/seesawd/README.md":                      file,
		"/usr/share/doc/seesawd/operations.md":                  file,
		"/usr/share/doc/seesawd/configuration.md":               file,
		"/usr/share/doc/seesawd/migration-keepalived.md":        file,
		"/usr/share/man/man8/seesawd.8.gz":                      file,
		"/usr/share/man/man8/seesawctl.8.gz":                    file,
		"/usr/share/man/man5/seesawd.yaml.5.gz":                 file,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("package files (-want +got):\n%s", diff)
	}

	fields := func(names ...string) []string {
		out := strings.Split(strings.TrimSpace(run(t, "dpkg-deb", append([]string{"--field", deb}, names...)...)), "\n")
		for i := range out {
			_, v, _ := strings.Cut(out[i], ": ")
			out[i] = v
		}
		return out
	}
	if got := fields("Package", "Version", "Architecture", "Depends"); !slices.Equal(got[:2], []string{"seesawd", "0.0.0~test"}) || got[3] != "adduser" {
		t.Errorf("control fields Package, Version, Architecture, Depends = %q", got)
	}
	ctl := t.TempDir()
	run(t, "dpkg-deb", "--control", deb, ctl)
	conffiles, err := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(conffiles)); !slices.Equal(got, []string{"/etc/seesawd/seesawd.yaml"}) {
		t.Errorf("conffiles = %q, want the configuration only", got)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		st, err := os.Stat(filepath.Join(ctl, s))
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("maintainer script %s: %v %v", s, err, st)
			continue
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(ctl, s)).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", s, err, out)
		}
	}
	// The postinst must not start or enable the daemon: as shipped it
	// has nothing to serve, and a load balancer starts when told to.
	postinst, _ := os.ReadFile(filepath.Join(ctl, "postinst"))
	starts := regexp.MustCompile(`\bsystemctl\b.*\b(start|restart|enable|try-restart|reload-or-restart)\b`)
	for _, line := range strings.Split(string(postinst), "\n") {
		if code, _, _ := strings.Cut(line, "#"); starts.MatchString(code) && !strings.Contains(code, "echo ") {
			t.Errorf("postinst starts or enables the daemon: %q", line)
		}
	}
	if !strings.Contains(string(postinst), "adduser --system") {
		t.Error("postinst creates no system user")
	}
}

// TestPackageConfigs runs the packaged binaries from where the package
// puts them: the conffile and the example validate, and the conffile
// programs nothing.
func TestPackageConfigs(t *testing.T) {
	root := extract(t)
	seesawd := filepath.Join(root, "usr/sbin/seesawd")
	for _, c := range []struct{ file, want string }{
		{"etc/seesawd/seesawd.yaml", "ok (0 VRRP instance(s), 0 service(s))"},
		{"usr/share/doc/seesawd/examples/seesawd.yaml", "ok (1 VRRP instance(s), 1 service(s))"},
	} {
		out := run(t, seesawd, "--check-config", filepath.Join(root, c.file))
		if !strings.Contains(out, c.want) {
			t.Errorf("seesawd --check-config %s: %q, want %q", c.file, out, c.want)
		}
	}
	if out := run(t, seesawd, "--version"); !strings.HasPrefix(out, "seesawd ") {
		t.Errorf("seesawd --version: %q", out)
	}
	if out := run(t, filepath.Join(root, "usr/bin/seesawctl"), "--help"); !strings.Contains(out, "import-keepalived") {
		t.Errorf("seesawctl --help lists no import-keepalived:\n%s", out)
	}
}

// TestPackageManPages renders each man page with groff's warnings on
// (a table wider than 80 columns is one), and through man.
func TestPackageManPages(t *testing.T) {
	root := extract(t)
	for _, page := range []string{"man8/seesawd.8.gz", "man8/seesawctl.8.gz", "man5/seesawd.yaml.5.gz"} {
		path := filepath.Join(root, "usr/share/man", page)
		warn := exec.Command("sh", "-c", `zcat "$1" | groff -t -man -Tutf8 -ww -z`, "sh", path)
		if out, err := warn.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff warns on %s: %v\n%s", page, err, out)
		}
		cmd := exec.Command("man", "-l", path)
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("man -l %s: %v", page, err)
			continue
		}
		if !strings.Contains(string(out), "NAME") || len(out) < 1000 {
			t.Errorf("man -l %s rendered %d bytes:\n%s", page, len(out), out)
		}
	}
}

// unitRoot lays out a root for systemd-analyze --root: the host's own
// units (for the targets the unit names), and the package's files.
func unitRoot(t *testing.T) string {
	t.Helper()
	root := extract(t)
	host, err := filepath.Glob("/lib/systemd/system/*")
	if err != nil || len(host) == 0 {
		t.Skipf("no systemd units on this host to verify against: %v", err)
	}
	run(t, "cp", append(append([]string{"-an"}, host...), filepath.Join(root, "lib/systemd/system"))...)
	// What the unit and its drop-in run, as any Debian has it.
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", "/bin/kill", filepath.Join(root, "bin/kill"))
	return root
}

// analyze runs systemd-analyze verify on the packaged unit in root.
func analyze(t *testing.T, sa, root string) (string, error) {
	t.Helper()
	out, err := exec.Command(sa, "verify", "--man=no", "--root="+root, "seesawd.service").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func systemdVersion(t *testing.T, sa string) int {
	t.Helper()
	out := run(t, sa, "--version")
	m := regexp.MustCompile(`^systemd (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s --version: %q", sa, out)
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

// newerAnalyze returns a systemd-analyze of version 253 or later.
func newerAnalyze(t *testing.T) string {
	t.Helper()
	if sa, err := exec.LookPath("systemd-analyze"); err == nil && systemdVersion(t, sa) >= 253 {
		return sa
	}
	dir := os.Getenv(newerEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "seesawd-newer-systemd")
	}
	out, err := exec.Command("sh", filepath.Join(repoRoot(), "test/packaging/newer-systemd.sh"), dir).CombinedOutput()
	if err != nil {
		skip(t, "no systemd-analyze 253+ at hand and none could be unpacked from bookworm-backports: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestPackageUnitVerify verifies the installed unit with a systemd that
// knows Type=notify-reload (nothing to say), and with the host's, which on
// Debian 12 is 252: it ignores that one line, and the generator's drop-in
// makes the unit Type=notify with a reload command.
func TestPackageUnitVerify(t *testing.T) {
	newer := newerAnalyze(t)
	root := unitRoot(t)
	out, err := analyze(t, newer, root)
	if err != nil || out != "" {
		t.Errorf("systemd %d: verify: %v\n%s", systemdVersion(t, newer), err, out)
	}
	t.Logf("systemd %d: systemd-analyze verify passes with no output", systemdVersion(t, newer))

	host, err := exec.LookPath("systemd-analyze")
	if err != nil {
		skip(t, "no systemd-analyze on the host")
	}
	if v := systemdVersion(t, host); v >= 253 {
		t.Skipf("the host's systemd is %d: nothing older to check", v)
	}
	// Without the drop-in: Type= is ignored, nothing else is wrong.
	ignored := "seesawd.service:" + strconv.Itoa(lineOf(t, root, "Type=notify-reload")) +
		": Failed to parse service type, ignoring: notify-reload"
	out, err = analyze(t, host, root)
	if err != nil || !strings.HasSuffix(out, ignored) || strings.Count(out, "\n") > 0 {
		t.Errorf("systemd %d: verify: %v\n%s\nwant only %q", systemdVersion(t, host), err, out, ignored)
	}
	// With the drop-in the generator writes on this systemd.
	gen := t.TempDir()
	run(t, filepath.Join(root, "lib/systemd/system-generators/seesawd-systemd-compat"), gen)
	dropIn := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(dropIn, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", "-r", filepath.Join(gen, "seesawd.service.d"), dropIn)
	out, err = analyze(t, host, root)
	if err != nil || !strings.HasSuffix(out, ignored) || strings.Count(out, "\n") > 0 {
		t.Errorf("systemd %d with the drop-in: verify: %v\n%s", systemdVersion(t, host), err, out)
	}
	t.Logf("systemd %d: systemd-analyze verify passes; only Type=notify-reload is ignored, the drop-in sets Type=notify", systemdVersion(t, host))
}

func lineOf(t *testing.T, root, text string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/seesawd.service"))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if l == text {
			return i + 1
		}
	}
	t.Fatalf("the unit has no line %q", text)
	return 0
}

// TestPackageSecurityScore holds the unit to an exposure of 2.5 or lower
// in systemd-analyze security --offline=yes, with every systemd at hand.
func TestPackageSecurityScore(t *testing.T) {
	root := extract(t)
	unit := filepath.Join(root, "lib/systemd/system/seesawd.service")
	var analyzers []string
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		analyzers = append(analyzers, sa)
	}
	analyzers = append(analyzers, newerAnalyze(t))
	re := regexp.MustCompile(`Overall exposure level for seesawd.service: (\d+\.\d)`)
	for _, sa := range analyzers {
		out, _ := exec.Command(sa, "security", "--offline=yes", unit).CombinedOutput()
		m := re.FindSubmatch(out)
		if m == nil {
			t.Errorf("systemd %d: no score in:\n%s", systemdVersion(t, sa), out)
			continue
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("systemd %d: systemd-analyze security --offline=yes: %.1f", systemdVersion(t, sa), score)
		if score > 2.5 {
			t.Errorf("systemd %d scores the unit %.1f, above 2.5:\n%s", systemdVersion(t, sa), score, out)
		}
	}
}

// TestGenerator runs the packaged generator against systemctl versions.
func TestGenerator(t *testing.T) {
	root := extract(t)
	gen := filepath.Join(root, "lib/systemd/system-generators/seesawd-systemd-compat")
	for _, tc := range []struct {
		name, version string
		dropIn        bool
	}{
		{"Debian 12", "systemd 252 (252.38-1~deb12u1)", true},
		{"first with notify-reload", "systemd 253 (253)", false},
		{"Debian 13", "systemd 257 (257.9-1~deb13u1)", false},
		{"unparseable", "what?", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := t.TempDir()
			fake := "#!/bin/sh\n[ \"$1\" = --version ] && printf '%s\\n+PAM +AUDIT\\n' '" + tc.version + "'\n"
			if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			cmd := exec.Command(gen, out, out+"/early", out+"/late")
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("generator: %v\n%s", err, b)
			}
			conf, err := os.ReadFile(filepath.Join(out, "seesawd.service.d/50-systemd-before-253.conf"))
			if !tc.dropIn {
				if err == nil {
					t.Errorf("drop-in written for %q:\n%s", tc.version, conf)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"\n[Service]\n", "\nType=notify\n", "\nExecReload=/bin/kill -HUP $MAINPID\n"} {
				if !strings.Contains(string(conf), want) {
					t.Errorf("drop-in lacks %q:\n%s", want, conf)
				}
			}
		})
	}
}
