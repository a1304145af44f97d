//go:build linux

// Command demo shows seesawd doing its job, narrated, on the LB lab of
// internal/lab: a client, two LB nodes running seesawd and three HTTP
// backends. It spreads requests by weight, loses a backend, drains one,
// cuts the master's link while a client keeps asking, and adds a service
// with a reload, then prints what it measured. `make demo` runs it in the
// VM lab (IPVS); it runs on any Linux host with IPVS as root too.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/seesawd/seesawd/internal/lab"
)

const services = `  - name: web
    vip: 192.0.2.100
    port: 80
    scheduler: wrr
    healthcheck: { type: http, path: /healthz, interval: 500ms, timeout: 250ms, rise: 1, fall: 2 }
    backends:
      - { address: 10.0.1.11, port: 8080, weight: 3 }
      - { address: 10.0.1.12, port: 8080, weight: 2 }
      - { address: 10.0.1.13, port: 8080, weight: 1 }
`

const withAPI = services + `  - name: api
    vip: 192.0.2.100
    port: 8081
    scheduler: rr
    healthcheck: { type: tcp, interval: 500ms, timeout: 250ms, rise: 1, fall: 2 }
    backends:
      - { address: 10.0.1.12, port: 8080 }
      - { address: 10.0.1.13, port: 8080 }
`

const ipvsYAML = "resync_interval: 5s\n"

type demo struct {
	ctx       context.Context
	l         *lab.Lab
	seesawctl string
	start     time.Time
	summary   []string
}

func main() {
	seesawd := flag.String("seesawd", "bin/seesawd", "seesawd binary")
	seesawctl := flag.String("seesawctl", "bin/seesawctl", "seesawctl binary")
	flag.Parse()
	if err := run(*seesawd, *seesawctl); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(seesawd, seesawctl string) error {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		return fmt.Errorf("no IPVS in this kernel: run it with make demo (the VM lab)")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "seesaw-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d := &demo{ctx: ctx, seesawctl: seesawctl, start: time.Now()}
	d.say("the lab: a client (192.0.2.10), lb1 (priority 150) and lb2 (priority 100) holding the VIP " +
		"192.0.2.100 by VRRP, three HTTP backends b1-b3 (10.0.1.11-13:8080) behind them")
	if d.l, err = lab.New(ctx, lab.Config{Seesawd: seesawd, Dir: dir}); err != nil {
		return err
	}
	defer d.l.Close()
	for _, b := range d.l.Backends {
		if err := b.Serve(8080); err != nil {
			return err
		}
	}
	for _, lb := range d.l.LBs {
		if err := lb.WriteConfig(ipvsYAML, services); err != nil {
			return err
		}
		if err := lb.Start(); err != nil {
			return err
		}
	}
	lb1, lb2 := d.l.LBs[0], d.l.LBs[1]
	if _, err := d.wait("lb1 to hold the VIP and serve", 20*time.Second, func() bool {
		return lb1.HoldsVIP(ctx) && !lb2.HoldsVIP(ctx) && d.l.SendsTo(ctx, lb1) && d.backends(lb1, "web") == 3
	}); err != nil {
		return err
	}
	d.ctl(lb1, "status")
	d.ctl(lb2, "status")

	d.say("60 requests to http://192.0.2.100/, one connection each (wrr 3:2:1)")
	got := d.l.Spread(ctx, "http://192.0.2.100/", 60)
	fmt.Println("  answered by:", counts(got))
	d.note("requests spread %s", counts(got))

	d.say("b3 stops serving: its check fails twice (interval 500ms), the engine removes it")
	d.l.Backends[2].Halt(8080)
	took, err := d.wait("b3 out of lb1's IPVS table", 10*time.Second, func() bool { return d.backends(lb1, "web") == 2 })
	if err != nil {
		return err
	}
	fmt.Printf("  b3 left the pool %v after it stopped (two failed checks 500ms apart, then one netlink operation)\n", took.Round(time.Millisecond))
	d.note("a dead backend left the pool in %v", took.Round(time.Millisecond))
	got = d.l.Spread(ctx, "http://192.0.2.100/", 20)
	fmt.Println("  20 more requests:", counts(got))
	if err := d.l.Backends[2].Serve(8080); err != nil {
		return err
	}

	d.say("seesawctl drain web 10.0.1.12: weight 0, its connections finish, new ones go elsewhere")
	d.ctl(lb1, "drain", "web", "10.0.1.12")
	d.ctl(lb2, "drain", "web", "10.0.1.12")
	d.show(lb1, "ipvsadm -Ln -t 192.0.2.100:80")
	got = d.l.Spread(ctx, "http://192.0.2.100/", 12)
	fmt.Println("  12 requests:", counts(got))
	d.ctl(lb1, "undrain", "web", "10.0.1.12")
	d.ctl(lb2, "undrain", "web", "10.0.1.12")

	d.say("lb1's cables are pulled while the client sends a request every 20 ms")
	gap, errs, err := d.failover(lb1, lb2)
	if err != nil {
		return err
	}
	fmt.Printf("  lb2 took over; the client's longest run without an answer: %v (%d failed requests)\n", gap.Round(time.Millisecond), errs)
	d.note("failover: the client went %v without an answer", gap.Round(time.Millisecond))
	d.ctl(lb2, "vrrp")
	d.say("lb1's cables are back: it preempts (priority 150 > 100)")
	if err := lb1.Restore(ctx); err != nil {
		return err
	}
	if _, err := d.wait("lb1 to serve again", 20*time.Second, func() bool {
		return lb1.HoldsVIP(ctx) && !lb2.HoldsVIP(ctx) && d.l.SendsTo(ctx, lb1)
	}); err != nil {
		return err
	}

	d.say("a service is added to both configurations and SIGHUP applies only that")
	for _, lb := range d.l.LBs {
		if err := lb.WriteConfig(ipvsYAML, withAPI); err != nil {
			return err
		}
	}
	d.ctl(lb1, "reload")
	if err := lb2.Signal(syscall.SIGHUP); err != nil {
		return err
	}
	if _, err := d.wait("api to serve", 10*time.Second, func() bool { return d.backends(lb1, "api") == 2 }); err != nil {
		return err
	}
	got = d.l.Spread(ctx, "http://192.0.2.100:8081/", 6)
	fmt.Println("  6 requests to :8081:", counts(got))
	d.ctl(lb1, "services")

	d.say("stopping both nodes (SIGTERM: priority-0 adverts, VIPs removed, IPVS left serving)")
	for _, lb := range d.l.LBs {
		if err := lb.Stop(5 * time.Second); err != nil {
			return err
		}
	}
	d.say(fmt.Sprintf("what the demo measured (%v in all)", time.Since(d.start).Round(time.Second)))
	for _, s := range d.summary {
		fmt.Println("  -", s)
	}
	return nil
}

func (d *demo) say(s string) {
	fmt.Printf("\n\033[1m== %s\033[0m\n", s)
}

func (d *demo) note(format string, args ...any) {
	d.summary = append(d.summary, fmt.Sprintf(format, args...))
}

func (d *demo) wait(what string, limit time.Duration, cond func() bool) (time.Duration, error) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			return 0, fmt.Errorf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start), nil
}

// ctl runs seesawctl in lb's namespace and prints what it says.
func (d *demo) ctl(lb *lab.LB, args ...string) {
	fmt.Printf("\n  %s$ seesawctl %s\n", lb.Name, strings.Join(args, " "))
	cmd := lb.NS.Command(d.ctx, d.seesawctl, append([]string{"--socket", lb.ControlSocket}, args...)...)
	out, err := cmd.CombinedOutput()
	fmt.Print(indent(string(out)))
	if err != nil {
		fmt.Printf("  (seesawctl: %v)\n", err)
	}
}

// show runs a shell command in lb's namespace and prints its output.
func (d *demo) show(lb *lab.LB, line string) {
	fmt.Printf("\n  %s$ %s\n", lb.Name, line)
	out, _ := lb.NS.Sh(d.ctx, line)
	fmt.Print(indent(out))
}

// backends counts the destinations of the named service in lb's kernel.
func (d *demo) backends(lb *lab.LB, name string) int {
	port := map[string]string{"web": "192.0.2.100:80 ", "api": "192.0.2.100:8081 "}[name]
	out, err := lb.IPVS(d.ctx)
	if err != nil {
		return -1
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "-a -t "+strings.TrimSpace(port)+" ") && !strings.HasSuffix(line, "-w 0") {
			n++
		}
	}
	return n
}

// failover cuts old's links while requests run every 20 ms and returns the
// longest time without a successful answer and the failed count.
func (d *demo) failover(old, next *lab.LB) (time.Duration, int, error) {
	type sample struct {
		at time.Time
		ok bool
	}
	stop := make(chan struct{})
	done := make(chan []sample)
	go func() {
		var s []sample
		for {
			select {
			case <-stop:
				done <- s
				return
			default:
			}
			ctx, cancel := context.WithTimeout(d.ctx, 500*time.Millisecond)
			_, err := d.l.Get(ctx, "http://192.0.2.100/")
			cancel()
			s = append(s, sample{time.Now(), err == nil})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := old.Cut(d.ctx); err != nil {
		close(stop)
		<-done
		return 0, 0, err
	}
	_, err := d.wait(next.Name+" to serve", 15*time.Second, func() bool { return next.HoldsVIP(d.ctx) && d.l.SendsTo(d.ctx, next) })
	time.Sleep(time.Second)
	close(stop)
	samples := <-done
	if err != nil {
		return 0, 0, err
	}
	var gap time.Duration
	var last time.Time
	failed := 0
	for _, s := range samples {
		if !s.ok {
			failed++
			continue
		}
		if !last.IsZero() && s.at.Sub(last) > gap {
			gap = s.at.Sub(last)
		}
		last = s.at
	}
	return gap, failed, nil
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}
