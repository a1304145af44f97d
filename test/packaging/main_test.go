package packaging

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/seesawd/seesawd/test/vm"
)

// debEnv names the package under test; the vm package passes SEESAW_*
// variables into the guest, where the same file is seen at the same path.
const debEnv = "SEESAW_PACKAGE_DEB"

// TestMain builds the package once, on the host, into the VM lab's cache
// (which the guest sees), unless SEESAW_PACKAGE_DEB names one already.
// newerEnv names a directory with a systemd of version 253 or later
// unpacked from bookworm-backports (newer-systemd.sh), set by TestMain.
const newerEnv = "SEESAW_PACKAGE_NEWER_SYSTEMD"

func TestMain(m *testing.M) {
	flag.Parse()
	if !vm.InGuest() && os.Getenv(debEnv) == "" && !testing.Short() {
		deb, err := buildPackage()
		if err != nil {
			fmt.Fprintln(os.Stderr, "packaging:", err)
			os.Exit(2)
		}
		os.Setenv(debEnv, deb)
	}
	if !vm.InGuest() && os.Getenv(newerEnv) == "" && !testing.Short() && os.Geteuid() == 0 {
		// Where the guest sees it: the VM lab's cache.
		dir := filepath.Join(vm.CacheDir(), "systemd-newer")
		if out, err := exec.Command("sh", filepath.Join(repoRoot(), "test/packaging/newer-systemd.sh"), dir).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "packaging: no newer systemd (its tests will skip): %v\n%s", err, out)
		} else {
			os.Setenv(newerEnv, dir)
		}
	}
	vm.Main(m)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func buildPackage() (string, error) {
	base := os.TempDir()
	if os.Geteuid() == 0 {
		base = filepath.Join(vm.CacheDir(), "packaging")
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(base, "deb-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("make", "--no-print-directory", "package", "BIN="+dir, "VERSION=0.0.0~test")
	cmd.Dir = repoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("make package: %v\n%s", err, out)
	}
	deb := filepath.Join(dir, "seesawd_0.0.0~test_"+runtime.GOARCH+".deb")
	if _, err := os.Stat(deb); err != nil {
		return "", fmt.Errorf("make package made no %s:\n%s", deb, out)
	}
	return deb, nil
}

// debPath returns the package under test, skipping when there is none.
func debPath(t *testing.T) string {
	t.Helper()
	deb := os.Getenv(debEnv)
	if deb == "" {
		t.Skip("no package built (-short, or " + debEnv + " unset)")
	}
	return deb
}

// extract unpacks the package as dpkg would install it, under a fresh directory.
func extract(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	run(t, "dpkg-deb", "-x", debPath(t), root)
	return root
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
