//go:build !linux

package control

import "net"

// Listen returns ErrUnsupported: the server needs peer credentials.
func Listen(path string, cfg *ListenConfig) (*Listener, error) { return nil, ErrUnsupported }

func peerOf(c *net.UnixConn) (Peer, error) { return Peer{}, ErrUnsupported }
