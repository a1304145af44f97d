// Command vmrun runs a command inside seesawd's VM lab (a real kernel with
// IPVS) and exits with the command's status.
//
//	vmrun [-m 1G] [-smp 2] [-timeout 10m] [-C dir] [-share dir]... [-f file]... -- command [args...]
//
// The guest sees the host's root read-only with its own tmpfs on /tmp, /run,
// /root, /var/tmp and /var/log; the working directory and each -share
// directory stay visible at their host path even there. Files named with -f
// are copied into the job directory and appear in the guest under
// /run/seesaw-vm/<base name>.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/seesawd/seesawd/test/vm"
)

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var (
		cfg       vm.Config
		fs, share files
	)
	flag.StringVar(&cfg.Memory, "m", "1G", "guest memory")
	flag.IntVar(&cfg.CPUs, "smp", 2, "guest CPUs")
	flag.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "limit for the whole run")
	flag.StringVar(&cfg.Dir, "C", "", "working directory in the guest (default: the current one)")
	flag.Var(&share, "share", "host directory the guest must see even under its tmpfs /tmp, /root... (repeatable)")
	flag.Var(&fs, "f", "file to copy into the guest's /run/seesaw-vm (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: vmrun [flags] -- command [args...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	cfg.Files, cfg.Share = fs, share
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rc, err := vm.Run(ctx, &cfg, flag.Args()...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmrun: %v\n", err)
		os.Exit(125)
	}
	os.Exit(rc)
}
