//go:build linux

package ipvs

// DialNetNS opens a raw IPVS socket in the network namespace at path, for
// the external tests that send requests a Client would refuse.
func DialNetNS(path string) (Conn, error) { return dial(&Config{NetNSPath: path}) }
