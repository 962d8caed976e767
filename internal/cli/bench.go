package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-cache/strata/internal/loadgen"
)

// Defaults of strata bench that differ from loadgen's zero-value defaults.
const (
	benchDefaultAddr = "127.0.0.1:6380"
	benchDefaultURL  = "http://127.0.0.1:8080/v1/kv/{key}"
)

// newBenchCmd returns "strata bench", a thin wrapper over internal/loadgen:
// flags become loadgen.Options, the report goes to stdout as text (and to
// --json and --plot files), progress goes to stderr. "strata bench compare"
// prints two saved reports side by side.
func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		o                 loadgen.Options
		target, dist      string
		url               string
		jsonPath, plotOut string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a RESP or HTTP server (strata, Redis, nginx, ...) with a key-value workload",
		Long: `Drive a Redis-protocol server or an HTTP service with GETs and SETs (PUTs)
of a key space, then report throughput, errors, the hit ratio and latency
percentiles from HDR histograms.

By default each connection sends its next request as soon as the previous
reply arrives (closed loop, measures capacity). With --rate the requests are
scheduled on a fixed timeline (open loop) and latency is measured from the
time each request was due, so a server stall shows as latency instead of
disappearing from the numbers.

Examples:
  strata bench --addr 127.0.0.1:6379 --preload --json redis.json --label redis
  strata bench --addr 127.0.0.1:6380 --preload --json strata.json --label strata
  strata bench compare redis.json strata.json --plot cmp.svg
  strata bench --target http --url 'http://127.0.0.1:8080/v1/kv/{key}' --rate 20000
  strata bench --target http --url http://127.0.0.1:8081/value --read-ratio 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			o.Target = loadgen.TargetKind(target)
			o.Dist = loadgen.Dist(dist)
			o.ReadRatioSet = true
			switch o.Target {
			case loadgen.RESP:
				if f.Changed("url") || f.Changed("http-url") {
					return usageError("--url applies to --target http; for resp use --addr host:port")
				}
			case loadgen.HTTP:
				if f.Changed("addr") {
					return usageError("--addr applies to --target resp; for http use --url")
				}
				o.URL, o.Addr = url, ""
				if o.URL == "" {
					o.URL = benchDefaultURL
				}
			}
			if f.Changed("requests") {
				if f.Changed("duration") {
					return usageError("--duration and --requests are exclusive: pass one")
				}
				if o.Requests <= 0 {
					return usageError(fmt.Sprintf("--requests %d: must be at least 1", o.Requests))
				}
				o.Duration = 0
			} else if o.Duration <= 0 {
				return usageError(fmt.Sprintf("--duration %v: must be positive, e.g. 10s or 1m", o.Duration))
			}
			if plotOut != "" {
				if _, err := loadgen.PlotFormat(plotOut); err != nil {
					return usageError("--plot " + plotOut + ": the file name must end in .svg or .png")
				}
			}
			if err := (&o).Validate(); err != nil {
				return benchError(err)
			}
			o.Progress = loadgen.NewProgress(stderr, time.Second)

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := loadgen.Run(ctx, o)
			if err != nil {
				return benchError(err)
			}
			if jsonPath == "-" {
				if err := rep.WriteJSON(stdout); err != nil {
					return err
				}
			} else if err := rep.WriteText(stdout); err != nil {
				return err
			}
			if jsonPath != "" && jsonPath != "-" {
				if err := writeReportFile(jsonPath, rep); err != nil {
					return err
				}
			}
			if plotOut != "" {
				if err := loadgen.SavePlot(plotOut, rep); err != nil {
					return err
				}
			}
			if rep.Ops == 0 {
				return &exitError{code: 1, err: fmt.Errorf("bench: no operation succeeded (%d errors)", rep.Errors)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "target", "resp", "protocol: `resp` (Redis protocol) or http")
	f.StringVar(&o.Addr, "addr", benchDefaultAddr, "RESP server `host:port` (--target resp)")
	f.StringVar(&url, "url", "", "HTTP URL `template`; {key} is replaced by the key; without {key} every request GETs the URL (default "+benchDefaultURL+")")
	f.StringVar(&url, "http-url", "", "same as --url")
	_ = f.MarkHidden("http-url")
	f.IntVar(&o.Keys, "keys", 10000, "key space size")
	f.StringVar(&o.KeyPrefix, "key-prefix", "key:", "prefix of every key name; the key index follows it")
	f.StringVar(&dist, "dist", "zipf", "key choice: `zipf` (skewed) or uniform")
	f.Float64Var(&o.ZipfS, "zipf-s", 0.99, "Zipf skew exponent, > 0 (larger is more skewed)")
	f.Float64Var(&o.ReadRatio, "read-ratio", 0.9, "fraction of operations that are reads (GET), 0..1; the rest are writes (SET/PUT)")
	f.IntVar(&o.ValueSize, "value-size", 64, "size of written values in `bytes`")
	f.IntVar(&o.Conns, "conns", 50, "number of connections")
	f.IntVar(&o.Pipeline, "pipeline", 1, "requests in flight per RESP connection")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to measure, after warm-up")
	f.Int64Var(&o.Requests, "requests", 0, "measure this many operations instead of --duration")
	f.Float64Var(&o.Rate, "rate", 0, "target `ops/s` across all connections (open loop); 0 = closed loop")
	f.BoolVar(&o.Preload, "preload", false, "write every key once before measuring, so reads hit")
	f.DurationVar(&o.Warmup, "warmup", time.Second, "run this long before measuring, unrecorded")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Second, "per-request (per-batch) timeout")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed of key choice")
	f.StringVar(&jsonPath, "json", "", "also write the report as JSON to `FILE` (- for stdout instead of text)")
	f.StringVar(&plotOut, "plot", "", "write a latency plot to `FILE`.svg or .png")
	f.StringVar(&o.Label, "label", "", "name of this run in reports and plots (default: the address or URL)")
	cmd.AddCommand(newBenchCompareCmd(stdout))
	return cmd
}

func newBenchCompareCmd(stdout io.Writer) *cobra.Command {
	var plotOut string
	cmd := &cobra.Command{
		Use:   "compare A.json B.json",
		Short: "Print two bench reports side by side with ratios B/A",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			if plotOut != "" {
				if _, err := loadgen.PlotFormat(plotOut); err != nil {
					return usageError("--plot " + plotOut + ": the file name must end in .svg or .png")
				}
			}
			a, err := loadgen.ReadReport(args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			b, err := loadgen.ReadReport(args[1])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if _, err := io.WriteString(stdout, loadgen.Compare(*a, *b)); err != nil {
				return err
			}
			if plotOut != "" {
				return loadgen.SavePlot(plotOut, a, b)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&plotOut, "plot", "", "write both runs' latency curves to `FILE`.svg or .png")
	return cmd
}

// usageError is a bad flag value: exit code 2, like other usage errors.
func usageError(msg string) error {
	return &exitError{code: 2, err: errors.New("bench: " + msg)}
}

// benchError maps loadgen's errors to exit codes: 2 for invalid options, 1
// for everything else.
func benchError(err error) error {
	if errors.Is(err, loadgen.ErrInvalidOptions) {
		return &exitError{code: 2, err: err}
	}
	return &exitError{code: 1, err: err}
}

func writeReportFile(path string, rep *loadgen.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: --json: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: --json: %w", err)
	}
	return f.Close()
}
