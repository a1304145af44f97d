package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seesawd/seesawd/pkg/control"
)

func init() { commands = append(commands, statusCmd, servicesCmd, backendsCmd, vrrpCmd) }

// readCmd is a command that fetches the status and prints a part of it.
func readCmd(use, short, long string, args cobra.PositionalArgs,
	show func(w io.Writer, st *control.Status, args []string, color bool) error,
	pick func(st *control.Status, args []string) (any, error)) *cobra.Command {
	var f ctlFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := f.status(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				v, err := pick(st, args)
				if err != nil {
					return f.explain(err)
				}
				return printJSON(out, v)
			}
			if err := show(out, st, args, colorOK(out)); err != nil {
				return f.explain(err)
			}
			return nil
		},
	}
	f.add(cmd, true)
	return cmd
}

func statusCmd() *cobra.Command {
	return readCmd("status", "Show the node: VRRP instances and services at a glance",
		`status shows the node (seesawd's version, uptime and configuration), its
VRRP instances with their states, and its services: up or down, healthy
backends out of the configured ones, and whether the kernel holds them.
--json prints everything seesawd reports, backends and checks included.`,
		cobra.NoArgs,
		func(w io.Writer, st *control.Status, _ []string, color bool) error {
			writeStatus(w, st, color)
			return nil
		},
		func(st *control.Status, _ []string) (any, error) { return st, nil })
}

func servicesCmd() *cobra.Command {
	return readCmd("services", "List the services with their quorum, scheduler and kernel state",
		`services lists every configured service: its address, scheduler, state
(pending, up, down) and since when, healthy/total backends against its
quorum, whether the kernel holds it, the sorry server and the tracked VRRP
instance.`,
		cobra.NoArgs,
		func(w io.Writer, st *control.Status, _ []string, color bool) error {
			writeServices(w, st, color)
			return nil
		},
		func(st *control.Status, _ []string) (any, error) { return st.Services, nil })
}

func backendsCmd() *cobra.Command {
	return readCmd("backends SERVICE", "Show a service's backends: health, weights, drains, last check",
		`backends shows each backend of SERVICE: its health, configured weight and
the weight the kernel holds, whether it is drained (by the configuration or
at run time by seesawctl drain), its connections, and its health check's
last result and latency.`,
		cobra.ExactArgs(1),
		func(w io.Writer, st *control.Status, args []string, color bool) error {
			s, err := st.FindService(args[0])
			if err != nil {
				return err
			}
			writeBackends(w, st.Time, s, color)
			return nil
		},
		func(st *control.Status, args []string) (any, error) { return st.FindService(args[0]) })
}

func vrrpCmd() *cobra.Command {
	return readCmd("vrrp", "Show the VRRP instances: state, priority, master, counters",
		`vrrp shows each VRRP instance (per address family): its state and since
when and why, effective priority, the master heard, faults, and its
advertisement and drop counters.`,
		cobra.NoArgs,
		func(w io.Writer, st *control.Status, _ []string, color bool) error {
			writeVRRP(w, st, color)
			return nil
		},
		func(st *control.Status, _ []string) (any, error) { return st.VRRP, nil })
}

func writeStatus(w io.Writer, st *control.Status, color bool) {
	writeHeader(w, st, color)
	if len(st.VRRP) > 0 {
		fmt.Fprintln(w)
		var t table
		t.row(txt("VRRP"), txt("STATE"), txt("PRIO"), txt("VRID"), txt("INTERFACE"), txt("MASTER"), txt("SINCE"))
		for _, in := range st.VRRP {
			t.row(cf("%s/%s", in.Name, in.Family), state(in.State), cf("%d", in.Priority), cf("%d", in.VRID), txt(in.Interface),
				txt(dash(in.Master)), txt(since(st.Time, in.Since)))
		}
		t.write(w, color)
	}
	fmt.Fprintln(w)
	if !servicesNote(w, st) {
		var t table
		t.row(txt("SERVICE"), txt("ADDRESS"), txt("STATE"), txt("HEALTHY"), txt("KERNEL"), txt("SINCE"))
		for _, s := range st.Services {
			t.row(txt(s.Name), txt(s.Key), state(s.State), healthy(s), state(yesNo(s.InKernel)), txt(since(st.Time, s.Since)))
		}
		t.write(w, color)
	}
	writeLeaving(w, st)
}

// writeHeader writes the node's lines: who, since when, which file, and
// anything wrong with the daemon itself.
func writeHeader(w io.Writer, st *control.Status, color bool) {
	fmt.Fprintf(w, "node %s: seesawd %s, pid %d, up %s\n", st.Node, st.Version, st.PID, since(st.Time, st.Started))
	hash := st.Config.Hash
	if len(hash) > 12 {
		hash = hash[:12]
	}
	fmt.Fprintf(w, "config %s (%s), loaded %s ago\n", st.Config.Path, hash, since(st.Time, st.Config.Loaded))
	if st.NodeDrained {
		fmt.Fprintln(w, "node drained (seesawctl drain-node): BGP routes withdrawn, IPVS serving established flows")
	}
	var notes table
	if !st.Ready {
		notes.row(state("starting"), txt("the kernel's services are not programmed yet"))
	}
	if r := st.Reconcile; r.LastError != "" {
		notes.row(cell{"failing", red}, cf("last reconcile (%s): %s; last success %s ago", r.Reason, r.LastError, since(st.Time, r.LastSuccess)))
	}
	notes.write(w, color)
}

// servicesNote writes why there is no service table, if there is none.
func servicesNote(w io.Writer, st *control.Status) bool {
	switch {
	case !st.IPVS:
		fmt.Fprintln(w, "no services: the kernel has no IPVS (this node runs VRRP only)")
	case len(st.Services) == 0 && !st.Ready:
		fmt.Fprintln(w, "services: not programmed yet (seesawd is starting)")
	case len(st.Services) == 0:
		fmt.Fprintln(w, "no services configured")
	default:
		return false
	}
	return true
}

func writeLeaving(w io.Writer, st *control.Status) {
	if len(st.Leaving) > 0 {
		fmt.Fprintf(w, "\nleaving (removed from the configuration, draining): %s\n", strings.Join(st.Leaving, ", "))
	}
}

func healthy(s control.Service) cell {
	cl := cf("%d/%d", s.Healthy, s.Total)
	switch {
	case s.State == "down":
		cl.color = red
	case s.Healthy < s.Total:
		cl.color = yellow
	}
	return cl
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func writeServices(w io.Writer, st *control.Status, color bool) {
	if servicesNote(w, st) {
		return
	}
	var t table
	t.row(txt("SERVICE"), txt("ADDRESS"), txt("SCHED"), txt("STATE"), txt("SINCE"), txt("HEALTHY"), txt("QUORUM"), txt("KERNEL"), txt("SORRY"), txt("TRACK"))
	for _, s := range st.Services {
		sorry := "-"
		if s.SorryActive {
			sorry = "active"
		}
		t.row(txt(s.Name), txt(s.Key), txt(dash(s.Scheduler)), state(s.State), txt(since(st.Time, s.Since)), healthy(s), cf("%d", s.Quorum),
			state(yesNo(s.InKernel)), txt(sorry), txt(dash(s.Track)))
	}
	t.write(w, color)
	writeLeaving(w, st)
}

func writeBackends(w io.Writer, now time.Time, s *control.Service, color bool) {
	fmt.Fprintf(w, "%s  %s  %s  %s", s.Name, s.Key, dash(s.Scheduler), s.State)
	if !s.Since.IsZero() {
		fmt.Fprintf(w, " for %s", since(now, s.Since))
	}
	fmt.Fprintf(w, ", %d/%d healthy (quorum %d)", s.Healthy, s.Total, s.Quorum)
	if !s.InKernel {
		fmt.Fprint(w, ", not in the kernel")
	}
	if s.SorryActive {
		fmt.Fprint(w, ", sorry server active")
	}
	fmt.Fprintln(w)
	if len(s.Backends) == 0 {
		return
	}
	fmt.Fprintln(w)
	var t table
	t.row(txt("BACKEND"), txt("FWD"), txt("HEALTH"), txt("WEIGHT"), txt("KERNEL"), txt("DRAINED"), txt("ACTIVE"), txt("INACTIVE"), txt("LAST CHECK"))
	for _, b := range s.Backends {
		health := state(b.Health)
		if b.Leaving {
			health = state("leaving")
		}
		kernel := state("absent")
		if b.InKernel {
			kernel = cf("%d", b.KernelWeight)
			if b.KernelWeight != b.Weight {
				kernel.color = yellow
			}
		}
		t.row(txt(b.Address), txt(dash(b.Forward)), health, cf("%d", b.Weight), kernel, state(dash(b.Drained)),
			cf("%d", b.ActiveConns), cf("%d", b.InactiveConns), txt(lastCheck(now, b.Check)))
	}
	t.write(w, color)
}

// lastCheck summarises a check's last result: "http ok 1.2ms 3s ago: 200 OK".
func lastCheck(now time.Time, ch *control.Check) string {
	switch {
	case ch == nil:
		return "no check"
	case ch.Last == nil:
		return ch.Type + " not run yet"
	}
	l := ch.Last
	s := fmt.Sprintf("%s %s %s, %s ago", ch.Type, l.Outcome, human(time.Duration(l.Latency)), since(now, l.Time))
	switch {
	case l.Error != "":
		s += ": " + strings.TrimPrefix(l.Error, "healthcheck: ")
	case l.Detail != "":
		s += ": " + l.Detail
	}
	return s
}

func writeVRRP(w io.Writer, st *control.Status, color bool) {
	if len(st.VRRP) == 0 {
		fmt.Fprintln(w, "no VRRP instances configured")
		return
	}
	var t table
	t.row(txt("INSTANCE"), txt("STATE"), txt("PRIO"), txt("VRID"), txt("INTERFACE"), txt("MASTER"), txt("SINCE"), txt("TRANSITIONS"),
		txt("ADVERTS OUT/IN"), txt("DROPS"), txt("REASON"))
	for _, in := range st.VRRP {
		reason := dash(in.Reason)
		if len(in.Faults) > 0 {
			reason = "faults: " + strings.Join(in.Faults, ", ")
		}
		t.row(cf("%s/%s", in.Name, in.Family), state(in.State), cf("%d", in.Priority), cf("%d", in.VRID), txt(in.Interface),
			txt(dash(in.Master)), txt(since(st.Time, in.Since)), cf("%d", in.Transitions),
			txt(strconv.FormatUint(in.AdvertsSent, 10)+"/"+strconv.FormatUint(in.AdvertsReceived, 10)), cf("%d", in.Drops), txt(reason))
	}
	t.write(w, color)
}
