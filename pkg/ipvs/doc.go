// Package ipvs drives the Linux kernel's IP Virtual Server over its generic
// netlink family "IPVS" (include/uapi/linux/ip_vs.h), in pure Go.
//
// It covers the whole interface: information and timeouts, virtual
// services (IPv4, IPv6, firewall marks; TCP, UDP, SCTP; any scheduler,
// flags, persistence and persistence engines), their destinations (every
// forwarding method, IPIP/GUE/GRE tunnels, thresholds, mixed address
// families), counters and rates, zeroing and flushing, and the connection
// synchronisation daemons.
//
// # Use
//
//	c, err := ipvs.New(nil) // or &ipvs.Config{NetNSPath: "/run/netns/lb"}
//	if errors.Is(err, ipvs.ErrNoIPVS) { /* modprobe ip_vs */ }
//	defer c.Close()
//	svc := ipvs.Service{Protocol: ipvs.TCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "wrr"}
//	err = c.CreateService(ctx, svc)
//	err = c.CreateDestination(ctx, svc, ipvs.Destination{
//		Address: netip.MustParseAddr("198.51.100.7"), Port: 8080, Forward: ipvs.Masquerade, Weight: 1})
//	svcs, err := c.Services(ctx)
//	dests, err := c.Destinations(ctx, svc)
//
// Services and destinations are identified by Service.Key and
// Destination.Key, comparable values for maps and diffs. What a Client
// reads back compares equal to what was written once the defaults are
// spelled out: Family, the "wlc" scheduler, and the full netmask; the
// kernel's internal HASHED flag is masked away.
//
// # Batches
//
// Apply performs many creates, updates and removes with few system calls:
// it packs up to Config.BatchOps requests into one sendmsg and asks for an
// acknowledgement on the last one only. The kernel still answers every
// failed request with an error carrying its sequence number, so Apply
// returns one result per operation. A reconcile of thousands of changes
// costs a handful of system calls and no per-request allocation.
//
// # Errors
//
// Every kernel failure is an *OpError naming the operation and its target.
// errors.Is(err, os.ErrExist) holds for EEXIST, errors.Is(err,
// os.ErrNotExist) for ENOENT and ESRCH (a missing service, destination,
// or scheduler module), and errors.Is(err, os.ErrInvalid) for requests
// refused before they are sent (an unsupported address family, an address
// of the wrong family, an over-long name). A dump the kernel marks
// interrupted (NLM_F_DUMP_INTR) fails with ErrDumpInterrupted rather than
// returning a partial list; malformed replies fail, never panic.
//
// # Kernel behaviour worth knowing
//
//   - Dumping the destinations of a missing service returns nothing
//     without an error in the kernel; Destinations turns that into an
//     os.ErrNotExist error with one extra request.
//   - Counters (Stats) are folded from per-CPU counters by the rate
//     estimator every 2 seconds: traffic shows up with that delay.
//   - The kernel refuses to start a sync daemon while any destination's
//     address family differs from its service's, and the reverse.
//   - Removed destinations linger in the kernel's trash list for a while;
//     re-adding thousands of them right away is much slower than adding
//     fresh ones (a fact for benchmarks).
//
// # Concurrency and deadlines
//
// A Client is safe for concurrent use; calls are serialised on one
// netlink socket, which is not registered with Go's network poller (see
// Conn). Each call is bounded by its context and by Config.Timeout, so a
// reply that never comes cannot hang the caller; Close wakes a blocked
// call. Config.Conn accepts any Conn, which is how the tests run a fake
// kernel without privileges.
package ipvs
