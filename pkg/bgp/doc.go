// Package bgp announces seesawd's service VIPs to routers with BGP-4
// (RFC 4271), through GoBGP (github.com/osrg/gobgp/v4) embedded as a
// library: each VIP whose services are up goes out as a /32 or /128 with
// this node as next hop, so a router holding the same VIP from several
// nodes spreads flows over them by ECMP.
//
// The Speaker is a speaker, not a router: a global import policy rejects
// every route a peer sends, so nothing learned can reach a RIB. Its one
// goroutine owns the announced set and applies to GoBGP the latest set the
// engine asked for; Announce, Ping and SetDrain never block, so a slow or
// unreachable peer cannot stall the engine's loop.
//
// Every route is withdrawn when:
//   - the engine stops asking for it (its services left quorum);
//   - the node is drained (SetDrain, or the engine's DrainNode, which
//     simply asks for nothing);
//   - the engine's loop has not pinged for LoopTimeout: a daemon whose
//     loop is hung must not keep attracting traffic it may not serve;
//   - Run's context ends (SIGTERM): Stop withdraws and closes the sessions
//     before the daemon touches IPVS.
//
// A session that fails (unreachable peer, wrong AS, resets) is retried by
// GoBGP every ConnectRetry; one that fails again and again is held down
// for an exponential backoff, at most MaxBackoff, so a misconfigured peer
// costs a log line a minute, not a storm.
package bgp
