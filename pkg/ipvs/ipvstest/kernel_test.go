package ipvstest_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seesawd/seesawd/pkg/ipvs"
	"github.com/seesawd/seesawd/pkg/ipvs/ipvstest"
)

func newClient(t *testing.T, k *ipvstest.Kernel) *ipvs.Client {
	t.Helper()
	c, err := ipvs.New(&ipvs.Config{Conn: k.Conn()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func svc(i int) ipvs.Service {
	return ipvs.Service{Protocol: ipvs.TCP, Address: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Port: 80}
}

func dst(i int) ipvs.Destination {
	return ipvs.Destination{Address: netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), Port: 80, Weight: 1}
}

func TestCountAndSendmsgs(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k)
	if err := c.CreateService(ctx, svc(1)); err != nil {
		t.Fatal(err)
	}
	errs, err := c.Apply(ctx, []ipvs.Op{
		{Kind: ipvs.OpCreateDestination, Service: svc(1), Destination: dst(1)},
		{Kind: ipvs.OpCreateDestination, Service: svc(1), Destination: dst(2)},
		{Kind: ipvs.OpCreateService, Service: svc(1)},
	})
	if err != nil || errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], os.ErrExist) {
		t.Fatalf("Apply: %v, %v", errs, err)
	}
	if _, err := c.Services(ctx); err != nil {
		t.Fatal(err)
	}
	if n := k.Count(ipvstest.CmdNewService); n != 2 {
		t.Errorf("Count(new-service) = %d, want 2", n)
	}
	if n := k.Count(ipvstest.CmdNewDest); n != 2 {
		t.Errorf("Count(new-dest) = %d, want 2", n)
	}
	if n := k.Count(0); n != 5 {
		t.Errorf("Count(all) = %d, want 5", n)
	}
	sends := k.Sendmsgs()
	if len(sends) != 3 || len(sends[1]) != 3 || !sends[2][0].Dump() || sends[1][2].Errno != syscall.EEXIST {
		t.Errorf("Sendmsgs = %+v; want the create, the 3-request batch with EEXIST last, and the dump", sends)
	}
	k.ResetLog()
	if n := k.Count(0); n != 0 {
		t.Errorf("Count after ResetLog = %d", n)
	}
}

func TestFailNext(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k)
	k.FailNext(ipvstest.CmdNewService, 2, syscall.ENOMEM)
	for i := 1; i <= 3; i++ {
		err := c.CreateService(ctx, svc(i))
		if want := i <= 2; want != errors.Is(err, syscall.ENOMEM) {
			t.Errorf("create %d: %v", i, err)
		}
	}
	if st := k.State(); len(st) != 1 || st[0].Service.Key() != svc(3).Key() {
		t.Errorf("State = %+v; want service 3 only (failed requests change nothing)", st)
	}
	k.FailNext(0, 1, syscall.EPERM)
	if _, err := c.Services(ctx); !errors.Is(err, syscall.EPERM) {
		t.Errorf("dump after FailNext(any): %v", err)
	}
	if _, err := c.Services(ctx); err != nil {
		t.Errorf("next dump: %v", err)
	}
}

// TestBlockAndWaiting blocks the replies, waits for the call to wait on
// them, and releases them.
func TestBlockAndWaiting(t *testing.T) {
	k := ipvstest.NewKernel()
	c := newClient(t, k)
	k.Block()
	done := make(chan error, 1)
	go func() { done <- c.CreateService(context.Background(), svc(1)) }()
	<-k.Waiting()
	select {
	case err := <-done:
		t.Fatalf("call returned while blocked: %v", err)
	default:
	}
	k.Unblock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLatency(t *testing.T) {
	k := ipvstest.NewKernel()
	c := newClient(t, k)
	k.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := c.CreateService(ctx, svc(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("call under an hour's latency: %v", err)
	}
	k.SetLatency(0)
	// The create was carried out; its late ACK is skipped.
	if err := c.CreateService(context.Background(), svc(1)); !errors.Is(err, os.ErrExist) {
		t.Errorf("after the latency: %v, want os.ErrExist", err)
	}
}

// TestDirectChanges changes the state as another tool would, and reads it
// back through a client and State.
func TestDirectChanges(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k)
	if err := k.AddService(svc(1)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := k.AddDestination(svc(1), dst(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.AddService(svc(1)); !errors.Is(err, os.ErrExist) {
		t.Errorf("second AddService: %v", err)
	}
	if err := k.SetWeight(svc(1).Key(), dst(2).Key(), 7); err != nil {
		t.Fatal(err)
	}
	if err := k.SetConnections(svc(1).Key(), dst(2).Key(), 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if err := k.SetStats(svc(1).Key(), dst(3).Key(), ipvs.Stats{Connections: 4, BytesIn: 100}); err != nil {
		t.Fatal(err)
	}
	if err := k.SetWeight(svc(2).Key(), dst(2).Key(), 7); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SetWeight of a missing service: %v", err)
	}
	ds, err := c.Destinations(ctx, svc(1))
	if err != nil {
		t.Fatal(err)
	}
	// Newest first, as the kernel lists them.
	if len(ds) != 3 || ds[0].Address != dst(3).Address || ds[2].Address != dst(1).Address {
		t.Fatalf("Destinations = %+v, want 3, newest first", ds)
	}
	if d := ds[1]; d.Weight != 7 || d.ActiveConns != 1 || d.InactiveConns != 2 || d.PersistentConns != 3 {
		t.Errorf("destination 2 = %+v", d)
	}
	if s, err := c.Service(ctx, svc(1)); err != nil || s.Stats.Connections != 4 || s.Stats.BytesIn != 100 {
		t.Errorf("service stats = %+v, %v; want the destinations' sum", s.Stats, err)
	}
	if err := k.RemoveDestination(svc(1), dst(1)); err != nil {
		t.Fatal(err)
	}
	if st := k.State(); len(st) != 1 || len(st[0].Destinations) != 2 {
		t.Errorf("State = %+v", st)
	}
	if err := k.Flush(); err != nil {
		t.Fatal(err)
	}
	if all, err := c.DumpAll(ctx); err != nil || len(all) != 0 {
		t.Errorf("DumpAll after Flush = %+v, %v", all, err)
	}
}

// TestDumpBusy sends a second dump request on a socket whose first dump is
// unread: the kernel answers EBUSY, one dump per socket.
func TestDumpBusy(t *testing.T) {
	k := ipvstest.NewKernel()
	for i := 1; i <= 50; i++ {
		if err := k.AddService(svc(i)); err != nil {
			t.Fatal(err)
		}
	}
	k.SetDumpPartSize(5)
	conn := k.Conn()
	ne := binary.NativeEndian
	dump := func(seq uint32) []byte {
		b := ne.AppendUint32(nil, 20)
		b = ne.AppendUint16(b, ipvstest.FamilyID)
		b = ne.AppendUint16(b, 1|ipvstest.FlagDump) // NLM_F_REQUEST
		b = ne.AppendUint32(b, seq)
		b = ne.AppendUint32(b, 0)
		return append(b, uint8(ipvstest.CmdGetService), 1, 0, 0)
	}
	if err := conn.Send(dump(1)); err != nil {
		t.Fatal(err)
	}
	if err := conn.Send(dump(2)); err != nil {
		t.Fatal(err)
	}
	if got := k.Sendmsgs()[1][0].Errno; got != syscall.EBUSY {
		t.Errorf("second dump on the socket: %v, want EBUSY", got)
	}
	// The first dump still reads out: 10 parts and a DONE.
	buf := make([]byte, 65536)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	parts := 0
	for {
		n, err := conn.Receive(buf)
		if err != nil {
			t.Fatal(err)
		}
		if typ := ne.Uint16(buf[4:]); typ == 3 { // NLMSG_DONE
			break
		} else if typ == ipvstest.FamilyID && ne.Uint32(buf[8:]) == 1 {
			parts++
		}
		_ = n
	}
	if parts != 10 {
		t.Errorf("%d parts, want 10", parts)
	}
}

func TestDaemons(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.NewKernel()
	c := newClient(t, k)
	if err := c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.Backup, Interface: "eth0", SyncID: 3}); err != nil {
		t.Fatal(err)
	}
	if err := c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.Backup, Interface: "eth0"}); !errors.Is(err, os.ErrExist) {
		t.Errorf("second backup: %v", err)
	}
	ds, err := c.Daemons(ctx)
	want := ipvs.Daemon{State: ipvs.Backup, Interface: "eth0", SyncID: 3, MaxLen: 1472, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1}
	if err != nil || len(ds) != 1 || ds[0] != want {
		t.Errorf("Daemons = %+v, %v; want %+v", ds, err, want)
	}
	if err := c.StopDaemon(ctx, ipvs.Master); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stopping a master that is not running: %v", err)
	}
}

// TestConnsDumpIndependently reads dumps on several sockets at once.
func TestConnsDumpIndependently(t *testing.T) {
	k := ipvstest.NewKernel()
	for i := 1; i <= 40; i++ {
		if err := k.AddService(svc(i)); err != nil {
			t.Fatal(err)
		}
	}
	k.SetDumpPartSize(1)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		c := newClient(t, k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if all, err := c.Services(context.Background()); err != nil || len(all) != 40 {
					t.Errorf("dump: %d, %v", len(all), err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
