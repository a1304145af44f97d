// Package metrics exports seesawd's Prometheus metrics: the kernel's IPVS
// counters and gauges per service and backend, backend health and check
// results, VRRP state and counters, the engine's reconciles and
// health-to-kernel latency, and configuration reloads.
//
// Names follow node_exporter's ipvs collector and keepalived-exporter with
// the seesawd_ prefix and their label names, plus a service label (the
// seesawd service name), so that existing dashboards carry over;
// docs/metrics.md lists every metric with its counterpart.
//
// Two kinds of source feed it:
//
//   - Scrape-time reads, on the scraping goroutine: one DumpAll of the
//     kernel through a Kernel that must be an ipvs.Client of its own (a
//     second netlink socket, so a scrape never waits on, nor delays, the
//     engine's), the engine's published Status (a lock-free snapshot), and
//     the VRRP node's States and Stats (mutex-guarded copies). Scrapes that
//     overlap share one dump.
//   - Callbacks run on other loops: OnReconcile on the engine's goroutine,
//     OnResult on the health-check manager's. They only increment and
//     observe already-resolved series (a map lookup and a mutex held for
//     that), never do I/O.
//
// A check run is reported by its definition's key, which identical
// definitions share; the backends it stands for are looked up in the
// manager's Snapshot, refreshed before a gather whenever an unknown key was
// seen or the configuration changed. Runs of a key not yet known are held
// (bounded) until then, so the first results of a new check are not lost.
package metrics
