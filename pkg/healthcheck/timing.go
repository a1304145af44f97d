package healthcheck

import (
	"time"

	"github.com/seesawd/seesawd/pkg/clock"
)

// after returns clk's time now, given base, a recent reading of clk. From
// the system clock it is base plus the monotonic time elapsed since base:
// one clock read where time.Now takes two (wall and monotonic). That
// matters where a clock read is a system call, as in a guest whose
// clocksource has no vDSO path (QEMU's HPET: about 5 µs a read), and the
// scheduler reads the clock at least once per check. A step of the wall
// clock since base is not seen, so base is at most one scheduler pass old.
func after(clk clock.Clock, base time.Time) time.Time {
	if _, ok := clk.(clock.System); ok {
		return base.Add(time.Since(base))
	}
	return clk.Now()
}
