package vrrp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// step is one input to a machine with the expected outputs.
type step struct {
	ms int // time of the input, ms after t0
	// One of the inputs:
	start, shutdown, timer bool
	recv                   *recv
	fault                  *faultIn
	delta                  *deltaIn
	// Expected outputs.
	want     []string
	state    State
	deadline int // ms after t0, -1 = none
}

type recv struct {
	src      string
	prio     uint8
	interval uint16 // cs
}

type faultIn struct {
	source string
	on     bool
}

type deltaIn struct {
	source string
	d      int
}

func summarize(acts []Action) []string {
	var out []string
	for _, a := range acts {
		switch a.Kind {
		case ActionSendAdvert:
			out = append(out, fmt.Sprintf("%s advert %d", a.Instance.Name, a.Priority))
		case ActionBecomeMaster:
			out = append(out, a.Instance.Name+" add vips")
		case ActionLeaveMaster:
			out = append(out, a.Instance.Name+" del vips")
		case ActionTransition:
			out = append(out, fmt.Sprintf("%s %v->%v (%v)", a.Instance.Name, a.Event.From, a.Event.To, a.Event.Reason))
		}
	}
	return out
}

func testInstance(name string, prio uint8) *InstanceConfig {
	return &InstanceConfig{
		Name: name, Family: IPv4, Interface: "eth0", VRID: 1, Priority: prio,
		AdvertInterval: 100 * time.Millisecond, Preempt: true,
		VirtualIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24")},
	}
}

func runSteps(t *testing.T, m *Machine, steps []step) {
	t.Helper()
	for i, s := range steps {
		now := at(s.ms)
		var acts []Action
		switch {
		case s.start:
			acts = m.Start(now)
		case s.shutdown:
			acts = m.Shutdown(now)
		case s.timer:
			acts = m.Timer(now)
		case s.recv != nil:
			acts = m.Receive(now, netip.MustParseAddr(s.recv.src), &Advertisement{
				VRID: 1, Priority: s.recv.prio, MaxAdvertInterval: s.recv.interval})
		case s.fault != nil:
			acts = m.SetFault(now, s.fault.source, s.fault.on)
		case s.delta != nil:
			acts = m.SetPriorityDelta(now, s.delta.source, s.delta.d)
		}
		if diff := cmp.Diff(s.want, summarize(acts)); diff != "" {
			t.Errorf("step %d at %dms: actions (-want +got):\n%s", i, s.ms, diff)
		}
		if m.State() != s.state {
			t.Errorf("step %d at %dms: state %v, want %v", i, s.ms, m.State(), s.state)
		}
		got := -1
		if !m.Deadline().IsZero() {
			got = int(m.Deadline().Sub(t0) / time.Millisecond)
		}
		if got != s.deadline {
			t.Errorf("step %d at %dms: deadline %dms (%v), want %dms", i, s.ms, got, m.Deadline().Sub(t0), s.deadline)
		}
	}
}

// With priority 100 and a 100ms interval: Skew_Time = (256-100)*100ms/256 = 60.9375ms,
// Master_Down_Interval = 360.9375ms. Deadlines in the tables are rounded to whole ms, so
// the machines use intervals that give whole numbers: priority 128 -> skew 50ms, MDI 350ms.
func TestMachine(t *testing.T) {
	tests := []struct {
		name  string
		prio  uint8
		tweak func(*InstanceConfig)
		steps []step
	}{
		{
			name: "backup takes over when the master goes silent",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 349, timer: true, state: Backup, deadline: 350},
				{ms: 350, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 450},
				{ms: 450, timer: true, want: []string{"a advert 128"}, state: Master, deadline: 550},
				{ms: 560, timer: true, want: []string{"a advert 128"}, state: Master, deadline: 650},
			},
		},
		{
			name: "address owner becomes master at once",
			prio: 255,
			steps: []step{
				{ms: 0, start: true, want: []string{"a advert 255", "a add vips", "a initialize->master (address owner)"}, state: Master, deadline: 100},
			},
		},
		{
			name: "backup learns the master interval and resets the timer",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				// Master at 200 with 1s adverts: MDI = 3s + (128*1s/256 = 500ms).
				{ms: 100, recv: &recv{"192.0.2.9", 200, 100}, state: Backup, deadline: 3600},
				{ms: 1100, recv: &recv{"192.0.2.9", 200, 100}, state: Backup, deadline: 4600},
				{ms: 4600, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 4700},
			},
		},
		{
			name: "backup accepts an equal priority master",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 100, recv: &recv{"192.0.2.1", 128, 10}, state: Backup, deadline: 450},
			},
		},
		{
			name: "priority 0 makes the backup take over after skew time",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 100, recv: &recv{"192.0.2.9", 200, 10}, state: Backup, deadline: 450},
				{ms: 120, recv: &recv{"192.0.2.9", 0, 10}, state: Backup, deadline: 170},
				{ms: 170, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 270},
			},
		},
		{
			name: "preempt: a lower priority master is ignored so the timer fires",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 100, recv: &recv{"192.0.2.9", 50, 10}, state: Backup, deadline: 350},
				{ms: 200, recv: &recv{"192.0.2.9", 50, 10}, state: Backup, deadline: 350},
				{ms: 350, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 450},
			},
		},
		{
			name:  "no preempt: a lower priority master is kept",
			prio:  128,
			tweak: func(c *InstanceConfig) { c.Preempt = false },
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 100, recv: &recv{"192.0.2.9", 50, 10}, state: Backup, deadline: 450},
				{ms: 200, recv: &recv{"192.0.2.9", 50, 10}, state: Backup, deadline: 550},
			},
		},
		{
			name:  "preempt delay holds preemption until it has passed",
			prio:  128,
			tweak: func(c *InstanceConfig) { c.PreemptDelay = 250 * time.Millisecond },
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 100, recv: &recv{"192.0.2.9", 50, 10}, state: Backup, deadline: 450},
				{ms: 200, recv: &recv{"192.0.2.9", 50, 10}, state: Backup, deadline: 550},
				{ms: 300, recv: &recv{"192.0.2.9", 50, 10}, state: Backup, deadline: 650},
				// 250ms after the first lower priority advert: now discarded.
				{ms: 400, recv: &recv{"192.0.2.9", 50, 10}, state: Backup, deadline: 650},
				{ms: 650, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 750},
			},
		},
		{
			name: "master steps down for a higher priority",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 350, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 450},
				{ms: 400, recv: &recv{"192.0.2.9", 200, 20}, want: []string{"a del vips", "a master->backup (higher priority advertisement)"}, state: Backup, deadline: 400 + 600 + 100},
			},
		},
		{
			name: "equal priority: the higher primary address wins",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 350, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 450},
				// Lower address at equal priority: discarded (RFC 5798 section 6.4.3).
				{ms: 360, recv: &recv{"192.0.2.1", 128, 10}, state: Master, deadline: 450},
				{ms: 400, recv: &recv{"192.0.2.200", 128, 10}, want: []string{"a del vips", "a master->backup (equal priority, higher primary address)"}, state: Backup, deadline: 750},
			},
		},
		{
			// RFC 5798 section 6.4.3: a lower priority advertisement is discarded (the
			// other master steps down at our next one); answering each would make us a
			// reflector for forged ones. Only priority 0 is answered at once.
			name: "master discards a lower priority master and answers a priority 0",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 350, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 450},
				{ms: 370, recv: &recv{"192.0.2.200", 20, 10}, state: Master, deadline: 450},
				{ms: 375, recv: &recv{"192.0.2.200", 127, 10}, state: Master, deadline: 450},
				{ms: 380, recv: &recv{"192.0.2.200", 0, 10}, want: []string{"a advert 128"}, state: Master, deadline: 480},
			},
		},
		{
			name: "shutdown of a master sends priority 0 then removes the addresses",
			prio: 255,
			steps: []step{
				{ms: 0, start: true, want: []string{"a advert 255", "a add vips", "a initialize->master (address owner)"}, state: Master, deadline: 100},
				{ms: 50, shutdown: true, want: []string{"a advert 0", "a del vips", "a master->initialize (shutdown)"}, state: Initialize, deadline: -1},
				{ms: 60, shutdown: true, state: Initialize, deadline: -1},
			},
		},
		{
			name: "shutdown of a backup sends nothing",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 10, shutdown: true, want: []string{"a backup->initialize (shutdown)"}, state: Initialize, deadline: -1},
			},
		},
		{
			name: "fault: master sends priority 0, drops the addresses, recovers as backup",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 350, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 450},
				{ms: 400, fault: &faultIn{"eth1", true}, want: []string{"a advert 0", "a del vips", "a master->fault (fault)"}, state: Fault, deadline: -1},
				{ms: 410, fault: &faultIn{"eth2", true}, state: Fault, deadline: -1},
				{ms: 420, fault: &faultIn{"eth1", false}, state: Fault, deadline: -1},
				{ms: 500, timer: true, state: Fault, deadline: -1},
				{ms: 500, recv: &recv{"192.0.2.9", 50, 10}, state: Fault, deadline: -1},
				{ms: 600, fault: &faultIn{"eth2", false}, want: []string{"a fault->backup (fault cleared)"}, state: Backup, deadline: 950},
			},
		},
		{
			name: "fault before start starts in fault",
			prio: 128,
			steps: []step{
				{ms: 0, fault: &faultIn{"eth0", true}, state: Initialize, deadline: -1},
				{ms: 0, start: true, want: []string{"a initialize->fault (fault)"}, state: Fault, deadline: -1},
				{ms: 5, fault: &faultIn{"eth0", false}, want: []string{"a fault->backup (fault cleared)"}, state: Backup, deadline: 355},
			},
		},
		{
			name: "priority delta: a master advertises the new priority at once",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 350, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 450},
				{ms: 360, delta: &deltaIn{"engine", -100}, want: []string{"a advert 28"}, state: Master, deadline: 460},
				{ms: 370, delta: &deltaIn{"eth1", -100}, want: []string{"a advert 1"}, state: Master, deadline: 470},
				{ms: 380, delta: &deltaIn{"eth1", 0}, want: []string{"a advert 28"}, state: Master, deadline: 480},
				{ms: 390, delta: &deltaIn{"engine", 0}, want: []string{"a advert 128"}, state: Master, deadline: 490},
				// Now a priority 100 master is lower than us again: discarded.
				{ms: 400, recv: &recv{"192.0.2.9", 100, 10}, state: Master, deadline: 490},
			},
		},
		{
			name: "lowered priority makes a master lose to a backup that was lower",
			prio: 128,
			steps: []step{
				{ms: 0, start: true, want: []string{"a initialize->backup (startup)"}, state: Backup, deadline: 350},
				{ms: 350, timer: true, want: []string{"a advert 128", "a add vips", "a backup->master (master down timer)"}, state: Master, deadline: 450},
				{ms: 360, delta: &deltaIn{"engine", -50}, want: []string{"a advert 78"}, state: Master, deadline: 460},
				{ms: 370, recv: &recv{"192.0.2.9", 100, 10}, want: []string{"a del vips", "a master->backup (higher priority advertisement)"}, state: Backup, deadline: 370 + 300 + 69},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testInstance("a", tt.prio)
			if tt.tweak != nil {
				tt.tweak(cfg)
			}
			m := NewMachine(cfg)
			m.SetPrimary(netip.MustParseAddr("192.0.2.100"))
			runSteps(t, m, tt.steps)
		})
	}
}

func TestMasterDownInterval(t *testing.T) {
	tests := []struct {
		prio     uint8
		interval time.Duration
		want     time.Duration
	}{
		{100, time.Second, 3*time.Second + 609375*time.Microsecond},
		{100, 100 * time.Millisecond, 360937500 * time.Nanosecond},
		{254, time.Second, 3*time.Second + 7812500*time.Nanosecond},
		{1, 10 * time.Millisecond, 30*time.Millisecond + 9960937*time.Nanosecond},
	}
	for _, tt := range tests {
		cfg := testInstance("a", tt.prio)
		cfg.AdvertInterval = tt.interval
		if got := NewMachine(cfg).MasterDownInterval(); got != tt.want {
			t.Errorf("priority %d interval %v: MDI %v, want %v", tt.prio, tt.interval, got, tt.want)
		}
	}
}

func TestPriorityClamp(t *testing.T) {
	tests := []struct {
		base   uint8
		deltas []int
		want   uint8
	}{
		{100, nil, 100},
		{255, nil, 255},
		{255, []int{-1}, 254},
		{255, []int{+10}, 254},
		{100, []int{-200}, 1},
		{100, []int{-20, -30}, 50},
		{100, []int{+20, -20}, 100},
	}
	for _, tt := range tests {
		m := NewMachine(testInstance("a", tt.base))
		for i, d := range tt.deltas {
			m.SetPriorityDelta(t0, fmt.Sprint(i), d)
		}
		if got := m.Priority(); got != tt.want {
			t.Errorf("base %d deltas %v: priority %d, want %d", tt.base, tt.deltas, got, tt.want)
		}
	}
}

func TestSyncGroup(t *testing.T) {
	a, b, c := testInstance("a", 128), testInstance("b", 128), testInstance("c", 128)
	b.VRID, c.VRID = 2, 3
	s, err := NewSet([]*InstanceConfig{a, b, c}, []SyncGroup{{Name: "g", Instances: []string{"a", "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	ida, idb := InstanceID{"a", IPv4}, InstanceID{"b", IPv4}
	check := func(step string, acts []Action, want []string, states ...State) {
		t.Helper()
		if diff := cmp.Diff(want, summarize(acts)); diff != "" {
			t.Errorf("%s: actions (-want +got):\n%s", step, diff)
		}
		var got []State
		for _, m := range s.Machines() {
			got = append(got, m.State())
		}
		if diff := cmp.Diff(states, got); diff != "" {
			t.Errorf("%s: states a,b,c (-want +got):\n%s", step, diff)
		}
	}
	check("start", s.Start(at(0)), []string{
		"a initialize->backup (startup)", "b initialize->backup (startup)", "c initialize->backup (startup)",
	}, Backup, Backup, Backup)
	// b hears its master, a does not: a's timer takes b along.
	s.Receive(at(300), idb, netip.MustParseAddr("192.0.2.9"), &Advertisement{VRID: 2, Priority: 200, MaxAdvertInterval: 10})
	if got := s.Deadline(); !got.Equal(at(350)) {
		t.Fatalf("deadline %v", got.Sub(t0))
	}
	check("a master down", s.Timers(at(350)), []string{
		"a advert 128", "a add vips", "a backup->master (master down timer)",
		"b advert 128", "b add vips", "b backup->master (sync group)",
		"c advert 128", "c add vips", "c backup->master (master down timer)",
	}, Master, Master, Master)
	// A higher priority advert for b takes a down too; c is not in the group.
	check("b preempted", s.Receive(at(400), idb, netip.MustParseAddr("192.0.2.9"), &Advertisement{VRID: 2, Priority: 200, MaxAdvertInterval: 10}), []string{
		"b del vips", "b master->backup (higher priority advertisement)",
		"a del vips", "a master->backup (sync group)",
	}, Backup, Backup, Master)
	// A fault on a puts b in fault too; clearing it brings both back.
	check("a fault", s.SetFault(at(500), ida, "eth1", true), []string{
		"a backup->fault (fault)", "b backup->fault (fault)",
	}, Fault, Fault, Master)
	check("b fault of its own", s.SetFault(at(510), idb, "eth2", true), nil, Fault, Fault, Master)
	check("a fault cleared, b still faulty", s.SetFault(at(520), ida, "eth1", false), nil, Fault, Fault, Master)
	check("b fault cleared", s.SetFault(at(530), idb, "eth2", false), []string{
		"a fault->backup (fault cleared)", "b fault->backup (fault cleared)",
	}, Backup, Backup, Master)
	check("shutdown", s.Shutdown(at(600)), []string{
		"a backup->initialize (shutdown)", "b backup->initialize (shutdown)",
		"c advert 0", "c del vips", "c master->initialize (shutdown)",
	}, Initialize, Initialize, Initialize)
}

func TestSetImplicitFamilyGroupAndOwner(t *testing.T) {
	v4 := testInstance("front", 255)
	v6 := testInstance("front", 100)
	v6.Family = IPv6
	v6.VirtualIPs = []netip.Prefix{netip.MustParsePrefix("2001:db8::100/64")}
	s, err := NewSet([]*InstanceConfig{v4, v6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := summarize(s.Start(at(0)))
	want := []string{
		"front advert 255", "front add vips", "front initialize->master (address owner)",
		"front initialize->backup (startup)",
		"front advert 100", "front add vips", "front backup->master (sync group)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("start (-want +got):\n%s", diff)
	}
	acts, ok := s.SetPriorityDelta(at(10), "front", "engine", -10)
	if !ok || len(acts) != 2 {
		t.Errorf("SetPriorityDelta = %v, %v; want adverts for both families", summarize(acts), ok)
	}
	if _, ok := s.SetPriorityDelta(at(10), "nope", "engine", -10); ok {
		t.Error("SetPriorityDelta on an unknown instance reported found")
	}
}

func TestNewSetErrors(t *testing.T) {
	a := testInstance("a", 100)
	if _, err := NewSet([]*InstanceConfig{a, a}, nil); err == nil {
		t.Error("duplicate instance accepted")
	}
	if _, err := NewSet([]*InstanceConfig{a}, []SyncGroup{{Name: "g", Instances: []string{"x"}}}); err == nil {
		t.Error("unknown sync group member accepted")
	}
	if _, err := NewSet([]*InstanceConfig{a}, []SyncGroup{{Name: "g", Instances: []string{"a"}}, {Name: "h", Instances: []string{"a"}}}); err == nil {
		t.Error("instance in two groups accepted")
	}
}
