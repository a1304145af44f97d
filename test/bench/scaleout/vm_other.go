//go:build !linux

package main

import (
	"context"
	"errors"
)

func runVM(context.Context, options) (*result, error) {
	return nil, errors.New("the scale-out lab needs Linux")
}
