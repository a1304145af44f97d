// Package vrrp implements VRRP version 3 (RFC 5798) for IPv4 and IPv6.
//
// The package is layered so each part can be tested on its own:
//
//   - message.go is the pure wire codec: Advertisement with MarshalBinary,
//     UnmarshalBinary and the RFC 5798 checksum (with the IPv4/IPv6
//     pseudo-header, or the IPv4 "no pseudo-header" variant some peers send).
//     bpf.go assembles the kernel socket filter that admits only VRRPv3
//     advertisements for the configured VRIDs.
//   - machine.go is the section 6 state machine, a pure value driven by
//     inputs (advertisement received, timer, shutdown, link change, priority
//     change, reconfiguration) and an explicit time, returning actions to
//     perform. Set (set.go) groups machines into sync groups.
//   - Node owns the sockets, timers and netlink, reaching the kernel only
//     through the Network seam (network.go; network_linux.go on Linux). One
//     goroutine runs every machine; the rest is split by concern: node.go (the
//     loop, AdjustPriority, States), socket.go (sockets and their readers),
//     advert.go (receiving, validating and sending advertisements), links.go
//     (interface state and tracking), vips.go (virtual addresses), announce.go
//     (gratuitous ARP and unsolicited neighbour advertisements), acceptmode.go
//     (Accept_Mode False, RFC 5798 section 6.4.3, through an AcceptFilter:
//     nftables over netlink in noaccept_linux.go), update.go (live
//     reconfiguration), stats.go (counters) and ratelog.go (rate-limited logs).
//
// # On a hostile or unlucky network
//
// A Node discards, counts by reason (Counters.Drops) and logs (at info or
// warn, at most once per 10 s per kind, with the number suppressed) every
// packet it does not act on; none changes a state. Before that, the kernel
// discards without counting anything that is not a VRRPv3 advertisement
// (version 3, type 1) for a VRID configured on the socket's interface and
// family, and messages too short to say: a flood for another VRID costs the
// Node no system call. What passes is read in batches (recvmmsg, no copy and
// no allocation per message) by a reader that, when it read less than 1 ms
// ago, lets messages gather for the rest of that millisecond: a flood costs a
// few wake-ups per millisecond, and an advertisement waits at most 1 ms.
//
// Lower priority advertisements reaching a master are discarded as RFC 5798
// section 6.4.3 says (only priority 0 is answered at once), so forged ones
// are not reflected. Advertisements whose address list differs from the
// instance's are discarded unless InstanceConfig.AcceptAddressMismatch is
// set. Each advertisement is sent to every unicast peer whatever another's
// send returns.
//
// Only a master holds its virtual addresses: an instance entering backup,
// fault or initialize (at start, too) removes those it finds on its interface,
// and removes them again if they appear; a master adds back those someone
// removes. Interface state is applied from reads of the link, never from
// address events alone (the kernel removes IPv6 addresses before it reports
// an interface administratively down).
package vrrp
