package kaimport

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// vrrpOut is one translated vrrp_instance.
type vrrpOut struct {
	name, iface  string
	vrid         int
	priority     int
	advert       time.Duration
	preempt      bool
	preemptDelay time.Duration
	accept       bool
	peers        []string
	peerAt       map[string]*Node
	garp         *ymap
	tracks       []trackOut
	vips         []string
	// comment goes above the instance; comments above some of its keys.
	comment  string
	comments map[string]string
}

type trackOut struct {
	name   string
	weight int
}

func (v *vrrpOut) yaml() *ymap {
	m := &ymap{}
	c := v.comments
	m.set("name", v.name)
	m.setc("interface", v.iface, c["interface"])
	m.set("vrid", v.vrid)
	m.setc("priority", v.priority, c["priority"])
	m.setc("advert_interval", formatDuration(v.advert), c["advert_interval"])
	if !v.preempt {
		m.setc("preempt", false, c["preempt"])
	}
	if v.preemptDelay > 0 {
		m.set("preempt_delay", formatDuration(v.preemptDelay))
	}
	if !v.accept {
		m.setc("accept", false, c["accept"])
	}
	if len(v.peers) > 0 {
		s := &yseq{flow: true}
		for _, p := range v.peers {
			s.add(p, "")
		}
		m.set("unicast_peers", s)
	}
	if v.garp != nil {
		m.set("garp", v.garp)
	}
	if len(v.tracks) > 0 {
		s := &yseq{}
		for _, tr := range v.tracks {
			s.add(&ymap{flow: true, items: []yitem{{key: "name", value: tr.name}, {key: "weight", value: tr.weight}}}, "")
		}
		m.setc("track_interfaces", s, c["track_interfaces"])
	}
	s := &yseq{flow: len(v.vips) <= 4}
	for _, a := range v.vips {
		s.add(a, "")
	}
	m.setc("virtual_ips", s, c["virtual_ips"])
	return m
}

// trackIn is one tracked interface as keepalived has it.
type trackIn struct {
	name    string
	weight  int
	reverse bool
	// group says the sync group tracks it for all its instances.
	group bool
	node  *Node
}

// vipIn is one virtual address line.
type vipIn struct {
	prefix netip.Prefix
	text   string
	dev    string
	node   *Node
}

// maxVIPsPerFamily is what one VRRP advertisement carries.
const maxVIPsPerFamily = 255

func (t *translator) vrrpInstance(n *Node) {
	t.use(n)
	name := n.Arg(1)
	if name == "" {
		t.note(n, "vrrp_instance with no name: not translated (keepalived refuses it too)")
		return
	}
	if t.vrrpNames[name] {
		t.note(n, "a second vrrp_instance %s: not translated (keepalived refuses duplicate names)", name)
		return
	}
	v := &vrrpOut{name: name, priority: 100, advert: time.Second, preempt: true, comments: map[string]string{}}
	var (
		stateNode, versionNode, nopreemptNode, delayNode, prioNode, advertNode *Node
		advert                                                                 time.Duration
		nopreempt                                                              bool
		version                                                                int
		accept                                                                 *bool
		strict                                                                 = t.g.strict
		vips, evips                                                            []vipIn
		evipNode                                                               *Node
		tracks                                                                 []trackIn
		garp                                                                   = t.garpDefaults()
	)
	for _, c := range n.Children {
		kw := c.Keyword()
		switch kw {
		case "state":
			switch c.Arg(1) {
			case "MASTER":
				stateNode = c
			case "BACKUP":
				// seesawd's instances start as backups too.
				t.use(c)
			default:
				t.note(c, "state %q is not MASTER or BACKUP: keepalived takes BACKUP, as does seesawd", c.Arg(1))
			}
		case "interface":
			v.iface = c.Arg(1)
			t.use(c)
		case "virtual_router_id":
			if id, ok := parseUint(c.Arg(1), 1, 255); ok {
				v.vrid = int(id)
				t.use(c)
			} else {
				t.note(c, "virtual_router_id %q is not 1-255", c.Arg(1))
			}
		case "priority":
			if p, ok := parseUint(c.Arg(1), 1, 255); ok {
				v.priority, prioNode = int(p), c
				t.use(c)
			} else {
				t.note(c, "priority %q is not 1-255: keepalived uses 100, so does the translation", c.Arg(1))
			}
		case "advert_int":
			if d, ok := t.advertInt(c); ok {
				advert, advertNode = d, c
			}
		case "nopreempt":
			nopreempt, nopreemptNode = true, c
			t.use(c)
		case "preempt":
			nopreempt = false
			t.use(c)
		case "preempt_delay":
			if d, ok := parseTimer(c.Arg(1)); ok && d <= 1000*time.Second {
				v.preemptDelay, delayNode = d, c
				t.use(c)
			} else {
				t.note(c, "preempt_delay %q is not 0-1000 seconds: ignored, as keepalived does", c.Arg(1))
			}
		case "accept", "no_accept":
			a := kw == "accept"
			accept = &a
			t.use(c)
		case "strict_mode":
			if on, ok := parseBool(c.Arg(1)); ok {
				strict = on
			}
			t.noteOnly(c, "strict_mode: seesawd has no strict mode; what it implies for accept mode is kept")
		case "version":
			if x := c.Arg(1); x == "2" || x == "3" {
				version, versionNode = int(x[0]-'0'), c
				t.use(c)
			} else {
				t.note(c, "version %q is not 2 or 3: ignored", c.Arg(1))
			}
		case "native_ipv6":
			t.use(c) // deprecated in keepalived: the addresses say the family
		case "unicast_peer":
			t.unicastPeers(c, v)
		case "virtual_ipaddress":
			t.use(c)
			vips = append(vips, t.vipBlock(c)...)
		case "virtual_ipaddress_excluded":
			t.use(c)
			evipNode = c
			evips = append(evips, t.vipBlock(c)...)
		case "track_interface":
			t.use(c)
			tracks = append(tracks, t.trackBlock(c)...)
		case "track_script":
			t.trackScripts(c)
		case "track_file", "track_process", "track_bfd":
			t.note(c, "%s: seesawd tracks interfaces (track_interfaces) and services (vrrp_track), not files, processes or BFD", kw)
		case "authentication":
			t.note(c, "authentication: VRRPv2 only (RFC 3768 removed it); seesawd speaks VRRPv3, which has none. "+
				"Protect the segment instead, or use unicast_peers")
		case "garp_master_repeat":
			if x, ok := t.uintArg(c, 0, 255); ok {
				garp.set("count", x)
			}
		case "garp_master_refresh":
			if d, ok := parseTimer(c.Arg(1)); ok {
				garp.set("refresh", formatDuration(d))
				t.use(c)
			} else {
				t.note(c, "garp_master_refresh %q is not a time: ignored", c.Arg(1))
			}
		case "garp_master_delay", "garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat",
			"garp_extra_if", "vmac_garp_intvl":
			t.note(c, "%s: seesawd sends one burst of announcements (garp.count, garp.interval) on becoming master, "+
				"then one every garp.refresh; it has no second delayed burst", kw)
		case "use_vmac", "use_vmac_addr", "vmac_xmit_base", "use_ipvlan":
			t.note(c, "%s: seesawd creates no VMAC or ipvlan interface: the VIPs answer with the interface's own MAC, "+
				"announced by gratuitous ARP / unsolicited NA on takeover", kw)
		case "dont_track_primary":
			t.note(c, "dont_track_primary: seesawd always faults an instance whose interface goes down")
		case "mcast_src_ip", "unicast_src_ip":
			t.note(c, "%s: seesawd sends adverts from the interface's primary address", kw)
		case "mcast_dst_ip":
			t.note(c, "mcast_dst_ip: seesawd sends adverts to the RFC 5798 groups (224.0.0.18, ff02::12) or to unicast_peers")
		case "check_unicast_src":
			t.use(c) // seesawd accepts adverts only from its unicast peers anyway
		case "lvs_sync_daemon_interface":
			t.note(c, "lvs_sync_daemon_interface: seesawd does not run the IPVS connection sync daemon "+
				"(ipvsadm --start-daemon); connections are not synchronised between nodes")
		case "notify", "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify_deleted",
			"notify_master_rx_lower_pri", "notify_priority_changes":
			t.note(c, scriptNote, kw)
		case "smtp_alert":
			t.note(c, emailNote, kw)
		case "virtual_routes", "virtual_rules":
			t.note(c, "%s: seesawd moves addresses only, not routes or rules", kw)
		case "old_unicast_checksum":
			t.note(c, "old_unicast_checksum: the pre-1.3.6 keepalived unicast checksum is not supported; seesawd computes "+
				"RFC 5798 checksums (checksum: ipv4-no-pseudo-header is a different, older variant)")
		case "promote_secondaries", "skip_check_adv_addr", "lower_prio_no_advert", "higher_prio_send_advert",
			"down_timer_adverts", "debug", "linkbeat_use_polling", "kernel_rx_buf_size", "track_src_ip", "vrf",
			"unicast_ttl", "unicast_fault_no_peer":
			t.note(c, "%s: not translated (seesawd follows RFC 5798 here and has no such setting)", kw)
		default:
			t.note(c, "unknown keyword %s in vrrp_instance: keepalived rejects it too", kw)
		}
	}

	if v.vrid == 0 {
		t.note(n, "vrrp_instance %s has no valid virtual_router_id: not translated (keepalived refuses it too)", name)
		return
	}
	if len(evips) > 0 {
		t.noteOnly(evipNode, "virtual_ipaddress_excluded: seesawd has no excluded addresses: they are in virtual_ips, "+
			"so adverts carry them (at most %d per family)", maxVIPsPerFamily)
	}
	all := t.dedupVIPs(append(vips, evips...))
	if len(all) == 0 {
		t.note(n, "vrrp_instance %s has no virtual address: not translated (seesawd needs at least one)", name)
		return
	}
	if v.iface == "" {
		v.iface = t.g.defaultInterface
		if all[0].dev != "" {
			v.iface = all[0].dev
		}
		t.noteOnly(n, "vrrp_instance %s names no interface: seesawd needs one; %s (where keepalived put its first address) is used", name, v.iface)
		v.comments["interface"] = "not in the keepalived configuration: check it"
	}
	has6 := false
	for _, a := range all {
		if a.dev != "" && a.dev != v.iface {
			t.noteOnly(a.node, "%s on dev %s: seesawd puts every address of an instance on the instance's interface (%s); "+
				"make a separate instance on %s if it must live there", a.prefix.Addr(), a.dev, v.iface, a.dev)
			v.comments["virtual_ips"] = "keepalived put some of these on other interfaces: see the notes"
		}
		v.vips = append(v.vips, a.text)
		has6 = has6 || a.prefix.Addr().Is6()
	}

	// A peer of a family the instance has no address of has nobody to
	// talk to (keepalived refuses it too).
	fams := map[bool]bool{}
	for _, a := range all {
		fams[a.prefix.Addr().Is6()] = true
	}
	v.peers = slices.DeleteFunc(v.peers, func(p string) bool {
		if fams[netip.MustParseAddr(p).Is6()] {
			return false
		}
		t.noteOnly(v.peerAt[p], "unicast peer %s: the instance has no address of its family: left out", p)
		return true
	})
	for _, fam := range []bool{false, true} {
		k := fmt.Sprintf("%s %d %v", v.iface, v.vrid, fam)
		if !fams[fam] {
			continue
		}
		if other := t.vrids[k]; other != "" {
			t.noteOnly(n, "vrrp_instance %s: virtual_router_id %d is already used on %s by %s: not translated "+
				"(keepalived allows it only with disjoint unicast peers or multicast groups; seesawd does not)", name, v.vrid, v.iface, other)
			return
		}
	}
	for _, fam := range []bool{false, true} {
		if fams[fam] {
			t.vrids[fmt.Sprintf("%s %d %v", v.iface, v.vrid, fam)] = name
		}
	}
	if version == 0 {
		version = t.g.vrrpVersion
		if has6 {
			version = 3 // keepalived always runs IPv6 instances as VRRPv3
		}
	}
	if advertNode != nil {
		t.settleAdvert(v, advertNode, advert, version)
	}
	if version == 2 {
		at := versionNode
		if at == nil {
			at = n
		}
		t.noteRepeat(at, "vrrpv2", fmt.Sprintf("vrrp_instance %s runs VRRPv2 in keepalived (its default for IPv4); seesawd speaks VRRPv3 only, "+
			"and the two do not see each other's adverts: switch both nodes together, or set version 3 in keepalived first", name),
			fmt.Sprintf("vrrp_instance %s runs VRRPv2 in keepalived, seesawd VRRPv3", name))
	}

	owner := v.priority == 255
	if stateNode != nil {
		if owner {
			t.noteOnly(stateNode, "state MASTER with priority 255: seesawd takes over at once as the address owner too")
		} else {
			t.noteRepeat(stateNode, "state", "state MASTER: seesawd has no initial state. The highest priority becomes master once "+
				"Master_Down_Interval (3 x advert_interval + skew) has passed, as in keepalived below priority 255: "+
				"give the node meant to be master the higher priority", "state MASTER: seesawd elects by priority")
		}
		if nopreempt {
			t.noteOnly(nopreemptNode, "nopreempt: keepalived ignores it with state MASTER, so preempt stays on")
			nopreempt = false
		}
		if v.preemptDelay > 0 {
			t.noteOnly(delayNode, "preempt_delay: keepalived ignores it with state MASTER, so it is left out")
			v.preemptDelay = 0
		}
	}
	if nopreempt && owner {
		t.noteOnly(nopreemptNode, "nopreempt: keepalived ignores it at priority 255, so preempt stays on")
		nopreempt = false
	}
	v.preempt = !nopreempt
	if nopreempt && v.preemptDelay > 0 {
		t.noteOnly(delayNode, "preempt_delay: keepalived ignores it with nopreempt, so it is left out")
		v.preemptDelay = 0
	}
	if strict && v.preemptDelay > 0 {
		t.noteOnly(delayNode, "preempt_delay: keepalived ignores it in strict mode, so it is left out")
		v.preemptDelay = 0
	}
	if accept == nil {
		a := owner || !strict
		accept = &a
		if !a {
			v.comments["accept"] = "keepalived's strict mode drops packets to the VIPs"
		}
	}
	v.accept = *accept

	// Sync-group tracking, then the instance's own.
	if g := t.syncOf[name]; g != nil {
		for _, c := range g.Children {
			if c.Keyword() == "track_interface" {
				t.use(c)
				for _, tr := range t.trackBlock(c) {
					tr.group = true
					tracks = append(tracks, tr)
				}
			}
		}
	}
	t.tracks(v, tracks, prioNode, owner)

	if len(garp.items) > 0 {
		v.garp = garp
	}
	t.vrrpNames[name] = true
	t.vrrp = append(t.vrrp, v)
	t.vrrpByName[name] = v
}

// garpDefaults returns the garp section the global defaults imply.
func (t *translator) garpDefaults() *ymap {
	m := &ymap{flow: true}
	if t.g.garpRepeat != nil {
		m.set("count", *t.g.garpRepeat)
	}
	if t.g.garpInterval > 0 {
		m.set("interval", formatDuration(t.g.garpInterval))
	}
	if t.g.garpRefresh > 0 {
		m.set("refresh", formatDuration(t.g.garpRefresh))
	}
	return m
}

// advertInt reads advert_int; the interval is settled once the version
// is known (see settleAdvert).
func (t *translator) advertInt(c *Node) (time.Duration, bool) {
	d, ok := parseTimer(c.Arg(1))
	if !ok || d <= 0 || d > 255*time.Second {
		t.note(c, "advert_int %q is not a time from 10ms to 255s: keepalived uses 1s, so does the translation", c.Arg(1))
		return 0, false
	}
	return d, true
}

// settleAdvert sets the advert interval keepalived really uses, rounded
// as it rounds (to whole seconds for VRRPv2, to 10ms for VRRPv3, halves
// up), within what VRRPv3 carries (40.95s).
func (t *translator) settleAdvert(v *vrrpOut, c *Node, d time.Duration, version int) {
	unit, limit := 10*time.Millisecond, 4095*10*time.Millisecond
	if version == 2 {
		unit = time.Second
	}
	r := (d + unit/2).Truncate(unit)
	r = max(r, unit)
	var why []string
	if r != d {
		why = append(why, fmt.Sprintf("keepalived rounds it to %s for VRRPv%d", formatDuration(r), version))
	}
	if r > limit {
		r = limit
		why = append(why, "VRRPv3 carries at most 40.95s")
	}
	v.advert = r
	if len(why) == 0 {
		t.use(c)
		return
	}
	t.noteOnly(c, "advert_int %s: %s: %s is used", c.Arg(1), strings.Join(why, "; "), formatDuration(r))
	v.comments["advert_interval"] = "keepalived: advert_int " + c.Arg(1)
}

func (t *translator) unicastPeers(c *Node, v *vrrpOut) {
	t.use(c)
	for _, p := range c.Children {
		a, err := netip.ParseAddr(p.Keyword())
		if err != nil || a.Zone() != "" {
			t.note(p, "unicast peer %q is not an IP address: left out (keepalived skips it too)", p.Keyword())
			continue
		}
		if len(p.Words) > 1 {
			t.noteOnly(p, "unicast peer %s: %s not translated (seesawd does not check the TTL of adverts)", a, strings.Join(p.Words[1:], " "))
		} else {
			t.use(p)
		}
		if v.peerAt == nil {
			v.peerAt = map[string]*Node{}
		}
		if s := a.Unmap().String(); v.peerAt[s] == nil {
			v.peers = append(v.peers, s)
			v.peerAt[s] = p
		}
	}
}

// vipBlock reads the lines of a virtual_ipaddress block.
func (t *translator) vipBlock(c *Node) []vipIn {
	var out []vipIn
	for _, e := range c.Children {
		text := e.Keyword()
		p, err := netip.ParsePrefix(text)
		if err != nil {
			var a netip.Addr
			if a, err = netip.ParseAddr(text); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || p.Addr().Zone() != "" {
			t.note(e, "virtual address %q is not an address: left out (keepalived skips it too)", text)
			continue
		}
		in := vipIn{prefix: p, text: text, node: e}
		var dropped []string
		for i := 1; i < len(e.Words); i++ {
			switch w := e.Words[i]; w {
			case "dev":
				in.dev = e.Arg(i + 1)
				i++
			case "brd", "scope", "label", "peer", "preferred_lft", "track_group":
				dropped = append(dropped, w+" "+e.Arg(i+1))
				i++
			default:
				dropped = append(dropped, w)
			}
		}
		if len(dropped) > 0 {
			t.noteOnly(e, "%s: %s not translated (seesawd adds the address with its prefix length only)", text, strings.Join(dropped, ", "))
		} else {
			t.use(e)
		}
		out = append(out, in)
	}
	return out
}

// dedupVIPs drops addresses listed twice and those past what an advert carries.
func (t *translator) dedupVIPs(in []vipIn) []vipIn {
	seen := map[netip.Addr]bool{}
	perFamily := map[bool]int{}
	var out []vipIn
	for _, a := range in {
		addr := a.prefix.Addr()
		if seen[addr] {
			t.noteOnly(a.node, "%s is listed twice: kept once", addr)
			continue
		}
		if perFamily[addr.Is4()] == maxVIPsPerFamily {
			t.noteOnly(a.node, "%s: more than %d addresses of one family: left out (one VRRPv3 advert carries %d)", addr, maxVIPsPerFamily, maxVIPsPerFamily)
			continue
		}
		seen[addr] = true
		perFamily[addr.Is4()]++
		out = append(out, a)
	}
	return out
}

// trackBlock reads the lines of a track_interface block: "IF [weight W [reverse|noreverse]]".
func (t *translator) trackBlock(c *Node) []trackIn {
	var out []trackIn
	for _, e := range c.Children {
		tr := trackIn{name: e.Keyword(), node: e}
		ok := true
		for i := 1; i < len(e.Words) && ok; i++ {
			switch e.Words[i] {
			case "weight":
				w, good := parseInt(e.Arg(i+1), -254, 254)
				tr.weight, ok = int(w), good
				i++
			case "reverse":
				tr.reverse = true
			case "noreverse", "no_reverse":
			default:
				ok = false
			}
		}
		if !ok {
			t.note(e, "tracked interface %s: %q is not weight -254..254 [reverse]: left out", tr.name, strings.Join(e.Words[1:], " "))
			continue
		}
		out = append(out, tr)
	}
	return out
}

// tracks translates tracked interfaces. keepalived adds a positive weight
// to the priority while the interface is up and subtracts a negative one
// while it is down; seesawd only subtracts while down. Raising the priority
// by the positive weights and subtracting them while down gives the same
// priority in every state.
func (t *translator) tracks(v *vrrpOut, tracks []trackIn, prioNode *Node, owner bool) {
	g := t.syncOf[v.name]
	syncZero := g != nil && !hasChild(g, "sync_group_tracking_weight")
	base, bonus := v.priority, 0
	index := map[string]int{} // v.tracks by name
	for _, tr := range tracks {
		w := tr.weight
		switch {
		case owner && w != 0:
			t.note(tr.node, "tracked interface %s: keepalived ignores a weighted interface at priority 255 (address owner); left out", tr.name)
			continue
		case tr.reverse:
			t.note(tr.node, "tracked interface %s: reverse (priority moves the other way) has no seesawd equivalent; left out", tr.name)
			continue
		case syncZero && w != 0 && !tr.group:
			t.noteOnly(tr.node, "tracked interface %s: keepalived ignores weights in a sync group (unless sync_group_tracking_weight), "+
				"so the instance faults when it is down, as here", tr.name)
			w = 0
		}
		tr.node.handled = true
		if tr.name == v.iface {
			continue // keepalived ignores it; seesawd tracks its own interface anyway
		}
		switch {
		case w < 0:
			w = -w
		case w > 0:
			bonus += w
		}
		if i, dup := index[tr.name]; dup {
			v.tracks[i].weight = min(max(v.tracks[i].weight, w), 254)
			continue
		}
		index[tr.name] = len(v.tracks)
		v.tracks = append(v.tracks, trackOut{name: tr.name, weight: min(w, 254)})
	}
	if bonus == 0 {
		return
	}
	v.priority = base + bonus
	v.comments["priority"] = fmt.Sprintf("keepalived priority %d plus %d from track_interface weights, which keepalived adds while "+
		"the interfaces are up;\nseesawd subtracts them while they are down instead", base, bonus)
	if v.priority > 254 {
		v.priority = 254
		at := prioNode
		if at == nil {
			at = tracks[0].node
		}
		t.noteOnly(at, "priority %d plus the positive track_interface weights (%d) exceeds 254, where keepalived caps it too: 254 is used", base, bonus)
	}
	v.comments["track_interfaces"] = ""
}

func hasChild(n *Node, kw string) bool {
	return slices.ContainsFunc(n.Children, func(c *Node) bool { return c.Keyword() == kw })
}

// trackScripts notes each tracked script, saying what it ran.
func (t *translator) trackScripts(c *Node) {
	t.use(c)
	for _, e := range c.Children {
		script := ""
		if s := t.scripts[e.Keyword()]; s != nil {
			for _, sc := range s.Children {
				if sc.Keyword() == "script" {
					script = fmt.Sprintf(" (%q)", sc.Arg(1))
				}
			}
		}
		t.noteRepeat(e, "track_script", fmt.Sprintf("track_script %s%s: seesawd runs no scripts; to follow a service's health, give the service vrrp_track "+
			"(it lowers the priority while the service is below quorum)", e.Keyword(), script),
			fmt.Sprintf("track_script %s%s: seesawd runs no scripts", e.Keyword(), script))
	}
}

// readSyncGroup records the membership of a sync group before the
// instances are translated.
func (t *translator) readSyncGroup(n *Node) {
	for _, c := range n.Children {
		if c.Keyword() != "group" {
			continue
		}
		for _, e := range c.Children {
			for _, name := range e.Words {
				if t.syncOf[name] == nil {
					t.syncOf[name] = n
				}
			}
		}
	}
}

// syncGroup translates a vrrp_sync_group once its instances are.
func (t *translator) syncGroup(n *Node) {
	t.use(n)
	name := n.Arg(1)
	g := &ymap{}
	g.set("name", name)
	members := &yseq{flow: true}
	in := map[string]bool{}
	for _, c := range n.Children {
		kw := c.Keyword()
		switch kw {
		case "group":
			t.use(c)
			for _, e := range c.Children {
				t.use(e)
				for _, m := range e.Words {
					switch {
					case t.syncOf[m] != n:
						t.noteOnly(e, "%s is already in another sync group: left out here (keepalived refuses it too)", m)
					case t.vrrpByName[m] == nil:
						t.noteOnly(e, "%s: no vrrp_instance of that name was translated: left out of the group", m)
					case !in[m]:
						in[m] = true
						members.add(m, "")
					}
				}
			}
		case "track_interface":
			if !c.handled {
				t.note(c, "track_interface of a sync group with no translated instance: nothing to track")
			}
		case "sync_group_tracking_weight":
			t.use(c)
		case "track_script", "track_file", "track_process", "track_bfd":
			t.note(c, "%s: seesawd tracks interfaces (track_interfaces) and services (vrrp_track), not scripts, files, processes or BFD", kw)
		case "notify", "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify_deleted", "notify_priority_changes":
			t.note(c, scriptNote, kw)
		case "smtp_alert":
			t.note(c, emailNote, kw)
		case "global_tracking":
			t.note(c, "global_tracking: deprecated in keepalived; seesawd applies each instance's own tracking")
		default:
			t.note(c, "unknown keyword %s in vrrp_sync_group (keepalived ignores it too): members are listed inside group { }", kw)
		}
	}
	if name == "" || len(members.items) == 0 {
		t.noteOnly(n, "vrrp_sync_group %s: no translated member instance: not translated", name)
		return
	}
	g.set("instances", members)
	t.syncGroups = append(t.syncGroups, g)
}
