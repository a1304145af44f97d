//go:build !linux

package vrrp

import "errors"

// ErrUnsupported is returned by NewLinuxNetwork on systems other than Linux.
var ErrUnsupported = errors.New("vrrp: the kernel network is only supported on linux")

// NewLinuxNetwork returns ErrUnsupported off Linux; pass Config.Network instead.
func NewLinuxNetwork() (Network, error) { return nil, ErrUnsupported }
