package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"github.com/seesawd/seesawd/pkg/clock"
	"github.com/seesawd/seesawd/pkg/config"
)

// notifier speaks systemd's notify protocol (sd_notify(3)) for a
// Type=notify-reload unit:
//
//   - READY=1 once the services are programmed and VRRP runs;
//   - RELOADING=1 with MONOTONIC_USEC= in one datagram when a reload starts,
//     and READY=1 once its outcome is known, a refused file included: systemd
//     holds `systemctl reload` until then, and ignores a RELOADING=1 that does
//     not carry a timestamp from after its SIGHUP in the same message;
//   - WATCHDOG=1 from the engine's own goroutine (Options.OnLoop), so a hung
//     engine is restarted, not just a live process kept;
//   - STOPPING=1 when SIGTERM arrives, after which nothing more is sent.
//
// Without NOTIFY_SOCKET (not under systemd) every method does nothing.
type notifier struct {
	log *zap.Logger
	// on is whether NOTIFY_SOCKET is set.
	on bool
	// watchdog is systemd's WATCHDOG_USEC, 0 when the watchdog is off.
	watchdog time.Duration
	clock    clock.Clock

	mu       sync.Mutex
	stopped  bool
	lastPing time.Time
	// pingFailed keeps one failing socket from logging every ping.
	pingFailed bool
}

// newNotifier reads systemd's environment: NOTIFY_SOCKET, WATCHDOG_USEC and
// WATCHDOG_PID (a watchdog meant for another process is not ours).
func newNotifier(log *zap.Logger) *notifier {
	n := &notifier{log: log, clock: clock.System{}, on: os.Getenv("NOTIFY_SOCKET") != ""}
	if !n.on {
		return n
	}
	wd, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("ignoring systemd's watchdog setting", zap.Error(err))
	}
	n.watchdog = wd
	return n
}

// loopPing is how often the engine must call ping: half the watchdog
// interval, as sd_watchdog_enabled(3) advises; 0 when there is no watchdog.
func (n *notifier) loopPing() time.Duration { return n.watchdog / 2 }

// ready says the daemon serves: after the engine's first reconcile.
func (n *notifier) ready(status string) {
	n.send("READY=1\nSTATUS=" + oneLine(status))
}

// reloading starts a reload. RELOADING=1 and MONOTONIC_USEC= must travel in
// one datagram: systemd (Type=notify-reload) takes the reload as answered
// only when RELOADING=1 carries a timestamp later than its signal.
func (n *notifier) reloading() {
	n.send("RELOADING=1\n" + sd.SdNotifyMonotonicUsec() + "STATUS=reloading the configuration")
}

// reloaded ends a reload, whatever its outcome: a refused file leaves the
// daemon serving the running configuration, and systemd must not wait.
func (n *notifier) reloaded(r reloadResult, status string) {
	n.send("READY=1\nSTATUS=" + oneLine(reloadStatus(r)+"; "+status))
}

// stopping says the daemon is shutting down; nothing is sent after it.
func (n *notifier) stopping() {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	n.stopped = true
	n.mu.Unlock()
	n.write("STOPPING=1\nSTATUS=stopping")
}

// ping tells systemd's watchdog the engine's loop is alive. The engine
// calls it on its goroutine after every event and at least every
// loopPing; pings closer than a quarter of that are skipped, so a burst of
// health transitions does not become a burst of datagrams while the gap
// between two pings stays under 1.25 loopPing (0.625 of the watchdog).
func (n *notifier) ping() {
	if n.watchdog == 0 {
		return
	}
	now := n.clock.Now()
	n.mu.Lock()
	if n.stopped || !n.lastPing.IsZero() && now.Sub(n.lastPing) < n.loopPing()/4 {
		n.mu.Unlock()
		return
	}
	n.lastPing = now
	n.mu.Unlock()
	_, err := sd.SdNotify(false, sd.SdNotifyWatchdog)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil && !n.pingFailed {
		n.log.Warn("systemd watchdog ping failed", zap.Error(err))
	}
	n.pingFailed = err != nil
}

// ticker returns the watchdog's ticks for a daemon with no engine (a node
// running VRRP only, with no IPVS), whose own loop pings instead; nil when
// the engine pings (noEngine false) or there is no watchdog.
func (n *notifier) ticker(noEngine bool) *time.Ticker {
	if !noEngine || n.watchdog == 0 {
		return nil
	}
	return time.NewTicker(n.loopPing())
}

func (n *notifier) send(state string) {
	n.mu.Lock()
	stopped := n.stopped
	n.mu.Unlock()
	if stopped {
		return // systemd ignores a READY=1 after STOPPING=1; so do we
	}
	n.write(state)
}

func (n *notifier) write(state string) {
	if !n.on {
		return
	}
	if _, err := sd.SdNotify(false, state); err != nil {
		n.log.Warn("systemd notification failed", zap.String("state", firstLine(state)), zap.Error(err))
	}
}

// servingStatus is what `systemctl status` shows of a running configuration.
func servingStatus(cfg *config.Config) string {
	return fmt.Sprintf("serving %d service(s), %d VRRP instance(s)", len(cfg.Services), len(cfg.VRRP))
}

// reloadStatus is the reload's outcome for `systemctl status`.
func reloadStatus(r reloadResult) string {
	switch r.Outcome {
	case "applied":
		return fmt.Sprintf("reload applied (config %.12s)", r.Hash)
	case "unchanged":
		return "reload: configuration unchanged"
	case "partial":
		return "reload partly refused (VRRP applied, services kept): " + problems(r.Problems)
	default:
		return "reload refused, running configuration kept: " + problems(r.Problems)
	}
}

func problems(ps []string) string {
	switch len(ps) {
	case 0:
		return "no reason given"
	case 1:
		return ps[0]
	}
	return fmt.Sprintf("%s (and %d more; seesawd --check-config lists them)", ps[0], len(ps)-1)
}

// oneLine keeps a STATUS= value on its line: a newline would start another
// assignment in the datagram.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
