package ipvs

import (
	"context"
	"errors"
	"strconv"
	"syscall"

	u "github.com/seesawd/seesawd/pkg/ipvs/internal/ipvsuapi"
)

// OpKind is the kind of change an Op makes.
type OpKind uint8

// The changes Apply can batch.
const (
	OpCreateService OpKind = iota + 1
	OpUpdateService
	OpRemoveService
	OpCreateDestination
	OpUpdateDestination
	OpRemoveDestination
)

// String returns "create service", "remove destination", ...
func (k OpKind) String() string {
	switch k {
	case OpCreateService:
		return opCreateService
	case OpUpdateService:
		return opUpdateService
	case OpRemoveService:
		return opRemoveService
	case OpCreateDestination:
		return opCreateDestination
	case OpUpdateDestination:
		return opUpdateDestination
	case OpRemoveDestination:
		return opRemoveDestination
	}
	return "op(" + strconv.Itoa(int(k)) + ")"
}

// Op is one change for Apply. Destination is used by the destination kinds
// only.
type Op struct {
	Kind        OpKind
	Service     Service
	Destination Destination
}

// ErrNotApplied marks the operations of an Apply batch whose fate is
// unknown or that were never sent because the transport failed.
var ErrNotApplied = errors.New("ipvs: not applied: the batch failed before this operation was confirmed")

func (op *Op) append(b []byte, h header) ([]byte, error) {
	switch op.Kind {
	case OpCreateService:
		h.cmd = u.IPVS_CMD_NEW_SERVICE
		return appendServiceMsg(b, h, &op.Service, true)
	case OpUpdateService:
		h.cmd = u.IPVS_CMD_SET_SERVICE
		return appendServiceMsg(b, h, &op.Service, true)
	case OpRemoveService:
		h.cmd = u.IPVS_CMD_DEL_SERVICE
		return appendServiceMsg(b, h, &op.Service, false)
	case OpCreateDestination:
		h.cmd = u.IPVS_CMD_NEW_DEST
		return appendDestMsg(b, h, &op.Service, &op.Destination, true)
	case OpUpdateDestination:
		h.cmd = u.IPVS_CMD_SET_DEST
		return appendDestMsg(b, h, &op.Service, &op.Destination, true)
	case OpRemoveDestination:
		h.cmd = u.IPVS_CMD_DEL_DEST
		return appendDestMsg(b, h, &op.Service, &op.Destination, false)
	}
	return b, invalid("unknown operation kind %v", op.Kind)
}

func (op *Op) fail(err error, text string) error {
	var d *Destination
	switch op.Kind {
	case OpCreateDestination, OpUpdateDestination, OpRemoveDestination:
		d = &op.Destination
	}
	return opError(op.Kind.String(), &op.Service, d, err, text)
}

// Apply performs ops in order, packing many requests into each sendmsg,
// and returns one result per op: nil, or an *OpError saying why the kernel
// (or validation) refused it. A failed op does not stop the ones after it.
//
// Only the last request of each packed batch asks the kernel for an
// acknowledgement; the kernel answers every failed request with an error
// carrying its sequence number, so one read usually confirms the whole
// batch. The returned error is non-nil only when the socket itself failed
// or ctx ended; the ops whose outcome is then unknown, and those never
// sent, get an error wrapping ErrNotApplied and that cause.
//
// ctx is checked before each batch is sent. The kernel carries out a batch
// within the sendmsg call, which cannot be interrupted, so a deadline can
// be overrun by the time of one batch (Config.BatchOps requests; about
// 15 ms for 1,024 under emulation); the batches after it are not sent.
func (c *Client) Apply(ctx context.Context, ops []Op) ([]error, error) {
	errs := make([]error, len(ops))
	if len(ops) == 0 {
		return errs, nil
	}
	k := &c.main
	stop, err := k.begin(ctx)
	defer k.end(stop)
	if err != nil {
		return notApplied(errs, ops, 0, err)
	}
	for i := 0; i < len(ops); {
		if i > 0 {
			if err := k.expired(ctx); err != nil {
				return notApplied(errs, ops, i, err)
			}
		}
		b := k.wbuf[:0]
		k.idx = k.idx[:0]
		first := k.seq + 1
		lastStart := -1
		for ; i < len(ops) && len(k.idx) < c.maxOps && len(b) < c.maxLen; i++ {
			start := len(b)
			nb, err := ops[i].append(b, header{family: c.family, seq: k.seq + 1})
			if err != nil {
				errs[i] = ops[i].fail(err, "")
				continue
			}
			b = nb
			k.seq++
			k.idx = append(k.idx, int32(i))
			lastStart = start
		}
		if lastStart < 0 {
			continue
		}
		// Ask for an acknowledgement on the last request only.
		ne.PutUint16(b[lastStart+6:], ne.Uint16(b[lastStart+6:])|u.NLM_F_ACK)
		k.wbuf = b
		last := k.seq
		err := k.exchange(ctx, first, last, false, nil, func(seq uint32, errno syscall.Errno, text string) {
			j := k.idx[seq-first]
			errs[j] = ops[j].fail(errno, text)
		})
		if err != nil {
			for _, j := range k.idx {
				if errs[j] == nil {
					errs[j] = ops[j].fail(errors.Join(ErrNotApplied, err), "")
				}
			}
			return notApplied(errs, ops, i, err)
		}
	}
	return errs, nil
}

// notApplied marks ops[from:] not applied because of err.
func notApplied(errs []error, ops []Op, from int, err error) ([]error, error) {
	for k := from; k < len(ops); k++ {
		if errs[k] == nil {
			errs[k] = ops[k].fail(errors.Join(ErrNotApplied, err), "")
		}
	}
	if err == ErrClosed {
		return errs, err
	}
	return errs, &OpError{Op: opApply, Err: err}
}
