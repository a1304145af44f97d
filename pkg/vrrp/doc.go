// Package vrrp implements VRRP version 3 (RFC 5798) for IPv4 and IPv6.
//
// The package is layered so each part can be tested on its own:
//
//   - message.go is the pure wire codec: Advertisement with MarshalBinary,
//     UnmarshalBinary and the RFC 5798 checksum (with the IPv4/IPv6
//     pseudo-header, or the IPv4 "no pseudo-header" variant some peers send).
//   - machine.go is the section 6 state machine, a pure value driven by
//     inputs (advertisement received, timer, shutdown, link change, priority
//     change) and an explicit time, returning actions to perform. Set groups
//     machines into sync groups.
//   - Node (node.go, *_linux.go) owns the sockets, timers and netlink: it
//     receives and validates advertisements, runs the machines on one
//     goroutine, adds and removes virtual addresses, and sends gratuitous ARP
//     and unsolicited neighbour advertisements. Masters in Accept_Mode False
//     (RFC 5798 section 6.4.3) drop packets to their virtual addresses through
//     an AcceptFilter (noaccept_linux.go, nftables over netlink).
package vrrp
