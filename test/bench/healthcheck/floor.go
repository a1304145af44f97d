package main

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// floorC is the floor as a C program: the Go floor (tcp-floor-go) pays
// for the Go runtime's threads waking each other, which a C loop does not.
//
//go:embed floor/floor.c
var floorC []byte

// buildFloor compiles floor.c with cc into dir and returns the binary's
// path, or an error saying why the floor falls back to Go.
func buildFloor(dir string) (string, error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return "", fmt.Errorf("no C compiler (cc): %w", err)
	}
	src := filepath.Join(dir, "hcb-floor.c")
	if err := os.WriteFile(src, floorC, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hcb-floor")
	if out, err := exec.Command(cc, "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("cc floor.c: %w: %s", err, out)
	}
	return bin, nil
}
