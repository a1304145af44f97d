//go:build !linux

package nettopo

import "context"

// NewNetns returns ErrUnsupported off Linux.
func NewNetns(context.Context, string) (*Netns, error) { return nil, ErrUnsupported }
