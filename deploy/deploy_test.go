// Package deploy tests the operator's kit in this directory: the Prometheus
// configuration and rules, the Grafana dashboard, the Filebeat
// configuration, the systemd unit, the Kubernetes manifests, the Dockerfile
// and the docker-compose file.
//
// Most of these files are consumed by programs that cannot run here
// (Kubernetes, Docker, Grafana, Filebeat), so the tests check what can be
// checked without them: every file parses, every strata flag, configuration
// key and environment variable they name exists, every metric a query
// names is exported by a real node, and the tools that are installed
// (promtool, prometheus, prometheus-redis-exporter, systemd-analyze, nginx)
// accept the files or work against a node.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/node/nodetest"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/node"
	"github.com/strata-cache/strata/internal/telemetry"
)

// readFile returns the file at path, relative to this directory (the
// working directory of the tests).
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// yamlDocs parses every document of the YAML file at path into a generic
// value. Empty documents (a trailing "---") are dropped.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, path)))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// yamlDoc parses the single-document YAML file at path.
func yamlDoc(t *testing.T, path string) map[string]any {
	t.Helper()
	docs := yamlDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d YAML documents, want 1", path, len(docs))
	}
	return docs[0]
}

// dig follows a path of map keys and list indexes (int) through a value
// decoded from YAML or JSON, and returns nil where the path ends early.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// str returns dig(v, path...) as a string, or "" if it is not one.
func str(v any, path ...any) string {
	s, _ := dig(v, path...).(string)
	return s
}

// list returns dig(v, path...) as a list, or nil if it is not one.
func list(v any, path ...any) []any {
	l, _ := dig(v, path...).([]any)
	return l
}

// checkServeArgs reports, as test errors, every flag in args that
// "strata serve" does not define, and a first argument that is not
// "serve". Flags are checked against config.BindFlags, the single place
// that registers them.
func checkServeArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Errorf("%s: strata arguments %q do not start with the serve verb", where, args)
		return
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.BindFlags(fs)
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if fs.Lookup(name) == nil {
			t.Errorf("%s: strata serve has no flag --%s", where, name)
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		t.Errorf("%s: strata serve %q: %v", where, args[1:], err)
	}
}

// checkEnvName reports an environment variable named STRATA_* that strata
// does not read, as a test error. Other names pass.
func checkEnvName(t *testing.T, where, name string) {
	t.Helper()
	if !strings.HasPrefix(name, config.EnvPrefix) || name == config.EnvConfig {
		return
	}
	for _, k := range config.Keys() {
		if config.EnvName(k) == name {
			return
		}
	}
	t.Errorf("%s: strata reads no environment variable %s", where, name)
}

// checkConfigText writes text to a file and loads it with config.Load, so
// that an unknown key, a bad value or an invalid combination fails the
// test with the loader's own message.
func checkConfigText(t *testing.T, where, text string) config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, nil, nil)
	if err != nil {
		t.Errorf("%s: config.Load: %v", where, err)
	}
	return c
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger
// and reads of a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what was written so far.
func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.buf.Bytes())
}

// startNode runs a strata node in this process on free ports of 127.0.0.1,
// logging ECS JSON at level info to logs (io.Discard if nil), and shuts it
// down when the test ends.
func startNode(t *testing.T, logs io.Writer) *node.Node {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	cfg := config.Default()
	cfg.RESP.Addr = "127.0.0.1:0"
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Cache.MaxMemory = 64 * config.MiB
	return nodetest.Start(t, cfg, telemetry.NewLogger(logs, slog.LevelInfo, telemetry.FormatECS))
}

// httpGet fetches url and returns the status and body.
func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// httpDo sends a request with body and returns the status.
func httpDo(t *testing.T, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// sampleName matches the metric name at the start of a sample line of the
// Prometheus text format.
var sampleName = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// metricNames returns the names of the samples in a Prometheus text
// exposition, including the _bucket, _sum and _count series of histograms.
func metricNames(text []byte) map[string]bool {
	names := map[string]bool{}
	for line := range strings.SplitSeq(string(text), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if m := sampleName.FindStringSubmatch(line); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// exportedMetrics returns every metric name a strata node exports: those
// on the /metrics of a running node after a few RESP commands and HTTP
// requests, plus the families that appear only after a rare event (a
// rejected connection), taken from a telemetry.Metrics with every series
// touched, and the WAL invalidation and PostgreSQL read-through families,
// which a node exports only with PostgreSQL configured. Dashboards and
// rules may name only these, the recording rules and Prometheus's own
// "up".
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	n := startNode(t, nil)
	base := "http://" + n.HTTPAddr()
	httpDo(t, http.MethodPut, base+"/v1/kv/k", "v")
	httpGet(t, base+"/v1/kv/k")
	httpGet(t, base+"/v1/kv/missing")
	resp(t, n.RESPAddr(), "SET", "a", "1")
	resp(t, n.RESPAddr(), "GET", "a")
	code, body := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	names := metricNames(body)

	reg := telemetry.NewRegistry()
	m := telemetry.NewMetrics(reg)
	m.Command("get").Observe(time.Millisecond, true)
	m.Rejected(telemetry.ProtoRESP, "maxclients").Inc()
	m.ObserveHTTP("/livez", 200, time.Millisecond)
	if err := m.RegisterTier(reg, "L1", func() telemetry.TierStats { return telemetry.TierStats{} }); err != nil {
		t.Fatal(err)
	}
	// WAL invalidation needs PostgreSQL; its series are the same wherever
	// they are registered.
	wal := telemetry.NewWALMetrics(reg, func() (bool, float64) { return true, 0 })
	wal.Lag.Observe(0.001)
	wal.Invalidations.WithLabelValues("public.users").Inc()
	// So do PostgreSQL read-through's, which exist only for configured
	// resources. ResourceMetrics.For creates every series of a resource but
	// the bypass reasons other than no_cache.
	res := telemetry.NewResourceMetrics(reg)
	users := res.For("users")
	users.QueryDuration.Observe(0.001)
	res.Bypass("users", "staleness").Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		names[name] = true
		switch mf.GetType().String() {
		case "HISTOGRAM":
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case "SUMMARY":
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}

// resp sends one command over a fresh RESP connection and returns the
// reply, failing the test on a transport error.
func resp(t *testing.T, addr string, args ...any) any {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.Do(ctx, args...).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("RESP %v: %v", args, err)
	}
	return v
}

// yamlUnmarshalFile decodes the YAML file at path into v.
func yamlUnmarshalFile(t *testing.T, path string, v any) error {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, path), v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
