// Package interop holds the VRRP interoperability tests: seesawd and
// keepalived 2.2.7 (the Debian package) failing over a virtual address
// between two namespaces on a bridge, in both roles, over IPv4 and IPv6,
// watched by a client namespace that pings the address. The tests are
// TestIntegration*: they need root and skip (or fail, under
// SEESAW_REQUIRE_INTEGRATION=1) without it.
package interop
