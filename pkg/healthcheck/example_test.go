package healthcheck_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/seesawd/seesawd/pkg/healthcheck"
)

// A manager runs the checks of two services; both share the identical
// definition of backend 10.0.0.1, which therefore runs once.
func ExampleManager() {
	m := healthcheck.New(nil)
	defer m.Close()
	web := healthcheck.Definition{
		Type:     healthcheck.TypeHTTP,
		Target:   netip.MustParseAddrPort("10.0.0.1:80"),
		Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3,
		HTTP: &healthcheck.HTTPOptions{Path: "/healthz", Host: "www.example.org"},
	}
	vip := web
	vip.Target = netip.MustParseAddrPort("192.0.2.10:80") // through the load balancer's forwarding path
	vip.Mark = 0x100
	err := m.Update(context.Background(), []healthcheck.Check{
		{ID: "www/10.0.0.1", Definition: web},
		{ID: "api/10.0.0.1", Definition: web},
		{ID: "www/10.0.0.1/dsr", Definition: vip},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		for batch := range m.Transitions() {
			for _, t := range batch {
				fmt.Printf("%s: %s -> %s (%v)\n", t.ID, t.From, t.To, t.Result.Err)
			}
		}
	}()
}

// A bad definition is rejected with the field at fault.
func ExampleDefinition_Validate() {
	d := healthcheck.Definition{Type: healthcheck.TypeTCP, Target: netip.MustParseAddrPort("10.0.0.1:22"),
		Interval: time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1}
	fmt.Println(d.Normalize().Validate())
	// Output: healthcheck: timeout: 2s must be below interval 1s
}
