package ipvs

import (
	"errors"
	"os"
	"syscall"
)

// ErrNoIPVS means the kernel has no "IPVS" generic netlink family: the
// ip_vs module is not loaded (or IPVS is not built in).
var ErrNoIPVS = errors.New("ipvs: the kernel has no IPVS generic netlink family; load the ip_vs module (modprobe ip_vs)")

// ErrDumpInterrupted means the kernel flagged a dump as interrupted by a
// concurrent change (NLM_F_DUMP_INTR). IPVS itself never sets the flag
// (see ErrDumpInconsistent); it is honoured for completeness.
var ErrDumpInterrupted = errors.New("ipvs: dump interrupted by a concurrent change (NLM_F_DUMP_INTR); retry")

// ErrDumpInconsistent means a dump listed the same service or destination
// twice: the kernel's tables changed while the dump was being read. IPVS
// resumes each part of a dump by position, so a change ahead of the
// position repeats entries and one behind it skips entries, and the kernel
// says nothing of either. The list returned with this error has the
// repeats removed but may lack entries that existed throughout; a dump
// without this error may lack them too (see the package documentation).
var ErrDumpInconsistent = errors.New("ipvs: dump inconsistent: an entry came twice, the tables changed while they were read; retry")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("ipvs: client closed")

// OpError is the error of one kernel operation: the operation, what it was
// applied to, and the cause (a syscall.Errno from the kernel, a refusal
// before sending, a context error, a transport error or a decode error).
//
// errors.Is(err, os.ErrExist) is true for EEXIST, errors.Is(err,
// os.ErrNotExist) for ENOENT and ESRCH (the kernel's "no such service"),
// and errors.Is(err, os.ErrInvalid) for EINVAL, ERANGE and EAFNOSUPPORT
// from the kernel as for a request refused before it was sent; the errno
// itself matches too (errors.Is(err, syscall.ERANGE)).
type OpError struct {
	Op     string // "create service", "dump destinations", ...
	Target string // "tcp 10.0.0.1:80", "tcp 10.0.0.1:80 -> 10.0.1.1:80", or empty
	Err    error
	// Message is the kernel's extended-ack text, when it sent one (IPVS
	// rarely does).
	Message string
	// Hint names the likely cause of an errno the kernel returns without
	// one, such as EINVAL for a destination, or is empty.
	Hint string
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
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Is maps the errnos the standard library does not: ESRCH, which IPVS
// returns for a missing service, to os.ErrNotExist, and the kernel's
// refusals of bad values to os.ErrInvalid.
func (e *OpError) Is(target error) bool {
	switch target {
	case os.ErrNotExist:
		return e.Err == syscall.ESRCH
	case os.ErrInvalid:
		return e.Err == syscall.EINVAL || e.Err == syscall.ERANGE || e.Err == syscall.EAFNOSUPPORT
	}
	return false
}

// hint names the likely cause of an errno the kernel sent back for op on
// service s (and destination d), from what the kernel checks in
// net/netfilter/ipvs/ip_vs_ctl.c that this package cannot check first.
func hint(op string, errno syscall.Errno, s *Service, d *Destination) string {
	switch {
	case errno == syscall.ENOENT && (op == opCreateService || op == opUpdateService):
		return "unknown scheduler or persistence engine? its module may not be loaded"
	case errno == syscall.EINVAL && (op == opCreateDestination || op == opUpdateDestination):
		if s != nil && d != nil && s.family() != d.family() {
			return "a destination of another family than its service's is refused while a sync daemon runs"
		}
		if op == opCreateDestination {
			return "the kernel takes only a unicast or local address, and none in a namespace whose lo has never been up"
		}
	case errno == syscall.ERANGE && (op == opCreateDestination || op == opUpdateDestination):
		return "weight above 2147483647, or lower threshold above the upper"
	case errno == syscall.EINVAL && op == opStartDaemon:
		return "no sync daemon while a destination's family differs from its service's; the group must be multicast"
	case errno == syscall.EINVAL && op == opSetTimeouts:
		return "a timeout above the kernel's limit of 2147483647/HZ seconds"
	}
	return ""
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
