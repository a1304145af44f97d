package kaimport

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// parseTimer reads a keepalived <TIMER>: seconds, with up to six decimals.
func parseTimer(s string) (time.Duration, bool) {
	if s == "" || strings.ContainsAny(s, "+-eE") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > math.MaxInt32 {
		return 0, false
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond, true
}

// parseUint reads an unsigned decimal integer in [lo, hi].
func parseUint(s string, lo, hi uint64) (uint64, bool) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, false
	}
	return v, true
}

// parseInt reads a signed decimal integer in [lo, hi].
func parseInt(s string, lo, hi int64) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, false
	}
	return v, true
}

// parseBool reads a keepalived <BOOL> (on|off|true|false|yes|no); a
// missing value means true, as in keepalived.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "", "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	return false, false
}

// formatDuration writes d as seesawd reads it, in the unit a person would
// use: 60s rather than 1m0s, 1.5s, 250ms.
func formatDuration(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Second && d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d%time.Millisecond == 0:
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
	}
	return d.String()
}

// hostPort formats an address and port as seesawd's sorry_server reads it.
func hostPort(a netip.Addr, port int) string {
	if port == 0 {
		return a.String()
	}
	return netip.AddrPortFrom(a, uint16(port)).String()
}

// nameFor derives a service name from its address and port: no slashes or
// spaces, stable across runs ("192_0_2_10-80", "fwmark-7").
func nameFor(vip netip.Addr, fwmark uint32, v6 bool, port int, proto string) string {
	if fwmark != 0 {
		s := fmt.Sprintf("fwmark-%d", fwmark)
		if v6 {
			s += "-ipv6"
		}
		return s
	}
	s := strings.NewReplacer(".", "_", ":", "_").Replace(vip.String()) + "-" + strconv.Itoa(port)
	if proto != "" && proto != "tcp" {
		s += "-" + proto
	}
	return s
}

// uniqueName returns name, or name with a numeric suffix, not yet in used;
// it records the result.
func uniqueName(name string, used map[string]bool) string {
	out := name
	for i := 2; used[out]; i++ {
		out = fmt.Sprintf("%s-%d", name, i)
	}
	used[out] = true
	return out
}

// maskBits returns the prefix length of a dotted IPv4 netmask, and whether
// the mask is contiguous.
func maskBits(s string) (int, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, false
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for v&0x80000000 != 0 {
		ones++
		v <<= 1
	}
	return ones, v == 0
}
