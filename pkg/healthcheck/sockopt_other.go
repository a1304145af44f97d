//go:build !linux

package healthcheck

import (
	"errors"
	"syscall"
)

// socketControl fails when a mark is asked for: SO_MARK is Linux-only.
// SO_LINGER is skipped off Linux.
func socketControl(mark uint32, linger0 bool) func(network, address string, c syscall.RawConn) error {
	if mark == 0 {
		return nil
	}
	return func(string, string, syscall.RawConn) error {
		return errors.New("healthcheck: fwmark: " + ErrUnsupported.Error())
	}
}
