package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/seesawd/seesawd/pkg/ipvs"
)

// sweepDumpSockets times DumpAll over 1 to max sockets on one kernel state,
// interleaved round by round so that a change in the machine's load hits
// every socket count alike, and prints the medians and spreads: the numbers
// behind pkg/ipvs's default Config.DumpSockets.
func sweepDumpSockets(w work, rounds, maxSockets int) error {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set lo up: %v: %s", err, out)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/vs/run_estimation", []byte("0"), 0); err != nil {
		return err
	}
	ctx := context.Background()
	clients := make([]*ipvs.Client, maxSockets+1)
	for n := 1; n <= maxSockets; n++ {
		c, err := ipvs.New(&ipvs.Config{DumpSockets: n})
		if err != nil {
			return err
		}
		defer c.Close()
		clients[n] = c
	}
	var ops []ipvs.Op
	for i := range w.services {
		s := seesawService(w, i)
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: s})
		for j := range w.dests[i] {
			ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: s, Destination: seesawDest(w, i, j)})
		}
	}
	errs, err := clients[1].Apply(ctx, ops)
	if err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Wall time, and CPU time (user and system, the kernel's dump work
	// included) over wall time: how many CPUs the dump kept busy, which is
	// what more sockets can raise when the CPUs are there to be had.
	took := make([][]float64, maxSockets+1)
	busy := make([][]float64, maxSockets+1)
	for r := 0; r < rounds; r++ {
		for k := 0; k < maxSockets; k++ {
			n := 1 + (k+r)%maxSockets
			cpu0 := cpuTime()
			t0 := time.Now()
			all, err := clients[n].DumpAll(ctx)
			d := time.Since(t0)
			cpu := cpuTime() - cpu0
			if err != nil {
				return err
			}
			if len(all) != len(w.services) {
				return fmt.Errorf("DumpAll over %d sockets: %d services", n, len(all))
			}
			took[n] = append(took[n], float64(d)/1e6)
			busy[n] = append(busy[n], float64(cpu)/float64(d))
		}
	}
	base := statOf(took[1]).med
	for n := 1; n <= maxSockets; n++ {
		s, b := statOf(took[n]), statOf(busy[n])
		fmt.Printf("ipvs-bench: DumpAll over %d sockets: %.0f ms (%.0f-%.0f), %.2f of one socket; CPUs busy %.2f (%.2f-%.2f)\n",
			n, s.med, s.min, s.max, s.med/base, b.med, b.min, b.max)
	}
	return nil
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
