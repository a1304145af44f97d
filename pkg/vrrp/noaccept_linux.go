//go:build linux

package vrrp

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The Linux AcceptFilter is built with github.com/google/nftables: pure Go over
// netlink, so seesawd neither needs nor executes the nft binary, and batches are
// applied atomically by the kernel. Its ruleset, as nft would list it:
//
//	table inet seesawd {
//		set vrrp-noaccept4 { type ipv4_addr }
//		set vrrp-noaccept6 { type ipv6_addr }
//		chain vrrp-noaccept {
//			type filter hook input priority filter; policy accept;
//			ip daddr @vrrp-noaccept4 counter drop
//			ip6 daddr @vrrp-noaccept6 icmpv6 type 135-136 accept
//			ip6 daddr @vrrp-noaccept6 counter drop
//		}
//	}
//
// ICMPv6 types 135-136 are neighbour solicitation and advertisement. Solicitations
// for a virtual address are mostly sent to its solicited-node group, which no rule
// matches, but unreachability probes are unicast to the address itself and must
// still be answered.
const (
	filterChain = "vrrp-noaccept"
	filterSet4  = "vrrp-noaccept4"
	filterSet6  = "vrrp-noaccept6"
)

type nftFilter struct {
	c          *nftables.Conn
	table      *nftables.Table
	set4, set6 *nftables.Set
}

// AcceptFilter creates the table FilterTable in the network's namespace.
func (l *linuxNetwork) AcceptFilter() (AcceptFilter, error) {
	// Dialled in the namespace rather than WithNetNSFd, which would setns
	// (CAP_SYS_ADMIN) even into the namespace the thread is in.
	var c *nftables.Conn
	err := l.inNetns(func() (err error) {
		c, err = nftables.New(nftables.AsLasting())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vrrp: nftables: %w", err)
	}
	f := &nftFilter{c: c, table: &nftables.Table{Family: nftables.TableFamilyINet, Name: FilterTable}}
	// Set IDs only name the sets inside this batch; fixed ones keep the library's
	// global ID counter (unsynchronised) out of concurrent Nodes.
	f.set4 = &nftables.Set{Table: f.table, Name: filterSet4, KeyType: nftables.TypeIPAddr, ID: 1}
	f.set6 = &nftables.Set{Table: f.table, Name: filterSet6, KeyType: nftables.TypeIP6Addr, ID: 2}
	// Add, delete and add again in one transaction: a table left by a run that
	// crashed is replaced, a missing one is created.
	c.AddTable(f.table)
	c.DelTable(f.table)
	c.AddTable(f.table)
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{
		Name: filterChain, Table: f.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	})
	for _, s := range []*nftables.Set{f.set4, f.set6} {
		if err := c.AddSet(s, nil); err != nil {
			_ = c.CloseLasting()
			return nil, fmt.Errorf("vrrp: nftables set %s: %w", s.Name, err)
		}
	}
	for _, exprs := range noAcceptRules(f.set4, f.set6) {
		c.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: exprs})
	}
	if err := c.Flush(); err != nil {
		_ = c.CloseLasting()
		return nil, fmt.Errorf("vrrp: create nftables table inet %s: %w", FilterTable, err)
	}
	return f, nil
}

// noAcceptRules returns the expressions of the chain's rules, in order.
func noAcceptRules(set4, set6 *nftables.Set) [][]expr.Any {
	// daddrIn matches packets of family proto whose destination address (offset
	// bytes into the network header: 16 for IPv4, 24 for IPv6) is in s.
	daddrIn := func(proto byte, s *nftables.Set, offset, length uint32) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: length},
			&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID},
		}
	}
	drop := func(match []expr.Any) []expr.Any {
		return append(match, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	}
	nd := append(daddrIn(unix.NFPROTO_IPV6, set6, 24, 16),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		// Neighbour solicitation (135) and advertisement (136), RFC 4861 section 4.
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{135}, ToData: []byte{136}},
		&expr.Verdict{Kind: expr.VerdictAccept},
	)
	return [][]expr.Any{
		drop(daddrIn(unix.NFPROTO_IPV4, set4, 16, 4)),
		nd,
		drop(daddrIn(unix.NFPROTO_IPV6, set6, 24, 16)),
	}
}

func (f *nftFilter) set(a netip.Addr) *nftables.Set {
	if a.Is4() {
		return f.set4
	}
	return f.set6
}

func (f *nftFilter) Drop(a netip.Addr) error {
	a = a.Unmap()
	if err := f.c.SetAddElements(f.set(a), []nftables.SetElement{{Key: a.AsSlice()}}); err != nil {
		return fmt.Errorf("vrrp: nftables drop %v: %w", a, err)
	}
	if err := f.c.Flush(); err != nil {
		return fmt.Errorf("vrrp: nftables drop %v: %w", a, err)
	}
	return nil
}

func (f *nftFilter) Allow(a netip.Addr) error {
	a = a.Unmap()
	if err := f.c.SetDeleteElements(f.set(a), []nftables.SetElement{{Key: a.AsSlice()}}); err != nil {
		return fmt.Errorf("vrrp: nftables allow %v: %w", a, err)
	}
	if err := f.c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("vrrp: nftables allow %v: %w", a, err)
	}
	return nil
}

func (f *nftFilter) Close() error {
	f.c.DelTable(f.table)
	err := f.c.Flush()
	if errors.Is(err, unix.ENOENT) {
		err = nil
	}
	if cerr := f.c.CloseLasting(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vrrp: delete nftables table inet %s: %w", FilterTable, err)
	}
	return nil
}
