package metrics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/seesawd/seesawd/pkg/ipvs"
)

// The label names of node_exporter's ipvs collector, with service (the
// seesawd name, "" for a service seesawd does not configure) and family
// ("inet" or "inet6": a fwmark service of each family may carry one mark).
var (
	serviceLabelNames = []string{"service", "family", "local_address", "local_port", "proto", "local_mark"}
	backendLabelNames = append(append([]string(nil), serviceLabelNames...), "remote_address", "remote_port")
)

// healthLabels are the labels of seesawd's own per-backend metrics: the
// engine's identity of a backend (service, address, port), plus extra.
func healthLabels(extra ...string) []string {
	return append([]string{"service", "remote_address", "remote_port"}, extra...)
}

func desc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The kernel's counters, per service and per backend, named as
// node_exporter names its node-wide ones.
var (
	ipvsUp       = desc("seesawd_ipvs_up", "Whether the last scrape's dump of the kernel's IPVS table succeeded.", nil)
	ipvsDumpTime = desc("seesawd_ipvs_dump_duration_seconds", "Time the last scrape's dump of the kernel's IPVS table took.", nil)

	svcConns    = desc("seesawd_ipvs_connections_total", "Connections the service scheduled.", serviceLabelNames)
	svcInPkts   = desc("seesawd_ipvs_incoming_packets_total", "Packets into the service.", serviceLabelNames)
	svcOutPkts  = desc("seesawd_ipvs_outgoing_packets_total", "Packets out of the service.", serviceLabelNames)
	svcInBytes  = desc("seesawd_ipvs_incoming_bytes_total", "Bytes into the service.", serviceLabelNames)
	svcOutBytes = desc("seesawd_ipvs_outgoing_bytes_total", "Bytes out of the service.", serviceLabelNames)

	bConns    = desc("seesawd_ipvs_backend_connections_total", "Connections scheduled to the backend.", backendLabelNames)
	bInPkts   = desc("seesawd_ipvs_backend_incoming_packets_total", "Packets to the backend.", backendLabelNames)
	bOutPkts  = desc("seesawd_ipvs_backend_outgoing_packets_total", "Packets from the backend.", backendLabelNames)
	bInBytes  = desc("seesawd_ipvs_backend_incoming_bytes_total", "Bytes to the backend.", backendLabelNames)
	bOutBytes = desc("seesawd_ipvs_backend_outgoing_bytes_total", "Bytes from the backend.", backendLabelNames)
	bActive   = desc("seesawd_ipvs_backend_connections_active", "The backend's active connections.", backendLabelNames)
	bInactive = desc("seesawd_ipvs_backend_connections_inactive", "The backend's inactive connections.", backendLabelNames)
	bWeight   = desc("seesawd_ipvs_backend_weight", "The backend's weight in the kernel.", backendLabelNames)
)

// ipvsCollector reports the kernel's table, one dump per scrape.
type ipvsCollector struct{ m *Metrics }

func (c ipvsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ipvsUp, ipvsDumpTime, svcConns, svcInPkts, svcOutPkts, svcInBytes, svcOutBytes,
		bConns, bInPkts, bOutPkts, bInBytes, bOutBytes, bActive, bInactive, bWeight} {
		ch <- d
	}
}

func (c ipvsCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.sources()
	if src.Kernel == nil {
		return
	}
	call := c.m.dump.do(src.Kernel, c.m.dumpTimeout)
	// A dump that saw concurrent changes has its repeats removed: what it
	// has is right, an entry it missed is absent from this scrape only.
	ok := call.err == nil || errors.Is(call.err, ipvs.ErrDumpInconsistent)
	ch <- prometheus.MustNewConstMetric(ipvsUp, prometheus.GaugeValue, b2f(ok))
	ch <- prometheus.MustNewConstMetric(ipvsDumpTime, prometheus.GaugeValue, call.took.Seconds())
	if !ok {
		c.m.log.Warn("metrics: dump of the IPVS table failed", zap.Error(call.err))
		return
	}
	names := map[ipvs.ServiceKey]string{}
	if src.Engine != nil {
		if st := src.Engine.Status(); st != nil {
			for i := range st.Services {
				names[st.Services[i].Key] = st.Services[i].Name
			}
		}
	}
	for _, sd := range call.res {
		k := sd.Service.Key()
		// One label set per series, shared by its metrics: a table of
		// 10,000 backends makes 80,000 metrics a scrape.
		sp := servicePairs(names[k], k)
		st := &sd.Service.Stats
		ms := []kernelMetric{
			{svcConns, sp, prometheus.CounterValue, float64(st.Connections)},
			{svcInPkts, sp, prometheus.CounterValue, float64(st.PacketsIn)},
			{svcOutPkts, sp, prometheus.CounterValue, float64(st.PacketsOut)},
			{svcInBytes, sp, prometheus.CounterValue, float64(st.BytesIn)},
			{svcOutBytes, sp, prometheus.CounterValue, float64(st.BytesOut)},
		}
		for i := range ms {
			ch <- &ms[i]
		}
		for i := range sd.Destinations {
			d := &sd.Destinations[i]
			bp := []*dto.LabelPair{sp[0], sp[1], sp[2], sp[3], sp[4],
				pair(&lRemoteAddress, d.Address.String()), pair(&lRemotePort, strconv.Itoa(int(d.Port))), sp[5]}
			ms := []kernelMetric{
				{bConns, bp, prometheus.CounterValue, float64(d.Stats.Connections)},
				{bInPkts, bp, prometheus.CounterValue, float64(d.Stats.PacketsIn)},
				{bOutPkts, bp, prometheus.CounterValue, float64(d.Stats.PacketsOut)},
				{bInBytes, bp, prometheus.CounterValue, float64(d.Stats.BytesIn)},
				{bOutBytes, bp, prometheus.CounterValue, float64(d.Stats.BytesOut)},
				{bActive, bp, prometheus.GaugeValue, float64(d.ActiveConns)},
				{bInactive, bp, prometheus.GaugeValue, float64(d.InactiveConns)},
				{bWeight, bp, prometheus.GaugeValue, float64(d.Weight)},
			}
			for i := range ms {
				ch <- &ms[i]
			}
		}
	}
}

// Label names, addressed by the label pairs that share them.
var (
	lFamily, lLocalAddress, lLocalMark, lLocalPort = "family", "local_address", "local_mark", "local_port"
	lProto, lRemoteAddress, lRemotePort, lService  = "proto", "remote_address", "remote_port", "service"
)

func pair(name *string, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: name, Value: &value}
}

// kernelMetric is a counter or gauge whose label pairs, built once and
// already sorted, are shared with the other metrics of its series: what
// prometheus.MustNewConstMetric would build and sort for each.
type kernelMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	typ    prometheus.ValueType
	value  float64
}

func (m *kernelMetric) Desc() *prometheus.Desc { return m.desc }

func (m *kernelMetric) Write(out *dto.Metric) error {
	out.Label = m.labels
	v := m.value
	if m.typ == prometheus.CounterValue {
		out.Counter = &dto.Counter{Value: &v}
	} else {
		out.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}

// servicePairs are the label pairs of a service's series, sorted by name,
// valued as node_exporter spells them from /proc/net/ip_vs: proto "TCP",
// "UDP", "SCTP", or "FWM" with the mark in eight hex digits, no address
// and port 0.
func servicePairs(name string, k ipvs.ServiceKey) []*dto.LabelPair {
	addr, port, proto, mark := k.Address.String(), strconv.Itoa(int(k.Port)), strings.ToUpper(k.Protocol.String()), ""
	if k.FWMark != 0 {
		addr, port, proto, mark = "", "0", "FWM", fmt.Sprintf("%08X", k.FWMark)
	}
	return []*dto.LabelPair{pair(&lFamily, k.Family.String()), pair(&lLocalAddress, addr), pair(&lLocalMark, mark),
		pair(&lLocalPort, port), pair(&lProto, proto), pair(&lService, name)}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// dumper runs at most one dump at a time: a scrape that comes while one is
// in flight waits for it and shares its result.
type dumper struct {
	mu  sync.Mutex
	cur *dumpCall
}

type dumpCall struct {
	done chan struct{}
	res  []ipvs.ServiceDestinations
	err  error
	took time.Duration
}

func (d *dumper) do(k Kernel, timeout time.Duration) *dumpCall {
	d.mu.Lock()
	if c := d.cur; c != nil {
		d.mu.Unlock()
		<-c.done
		return c
	}
	c := &dumpCall{done: make(chan struct{})}
	d.cur = c
	d.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	start := time.Now()
	c.res, c.err = k.DumpAll(ctx)
	c.took = time.Since(start)
	cancel()

	d.mu.Lock()
	d.cur = nil
	d.mu.Unlock()
	close(c.done)
	return c
}
