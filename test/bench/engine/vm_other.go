//go:build !linux

package main

import (
	"context"
	"errors"
)

func runVM(context.Context, layout, options) (vmResult, error) {
	return vmResult{}, errors.New("the VM part needs linux")
}
