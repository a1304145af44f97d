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
//	all, err := c.DumpAll(ctx) // every service with its destinations
//
// # Diffing against the kernel
//
// Services and destinations are identified by Service.Key and
// Destination.Key, comparable values for maps, and compared with
// Service.Equal and Destination.Equal, which ignore counters: a diff is
// Key to pair things up and Equal to tell whether one needs an update.
// Equal compares the normalised forms (Normalize): what the kernel reports
// back once the defaults are spelled out (the family, the "wlc" scheduler,
// the full netmask, an unmapped IPv4 address), without its internal HASHED
// flag, and without the tunnel fields of a destination that does not
// tunnel (they are not sent). The integration tests check that every kind
// of service and destination they create Equals what reads back.
//
// # Batches
//
// Apply performs many creates, updates and removes with few system calls:
// it packs up to Config.BatchOps requests (1,024 by default) into one
// sendmsg and asks for an acknowledgement on the last one only. The kernel
// still answers every failed request with an error carrying its sequence
// number, so Apply returns one result per operation. A reconcile of
// thousands of changes costs a handful of system calls and no
// per-request allocation.
//
// # Errors
//
// Every failure is an *OpError naming the operation and its target.
// errors.Is(err, os.ErrExist) holds for EEXIST, errors.Is(err,
// os.ErrNotExist) for ENOENT and ESRCH (a missing service, destination,
// or scheduler module), and errors.Is(err, os.ErrInvalid) for a value the
// kernel refuses (EINVAL, ERANGE, EAFNOSUPPORT) as for one refused before
// it is sent; the errno matches too (errors.Is(err, syscall.ERANGE)), and
// OpError.Hint names the likely cause of what the kernel answers bare.
//
// Requests are checked before they are sent, because the kernel stores
// most values as they come: a protocol other than TCP, UDP and SCTP, a
// forwarding method above 4 (or, above 7, cut to masquerade without an
// error), an unknown tunnel type, tunnel flags other than the checksum
// ones (after which ipvsadm -Sn crashes), service flags it does not know,
// a persistence timeout that wraps in its 32-bit jiffies. What it checks
// it answers with a bare EINVAL or ERANGE, so those are checked here too
// and named: a weight above MaxWeight, a lower threshold above the upper,
// a GUE tunnel without a port, a destination of another family than its
// service's without the tunnel method, an address that is not unicast.
// SetTimeouts refuses durations that are not whole seconds.
//
// Malformed replies fail, never panic.
//
// # Dumps are not snapshots
//
// The kernel sends a long dump in parts, filling each one as the previous
// is read and resuming by position. It never flags a dump that changes
// raced with (no NLM_F_DUMP_INTR): a service created ahead of the
// position repeats an entry, one removed behind it makes the dump skip
// one. The service table is shared by all network namespaces, so changes
// in another namespace do this too. A dump that lists an entry twice
// comes back without the repeat and with ErrDumpInconsistent; a skipped
// entry cannot be seen at all. So a caller must confirm an absence before
// acting on it: Client.Service reads one service with one request, and
// Client.Destinations lists one service's destinations (the kernel has no
// request for a single destination; a list of up to about 10 fits one
// part, which the kernel fills under its mutex, and is consistent).
// ErrDumpInterrupted remains for a kernel that does set NLM_F_DUMP_INTR.
//
// # Kernel behaviour worth knowing
//
//   - Dumping the destinations of a missing service returns nothing
//     without an error in the kernel; Destinations turns that into an
//     os.ErrNotExist error with one extra request.
//   - Destinations are listed newest first.
//   - The kernel reports the tunnel type, port and flags of every
//     destination, tunnelling or not, as last sent.
//   - A lower threshold must not exceed the upper one even when the upper
//     is 0 (no limit), or the kernel answers ERANGE.
//   - A destination of another family than its service's is accepted only
//     with the tunnel method and only while no sync daemon runs; a sync
//     daemon cannot start while one exists.
//   - A destination address must be unicast or local; in a new namespace
//     whose lo has never been up, every IPv4 destination is refused with
//     EINVAL.
//   - The persistence timeout and the connection timeouts are kept in
//     jiffies: a persistence timeout above 2^32/HZ seconds wraps (hence
//     MaxPersistenceTimeout), a connection timeout above 2^31/HZ is
//     refused with EINVAL.
//   - The scheduler "none" is a service without a scheduler.
//   - Counters (Stats) are folded from per-CPU counters by the rate
//     estimator every 2 seconds: traffic shows up with that delay, and
//     Zero resets them to what was folded, so traffic of the last 2
//     seconds can still show up after a Zero.
//   - Removed destinations linger in the kernel's trash list for a while;
//     re-adding thousands of them right away is much slower than adding
//     fresh ones (a fact for benchmarks).
//
// # Concurrency and deadlines
//
// A Client is safe for concurrent use; calls are serialised on one
// netlink socket, which is not registered with Go's network poller (see
// Conn). More sockets would not help: the kernel handles every IPVS
// request under one global lock (see DumpAll). Each call is bounded by its
// context and by Config.Timeout: a reply
// that never comes cannot hang the caller, a dump stops between two parts
// once its deadline passes, and Apply stops between two batches (the
// kernel carries out a batch inside the sendmsg call, so one batch can
// overrun the deadline; the operations not sent fail with ErrNotApplied
// and the context's error). Close wakes a blocked call.
//
// Config.Conn accepts any Conn; package ipvstest is a fake kernel behind
// one, for tests without privileges.
package ipvs
