package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync/atomic"
	"time"
)

// stallWatch, when HCBENCH_STALL_DIR names a directory, keeps a flight
// recording of the worker's execution trace and, the first few times a
// check starts more than a second late, writes it with a goroutine dump and
// every thread's kernel state (stat, wchan, stack) to that directory: the
// evidence of what the process was doing during a stall.
type stallWatch struct {
	dir   string
	fr    *trace.FlightRecorder
	late  atomic.Int64 // the largest lateness seen since the last look
	dumps int
}

func newStallWatch() *stallWatch {
	dir := os.Getenv("HCBENCH_STALL_DIR")
	if dir == "" {
		return nil
	}
	w := &stallWatch{dir: dir, fr: trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: 10 * time.Second, MaxBytes: 256 << 20})}
	if err := w.fr.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "stallwatch:", err)
		w.fr = nil
	}
	go w.loop()
	return w
}

func (w *stallWatch) record(late time.Duration) {
	if w == nil {
		return
	}
	raise(&w.late, late)
}

// schedSample is the process's threads' time on a CPU and waiting for one
// (/proc/self/task/*/schedstat), summed, at a wall time.
type schedSample struct {
	at          time.Time
	run, delay  int64
	threads     int
	worstThread string
}

func takeSched() schedSample {
	s := schedSample{at: time.Now()}
	tasks, _ := filepath.Glob("/proc/self/task/*/schedstat")
	var worst int64
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		var run, delay int64
		fmt.Sscan(string(b), &run, &delay)
		s.run += run
		s.delay += delay
		s.threads++
		if delay > worst {
			worst, s.worstThread = delay, filepath.Base(filepath.Dir(t))
		}
	}
	return s
}

func (w *stallWatch) loop() {
	var ring []schedSample
	for range time.Tick(100 * time.Millisecond) {
		ring = append(ring, takeSched())
		if len(ring) > 150 {
			ring = ring[1:]
		}
		late := time.Duration(w.late.Swap(0))
		if late < time.Second || w.dumps >= 3 {
			continue
		}
		w.dumps++
		prefix := filepath.Join(w.dir, fmt.Sprintf("stall-%d-%d-%s", os.Getpid(), w.dumps, time.Now().UTC().Format("150405.000")))
		var b strings.Builder
		fmt.Fprintf(&b, "late %v at %v\n", late, time.Now().UTC())
		fmt.Fprintf(&b, "samples (wall, gap since the previous, CPU of all threads, waiting for a CPU):\n")
		for i := 1; i < len(ring); i++ {
			p, c := ring[i-1], ring[i]
			fmt.Fprintf(&b, "%s gap %6.1fms run %6.1fms wait %7.1fms\n", c.at.UTC().Format("15:04:05.000"),
				float64(c.at.Sub(p.at))/1e6, float64(c.run-p.run)/1e6, float64(c.delay-p.delay)/1e6)
		}
		tasks, _ := filepath.Glob("/proc/self/task/*")
		for _, t := range tasks {
			stat, _ := os.ReadFile(t + "/stat")
			wchan, _ := os.ReadFile(t + "/wchan")
			stack, _ := os.ReadFile(t + "/stack")
			sched, _ := os.ReadFile(t + "/schedstat")
			fmt.Fprintf(&b, "== %s\nstat: %swchan: %s\nschedstat: %s%s\n", t, stat, wchan, sched, stack)
		}
		_ = os.WriteFile(prefix+".threads", []byte(b.String()), 0o644)
		if f, err := os.Create(prefix + ".goroutines"); err == nil {
			_ = pprof.Lookup("goroutine").WriteTo(f, 2)
			f.Close()
		}
		if w.fr != nil {
			if f, err := os.Create(prefix + ".trace"); err == nil {
				_, _ = w.fr.WriteTo(f)
				f.Close()
			}
		}
		fmt.Fprintf(os.Stderr, "stallwatch: %v late, wrote %s.*\n", late, prefix)
	}
}
