package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times (100 on every
// architecture seesawd targets).
const clockTicks = 100

func ticks(t int64) float64 { return float64(t) / clockTicks }

// sample is what the coordinator reads from /proc at each end of a window.
type sample struct {
	utime, stime int64 // the checker process, all threads
	listener     int64 // the listener process, user+system
	machine      int64 // the whole machine, busy (not idle or iowait)
	opens        uint64
}

func takeSample(checkerPid, listenerPid int) (sample, error) {
	var s sample
	var err error
	if s.utime, s.stime, err = procTimes(checkerPid); err != nil {
		return s, err
	}
	u, st, err := procTimes(listenerPid)
	if err != nil {
		return s, err
	}
	s.listener = u + st
	if s.machine, err = machineBusy(); err != nil {
		return s, err
	}
	s.opens, err = passiveOpens(listenerPid)
	return s, err
}

// procTimes returns utime and stime from /proc/PID/stat.
func procTimes(pid int) (utime, stime int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStat(string(b))
}

func machineBusy() (int64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

// passiveOpens reads TcpPassiveOpens in pid's network namespace: the
// connections its listeners completed.
func passiveOpens(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/snmp", pid))
	if err != nil {
		return 0, err
	}
	return snmpField(string(b), "Tcp:", "PassiveOpens")
}

// timeWait reads the TIME_WAIT sockets in pid's network namespace.
func timeWait(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/sockstat", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		for i := 1; len(f) > 0 && f[0] == "TCP:" && i+1 < len(f); i += 2 {
			if f[i] == "tw" {
				n, _ := strconv.Atoi(f[i+1])
				return n
			}
		}
	}
	return 0
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func countFDs(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(es)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// countSyscalls runs perf stat on the checker process (every thread, every
// system call's tracepoint) for d and divides by the connect calls it made
// to an address: one per TCP or HTTP check, whoever the checker is. A
// connect to AF_UNSPEC, with which pkg/healthcheck readies a socket for the
// next check, passes only the family (an address length of 2), so a filter
// tells it apart; it is counted as "disconnect". It returns nil when
// nothing connected (ICMP).
func countSyscalls(ctx context.Context, pid int, d time.Duration) (*syscallCount, error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil, fmt.Errorf("no perf (apt-get install linux-perf): %w", err)
	}
	tracing := "/sys/kernel/tracing"
	if _, err := os.Stat(filepath.Join(tracing, "events")); err != nil {
		if err := unix.Mount("nodev", tracing, "tracefs", 0, ""); err != nil {
			return nil, fmt.Errorf("mount tracefs: %w", err)
		}
	}
	events := []string{"raw_syscalls:sys_enter", "context-switches"}
	calls, err := filepath.Glob(filepath.Join(tracing, "events/syscalls/sys_enter_*"))
	if err != nil || len(calls) == 0 {
		return nil, fmt.Errorf("no system call tracepoints under %s", tracing)
	}
	for _, c := range calls {
		events = append(events, "syscalls:"+filepath.Base(c))
	}
	out, err := os.CreateTemp("", "hc-bench-perf-")
	if err != nil {
		return nil, err
	}
	out.Close()
	defer os.Remove(out.Name())
	// perf opens one counter per event and thread: hundreds of each.
	c := exec.CommandContext(ctx, "sh", "-c", `ulimit -n 65536; exec perf stat -x, -o "$0" -e "$1" -e syscalls:sys_enter_connect --filter "addrlen != 2" -p "$2" -- sleep "$3"`,
		out.Name(), strings.Join(events, ","), strconv.Itoa(pid), seconds(d))
	if b, err := c.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("perf stat: %w: %s", err, b)
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		return nil, err
	}
	counts, err := parsePerfCSV(string(b))
	if err != nil {
		return nil, err
	}
	conn, all := counts["syscalls:sys_enter_connect"+filteredSuffix], counts["syscalls:sys_enter_connect"]
	if conn == 0 {
		return nil, nil
	}
	delete(counts, "syscalls:sys_enter_connect"+filteredSuffix)
	counts["syscalls:sys_enter_connect"] = conn
	if all > conn {
		counts["syscalls:sys_enter_disconnect"] = all - conn
	}
	sc := &syscallCount{Checks: uint64(conn), Seconds: d.Seconds(), By: map[string]float64{},
		Total: counts["raw_syscalls:sys_enter"] / conn, ContextSwitches: counts["context-switches"] / conn}
	for ev, v := range counts {
		if n, ok := strings.CutPrefix(ev, "syscalls:sys_enter_"); ok {
			sc.By[n] = v / conn
		}
	}
	return sc, nil
}
