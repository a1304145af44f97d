// Package vm is seesawd's VM lab: it runs commands and Go test binaries on a
// real Linux kernel with IPVS, for hosts whose kernel lacks it.
//
// The lab boots Debian's stock kernel (package linux-image-amd64, which has
// ip_vs and every scheduler as modules) under qemu-system-x86_64 with TCG and
// a tiny busybox initramfs (see prepare.sh and init.sh). The guest mounts the
// host's root filesystem read-only over 9p and chroots into it, so every host
// binary (ipvsadm, ip, keepalived, a Go test binary, static or not) runs in the
// guest unchanged; /tmp, /run, /root, /var/tmp and /var/log are fresh tmpfs,
// except for the working directory (and Config.Share), which the guest sees
// at its host path wherever it is, so a checkout under /tmp or /root works.
// A per-run job directory is shared read-write at /run/seesaw-vm: it carries
// the job script in and the exit status out. Output streams back over the
// serial console, and the guest's exit status becomes the host's.
//
// Go tests use it through Main from TestMain; commands through Run or the
// vmrun command (test/vm/cmd/vmrun).
package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// GuestEnv is set to 1 in the environment of everything run in the guest.
	GuestEnv = "SEESAW_VM_GUEST"
	// CacheEnv overrides the cache directory (default /var/cache/seesaw-vm).
	CacheEnv = "SEESAW_VM_CACHE"
	// ModeEnv selects where integration tests run: "auto" (default: in the VM
	// when the host kernel lacks IPVS), "always" or "never".
	ModeEnv = "SEESAW_VM"

	jobMount   = "/run/seesaw-vm"
	exitMarker = "SEESAW-VM-EXIT:"
)

// Modules are loaded in the guest before the job runs: IPVS with every
// scheduler and persistence engine, and the link types tests build.
var Modules = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sh", "ip_vs_sed", "ip_vs_nq", "ip_vs_fo", "ip_vs_ovf", "ip_vs_mh",
	"ip_vs_pe_sip", "ip_vs_ftp",
	"veth", "dummy", "ipip", "ip6_tunnel", "ip_gre", "fou", "bridge", "macvlan",
	"nf_tables", "nft_chain_nat", "nf_nat",
}

// InGuest reports whether this process runs inside the VM lab.
func InGuest() bool { return os.Getenv(GuestEnv) == "1" }

// Config describes one VM run. The zero value is usable.
type Config struct {
	// Memory is qemu's -m value; default "1G".
	Memory string
	// CPUs is the number of virtual CPUs; default 1.
	CPUs int
	// Timeout bounds the whole run, boot included; default 10 minutes.
	Timeout time.Duration
	// Dir is the working directory in the guest; default the caller's.
	Dir string
	// Env is added to the guest environment (KEY=value).
	Env []string
	// Stdout receives the guest's console output; default os.Stdout.
	Stdout io.Writer
	// Share lists more host directories the guest must see at their host
	// path although they lie under one of its tmpfs mounts (/tmp, /root,
	// /run, /var/tmp, /var/log); Dir is always shared. They are read-only,
	// as the rest of the host root is. Naming a tmpfs mount point itself
	// (say /tmp) shares nothing: the guest keeps its own writable one.
	Share []string
	// Files are copied into the job directory before boot, by base name,
	// and the guest sees them at /run/seesaw-vm/<base name>: a known path
	// for a binary built anywhere (vm.Main sends go test's binary this way).
	Files []string
}

// CacheDir returns the lab's cache directory.
func CacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	return "/var/cache/seesaw-vm"
}

// Prepare fills the cache (kernel, module index, initramfs) by running
// prepare.sh, which returns at once when the cache was built from the same
// prepare.sh and init.sh. It needs root on Debian the first time. A binary
// run where its source is gone uses whatever cache is ready.
func Prepare(ctx context.Context) error {
	script, err := prepareScript()
	if err != nil {
		if _, err2 := os.Stat(filepath.Join(CacheDir(), "ready")); err2 == nil {
			return nil
		}
		return err
	}
	cmd := exec.CommandContext(ctx, "sh", script, CacheDir())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("vm: prepare cache %s: %w", CacheDir(), err)
	}
	return nil
}

func prepareScript() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if ok {
		p := filepath.Join(filepath.Dir(file), "prepare.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("vm: cannot find prepare.sh next to the vm package source")
}

// Available reports why the lab cannot run here, or nil when it can.
func Available() error {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return fmt.Errorf("vm: lab needs linux/amd64, have %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if os.Geteuid() != 0 {
		return errors.New("vm: lab needs root (9p export of / and the kernel cache)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		if _, err2 := os.Stat(filepath.Join(CacheDir(), "ready")); err2 == nil {
			return fmt.Errorf("vm: %w", err)
		}
	}
	return nil
}

// Run boots the VM, runs argv in it (through /bin/sh -c when argv has a
// single element) and returns the guest's exit status. err is non-nil only
// when the VM itself failed (no status came back).
func Run(ctx context.Context, cfg *Config, argv ...string) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("vm: nothing to run")
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Memory == "" {
		c.Memory = "1G"
	}
	if c.CPUs <= 0 {
		c.CPUs = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Dir == "" {
		c.Dir, _ = os.Getwd()
	}
	if err := Available(); err != nil {
		return -1, err
	}
	if err := Prepare(ctx); err != nil {
		return -1, err
	}
	cache := CacheDir()
	kver, err := os.ReadFile(filepath.Join(cache, "kernel-version"))
	if err != nil {
		return -1, fmt.Errorf("vm: read kernel version: %w", err)
	}

	// The job directory lives outside /tmp: the guest mounts a tmpfs there.
	base := filepath.Join(cache, "jobs")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return -1, fmt.Errorf("vm: %w", err)
	}
	job, err := os.MkdirTemp(base, "job")
	if err != nil {
		return -1, fmt.Errorf("vm: job dir: %w", err)
	}
	defer os.RemoveAll(job)
	for _, f := range c.Files {
		if err := copyFile(f, filepath.Join(job, filepath.Base(f))); err != nil {
			return -1, err
		}
	}
	// The guest loads modules from the cache: a cache under /tmp (say)
	// would be hidden by the guest's tmpfs.
	share, err := shareList(c.Dir, append([]string{cache}, c.Share...))
	if err != nil {
		return -1, err
	}
	if err := os.WriteFile(filepath.Join(job, "share"), share, 0o644); err != nil {
		return -1, fmt.Errorf("vm: write share list: %w", err)
	}
	if err := os.WriteFile(filepath.Join(job, "job.sh"), jobScript(cache, strings.TrimSpace(string(kver)), &c, argv), 0o755); err != nil {
		return -1, fmt.Errorf("vm: write job: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	cpu := "max"
	if v := os.Getenv("SEESAW_VM_CPU"); v != "" {
		cpu = v
	}
	qemu := exec.CommandContext(ctx, "qemu-system-x86_64",
		"-machine", "accel=tcg", "-cpu", cpu, "-m", c.Memory, "-smp", strconv.Itoa(c.CPUs),
		"-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none", "-serial", "stdio",
		"-kernel", filepath.Join(cache, "vmlinuz"),
		"-initrd", filepath.Join(cache, "initramfs.cpio.gz"),
		"-append", strings.TrimSpace("console=ttyS0 quiet loglevel=1 panic=-1 oops=panic "+os.Getenv("SEESAW_VM_APPEND")),
		"-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
		"-virtfs", "local,path="+job+",mount_tag=job,security_model=none",
	)
	qemu.Stdin = nil
	pr, pw := io.Pipe()
	qemu.Stdout, qemu.Stderr = pw, pw
	copied := make(chan error, 1)
	var tail bytes.Buffer
	go func() { copied <- relay(pr, c.Stdout, &tail) }()
	runErr := qemu.Run()
	pw.Close()
	<-copied

	rcb, err := os.ReadFile(filepath.Join(job, "rc"))
	if err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("vm: guest timed out after %v", c.Timeout)
		}
		return -1, fmt.Errorf("vm: guest ended without an exit status (qemu: %v); last output:\n%s", runErr, tail.String())
	}
	rc, err := strconv.Atoi(strings.TrimSpace(string(rcb)))
	if err != nil {
		return -1, fmt.Errorf("vm: bad exit status %q: %w", rcb, err)
	}
	return rc, nil
}

// relay copies the console to w line by line, hiding the init's exit marker
// and carriage returns, and keeps the last lines for error reports.
func relay(r io.Reader, w io.Writer, tail *bytes.Buffer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(line, exitMarker) || strings.HasPrefix(line, "[") && strings.Contains(line, "reboot: Power down") {
			continue
		}
		if tail.Len() > 8192 {
			tail.Reset()
		}
		tail.WriteString(line + "\n")
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			return err
		}
	}
	_, _ = io.Copy(io.Discard, r)
	return sc.Err()
}

func jobScript(cache, kver string, c *Config, argv []string) []byte {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# generated by seesawd test/vm\n")
	b.WriteString("export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp\n")
	fmt.Fprintf(&b, "export %s=1 SEESAW_VM_JOBDIR=%s\n", GuestEnv, jobMount)
	for _, kv := range passEnv() {
		fmt.Fprintf(&b, "export %s\n", shellQuote(kv))
	}
	for _, kv := range c.Env {
		fmt.Fprintf(&b, "export %s\n", shellQuote(kv))
	}
	// Modules come from the cached kernel tree, not the host's /lib/modules.
	fmt.Fprintf(&b, "modprobe -d %s -S %s -a %s || echo 'seesaw-vm: some modules failed to load' >&2\n",
		shellQuote(filepath.Join(cache, "root")), kver, strings.Join(Modules, " "))
	b.WriteString("ip link set lo up\n")
	fmt.Fprintf(&b, "cd %s || exit 254\n", shellQuote(c.Dir))
	if len(argv) == 1 {
		fmt.Fprintf(&b, "exec /bin/sh -c %s 2>&1\n", shellQuote(argv[0]))
	} else {
		b.WriteString("exec")
		for _, a := range argv {
			b.WriteString(" " + shellQuote(a))
		}
		b.WriteString(" 2>&1\n")
	}
	return []byte(b.String())
}

// shareList is the job directory's "share" file that init.sh reads: the
// directories' real paths (a symlink on the way may itself lie where the
// guest's tmpfs hides it), one a line, sorted so that a parent comes before
// its children and is bound first.
func shareList(dir string, more []string) ([]byte, error) {
	seen := make(map[string]bool)
	var paths []string
	for _, p := range append([]string{dir}, more...) {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, fmt.Errorf("vm: share %s: %w", p, err)
		}
		if real, err = filepath.Abs(real); err != nil {
			return nil, fmt.Errorf("vm: share %s: %w", p, err)
		}
		if strings.ContainsAny(real, "\n\r") {
			return nil, fmt.Errorf("vm: share %q: a line break in a path cannot be shared", p)
		}
		if !seen[real] {
			seen[real] = true
			paths = append(paths, real)
		}
	}
	slices.Sort(paths)
	return []byte(strings.Join(paths, "\n") + "\n"), nil
}

// passEnv lists host environment variables the guest should see.
func passEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SEESAW_") && k != GuestEnv && k != CacheEnv || k == "GOMAXPROCS" || k == "GOTRACEBACK" || k == "GODEBUG" {
			out = append(out, kv)
		}
	}
	return out
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm()|0o500)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("vm: copy %s: %w", src, err)
	}
	return out.Close()
}
