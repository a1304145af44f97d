//go:build !linux

package main

import (
	"errors"
	"log"
)

// errNeedsLinux stands in for the server (an epoll loop) and the workers
// (getrusage and /proc figures) elsewhere, so the command builds anywhere.
var errNeedsLinux = errors.New("the benchmark runs only on Linux (epoll listeners, rusage and /proc figures)")

func serve() { log.Fatal(errNeedsLinux) }

func work(string, string) (Stats, error) { return Stats{}, errNeedsLinux }
