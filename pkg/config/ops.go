package config

import (
	"net"
	"path/filepath"
	"strconv"
)

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the address of the /metrics endpoint (default
	// 127.0.0.1:9712); "" turns it off.
	Listen *string `mapstructure:"listen"`
}

// Control configures the socket seesawctl talks to.
type Control struct {
	// Socket is the Unix socket path (default /run/seesawd/seesawd.sock).
	Socket string `mapstructure:"socket"`
	// Group, when set, may use the socket too (mode 0660); otherwise only
	// root may (0600).
	Group string `mapstructure:"group"`
}

// Defaults of the metrics and control sections.
const (
	DefaultMetricsListen = "127.0.0.1:9712"
	DefaultControlSocket = "/run/seesawd/seesawd.sock"
)

// MetricsListen returns the metrics address, "" when metrics are off.
func (c *Config) MetricsListen() string {
	if c.Metrics.Listen == nil {
		return DefaultMetricsListen
	}
	return *c.Metrics.Listen
}

func (c *Config) validateOps(v *validator) {
	if l := c.MetricsListen(); l != "" {
		host, port, err := net.SplitHostPort(l)
		if err != nil {
			v.bad("metrics.listen", "%q is not host:port (or \"\" to turn metrics off): %v", l, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			v.bad("metrics.listen", "%q: port %q out of range", l, port)
		} else if host != "" && net.ParseIP(host) == nil && host != "localhost" {
			v.bad("metrics.listen", "%q: %q is not an IP address", l, host)
		}
	}
	if c.Control.Socket == "" {
		c.Control.Socket = DefaultControlSocket
	}
	if !filepath.IsAbs(c.Control.Socket) {
		v.bad("control.socket", "%q is not an absolute path", c.Control.Socket)
	} else if len(c.Control.Socket) > 107 {
		v.bad("control.socket", "%q is longer than a Unix socket path may be (107 bytes)", c.Control.Socket)
	}
}
