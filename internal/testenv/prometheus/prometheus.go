// Package prometheus runs a throwaway Prometheus server for tests of
// strata's metrics, alert rules and dashboards: the caller supplies a scrape
// configuration (a template filled with the targets), the harness runs
// Prometheus on a free port of 127.0.0.1 with its TSDB in a temporary
// directory, and Query evaluates PromQL through the HTTP API.
package prometheus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"text/template"
	"time"

	"github.com/strata-cache/strata/internal/testenv/procs"
)

const installHint = "apt-get install prometheus"

// DefaultConfig scrapes every target in Data.Targets as job "strata" at
// Data.ScrapeInterval.
const DefaultConfig = `global:
  scrape_interval: {{.ScrapeInterval}}
  evaluation_interval: {{.ScrapeInterval}}
scrape_configs:
  - job_name: strata
    static_configs:
      - targets: [{{range $i, $t := .Targets}}{{if $i}}, {{end}}"{{$t}}"{{end}}]
`

// Data is what a config template is executed with.
type Data struct {
	// Targets are the scrape targets ("host:port") given in Options.
	Targets []string
	// ScrapeInterval is Options.ScrapeInterval in Prometheus's duration
	// syntax, e.g. "1s" or "500ms".
	ScrapeInterval string
	// Dir is the server's working directory; rule files written there can
	// be referenced by absolute path.
	Dir string
}

// Options configures the server.
type Options struct {
	// Config is a text/template for prometheus.yml executed with Data.
	// Default DefaultConfig.
	Config string
	// Targets are the scrape targets, made available as Data.Targets.
	Targets []string
	// ScrapeInterval is made available as Data.ScrapeInterval. Default 1s.
	ScrapeInterval time.Duration
	// StartTimeout bounds the wait for /-/ready. Default 30s.
	StartTimeout time.Duration
}

// Server is a running Prometheus.
type Server struct {
	dir     string
	logPath string
	port    int
	proc    *procs.Process
	client  *http.Client
}

// New starts Prometheus for the test and stops it when the test ends. A
// missing prometheus skips the test, or fails it when CI=true.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), opts)
	procs.Require(t, err)
	procs.Cleanup(t, "prometheus", []string{s.logPath}, s.dir, s.stop)
	return s
}

// Start writes the config and starts Prometheus, waiting until it reports
// ready. The caller must Close it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := procs.LookPath("prometheus", installHint)
	if err != nil {
		return nil, err
	}
	text := opts.Config
	if text == "" {
		text = DefaultConfig
	}
	tmpl, err := template.New("prometheus.yml").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("prometheus: config template: %w", err)
	}
	interval := opts.ScrapeInterval
	if interval <= 0 {
		interval = time.Second
	}
	dir, err := procs.TempDir("prometheus")
	if err != nil {
		return nil, err
	}
	s := &Server{
		dir:     dir,
		logPath: filepath.Join(dir, "prometheus.log"),
		client:  &http.Client{Timeout: 10 * time.Second},
	}
	conf := filepath.Join(dir, "prometheus.yml")
	var b bytes.Buffer
	err = tmpl.Execute(&b, Data{
		Targets:        opts.Targets,
		ScrapeInterval: strconv.FormatInt(interval.Milliseconds(), 10) + "ms",
		Dir:            dir,
	})
	if err == nil {
		err = os.WriteFile(conf, b.Bytes(), 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("prometheus: config: %w", err)
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for range 3 { // a reserved port can be taken before Prometheus binds it
		if s.port, err = procs.FreePort(); err != nil {
			break
		}
		if err = s.start(ctx, bin, conf); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		tail := procs.Tail(s.logPath, 30)
		os.RemoveAll(dir)
		return nil, fmt.Errorf("prometheus: %w\n--- prometheus log ---\n%s", err, tail)
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, bin, conf string) error {
	p, err := procs.Start(procs.Spec{
		Path: bin,
		Args: []string{
			"--config.file=" + conf,
			"--storage.tsdb.path=" + filepath.Join(s.dir, "data"),
			"--web.listen-address=" + s.Addr(),
			"--web.enable-lifecycle",
			"--log.level=warn",
		},
		Dir:     s.dir,
		LogPath: s.logPath,
	})
	if err != nil {
		return err
	}
	err = procs.Poll(ctx, 100*time.Millisecond, p, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/-/ready", nil)
		if err != nil {
			return err
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		p.Kill()
		return err
	}
	s.proc = p
	return nil
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns "http://127.0.0.1:port".
func (s *Server) URL() string { return "http://" + s.Addr() }

// Dir returns the server's working directory.
func (s *Server) Dir() string { return s.dir }

// Sample is one element of a query result.
type Sample struct {
	// Metric holds the series labels, including __name__ when present.
	Metric map[string]string
	// Value is the sample value.
	Value float64
	// Time is the evaluation timestamp.
	Time time.Time
}

// Query evaluates promql at the current time through /api/v1/query and
// returns the resulting instant vector (a scalar is returned as one sample
// without labels).
func (s *Server) Query(ctx context.Context, promql string) ([]Sample, error) {
	u := s.URL() + "/api/v1/query?" + url.Values{"query": {promql}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus: query %q: %w", promql, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("prometheus: query %q: %w", promql, err)
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("prometheus: query %q: %s: %w", promql, resp.Status, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("prometheus: query %q: %s", promql, r.Error)
	}
	switch r.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &vec); err != nil {
			return nil, fmt.Errorf("prometheus: query %q: %w", promql, err)
		}
		out := make([]Sample, 0, len(vec))
		for _, v := range vec {
			smp, err := sample(v.Value)
			if err != nil {
				return nil, fmt.Errorf("prometheus: query %q: %w", promql, err)
			}
			smp.Metric = v.Metric
			out = append(out, smp)
		}
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			return nil, fmt.Errorf("prometheus: query %q: %w", promql, err)
		}
		smp, err := sample(v)
		if err != nil {
			return nil, fmt.Errorf("prometheus: query %q: %w", promql, err)
		}
		return []Sample{smp}, nil
	default:
		return nil, fmt.Errorf("prometheus: query %q: unsupported result type %q", promql, r.Data.ResultType)
	}
}

// sample decodes the API's [unix seconds, "value"] pair.
func sample(v [2]any) (Sample, error) {
	ts, ok1 := v[0].(float64)
	str, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return Sample{}, fmt.Errorf("malformed sample %v", v)
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return Sample{}, fmt.Errorf("malformed sample value %q: %w", str, err)
	}
	return Sample{Value: f, Time: time.UnixMilli(int64(ts * 1000))}, nil
}

// WaitQuery evaluates promql repeatedly until it returns at least one
// sample or ctx ends. Use it to wait for the first scrapes.
func (s *Server) WaitQuery(ctx context.Context, promql string) ([]Sample, error) {
	var out []Sample
	err := procs.Poll(ctx, 200*time.Millisecond, s.proc, func(ctx context.Context) error {
		res, err := s.Query(ctx, promql)
		if err != nil {
			return err
		}
		if len(res) == 0 {
			return errors.New("empty result")
		}
		out = res
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prometheus: wait for %q: %w", promql, err)
	}
	return out, nil
}

// Close stops Prometheus (SIGTERM, then SIGKILL after a timeout) and removes
// its directory.
func (s *Server) Close() error {
	return errors.Join(s.stop(), os.RemoveAll(s.dir))
}

func (s *Server) stop() error { return s.proc.Stop(procs.DefaultStopTimeout) }
