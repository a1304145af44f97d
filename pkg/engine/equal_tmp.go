package engine

import "github.com/seesawd/seesawd/pkg/ipvs"

// serviceEqual and destEqual stand in for pkg/ipvs's Equal until it lands.
func serviceEqual(a, b ipvs.Service) bool {
	norm := func(s ipvs.Service) ipvs.Service {
		if s.Scheduler == "" {
			s.Scheduler = "wlc"
		}
		full := uint8(32)
		if s.Key().Family == ipvs.IPv6 {
			full = 128
		}
		if s.Netmask == 0 {
			s.Netmask = full
		}
		return s
	}
	a, b = norm(a), norm(b)
	return a.Key() == b.Key() && a.Scheduler == b.Scheduler && a.Flags == b.Flags && a.Timeout == b.Timeout &&
		a.Netmask == b.Netmask && a.PersistenceEngine == b.PersistenceEngine
}

func destEqual(a, b ipvs.Destination) bool {
	if a.Key() != b.Key() || a.Forward != b.Forward || a.Weight != b.Weight ||
		a.UpperThreshold != b.UpperThreshold || a.LowerThreshold != b.LowerThreshold {
		return false
	}
	if a.Forward != ipvs.Tunnel {
		return true
	}
	return a.TunnelType == b.TunnelType && a.TunnelPort == b.TunnelPort && a.TunnelFlags == b.TunnelFlags
}
