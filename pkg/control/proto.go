package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Version is the protocol version this package speaks.
const Version = 1

// DefaultSocket is where seesawd listens unless control.socket says otherwise.
const DefaultSocket = "/run/seesawd/seesawd.sock"

// Ops.
const (
	OpStatus  = "status"
	OpDrain   = "drain"
	OpUndrain = "undrain"
	OpReload  = "reload"
	// OpDrainNode and OpUndrainNode set and clear the node's drain: every
	// BGP announcement withdrawn, IPVS untouched.
	OpDrainNode   = "drain-node"
	OpUndrainNode = "undrain-node"
)

// Limits on what either side reads: a request is a few names, a response
// a status of every backend (10,000 of them take about 5 MiB).
const (
	MaxRequest  = 64 << 10
	MaxResponse = 256 << 20
)

// Request is what a client sends.
type Request struct {
	Version int    `json:"version"`
	Op      string `json:"op"`
	// Service and Backend are the arguments of drain and undrain: a
	// service name, and "10.0.1.11:8080" or "10.0.1.11" when the service
	// has one backend at that address.
	Service string `json:"service,omitempty"`
	Backend string `json:"backend,omitempty"`
}

// Response is what the daemon answers.
type Response struct {
	Version int  `json:"version"`
	OK      bool `json:"ok"`
	// Data is the op's result when OK.
	Data json.RawMessage `json:"data,omitempty"`
	// Code, Error and Hint say what went wrong when not OK.
	Code  Code   `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
	Hint  string `json:"hint,omitempty"`
}

// Code classifies a refused request.
type Code string

// Codes.
const (
	// CodeBadRequest: the request is malformed, of another protocol
	// version, or names an unknown op.
	CodeBadRequest Code = "bad_request"
	// CodePermission: the peer is neither root nor in the control group.
	CodePermission Code = "permission_denied"
	// CodeNotFound: no such service or backend.
	CodeNotFound Code = "not_found"
	// CodeAmbiguous: a backend given without a port matches several.
	CodeAmbiguous Code = "ambiguous"
	// CodeConflict: the request cannot take effect as asked (undraining a
	// backend the configuration drains).
	CodeConflict Code = "conflict"
	// CodeUnavailable: the daemon cannot do it now or on this node
	// (starting, stopping, no IPVS).
	CodeUnavailable Code = "unavailable"
	// CodeFailed: the daemon tried and failed.
	CodeFailed Code = "failed"
)

// Error is a request the daemon refused or failed.
type Error struct {
	Code    Code
	Message string
	// Hint says what to do next.
	Hint string
}

// Error returns the message, prefixed as the package's errors are.
func (e *Error) Error() string { return "control: " + e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code Code, hint, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// Errors of the wire format.
var (
	ErrTooLarge  = errors.New("control: message too large")
	ErrMalformed = errors.New("control: malformed message")
)

// EncodeRequest returns r as one line of JSON, its version set.
func EncodeRequest(r Request) []byte {
	r.Version = Version
	b, _ := json.Marshal(r) // strings and an int: cannot fail
	return append(b, '\n')
}

// ReadRequest reads one request from r: one JSON object of at most
// MaxRequest bytes, which need not be followed by EOF. It checks the
// version and that an op is named, not which.
func ReadRequest(r io.Reader) (Request, error) {
	lr := &io.LimitedReader{R: r, N: MaxRequest + 1}
	var req Request
	if err := json.NewDecoder(lr).Decode(&req); err != nil {
		if lr.N <= 0 {
			return Request{}, fmt.Errorf("%w: request over %d bytes", ErrTooLarge, MaxRequest)
		}
		return Request{}, fmt.Errorf("%w: request: %v", ErrMalformed, err)
	}
	switch {
	case req.Version == 0:
		return req, Errorf(CodeBadRequest, "", "request without a protocol version")
	case req.Version != Version:
		return req, Errorf(CodeBadRequest, "use the seesawctl of the same release as seesawd",
			"protocol version %d, seesawd speaks %d", req.Version, Version)
	case req.Op == "":
		return req, Errorf(CodeBadRequest, "", "request without an op")
	}
	return req, nil
}

// EncodeResponse returns the response carrying data (OK) or err (not OK:
// an *Error keeps its code and hint, any other error is CodeFailed).
func EncodeResponse(data any, err error) ([]byte, error) {
	resp := Response{Version: Version, OK: err == nil}
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			ce = &Error{Code: CodeFailed, Message: strings.TrimPrefix(err.Error(), "control: ")}
		}
		resp.Code, resp.Error, resp.Hint = ce.Code, ce.Message, ce.Hint
	} else if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return nil, fmt.Errorf("control: response: %w", err)
		}
		resp.Data = b
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("control: response: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeResponse parses a response and, when it is OK, its data into out
// (unless out is nil). A response that is not OK becomes an *Error.
func DecodeResponse(b []byte, out any) error {
	if len(b) > MaxResponse {
		return fmt.Errorf("%w: response over %d bytes", ErrTooLarge, MaxResponse)
	}
	var resp Response
	if err := json.Unmarshal(bytes.TrimSpace(b), &resp); err != nil {
		return fmt.Errorf("%w: response: %v", ErrMalformed, err)
	}
	if resp.Version != Version {
		return fmt.Errorf("%w: response of protocol version %d, want %d (use the seesawctl of the same release as seesawd)",
			ErrMalformed, resp.Version, Version)
	}
	if !resp.OK {
		if resp.Error == "" {
			return fmt.Errorf("%w: refusal without an error", ErrMalformed)
		}
		return &Error{Code: resp.Code, Message: resp.Error, Hint: resp.Hint}
	}
	if out == nil {
		return nil
	}
	if len(resp.Data) == 0 {
		return fmt.Errorf("%w: response without data", ErrMalformed)
	}
	if err := json.Unmarshal(resp.Data, out); err != nil {
		return fmt.Errorf("%w: response data: %v", ErrMalformed, err)
	}
	return nil
}
