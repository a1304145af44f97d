package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/seesawd/seesawd/internal/nettopo"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat
// (100 on every Linux architecture seesawd targets).
const clockTicks = 100

// idleCPU runs a lone master with n instances at 0.1 s adverts and returns
// the CPU its namespace's processes use over d as a percentage of one core,
// and the adverts per second a client sees (proof the load is real).
func idleCPU(ctx context.Context, spk nettopo.Speaker, n int, family string, d time.Duration) (pct, rate float64, err error) {
	if n < 1 || n > 100 {
		return 0, 0, fmt.Errorf("instances must be 1-100, got %d", n)
	}
	topo, err := nettopo.New(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, topo.Close()) }()
	dir, err := os.MkdirTemp("", "vrrp-bench-cpu-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	lb1, client := topo.Node("lb1"), topo.Node("client")
	var insts []nettopo.Instance
	var vips []netip.Addr
	for i := 0; i < n; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)}), 24)
		if family == "ipv6" {
			p = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: 1, 15: byte(i)}), 64)
		}
		insts = append(insts, nettopo.Instance{Name: fmt.Sprintf("vi%d", i+1), VRID: i + 1, Priority: 150,
			Advert: 100 * time.Millisecond, VIPs: []netip.Prefix{p}})
		vips = append(vips, p.Addr())
	}
	proc, err := spk.Start(lb1, dir, insts)
	if err != nil {
		return 0, 0, err
	}
	defer proc.Kill()
	for _, v := range vips {
		if err := waitAddr(ctx, lb1, v, true, 10*time.Second, proc); err != nil {
			return 0, 0, fmt.Errorf("master never held all %d addresses: %w\n%s", n, err, tail(proc.Output()))
		}
	}
	if err := sleep(ctx, time.Second); err != nil {
		return 0, 0, err
	}
	capture, err := client.Capture(ctx)
	if err != nil {
		return 0, 0, err
	}
	before, err := nsTicks(lb1)
	if err != nil {
		capture.Stop()
		return 0, 0, err
	}
	t0 := time.Now()
	if err := sleep(ctx, d); err != nil {
		capture.Stop()
		return 0, 0, err
	}
	after, err := nsTicks(lb1)
	elapsed := time.Since(t0)
	frames, _ := capture.Stop()
	if err != nil {
		return 0, 0, err
	}
	if proc.Exited() {
		return 0, 0, fmt.Errorf("%s exited during the measurement", proc.Name)
	}
	adverts := 0
	for _, f := range frames {
		if f.Kind == nettopo.FrameVRRP && f.Src.String() == lb1.MAC.String() {
			adverts++
		}
	}
	var used int64
	for pid, t := range after {
		used += t - before[pid] // a process started meanwhile counts from zero
	}
	return float64(used) / clockTicks / elapsed.Seconds() * 100, float64(adverts) / elapsed.Seconds(), nil
}

// nsTicks returns utime+stime (with waited-for children) of every process
// in the node's namespace.
func nsTicks(n *nettopo.Node) (map[int]int64, error) {
	pids, err := n.Pids()
	if err != nil {
		return nil, err
	}
	ticks := map[int]int64{}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited
		}
		// Fields after the parenthesised command name, which may hold spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
		}
		f := strings.Fields(s[i+1:])
		// f[0] is field 3 (state); utime, stime, cutime, cstime are fields 14-17.
		if len(f) < 15 {
			return nil, fmt.Errorf("short /proc/%d/stat", pid)
		}
		var sum int64
		for _, k := range []int{11, 12, 13, 14} {
			v, err := strconv.ParseInt(f[k], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/stat field %d: %w", pid, k+3, err)
			}
			sum += v
		}
		ticks[pid] = sum
	}
	return ticks, nil
}
