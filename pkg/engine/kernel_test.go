package engine

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/ipvs/ipvstest"
)

// TestDumpsThatLieThroughTheRealClient runs the engine on pkg/ipvs's client
// and fake kernel, whose dumps miss and repeat entries the way Linux's do
// under concurrent changes: nothing is created or deleted on their word.
func TestDumpsThatLieThroughTheRealClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := ipvstest.NewKernel()
		c, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		api := svc("api", "192.0.2.2", "10.0.1.1", "10.0.1.2")
		h := start(t, nil, cfgOf(web, api), "", c)
		if got := len(k.State()); got != 2 {
			t.Fatalf("kernel holds %d services, want 2", got)
		}
		k.ResetLog()
		k.MissInDumps(web.IPVS.Key(), 1)
		k.RepeatInDumps(api.IPVS.Key(), 1)
		k.MissDestinationInDumps(api.IPVS.Key(), api.Backends[1].Dest.Key(), 1)
		time.Sleep(31 * time.Second)
		synctest.Wait()
		for _, cmd := range []ipvstest.Cmd{ipvstest.CmdNewService, ipvstest.CmdDelService, ipvstest.CmdNewDest,
			ipvstest.CmdDelDest, ipvstest.CmdSetDest, ipvstest.CmdSetService} {
			if n := k.Count(cmd); n != 0 {
				t.Errorf("%v sent %d times on the word of a lying dump", cmd, n)
			}
		}
		reads := 0
		for _, batch := range k.Sendmsgs() {
			for _, r := range batch {
				if r.Cmd == ipvstest.CmdGetService && !r.Dump() {
					reads++
				}
			}
		}
		if reads != 2 {
			t.Errorf("%d single-service reads, want 2: each service the dump got wrong, confirmed", reads)
		}
		h.stop()
	})
}
