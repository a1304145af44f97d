package ipvs

// An independent reading of ipvsadm's output, used by the integration tests
// as an oracle. It deliberately shares nothing with the package: it parses
// text into plain strings and numbers, and the tests say in ipvsadm's own
// words what they expect.

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
)

// admService is one "-A" line of `ipvsadm -Sn` with its "-a" lines.
type admService struct {
	Kind       string // "-t", "-u", "--sctp-service" or "-f"
	Addr       string // "10.0.0.1:80", "[2001:db8::1]:53", or the fwmark number
	IPv6       bool   // "-6" (fwmark services)
	Sched      string
	Persistent string // "-p" value, "" when absent
	Mask       string // "-M" value, "" when absent
	OnePacket  bool
	SchedFlags string // "-b" value
	PE         string // "--pe" value
	Dests      []admDest
}

// admDest is one "-a" line.
type admDest struct {
	Addr    string
	Fwd     string // "-m", "-g" or "-i"
	Weight  string
	TunType string
	TunPort string
	TunCsum string // "--tun-nocsum", "--tun-csum", "--tun-remcsum" or ""
}

// parseIpvsadmSave parses `ipvsadm -Sn` output.
func parseIpvsadmSave(t *testing.T, out string) []admService {
	t.Helper()
	var svcs []admService
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "-A":
			var s admService
			for i := 1; i < len(f); i++ {
				arg := func() string {
					i++
					if i >= len(f) {
						t.Fatalf("ipvsadm -Sn: %q: %s needs a value", sc.Text(), f[i-1])
					}
					return f[i]
				}
				switch f[i] {
				case "-t", "-u", "--sctp-service", "-f":
					s.Kind = f[i]
					s.Addr = arg()
				case "-6":
					s.IPv6 = true
				case "-s":
					s.Sched = arg()
				case "-p":
					s.Persistent = arg()
				case "-M":
					s.Mask = arg()
				case "-o":
					s.OnePacket = true
				case "-b":
					s.SchedFlags = arg()
				case "--pe":
					s.PE = arg()
				default:
					t.Fatalf("ipvsadm -Sn: unknown service option %q in %q", f[i], sc.Text())
				}
			}
			svcs = append(svcs, s)
		case "-a":
			if len(svcs) == 0 || len(f) < 5 {
				t.Fatalf("ipvsadm -Sn: stray destination line %q", sc.Text())
			}
			s := &svcs[len(svcs)-1]
			if f[1] != s.Kind || f[2] != s.Addr {
				t.Fatalf("ipvsadm -Sn: destination line %q not under its service %s %s", sc.Text(), s.Kind, s.Addr)
			}
			var d admDest
			for i := 3; i < len(f); i++ {
				arg := func() string {
					i++
					if i >= len(f) {
						t.Fatalf("ipvsadm -Sn: %q: %s needs a value", sc.Text(), f[i-1])
					}
					return f[i]
				}
				switch f[i] {
				case "-r":
					d.Addr = arg()
				case "-m", "-g", "-i", "(null)": // ipvsadm 1.31 prints "(null)" for bypass
					d.Fwd = f[i]
				case "-w":
					d.Weight = arg()
				case "--tun-type":
					d.TunType = arg()
				case "--tun-port":
					d.TunPort = arg()
				case "--tun-nocsum", "--tun-csum", "--tun-remcsum":
					d.TunCsum = f[i]
				default:
					t.Fatalf("ipvsadm -Sn: unknown destination option %q in %q", f[i], sc.Text())
				}
			}
			s.Dests = append(s.Dests, d)
		default:
			t.Fatalf("ipvsadm -Sn: unexpected line %q", sc.Text())
		}
	}
	return svcs
}

// admList is `ipvsadm -Ln [--stats|--thresholds|...] --exact`: for each
// service line (keyed "TCP 10.0.0.1:80", "FWM 7"), its own fields after the
// address and the fields of each destination line ("-> addr" stripped).
type admList struct {
	Services map[string][]string
	Dests    map[string]map[string][]string
}

func parseIpvsadmList(t *testing.T, out string) admList {
	t.Helper()
	l := admList{Services: map[string][]string{}, Dests: map[string]map[string][]string{}}
	var cur string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "TCP", "UDP", "SCTP", "FWM":
			cur = f[0] + " " + f[1]
			l.Services[cur] = f[2:]
			l.Dests[cur] = map[string][]string{}
		case "->":
			if f[1] == "RemoteAddress:Port" {
				continue
			}
			if cur == "" {
				t.Fatalf("ipvsadm -Ln: destination line %q before any service", sc.Text())
			}
			l.Dests[cur][f[1]] = f[2:]
		}
	}
	return l
}

// parseIpvsadmTimeouts parses "Timeout (tcp tcpfin udp): 900 120 300".
func parseIpvsadmTimeouts(t *testing.T, out string) [3]int {
	t.Helper()
	_, after, ok := strings.Cut(out, "):")
	f := strings.Fields(after)
	if !ok || len(f) != 3 {
		t.Fatalf("ipvsadm --timeout: cannot parse %q", out)
	}
	var v [3]int
	for i := range v {
		n, err := strconv.Atoi(f[i])
		if err != nil {
			t.Fatalf("ipvsadm --timeout: %q: %v", out, err)
		}
		v[i] = n
	}
	return v
}

// admDaemon is one line of `ipvsadm -Ln --daemon`:
// "master sync daemon (mcast=d0, syncid=5, maxlen=1400, group=239.1.2.3, port=9000, ttl=3)".
type admDaemon struct {
	State  string
	Fields map[string]string
}

func parseIpvsadmDaemons(t *testing.T, out string) []admDaemon {
	t.Helper()
	var ds []admDaemon
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		state, rest, ok := strings.Cut(line, " sync daemon (")
		if !ok || !strings.HasSuffix(rest, ")") {
			t.Fatalf("ipvsadm --daemon: cannot parse %q", line)
		}
		d := admDaemon{State: state, Fields: map[string]string{}}
		for _, kv := range strings.Split(strings.TrimSuffix(rest, ")"), ", ") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("ipvsadm --daemon: field %q in %q", kv, line)
			}
			d.Fields[k] = v
		}
		ds = append(ds, d)
	}
	return ds
}

func TestParseIpvsadmSave(t *testing.T) {
	// Output of ipvsadm v1.31 in the VM lab.
	out := `-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3
-a -t 10.0.0.1:80 -r 10.0.1.3:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-A -u [2001:db8::1]:53 -s sh -p 300 -M 64 -o -b sh-fallback,sh-port
-A -f 8 -6 -s wlc
-A --sctp-service 10.0.0.2:3868 -s fo -p 60 -M 255.255.255.0 --pe sip
`
	got := parseIpvsadmSave(t, out)
	want := []admService{
		{Kind: "-t", Addr: "10.0.0.1:80", Sched: "rr", Dests: []admDest{
			{Addr: "10.0.1.1:8080", Fwd: "-m", Weight: "3"},
			{Addr: "10.0.1.3:80", Fwd: "-i", Weight: "1", TunType: "gue", TunPort: "6080", TunCsum: "--tun-csum"},
		}},
		{Kind: "-u", Addr: "[2001:db8::1]:53", Sched: "sh", Persistent: "300", Mask: "64", OnePacket: true, SchedFlags: "sh-fallback,sh-port"},
		{Kind: "-f", Addr: "8", IPv6: true, Sched: "wlc"},
		{Kind: "--sctp-service", Addr: "10.0.0.2:3868", Sched: "fo", Persistent: "60", Mask: "255.255.255.0", PE: "sip"},
	}
	if d := cmpDiff(want, got); d != "" {
		t.Errorf("parseIpvsadmSave (-want +got):\n%s", d)
	}
}
