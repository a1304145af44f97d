// Package control is seesawd's control protocol: what seesawctl asks the
// daemon over a Unix socket, and the daemon's answers.
//
// The protocol is one JSON request per connection on a SOCK_STREAM Unix
// socket, answered by one JSON response, after which the daemon closes the
// connection:
//
//	→ {"version":1,"op":"status"}
//	← {"version":1,"ok":true,"data":{...}}
//	← {"version":1,"ok":false,"code":"not_found","error":"...","hint":"..."}
//
// Ops are "status", "drain", "undrain" (with "service" and "backend") and
// "reload". The data of each is a type of this package (Status,
// DrainResult, ReloadResult); docs/seesawctl.md documents the fields, which
// are stable within a protocol version.
//
// Access is decided twice: the socket file is mode 0600 (owner only) or,
// with a group configured, 0660 and owned by that group; and the daemon
// checks the peer's credentials (SO_PEERCRED) on every connection,
// refusing anyone but root, the daemon's own user and members of the
// group. Peer credentials are Linux-only: elsewhere Listen returns
// ErrUnsupported, while the Client builds and runs anywhere.
//
// The package is split as the others are: proto.go and types.go are the
// pure wire format, build.go turns the engine's, VRRP's and the health
// checks' state into a Status, server.go and client.go own the sockets,
// listen_linux.go creates the socket and reads peer credentials.
package control
