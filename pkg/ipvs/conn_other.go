//go:build !linux

package ipvs

import "errors"

func dial(*Config) (Conn, error) {
	return nil, errors.New("ipvs: IPVS exists only on Linux")
}
