// Command seesawd is the seesaw load-balancer daemon. For now it runs the VRRP
// instances of its configuration file:
//
//	seesawd --config /etc/seesawd/seesawd.yaml
//	seesawd --check-config /etc/seesawd/seesawd.yaml
//
// A bad file is refused with every problem named and exit code 2, before anything
// is touched. SIGTERM or SIGINT stops gracefully: masters send priority 0 and remove
// their virtual addresses. SIGHUP re-reads and validates the file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/vrrp"
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
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("seesawd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `file` to run")
	checkPath := fs.String("check-config", "", "validate the configuration `file` and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if *showVersion {
		fmt.Fprintln(stderr, "seesawd", version())
		return exitOK
	}
	if *checkPath != "" {
		if _, err := config.Load(*checkPath); err != nil {
			fmt.Fprintln(stderr, err)
			return exitConfig
		}
		fmt.Fprintf(stderr, "%s: ok\n", *checkPath)
		return exitOK
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: seesawd --config FILE | --check-config FILE")
		return exitConfig
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("node", cfg.Node.Name))

	instances, groups := cfg.VRRPInstances()
	node, err := vrrp.New(&vrrp.Config{Instances: instances, SyncGroups: groups, Logger: log.Named("vrrp")})
	if err != nil {
		log.Error("vrrp configuration", zap.Error(err))
		return exitConfig
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	go func() {
		for ev := range node.Events() {
			log.Debug("transition event", zap.Stringer("instance", ev.Instance), zap.Stringer("to", ev.To),
				zap.Time("at", ev.Time))
		}
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(log, *cfgPath)
			}
		}
	}()

	log.Info("seesawd starting", zap.String("config", *cfgPath), zap.Int("vrrp_instances", len(instances)))
	if err := node.Run(ctx); err != nil {
		log.Error("vrrp stopped", zap.Error(err))
		return exitFail
	}
	log.Info("seesawd stopped")
	return exitOK
}

// reload re-reads and validates the file. Applying VRRP changes live arrives with the
// engine; a bad file is logged and changes nothing.
func reload(log *zap.Logger, path string) {
	if _, err := config.Load(path); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			probs := make([]string, 0, len(ce.Problems))
			for _, p := range ce.Problems {
				probs = append(probs, p.String())
			}
			log.Error("SIGHUP: configuration rejected, keeping the running one", zap.Strings("problems", probs))
			return
		}
		log.Error("SIGHUP: configuration rejected, keeping the running one", zap.Error(err))
		return
	}
	log.Warn("SIGHUP: configuration is valid; live reload of VRRP arrives with the engine, restart to apply it")
}

func newLogger(c config.Log, out io.Writer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("seesawd: log level: %w", err)
	}
	format := c.Format
	if format == "auto" {
		format = "json"
		if f, ok := out.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "console"
			}
		}
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if format == "console" {
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(out), lvl)), nil
}
