package ipvs

// The state TestIntegrationCapture builds in the VM, and what the captured
// replies in testdata/kernel must decode to.

var captureServices = []Service{
	{Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Scheduler: "wrr", Flags: Persistent, Timeout: 300, Netmask: 24},
	{Protocol: UDP, Address: mustAddr("2001:db8::1"), Port: 53, Scheduler: "sh", Flags: SHFallback | SHPort | OnePacket},
	{FWMark: 7, Scheduler: "mh", Flags: MHPort},
	{Protocol: SCTP, Address: mustAddr("10.0.0.2"), Port: 3868, Scheduler: "rr", Flags: Persistent, Timeout: 60, PersistenceEngine: "sip"},
}

var captureServicesWant = []Service{
	{Family: IPv4, Protocol: TCP, Address: mustAddr("10.0.0.1"), Port: 80, Scheduler: "wrr", Flags: Persistent, Timeout: 300, Netmask: 24},
	{Family: IPv6, Protocol: UDP, Address: mustAddr("2001:db8::1"), Port: 53, Scheduler: "sh", Flags: SHFallback | SHPort | OnePacket, Netmask: 128},
	{Family: IPv4, FWMark: 7, Scheduler: "mh", Flags: MHPort, Netmask: 32},
	{Family: IPv4, Protocol: SCTP, Address: mustAddr("10.0.0.2"), Port: 3868, Scheduler: "rr", Flags: Persistent, Timeout: 60, Netmask: 32, PersistenceEngine: "sip"},
}

type svcDest struct {
	svc int
	d   Destination
}

var captureDests = []svcDest{
	{0, Destination{Address: mustAddr("10.0.1.1"), Port: 8080, Forward: Masquerade, Weight: 3, UpperThreshold: 100, LowerThreshold: 10}},
	{0, Destination{Address: mustAddr("10.0.1.2"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: GUE, TunnelPort: 6080, TunnelFlags: TunnelChecksum}},
	{1, Destination{Address: mustAddr("2001:db8:1::2"), Port: 53, Forward: DirectRoute, Weight: 2}},
	{1, Destination{Address: mustAddr("10.0.1.3"), Port: 53, Forward: Tunnel, Weight: 1, TunnelType: IPIP}},
	{2, Destination{Address: mustAddr("10.0.1.4"), Port: 0, Forward: Tunnel, Weight: 5, TunnelType: GRE, TunnelFlags: TunnelChecksum}},
}

var captureDestsWant = []svcDest{
	{0, Destination{Family: IPv4, Address: mustAddr("10.0.1.1"), Port: 8080, Forward: Masquerade, Weight: 3, UpperThreshold: 100, LowerThreshold: 10}},
	{0, Destination{Family: IPv4, Address: mustAddr("10.0.1.2"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: GUE, TunnelPort: 6080, TunnelFlags: TunnelChecksum}},
	{1, Destination{Family: IPv6, Address: mustAddr("2001:db8:1::2"), Port: 53, Forward: DirectRoute, Weight: 2}},
	{1, Destination{Family: IPv4, Address: mustAddr("10.0.1.3"), Port: 53, Forward: Tunnel, Weight: 1, TunnelType: IPIP}},
	{2, Destination{Family: IPv4, Address: mustAddr("10.0.1.4"), Port: 0, Forward: Tunnel, Weight: 5, TunnelType: GRE, TunnelFlags: TunnelChecksum}},
}

var captureDaemon = Daemon{State: Master, Interface: "d0", SyncID: 5, MaxLen: 1400, Group: mustAddr("239.1.2.3"), Port: 9000, TTL: 3}
