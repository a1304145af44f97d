package main

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNextDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name    string
		due     time.Time
		now     time.Time
		want    time.Time
		comment string
	}{
		{"on time", at(0), at(3), at(1000), "the next grid slot"},
		{"slow check", at(0), at(999), at(1000), "still before the next slot"},
		{"exactly at the next slot", at(0), at(1000), at(1000), "due now"},
		{"overran one slot", at(0), at(1500), at(1000), "the missed slot runs at once, late"},
		{"overran several", at(0), at(3200), at(3000), "earlier missed slots are skipped"},
		{"no drift", at(250), at(260), at(1250), "phase kept, not run time plus interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextDue(tt.due, tt.now, time.Second); !got.Equal(tt.want) {
				t.Errorf("nextDue = %v, want %v (%s)", got.Sub(t0), tt.want.Sub(t0), tt.comment)
			}
		})
	}
}

func TestHist(t *testing.T) {
	h := &hist{}
	h.record(time.Second, nil) // before the window: not counted
	h.on.Store(true)
	for i := range 98 {
		h.record(time.Duration(i)*10*time.Microsecond, nil) // all under 1 ms
	}
	h.record(-time.Millisecond, nil) // early counts as on time, and as early
	h.record(50*time.Millisecond, os.ErrDeadlineExceeded)
	if ok, fail := h.ok.Load(), h.fail.Load(); ok != 99 || fail != 1 {
		t.Errorf("ok, fail = %d, %d, want 99, 1", ok, fail)
	}
	if got := h.quantile(0.5); got != 0.5 {
		t.Errorf("p50 = %v ms, want 0.5", got)
	}
	if got := h.quantile(1); got != 50.1 {
		t.Errorf("p100 = %v ms, want 50.1 (the bucket's upper edge)", got)
	}
	if got := time.Duration(h.max.Load()); got != 50*time.Millisecond {
		t.Errorf("max = %v, want 50ms", got)
	}
	if got := time.Duration(h.maxEarly.Load()); got != time.Millisecond {
		t.Errorf("max early = %v, want 1ms", got)
	}
	if e := h.firstErr.Load(); e == nil || *e != os.ErrDeadlineExceeded.Error() {
		t.Errorf("first error = %v, want %q", e, os.ErrDeadlineExceeded)
	}
}

func TestParseStat(t *testing.T) {
	// A command name with spaces and a parenthesis, as /proc allows.
	line := "4242 (keep (alived) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 8 9 20 0 1 0 100 10000 200"
	u, s, err := parseStat(line)
	if err != nil || u != 1234 || s != 567 {
		t.Errorf("parseStat = %d, %d, %v, want 1234, 567, nil", u, s, err)
	}
	if _, _, err := parseStat("4242 (short) S 1 2"); err == nil {
		t.Error("parseStat accepted a short line")
	}
}

func TestParseProcStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	got, err := parseProcStat("cpu  100 2 30 5000 70 4 5 6 0 0\ncpu0 50 1 15 2500 35 2 2 3 0 0\n")
	if want := int64(100 + 2 + 30 + 4 + 5 + 6); err != nil || got != want {
		t.Errorf("parseProcStat = %d, %v, want %d (idle and iowait left out)", got, err, want)
	}
	if _, err := parseProcStat("intr 1 2 3\n"); err == nil {
		t.Error("parseProcStat accepted a file without the cpu line first")
	}
}

func TestSnmpField(t *testing.T) {
	snmp := `Ip: Forwarding DefaultTTL
Ip: 2 64
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails
Tcp: 1 200 120000 -1 17 31337 2
Udp: InDatagrams NoPorts
Udp: 5 6
`
	if got, err := snmpField(snmp, "Tcp:", "PassiveOpens"); err != nil || got != 31337 {
		t.Errorf("PassiveOpens = %d, %v, want 31337", got, err)
	}
	if _, err := snmpField(snmp, "Tcp:", "NoSuchCounter"); err == nil {
		t.Error("found a counter that is not there")
	}
}

// A list that names keepalived and tcp twice in one round pairs each tcp
// run with the keepalived run before it; rounds pair within the round.
func TestRatiosPairNeighbours(t *testing.T) {
	run := func(sc string, round int, cpu float64) Stats {
		return Stats{Scenario: sc, Round: round, Checks: 1000, Seconds: 1, UserS: cpu}
	}
	cost := func(s Stats) float64 { return s.UserS }
	for _, tt := range []struct {
		name string
		rs   []Stats
		want []float64
	}{
		{"one round, twice", []Stats{run("keepalived", 0, 1), run("tcp", 0, 2), run("keepalived", 0, 4), run("tcp", 0, 2)}, []float64{2, 0.5}},
		{"rounds", []Stats{run("keepalived", 1, 1), run("tcp", 1, 2), run("keepalived", 2, 4), run("tcp", 2, 2)}, []float64{2, 0.5}},
		{"tcp first", []Stats{run("tcp", 0, 2), run("keepalived", 0, 4)}, []float64{0.5}},
	} {
		if d := cmp.Diff(tt.want, ratios(tt.rs, "tcp", "keepalived", cost)); d != "" {
			t.Errorf("%s: ratios (-want +got):\n%s", tt.name, d)
		}
	}
}

func TestParsePerfCSV(t *testing.T) {
	out := `# started on Thu Nov 27 09:00:00 2026

51234,,raw_syscalls:sys_enter,8000000000,100.00,,
1000,,syscalls:sys_enter_connect,8000000000,100.00,,
<not counted>,,syscalls:sys_enter_bpf,0,100.00,,
310,,context-switches,8000000000,100.00,,
600,,syscalls:sys_enter_connect,4000000000,100.00,,
`
	got, err := parsePerfCSV(out)
	// The filtered count ran half as long as the others: scaled to theirs.
	want := map[string]float64{"raw_syscalls:sys_enter": 51234, "syscalls:sys_enter_connect": 1000, "context-switches": 310,
		"syscalls:sys_enter_connect" + filteredSuffix: 1200}
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parsePerfCSV (-want +got):\n%s", d)
	}
	if _, err := parsePerfCSV("# nothing\n"); err == nil {
		t.Error("parsePerfCSV accepted output with no counts")
	}
}

func testServices(n int) [][]netip.AddrPort {
	var ts []netip.AddrPort
	for i := range n {
		ts = append(ts, netip.AddrPortFrom(netip.MustParseAddr(backendAddrFor(i%10)), uint16(40000+i)))
	}
	return group(ts)
}

func backendAddrFor(i int) string { return netip.AddrFrom4([4]byte{10, 77, 0, byte(i + 1)}).String() }

func TestGroupAndIPVSRules(t *testing.T) {
	svcs := testServices(1000)
	if len(svcs) != 100 {
		t.Fatalf("%d virtual servers, want 100", len(svcs))
	}
	for i, rs := range svcs {
		if len(rs) != 10 {
			t.Fatalf("virtual server %d has %d real servers, want 10", i, len(rs))
		}
	}
	rules := ipvsRules(svcs)
	if n := strings.Count(rules, "-A -t "); n != 100 {
		t.Errorf("%d services in the rules, want 100", n)
	}
	if n := strings.Count(rules, "-a -t "); n != 1000 {
		t.Errorf("%d real servers in the rules, want 1000", n)
	}
	if !strings.HasPrefix(rules, "-A -t 10.99.0.1:80 -s rr\n-a -t 10.99.0.1:80 -r 10.77.0.1:40000 -m -w 1\n") {
		t.Errorf("rules start %q", rules[:80])
	}
	if got := vip(99).String(); got != "10.99.0.100:80" {
		t.Errorf("vip(99) = %s", got)
	}
}

func TestKeepalivedConfig(t *testing.T) {
	conf := keepalivedConfig(testServices(20), time.Second, 500*time.Millisecond)
	for _, want := range []string{
		"checker_log_all_failures",
		"virtual_server 10.99.0.2 80 {\n    delay_loop 1\n",
		"    real_server 10.77.0.1 40000 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 0.5\n        }\n    }\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if n := strings.Count(conf, "TCP_CHECK"); n != 20 {
		t.Errorf("%d TCP_CHECKs, want 20", n)
	}
	// keepalived itself is the oracle for the syntax, when installed.
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skip("keepalived not installed: syntax not checked by keepalived -t")
	}
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-f", path).CombinedOutput(); err != nil {
		t.Errorf("keepalived -t rejects the config: %v\n%s", err, out)
	}
}

func TestKeepalivedFailure(t *testing.T) {
	for line, want := range map[string]bool{
		"<30>Nov 27 09:05:45 Keepalived_healthcheckers[141]: TCP connection to [10.77.0.4]:tcp:38449 failed.":  true,
		"<30>Nov 27 09:05:45 Keepalived_healthcheckers[141]: TCP connection to [10.77.0.4]:tcp:38449 timeout.": true,
		"<30>Nov 27 09:05:45 Keepalived_healthcheckers[141]: TCP connection to [10.77.0.4]:tcp:38449 success.": false,
		"<30>Nov 27 09:05:45 Keepalived_healthcheckers[141]: Activating healthchecker for service [10.77.0.4]": false,
	} {
		if got := keepalivedFailure(line); got != want {
			t.Errorf("keepalivedFailure(%q) = %v, want %v", line, got, want)
		}
	}
}
