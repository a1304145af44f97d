package ipvs

import (
	"errors"
	"os"
	"syscall"
)

// ErrNoIPVS means the kernel has no "IPVS" generic netlink family: the
// ip_vs module is not loaded (or IPVS is not built in).
var ErrNoIPVS = errors.New("ipvs: the kernel has no IPVS generic netlink family; load the ip_vs module (modprobe ip_vs)")

// ErrDumpInterrupted means the kernel's tables changed while a dump was
// being read (NLM_F_DUMP_INTR), so the result may be inconsistent; retry.
var ErrDumpInterrupted = errors.New("ipvs: dump interrupted by a concurrent change (NLM_F_DUMP_INTR); retry")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("ipvs: client closed")

// OpError is the error of one kernel operation: the operation, what it was
// applied to, and the cause (a syscall.Errno from the kernel, a context
// error, a transport error or a decode error).
//
// errors.Is(err, os.ErrExist) is true for EEXIST and errors.Is(err,
// os.ErrNotExist) for ENOENT and ESRCH (the kernel's "no such service").
type OpError struct {
	Op     string // "create service", "dump destinations", ...
	Target string // "tcp 10.0.0.1:80", "tcp 10.0.0.1:80 -> 10.0.1.1:80", or empty
	Err    error
	// Message is the kernel's extended-ack text, when it sent one.
	Message string
}

// Error reads "ipvs: create service tcp 10.0.0.1:80: file exists".
func (e *OpError) Error() string {
	s := "ipvs: " + e.Op
	if e.Target != "" {
		s += " " + e.Target
	}
	s += ": " + e.Err.Error()
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	if e.Err == syscall.ENOENT && (e.Op == opCreateService || e.Op == opUpdateService) {
		s += " (unknown scheduler or persistence engine? its module may not be loaded)"
	}
	return s
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Is maps ESRCH, which IPVS returns for a missing service, to os.ErrNotExist.
func (e *OpError) Is(target error) bool {
	return target == os.ErrNotExist && e.Err == syscall.ESRCH
}

// Operation names used in OpError.Op.
const (
	opCreateService     = "create service"
	opUpdateService     = "update service"
	opRemoveService     = "remove service"
	opGetService        = "get service"
	opDumpServices      = "dump services"
	opCreateDestination = "create destination"
	opUpdateDestination = "update destination"
	opRemoveDestination = "remove destination"
	opDumpDestinations  = "dump destinations"
	opStartDaemon       = "start daemon"
	opStopDaemon        = "stop daemon"
	opDumpDaemons       = "dump daemons"
	opInfo              = "get info"
	opTimeouts          = "get timeouts"
	opSetTimeouts       = "set timeouts"
	opFlush             = "flush"
	opZero              = "zero"
	opApply             = "apply"
	opFamily            = "resolve family"
)
