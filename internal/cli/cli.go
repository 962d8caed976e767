// Package cli is strata's command tree: serve, config validate, the client
// verbs (get, set, del, stats) and version. cmd/strata calls Main; tests call
// it too, with their own arguments, environment and streams.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/node"
	"github.com/strata-cache/strata/internal/telemetry"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Main runs the strata command line with args (without the program name) and
// returns the process exit code.
func Main(args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(environ, stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "strata:", trimPrefix(err.Error()))
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// trimPrefix avoids "strata: strata: ..." when an error already names us.
func trimPrefix(s string) string {
	const p = "strata: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

func newRoot(environ []string, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "strata",
		Short:         "strata is a cache in front of PostgreSQL that speaks RESP and HTTP",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServe(environ, stdout),
		newConfigCmd(environ, stdout),
		newVersion(stdout),
		newBenchCmd(stdout, stderr),
		newKeysCmd(stdout),
	)
	root.AddCommand(newClientCmds(stdout)...)
	return root
}

func newServe(environ []string, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a strata node (embedded L1 cache, RESP on 127.0.0.1:6380, HTTP on 127.0.0.1:8080)",
		Long: `Run a strata node. With no flags and no config file it serves plain keys
from memory on loopback: RESP (Redis protocol) on 127.0.0.1:6380 and HTTP on
127.0.0.1:8080. Settings come from flags, then STRATA_* environment variables,
then the --config YAML file, then defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load("", environ, cmd.Flags())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			log := telemetry.NewLogger(stdout, cfg.Log.SlogLevel(), cfg.Log.Format)
			if limit, set := memoryLimit(environ, uint64(cfg.Cache.MaxMemory)); set {
				log.Info("Go memory limit set from cache.max_memory (set GOMEMLIMIT to override)",
					"go.memory_limit", config.Bytes(limit).String())
			}
			n, err := node.New(cfg, log)
			if err != nil {
				return err
			}
			if err := n.Start(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// SIGHUP reloads the TLS certificate; the node owns the
			// goroutine and stops it when it shuts down.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			n.ReloadOn(hup)
			return n.Run(ctx)
		},
	}
	config.BindFlags(cmd.Flags())
	return cmd
}

func newConfigCmd(environ []string, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	validate := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a configuration file; print every problem with the field it concerns",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if _, err := config.Load(args[0], nil, nil); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(stdout, "%s: ok\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(validate)
	return cmd
}

func newVersion(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(stdout, "strata", telemetry.BuildVersion())
		},
	}
}

// memoryLimit sets the Go runtime's soft memory limit from the L1 bound
// unless GOMEMLIMIT is in the environment, and reports the limit it set.
//
// Without a limit the garbage collector lets the heap grow to twice the live
// data (GOGC=100), so a node bounded at 1 GiB of cache would use over 2 GiB.
// The limit makes the collector work harder as the heap approaches it. It
// allows the accounted bound, a half for garbage from values being replaced
// and for the heap's own rounding, and 64 MiB for connection buffers and the
// runtime. docs/operations.md explains the sizing.
func memoryLimit(environ []string, maxMemory uint64) (uint64, bool) {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return 0, false
		}
	}
	limit := maxMemory + maxMemory/2 + 64<<20
	if limit > math.MaxInt64 {
		return 0, false
	}
	debug.SetMemoryLimit(int64(limit))
	return limit, true
}
