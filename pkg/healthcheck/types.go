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
	// StateUp means the check succeeded Rise consecutive times (or started up).
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

// ParseState returns the State named s ("unknown", "down" or "up").
func ParseState(s string) (State, error) {
	for st := StateUnknown; st <= StateUp; st++ {
		if st.String() == s {
			return st, nil
		}
	}
	return StateUnknown, fmt.Errorf("healthcheck: unknown state %q (want unknown, down or up)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

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

// Outcome classifies the result, for metrics.
func (r Result) Outcome() Outcome { return OutcomeOf(r.Err) }

// Outcome is the class of a check's result: success, or which kind of
// failure. Metrics label results with it.
type Outcome uint8

// Outcomes, one per error class (ErrTimeout, ErrRefused, ...), and
// OutcomeOther for failures in none.
const (
	OutcomeOK Outcome = iota
	OutcomeTimeout
	OutcomeRefused
	OutcomeUnreachable
	OutcomeMismatch
	OutcomeTLS
	OutcomeReset
	OutcomeOther
)

var outcomeNames = [...]string{"ok", "timeout", "refused", "unreachable", "mismatch", "tls", "reset", "other"}

// String returns the outcome's lower-case name, as a metric label.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// MarshalText implements encoding.TextMarshaler, for status output.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// OutcomeOf returns the class of a check's error: OutcomeOK for nil, the
// class of the first of ErrTimeout, ErrRefused, ErrUnreachable, ErrReset,
// ErrTLS and ErrMismatch that err matches, and OutcomeOther otherwise.
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrTimeout):
		return OutcomeTimeout
	case errors.Is(err, ErrRefused):
		return OutcomeRefused
	case errors.Is(err, ErrUnreachable):
		return OutcomeUnreachable
	case errors.Is(err, ErrReset):
		return OutcomeReset
	case errors.Is(err, ErrTLS):
		return OutcomeTLS
	case errors.Is(err, ErrMismatch):
		return OutcomeMismatch
	}
	return OutcomeOther
}

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
	// ErrMismatch means the target answered, but not what the check
	// expects: a wrong status, body or reply, or a malformed, cut or
	// oversized response.
	ErrMismatch = errors.New("healthcheck: unexpected response")
	// ErrTLS means the TLS handshake failed: the certificate did not
	// verify, the server sent an alert (a client certificate it refused,
	// also when that comes after the handshake), or it does not speak TLS.
	ErrTLS = errors.New("healthcheck: tls failure")
	// ErrReset means the connection was reset (or aborted) once
	// established, for example while the response was being read.
	ErrReset = errors.New("healthcheck: connection reset")
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
