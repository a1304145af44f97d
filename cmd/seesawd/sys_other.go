//go:build !linux

package main

import "github.com/seesawd/seesawd/pkg/config"

func missingCaps() []string { return nil }

func udpSysctls(*config.Config) error { return nil }
