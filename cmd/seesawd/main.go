// Command seesawd is the seesaw load-balancer daemon: it programs the
// kernel's IPVS from the services of its configuration file, health-checks
// their backends, and holds virtual IPs with VRRPv3.
//
//	seesawd --config /etc/seesawd/seesawd.yaml
//	seesawd --check-config /etc/seesawd/seesawd.yaml
//
// A bad file is refused with every problem named (file:line: path: message)
// and exit code 2, before anything is touched. SIGHUP reloads: parse,
// validate, apply only the difference; a bad file changes nothing. SIGTERM
// or SIGINT stops: VRRP masters send priority 0 and remove their virtual
// addresses, and IPVS is left serving (unless ipvs.remove_on_stop).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

// version is the module version, or the VCS revision the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			v += " " + kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				v += "+dirty"
			}
		}
	}
	return v + " " + bi.GoVersion
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command; stdout gets what was asked for (the version,
// the check's verdict), stderr the daemon's logs.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("seesawd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `file` to run")
	checkPath := fs.String("check-config", "", "validate the configuration `file` and exit (2 if it has problems)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	switch {
	case *showVersion:
		fmt.Fprintln(stdout, "seesawd", version())
		return exitOK
	case *checkPath != "":
		return checkConfig(*checkPath, stdout)
	case *cfgPath == "" || fs.NArg() > 0:
		fmt.Fprintln(stderr, "usage: seesawd --config FILE | --check-config FILE | --version")
		return exitConfig
	}
	return serve(*cfgPath, stderr)
}
