//go:build !linux

package ipvs

import "errors"

var errNotLinux = errors.New("ipvs: IPVS exists only on Linux")

func dial(*Config) (Conn, error) { return nil, errNotLinux }

func dialDump(*Config) (Conn, error) { return nil, errNotLinux }
