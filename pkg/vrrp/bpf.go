package vrrp

import (
	"fmt"
	"math"
	"slices"

	"golang.org/x/net/bpf"
)

// vridFilter assembles the classic BPF socket filter behind the Linux
// PacketConn.SetVRIDs: it admits a message only if its first byte is version 3,
// type 1 (0x31) and its VRID is in vrids; anything else, including messages
// too short to hold both bytes, is discarded in the kernel before it costs a
// system call. A raw IPv4 socket's filter sees the IP header first (ipHeader),
// whose length it reads from the IHL field; a raw IPv6 socket's sees the VRRP
// message first. The VRIDs are matched as sorted ranges, three instructions
// each, so the program stays short for any set (at most 128 ranges) and every
// jump fits in 8 bits. An empty set admits nothing.
func vridFilter(ipHeader bool, vrids []uint8) ([]bpf.RawInstruction, error) {
	const (
		accept = math.MaxUint32 // the whole packet
		drop   = 0
	)
	var prog []bpf.Instruction
	if ipHeader {
		prog = append(prog,
			bpf.LoadMemShift{Off: 0}, // X = 4 * IHL
			bpf.LoadIndirect{Off: 0, Size: 1},
		)
	} else {
		prog = append(prog,
			bpf.LoadConstant{Dst: bpf.RegX, Val: 0},
			bpf.LoadAbsolute{Off: 0, Size: 1},
		)
	}
	prog = append(prog,
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: Version<<4 | TypeAdvertisement, SkipTrue: 1},
		bpf.RetConstant{Val: drop},
		bpf.LoadIndirect{Off: 1, Size: 1},
	)
	for _, r := range vridRanges(vrids) {
		prog = append(prog,
			// Below the range: on to the next one.
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: uint32(r[0]), SkipFalse: 2},
			// Above it: on to the next one too.
			bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(r[1]), SkipTrue: 1},
			bpf.RetConstant{Val: accept},
		)
	}
	prog = append(prog, bpf.RetConstant{Val: drop})
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("vrrp: assemble vrid filter: %w", err)
	}
	return raw, nil
}

// vridRanges returns the sorted VRIDs as inclusive ranges of consecutive values.
func vridRanges(vrids []uint8) [][2]uint8 {
	s := slices.Clone(vrids)
	slices.Sort(s)
	s = slices.Compact(s)
	var out [][2]uint8
	for _, v := range s {
		if n := len(out); n > 0 && int(out[n-1][1])+1 == int(v) {
			out[n-1][1] = v
			continue
		}
		out = append(out, [2]uint8{v, v})
	}
	return out
}
