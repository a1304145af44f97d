//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "demo: the lab needs Linux network namespaces and IPVS")
	os.Exit(2)
}
