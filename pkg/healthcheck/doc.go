// Package healthcheck implements seesawd's backend health checks: TCP connect
// (optionally send/expect), HTTP and HTTPS (RFC 9110 status semantics, no
// redirects, a fresh connection per check), UDP request/reply, ICMP echo
// (RFC 792, RFC 4443) over one shared socket per family, and DNS queries
// (RFC 1035).
//
// A Manager runs thousands of checks from one scheduler goroutine with a
// timer heap and a bounded worker pool, dampens results with rise and fall
// counters from an initial state, and emits only state transitions. TCP
// checks (bare connect or send/expect), plain HTTP checks and ICMP echoes
// do not use a goroutine per check at all: on Linux the first two run on
// non-blocking sockets completed by the Manager's epoll connector, the last
// on a shared ICMP socket per family. Close ends every goroutine and socket
// the Manager started.
//
// A backend's response is read only as far as its verdict needs, within
// fixed bounds: an HTTP head of 64 KiB (a status line of 1 KiB), the first
// 64 KiB of a body for the body regexp, 4 KiB of a TCP reply, a whole UDP
// datagram. HTTP and HTTPS judge a response with the same code, so a
// response cut short, endless or malformed is down on both. A truncated
// DNS answer is asked again over TCP.
//
// A check's error is a *CheckError naming the check type, target and
// operation, and matches one of ErrTimeout, ErrRefused, ErrUnreachable,
// ErrReset, ErrTLS and ErrMismatch with errors.Is when it is of that kind;
// Result.Outcome gives the class as a metric label.
//
// An ICMP destination unreachable or time exceeded that comes back for an
// echo request fails that ICMP check at once with ErrUnreachable, naming
// the error and its sender, instead of at its timeout: raw sockets receive
// the error as a packet, Linux ping sockets on their IP_RECVERR error queue.
package healthcheck
