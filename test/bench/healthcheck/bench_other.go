//go:build !linux

package main

import (
	"context"
	"errors"
)

var errUnsupported = errors.New("the health-check benchmark needs linux (network namespaces, epoll, /proc)")

func runAll(context.Context, []string, params) ([]Stats, error) { return nil, errUnsupported }

func serve([]string) error { return errUnsupported }

func work(string, string) error { return errUnsupported }
