// Package healthcheck implements seesawd's backend health checks: TCP connect
// (optionally send/expect), HTTP and HTTPS (RFC 9110 status semantics, no
// redirects, a fresh connection per check), UDP request/reply, ICMP echo
// (RFC 792, RFC 4443) over one shared socket per family, and DNS queries
// (RFC 1035).
//
// A Manager runs thousands of checks from one scheduler goroutine with a
// timer heap and a bounded worker pool, dampens results with rise and fall
// counters, and emits only state transitions. Plain TCP connect checks and
// ICMP echoes do not use a goroutine per check at all: on Linux they run on
// non-blocking sockets completed by a single epoll owner, and on a single
// shared ICMP socket per family respectively.
//
// An ICMP destination unreachable or time exceeded that comes back for an
// echo request fails that ICMP check at once with ErrUnreachable, naming
// the error and its sender, instead of at its timeout: raw sockets receive
// the error as a packet, Linux ping sockets on their IP_RECVERR error queue.
package healthcheck
