package healthcheck

import (
	"errors"
	"fmt"
	"time"
)

// Type is the kind of a health check.
type Type uint8

// Check types.
const (
	TypeInvalid Type = iota
	TypeTCP
	TypeHTTP
	TypeHTTPS
	TypeUDP
	TypeICMP
	TypeDNS
)

var typeNames = [...]string{"invalid", "tcp", "http", "https", "udp", "icmp", "dns"}

// String returns the lower-case name of the type, as used in configuration.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// ParseType returns the Type named s ("tcp", "http", "https", "udp", "icmp", "dns").
func ParseType(s string) (Type, error) {
	for i, n := range typeNames {
		if i > 0 && n == s {
			return Type(i), nil
		}
	}
	return TypeInvalid, fmt.Errorf("healthcheck: unknown check type %q (want tcp, http, https, udp, icmp or dns)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// State is the dampened health of a check.
type State uint8

// Check states.
const (
	// StateUnknown means no result has decided the state yet.
	StateUnknown State = iota
	// StateDown means the check failed Fall consecutive times (or started down).
	StateDown
	// StateUp means the check succeeded Rise consecutive times.
	StateUp
)

// String returns "unknown", "down" or "up".
func (s State) String() string {
	switch s {
	case StateUnknown:
		return "unknown"
	case StateDown:
		return "down"
	case StateUp:
		return "up"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler, for status output.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Result is the outcome of one run of a check.
type Result struct {
	// Time is when the check started.
	Time time.Time
	// Latency is how long the check took, from start to verdict.
	Latency time.Duration
	// Err is nil when the check succeeded and says why it failed otherwise.
	Err error
	// Detail is a short human-readable note (an HTTP status line, an RTT).
	Detail string
}

// OK reports whether the check succeeded.
func (r Result) OK() bool { return r.Err == nil }

// Transition is a change of a check's dampened state.
type Transition struct {
	// ID is the check's identifier as given to Manager.Update.
	ID string
	// From and To are the states before and after.
	From, To State
	// Result is the result that decided the transition (zero when the
	// transition comes from a configuration change).
	Result Result
	// Time is when the transition happened, on the manager's clock.
	Time time.Time
}

// Errors a check can fail with; test them with errors.Is.
var (
	// ErrTimeout means the check got no verdict before its timeout.
	ErrTimeout = errors.New("healthcheck: timeout")
	// ErrRefused means the target actively refused (TCP RST, ICMP port unreachable).
	ErrRefused = errors.New("healthcheck: connection refused")
	// ErrUnreachable means the network said the target cannot be reached:
	// an ICMP destination unreachable or time exceeded came back for the
	// probe, or the local stack has no route to it.
	ErrUnreachable = errors.New("healthcheck: unreachable")
	// ErrMismatch means the target answered, but not what the check expects.
	ErrMismatch = errors.New("healthcheck: unexpected response")
	// ErrClosed means the manager or pinger was closed.
	ErrClosed = errors.New("healthcheck: closed")
	// ErrUnsupported means the check needs a feature this platform lacks.
	ErrUnsupported = errors.New("healthcheck: unsupported on this platform")
)

// CheckError is the error a check fails with. It names the check type, the
// target and the operation that failed, and wraps the cause.
type CheckError struct {
	Type   Type
	Target string
	Op     string
	Err    error
}

// Error implements error.
func (e *CheckError) Error() string {
	return fmt.Sprintf("healthcheck: %s %s: %s: %v", e.Type, e.Target, e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *CheckError) Unwrap() error { return e.Err }

// kindError classifies a cause as one of the package's sentinel errors
// without repeating the sentinel's text: errors.Is matches both.
type kindError struct{ kind, cause error }

func (e *kindError) Error() string   { return e.cause.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.cause} }

func mismatch(format string, args ...any) error {
	return &kindError{ErrMismatch, fmt.Errorf(format, args...)}
}

func timeout(format string, args ...any) error {
	return &kindError{ErrTimeout, fmt.Errorf(format, args...)}
}
