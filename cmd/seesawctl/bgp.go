package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seesawd/seesawd/pkg/control"
)

func init() { commands = append(commands, bgpCmd, drainNodeCmd, undrainNodeCmd) }

func bgpCmd() *cobra.Command {
	return readCmd("bgp", "Show the BGP sessions, the announced VIPs and the connection sync daemons",
		`bgp shows the node's BGP speaker: each peer's session state, for how
long, prefixes sent, flaps and the last error; the VIPs announced, those
whose services are up, and why any is withheld (drained, engine loop
stalled, stopping); and the IPVS connection sync daemons that run.`,
		cobra.NoArgs,
		func(w io.Writer, st *control.Status, _ []string, color bool) error {
			writeBGP(w, st, color)
			return nil
		},
		func(st *control.Status, _ []string) (any, error) {
			if st.BGP == nil {
				return &control.BGP{Announced: []netip.Prefix{}, Requested: []netip.Addr{}, NodeDrained: st.NodeDrained}, nil
			}
			return st.BGP, nil
		})
}

func writeBGP(w io.Writer, st *control.Status, color bool) {
	b := st.BGP
	if b == nil || !b.Enabled {
		fmt.Fprintln(w, "BGP is not configured on this node (no bgp section)")
		if st.NodeDrained {
			fmt.Fprintln(w, "the node is drained (seesawctl drain-node): nothing would be announced")
		}
		if b != nil {
			writeSync(w, b)
		}
		return
	}
	fmt.Fprintf(w, "BGP AS %d, router-id %v\n", b.ASN, b.RouterID)
	switch {
	case b.NodeDrained:
		fmt.Fprintln(w, "node drained (seesawctl drain-node): every route withdrawn, IPVS still serving (undo: seesawctl undrain-node)")
	case b.Withheld != "":
		fmt.Fprintf(w, "routes withheld: %s\n", b.Withheld)
	}
	fmt.Fprintln(w)
	var t table
	t.row(txt("PEER"), txt("AS"), txt("STATE"), txt("SINCE"), txt("SENT"), txt("FLAPS"), txt("LAST ERROR"))
	for _, p := range b.Peers {
		up := "-"
		if p.Uptime > 0 {
			up = human(p.Uptime.D())
		}
		t.row(txt(p.Address.String()), cf("%d", p.ASN), state(p.State), txt(up), cf("%d", p.PrefixesSent),
			cf("%d", p.Flaps), txt(dash(p.LastError)))
	}
	t.write(w, color)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "announced: %s\n", joinOrNone(b.Announced))
	if len(b.Requested) != len(b.Announced) {
		fmt.Fprintf(w, "services up: %s\n", joinOrNone(b.Requested))
	}
	writeSync(w, b)
}

func writeSync(w io.Writer, b *control.BGP) {
	if len(b.SyncDaemons) > 0 {
		fmt.Fprintf(w, "connection sync: %s\n", strings.Join(b.SyncDaemons, "; "))
	}
}

func joinOrNone[T fmt.Stringer](xs []T) string {
	if len(xs) == 0 {
		return "none"
	}
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return strings.Join(s, ", ")
}

func drainNodeCmd() *cobra.Command { return nodeDrainCmd(true) }

func undrainNodeCmd() *cobra.Command { return nodeDrainCmd(false) }

func nodeDrainCmd(on bool) *cobra.Command {
	var f ctlFlags
	cmd := &cobra.Command{
		Use:   "drain-node",
		Short: "Withdraw every BGP route of this node; IPVS keeps serving established flows",
		Long: `drain-node takes the node out of the ECMP set: seesawd withdraws every
VIP it announces over BGP, so routers send it no new flows, while IPVS
keeps serving the flows that still arrive. The drain survives reloads and
restarts (the state file) until seesawctl undrain-node. It does not touch
VRRP: to move a VRRP VIP away, lower the instance's priority.`,
		Example: "  seesawctl drain-node\n  seesawctl bgp   # routes withdrawn?",
		Args:    cobra.NoArgs,
	}
	if !on {
		cmd.Use = "undrain-node"
		cmd.Short = "Undo seesawctl drain-node: announce the VIPs of the services that are up again"
		cmd.Long = `undrain-node clears the node's drain: seesawd announces again the VIPs of
its services that are up.`
		cmd.Example = "  seesawctl undrain-node"
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		res, err := f.client().DrainNode(cmd.Context(), on)
		if err != nil {
			return f.explain(err)
		}
		out := cmd.OutOrStdout()
		switch {
		case !res.Changed && on:
			fmt.Fprintln(out, "the node was drained already")
		case !res.Changed:
			fmt.Fprintln(out, "the node was not drained")
		case on && !res.BGP:
			fmt.Fprintln(out, "node drained; BGP is not configured, so there was no route to withdraw (undo: seesawctl undrain-node)")
		case on:
			fmt.Fprintln(out, "node drained: every BGP route withdrawn, IPVS keeps serving established flows (undo: seesawctl undrain-node)")
		default:
			fmt.Fprintln(out, "node undrained: the VIPs of the services that are up are announced again")
		}
		return nil
	}
	f.add(cmd, false)
	return cmd
}
