package control

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAllowed(t *testing.T) {
	rootOnly := &Listener{gid: -1, owner: 0}
	asUser := &Listener{gid: -1, owner: 998} // seesawd run as a user with capabilities
	group := &Listener{gid: 4242, group: "lbops", owner: 0}
	tests := []struct {
		l    *Listener
		p    Peer
		want bool
	}{
		{rootOnly, Peer{UID: 0, GID: 0}, true},
		{rootOnly, Peer{UID: 1000, GID: 0, Groups: []int{0}}, false}, // group root is not root
		{asUser, Peer{UID: 998, GID: 998}, true},
		{asUser, Peer{UID: 0}, true},
		{asUser, Peer{UID: 1000, GID: 998}, false},
		{group, Peer{UID: 1000, GID: 4242}, true},
		{group, Peer{UID: 1000, GID: 1000, Groups: []int{27, 4242}}, true},
		{group, Peer{UID: 1000, GID: 1000, Groups: []int{27}}, false},
		{group, Peer{UID: 65534, GID: 65534}, false},
	}
	for _, tc := range tests {
		if got := tc.l.allowed(tc.p); got != tc.want {
			t.Errorf("listener gid %d owner %d: allowed(%+v) = %v, want %v", tc.l.gid, tc.l.owner, tc.p, got, tc.want)
		}
	}
	if e := group.refusal(Peer{UID: 1000}); e.Code != CodePermission || !strings.Contains(e.Message, "group lbops (gid 4242)") ||
		!strings.Contains(e.Hint, "member of group lbops") {
		t.Errorf("refusal = %+v", e)
	}
	if e := rootOnly.refusal(Peer{UID: 1000}); !strings.Contains(e.Hint, "sudo") || !strings.Contains(e.Hint, "control.group") {
		t.Errorf("refusal = %+v, want a hint at sudo and control.group", e)
	}
}

func TestParseProcStatus(t *testing.T) {
	const status = "Name:\tseesawctl\nUmask:\t0022\nState:\tR (running)\nTgid:\t4242\n" +
		"Uid:\t1000\t1001\t1001\t1001\nGid:\t100\t100\t100\t100\nFDSize:\t64\nGroups:\t4 24 27 4242 \n"
	got := parseProcStatus([]byte(status))
	want := procStatus{name: "seesawctl", euid: 1001, groups: []int{4, 24, 27, 4242}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(procStatus{})); diff != "" {
		t.Errorf("parseProcStatus (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "Uid:\t1000\n", "Uid:\tx y\nGroups:\t1 two 3\n", "Groups:"} {
		ps := parseProcStatus([]byte(bad))
		if ps.euid != -1 || len(ps.groups) != 0 {
			t.Errorf("parseProcStatus(%q) = %+v, want no uid and no groups", bad, ps)
		}
	}
}
