//go:build linux

package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seesawd/seesawd/internal/lab"
)

// families is one scrape, by metric name.
type families map[string]*dto.MetricFamily

// scrape fetches http://addr/metrics from inside lb's namespace, where its
// seesawd listens.
func scrape(ctx context.Context, lb *lab.LB, addr string) (families, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			var c net.Conn
			err := lb.NS.Do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, a)
				return err
			})
			return c, err
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

const metricsAddr = "127.0.0.1:9712"

// scrape scrapes lb's default address, failing the test on error.
func (e *env) scrape(lb *lab.LB) families {
	e.t.Helper()
	f, err := scrape(e.ctx, lb, metricsAddr)
	if err != nil {
		e.t.Fatalf("%s: %v", lb.Name, err)
	}
	return f
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func valueOf(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// get returns the value of the one series of name whose labels include
// match (a histogram's value is its count), and whether there is exactly one.
func (f families) get(name string, match map[string]string) (float64, bool) {
	var v float64
	n := 0
	for _, m := range f[name].GetMetric() {
		l := labelsOf(m)
		ok := true
		for k, want := range match {
			if l[k] != want {
				ok = false
				break
			}
		}
		if ok {
			v = valueOf(m)
			n++
		}
	}
	return v, n == 1
}

// must is get, failing the test unless exactly one series matches.
func (f families) must(t *testing.T, name string, match map[string]string) float64 {
	t.Helper()
	v, ok := f.get(name, match)
	if !ok {
		t.Fatalf("no single %s%v in the scrape", name, match)
	}
	return v
}

// ipvsKey names a service or backend series as lab.Stats keys ipvsadm's
// lines: "TCP 192.0.2.100:80", "TCP 192.0.2.100:80 -> 10.0.1.11:8080".
func ipvsKey(l map[string]string) string {
	svc := l["proto"] + " " + net.JoinHostPort(l["local_address"], l["local_port"])
	if l["proto"] == "FWM" {
		mark, _ := strconv.ParseUint(l["local_mark"], 16, 32)
		svc = "FWM " + strconv.FormatUint(mark, 10)
	}
	if ra, ok := l["remote_address"]; ok {
		return svc + " -> " + net.JoinHostPort(ra, l["remote_port"])
	}
	return svc
}

// statFields are lab.Stats' counters by the suffix of their metric names.
var statFields = map[string]func(*lab.Stats) *uint64{
	"connections_total":      func(s *lab.Stats) *uint64 { return &s.Conns },
	"incoming_packets_total": func(s *lab.Stats) *uint64 { return &s.InPkts },
	"outgoing_packets_total": func(s *lab.Stats) *uint64 { return &s.OutPkts },
	"incoming_bytes_total":   func(s *lab.Stats) *uint64 { return &s.InBytes },
	"outgoing_bytes_total":   func(s *lab.Stats) *uint64 { return &s.OutBytes },
}

// kernelStats returns the scrape's service and backend counters in
// lab.Stats' shape.
func (f families) kernelStats() map[string]lab.Stats {
	out := map[string]lab.Stats{}
	for _, prefix := range []string{"seesawd_ipvs_", "seesawd_ipvs_backend_"} {
		for suffix, field := range statFields {
			for _, m := range f[prefix+suffix].GetMetric() {
				k := ipvsKey(labelsOf(m))
				s := out[k]
				*field(&s) = uint64(valueOf(m))
				out[k] = s
			}
		}
	}
	return out
}

// conns are a backend's weight, active and inactive connections.
type conns struct{ Weight, Active, Inactive uint64 }

// kernelConns returns the scrape's backend gauges.
func (f families) kernelConns() map[string]conns {
	out := map[string]conns{}
	for name, field := range map[string]func(*conns) *uint64{
		"seesawd_ipvs_backend_weight":               func(c *conns) *uint64 { return &c.Weight },
		"seesawd_ipvs_backend_connections_active":   func(c *conns) *uint64 { return &c.Active },
		"seesawd_ipvs_backend_connections_inactive": func(c *conns) *uint64 { return &c.Inactive },
	} {
		for _, m := range f[name].GetMetric() {
			k := ipvsKey(labelsOf(m))
			c := out[k]
			*field(&c) = uint64(valueOf(m))
			out[k] = c
		}
	}
	return out
}

// ipvsadmConns parses `ipvsadm -Ln --exact`: each backend's weight and
// connection counts.
func (e *env) ipvsadmConns(lb *lab.LB) map[string]conns {
	e.t.Helper()
	out, err := lb.Ipvsadm(e.ctx, "-Ln", "--exact")
	if err != nil {
		e.t.Fatal(err)
	}
	res := map[string]conns{}
	var svc string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && (f[0] == "TCP" || f[0] == "UDP" || f[0] == "SCTP" || f[0] == "FWM"):
			svc = f[0] + " " + f[1]
		case len(f) >= 6 && f[0] == "->" && svc != "":
			var c conns
			var errs [3]error
			c.Weight, errs[0] = strconv.ParseUint(f[3], 10, 64)
			c.Active, errs[1] = strconv.ParseUint(f[4], 10, 64)
			c.Inactive, errs[2] = strconv.ParseUint(f[5], 10, 64)
			if errs != [3]error{} {
				e.t.Fatalf("ipvsadm -Ln line %q: %v", line, errs)
			}
			res[svc+" -> "+f[1]] = c
		}
	}
	return res
}

// engineHealth is the engine's view of web's backends: the last "backend
// health" transition it logged for each.
func engineHealth(t *testing.T, lb *lab.LB, service string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(lb.Log(), "\n") {
		if !strings.Contains(line, `"msg":"backend health"`) {
			continue
		}
		var rec struct{ Service, Backend, To string }
		if err := json.Unmarshal([]byte(line), &rec); err == nil && rec.Service == service {
			out[rec.Backend] = rec.To
		}
	}
	return out
}

// loggedReconciles sums lb's "reconciled" log lines: how many, and their operations.
func loggedReconciles(lb *lab.LB) (n, ops int) {
	for _, line := range strings.Split(lb.Log(), "\n") {
		if !strings.Contains(line, `"msg":"reconciled"`) {
			continue
		}
		var rec struct{ Ops int }
		if err := json.Unmarshal([]byte(line), &rec); err == nil {
			n++
			ops += rec.Ops
		}
	}
	return n, ops
}

func (f families) sum(name string) float64 {
	s := 0.0
	for _, m := range f[name].GetMetric() {
		s += valueOf(m)
	}
	return s
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestIntegrationMetrics scrapes seesawd in the LB lab and checks what it
// exports against independent readings: ipvsadm for the kernel's counters
// and gauges, the engine's log for health and reconciles, who holds the VIP
// for VRRP, the file for the configuration's hash.
func TestIntegrationMetrics(t *testing.T) {
	e := setup(t, "resync_interval: 5s\n", natWeighted, 8080)
	lb1, lb2 := e.lb1, e.lb2
	e.waitIPVS(lb1, 5*time.Second, natLines, nil)
	web := map[string]string{"service": "web"}

	t.Run("configuration and reconciles", func(t *testing.T) {
		e := e.in(t)
		f := e.scrape(lb1)
		if v := f.must(t, "seesawd_config_info", map[string]string{"hash": fileHash(t, lb1.ConfigPath)}); v != 1 {
			t.Errorf("seesawd_config_info = %v", v)
		}
		if got := f.sum("seesawd_config_reloads_total"); got != 0 {
			t.Errorf("%v reloads counted, none happened", got)
		}
		if v := f.must(t, "seesawd_config_last_reload_successful", nil); v != 1 {
			t.Errorf("last reload successful = %v at start", v)
		}
		if v := f.must(t, "seesawd_ipvs_up", nil); v != 1 {
			t.Errorf("seesawd_ipvs_up = %v", v)
		}
		// The engine logs every reconcile it reports.
		n, ops := loggedReconciles(lb1)
		if got := f.sum("seesawd_reconcile_duration_seconds"); int(got) != n {
			t.Errorf("%v reconciles measured, %d logged", got, n)
		}
		if got := f.sum("seesawd_reconcile_operations_total"); int(got) != ops {
			t.Errorf("%v operations counted, %d logged", got, ops)
		}
		if v := f.must(t, "seesawd_reconcile_operations_total", map[string]string{"kind": "create_service"}); v != 1 {
			t.Errorf("create_service = %v, want 1 (one service on a fresh kernel)", v)
		}
		if v := f.must(t, "seesawd_reconcile_errors_total", nil); v != 0 {
			t.Errorf("reconcile errors = %v", v)
		}
		last := f.must(t, "seesawd_reconcile_last_success_timestamp_seconds", nil)
		if ago := time.Since(time.Unix(int64(last), 0)); ago < -time.Second || ago > time.Minute {
			t.Errorf("last successful reconcile %v ago", ago)
		}
	})

	t.Run("kernel counters and gauges are ipvsadm's", func(t *testing.T) {
		e := e.in(t)
		// Two connections held open (active), then requests that close (inactive).
		for range 2 {
			defer e.holdConn().Close()
		}
		// What is compared is the kernel's reading with the scrape's, so a
		// request lost to a loaded machine (a VRRP advert late enough for
		// the backup to answer ARP for a moment) only lowers the count.
		const requests = 30
		got := e.lab.Spread(e.ctx, "http://192.0.2.100/", requests)
		served := uint64(requests - got["error"])
		if got["error"] > 0 {
			t.Logf("%d of %d requests failed: %v", got["error"], requests, got)
		}
		var last string
		defer func() {
			if t.Failed() && last != "" {
				t.Log("last difference: " + last)
			}
		}()
		// The kernel folds its per-CPU counters every 2 s: wait until it
		// shows every connection, then until ipvsadm reads the same before
		// and after the scrape, and compare.
		e.poll("the scrape to match ipvsadm", time.Minute, func() bool {
			before, cBefore := e.stats(lb1), e.ipvsadmConns(lb1)
			if n := before["TCP 192.0.2.100:80"].Conns; n < served+2 {
				last = fmt.Sprintf("ipvsadm shows %d connections, want at least %d", n, served+2)
				return false
			}
			f := e.scrape(lb1)
			after, cAfter := e.stats(lb1), e.ipvsadmConns(lb1)
			if !reflect.DeepEqual(before, after) || !reflect.DeepEqual(cBefore, cAfter) {
				last = "the kernel changed during the scrape"
				return false
			}
			if got := f.kernelStats(); !reflect.DeepEqual(got, before) {
				last = fmt.Sprintf("counters:\nscrape  %v\nipvsadm %v", got, before)
				return false
			}
			if got := f.kernelConns(); !reflect.DeepEqual(got, cBefore) {
				last = fmt.Sprintf("weights and connections:\nscrape  %v\nipvsadm %v", got, cBefore)
				return false
			}
			if f.sum("seesawd_ipvs_backend_connections_active") == 0 {
				last = "no active connection: the two held ones are gone"
				return false
			}
			last = ""
			t.Logf("ipvsadm and the scrape agree: %v %v", before, cBefore)
			return true
		})
		f := e.scrape(lb1)
		keys := make([]string, 0)
		for k := range f.kernelStats() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Logf("series compared with ipvsadm: %v", keys)
		for _, m := range f["seesawd_ipvs_backend_weight"].GetMetric() {
			if l := labelsOf(m); l["service"] != "web" || l["local_mark"] != "" || l["family"] != "inet" {
				t.Errorf("backend labels %v", l)
			}
		}
	})

	t.Run("backend health is the engine's view", func(t *testing.T) {
		e := e.in(t)
		before := e.scrape(lb1)
		e.lab.Backends[2].Halt(8080)
		e.waitIPVS(lb1, 10*time.Second, natLines[:3], []string{"10.0.1.13:8080"})
		var f families
		e.poll("the published status to show b3 down", 5*time.Second, func() bool {
			f = e.scrape(lb1)
			v, _ := f.get("seesawd_backend_up", map[string]string{"remote_address": "10.0.1.13"})
			return v == 0
		})
		view := engineHealth(t, lb1, "web")
		for _, b := range []string{"10.0.1.11:8080", "10.0.1.12:8080", "10.0.1.13:8080"} {
			host, port, _ := net.SplitHostPort(b)
			up := f.must(t, "seesawd_backend_up", map[string]string{"service": "web", "remote_address": host, "remote_port": port})
			if want := view[b] == "up"; (up == 1) != want {
				t.Errorf("%s: seesawd_backend_up %v, the engine logged it %q", b, up, view[b])
			}
		}
		if len(f["seesawd_backend_up"].GetMetric()) != 3 {
			t.Errorf("%d backend_up series, want 3", len(f["seesawd_backend_up"].GetMetric()))
		}
		b3 := map[string]string{"service": "web", "remote_address": "10.0.1.13", "remote_port": "8080"}
		refused, _ := f.get("seesawd_healthcheck_results_total", merge(b3, "outcome", "refused"))
		if refused < 1 {
			t.Errorf("b3's refused checks = %v, want at least 1 (fall 2 took it out)", refused)
		}
		ok1 := f.must(t, "seesawd_healthcheck_results_total",
			map[string]string{"service": "web", "remote_address": "10.0.1.11", "outcome": "ok"})
		if runs := f.must(t, "seesawd_healthcheck_duration_seconds", web); runs < ok1 {
			t.Errorf("web's check duration has %v runs, fewer than b1's %v ok results", runs, ok1)
		}
		removed := f.must(t, "seesawd_reconcile_operations_total", map[string]string{"kind": "remove_destination"}) -
			before.must(t, "seesawd_reconcile_operations_total", map[string]string{"kind": "remove_destination"})
		if removed != 1 {
			t.Errorf("remove_destination rose by %v, want 1", removed)
		}
		if f.must(t, "seesawd_network_programming_duration_seconds", nil) <=
			before.must(t, "seesawd_network_programming_duration_seconds", nil) {
			t.Error("no health-to-kernel latency observed for b3's removal")
		}
		if err := e.lab.Backends[2].Serve(8080); err != nil {
			t.Fatal(err)
		}
		e.waitIPVS(lb1, 10*time.Second, natLines, nil)
	})

	t.Run("vrrp state follows the VIP", func(t *testing.T) {
		e := e.in(t)
		e.holdsVIP(lb1, lb2)
		for _, c := range []struct {
			lb    *lab.LB
			state float64
		}{{lb1, 2}, {lb2, 1}} {
			f := e.scrape(c.lb)
			for _, inst := range []struct{ name, intf, vrid, vip string }{
				{"front", "eth0", strconv.Itoa(lab.FrontVRID), lab.VIP.String()},
				{"back", "eth1", strconv.Itoa(lab.BackVRID), lab.Gateway.String()},
			} {
				l := map[string]string{"iname": inst.name, "intf": inst.intf, "vrid": inst.vrid, "family": "inet"}
				if v := f.must(t, "seesawd_vrrp_state", merge(l, "ip_address", inst.vip)); v != c.state {
					t.Errorf("%s %s: seesawd_vrrp_state %v, want %v (holds the VIP: %v)", c.lb.Name, inst.name, v, c.state, c.lb.HoldsVIP(e.ctx))
				}
				sent, received := f.must(t, "seesawd_advertisements_sent_total", l), f.must(t, "seesawd_advertisements_received_total", l)
				if c.state == 2 && sent == 0 || c.state == 1 && received == 0 {
					t.Errorf("%s %s: %v adverts sent, %v received", c.lb.Name, inst.name, sent, received)
				}
			}
		}
		// lb1 stops (priority 0): lb2 takes over, and says so.
		t2 := e.scrape(lb2).must(t, "seesawd_vrrp_transitions_total", map[string]string{"iname": "front"})
		if err := lb1.Stop(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		e.waitFor("lb2 to hold the VIP", 5*time.Second, func() bool { return lb2.HoldsVIP(e.ctx) })
		e.poll("lb2's metrics to say master", 5*time.Second, func() bool {
			v, _ := e.scrape(lb2).get("seesawd_vrrp_state", map[string]string{"iname": "front", "ip_address": lab.VIP.String()})
			return v == 2
		})
		if got := e.scrape(lb2).must(t, "seesawd_vrrp_transitions_total", map[string]string{"iname": "front"}); got != t2+1 {
			t.Errorf("lb2's front transitions went from %v to %v, want one more", t2, got)
		}
		if err := lb1.Start(); err != nil {
			t.Fatal(err)
		}
		e.holdsVIP(lb1, lb2)
	})

	t.Run("reloads are counted and move the listener", func(t *testing.T) {
		e := e.in(t)
		// Unchanged file.
		e.reload(lb1, "resync_interval: 5s\n", natWeighted, "reload: configuration unchanged")
		f := e.scrape(lb1)
		if v := f.must(t, "seesawd_config_reloads_total", map[string]string{"outcome": "unchanged"}); v != 1 {
			t.Errorf("unchanged reloads = %v, want 1", v)
		}
		loaded := f.must(t, "seesawd_config_last_reload_success_timestamp_seconds", nil)

		// A new address.
		n := logCount(lb1, "reload applied")
		cfg := lb1.Render("resync_interval: 5s\n", natWeighted) + "metrics: { listen: 127.0.0.1:9713 }\n"
		if err := os.WriteFile(lb1.ConfigPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := lb1.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		e.waitFor("reload applied", 5*time.Second, func() bool { return logCount(lb1, "reload applied") > n })
		if _, err := scrape(e.ctx, lb1, metricsAddr); err == nil {
			t.Error("the old metrics address still serves after the reload")
		}
		f, err := scrape(e.ctx, lb1, "127.0.0.1:9713")
		if err != nil {
			t.Fatalf("the new metrics address: %v", err)
		}
		if v := f.must(t, "seesawd_config_reloads_total", map[string]string{"outcome": "applied"}); v != 1 {
			t.Errorf("applied reloads = %v, want 1", v)
		}
		if v, ok := f.get("seesawd_config_info", map[string]string{"hash": fileHash(t, lb1.ConfigPath)}); !ok || v != 1 {
			t.Errorf("seesawd_config_info has not the new file's hash: %v", f["seesawd_config_info"].GetMetric())
		}
		if len(f["seesawd_config_info"].GetMetric()) != 1 {
			t.Errorf("%d config_info series, want the running one only", len(f["seesawd_config_info"].GetMetric()))
		}
		if v := f.must(t, "seesawd_config_last_reload_success_timestamp_seconds", nil); v <= loaded {
			t.Errorf("load time %v not after %v", v, loaded)
		}
		// A bad file is refused and counted.
		if err := os.WriteFile(lb1.ConfigPath, []byte("services: [{ name: web, port: 99999 }]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		n = logCount(lb1, "reload refused")
		if err := lb1.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		e.waitFor("reload refused", 5*time.Second, func() bool { return logCount(lb1, "reload refused") > n })
		f, err = scrape(e.ctx, lb1, "127.0.0.1:9713")
		if err != nil {
			t.Fatal(err)
		}
		if v := f.must(t, "seesawd_config_reloads_total", map[string]string{"outcome": "refused"}); v != 1 {
			t.Errorf("refused reloads = %v, want 1", v)
		}
		if v := f.must(t, "seesawd_config_last_reload_successful", nil); v != 0 {
			t.Errorf("last reload successful = %v after a refusal", v)
		}
	})
}

// holdConn opens a connection to the VIP and keeps it established: one
// request answered, then idle (the backends' servers close a connection
// that sends nothing within their header timeout, not an idle keep-alive one).
func (e *env) holdConn() net.Conn {
	e.t.Helper()
	c, err := e.lab.Dial(e.ctx, "192.0.2.100:80")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: 192.0.2.100\r\n\r\n"); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return c
}

// holdsVIP waits until master alone holds the VIP. What the metrics say is
// compared with that, not with where the client's ARP cache points.
func (e *env) holdsVIP(master, other *lab.LB) {
	e.t.Helper()
	e.waitFor(master.Name+" alone holds the VIP", 10*time.Second, func() bool {
		return master.HoldsVIP(e.ctx) && !other.HoldsVIP(e.ctx)
	})
}

// poll checks cond every 200 ms until it holds, failing the test after
// timeout. Scrapes and ipvsadm runs cost CPU in the emulated guest: polled
// back to back they delay the daemons' VRRP adverts enough for the backup
// to take over for a moment.
func (e *env) poll(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// in returns e for the subtest t: its helpers then fail t, not the parent.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// merge returns m with k=v added.
func merge(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}
