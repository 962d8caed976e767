package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/telemetry"
)

func TestRouting(t *testing.T) {
	tests := []struct {
		method, path string
		code         int
		slug         string
		allow        string
	}{
		{http.MethodPost, "/v1/kv/k", 405, "method-not-allowed", "GET, HEAD, PUT, DELETE"},
		{http.MethodPatch, "/v1/kv/k", 405, "method-not-allowed", "GET, HEAD, PUT, DELETE"},
		{http.MethodOptions, "/v1/kv/k", 405, "method-not-allowed", "GET, HEAD, PUT, DELETE"},
		{http.MethodGet, "/v1/mget", 405, "method-not-allowed", "POST"},
		{http.MethodPut, "/livez", 405, "method-not-allowed", "GET, HEAD"},
		{http.MethodPost, "/metrics", 405, "method-not-allowed", "GET, HEAD"},
		{http.MethodGet, "/", 404, "route-not-found", ""},
		{http.MethodGet, "/v1/kv", 404, "route-not-found", ""},
		{http.MethodGet, "/v1/KV/k", 404, "route-not-found", ""},
		{http.MethodGet, "/v1%2Fkv/k", 404, "route-not-found", ""},
		{http.MethodGet, "/v1/mget/", 404, "route-not-found", ""},
		{http.MethodGet, "/livez/", 404, "route-not-found", ""},
		{http.MethodPut, "/nope", 404, "route-not-found", ""},
	}
	f := newFixture(t, Options{}, cacheLimits{})
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := f.do(t, tt.method, tt.path, nil)
			wantProblem(t, w, tt.code, tt.slug)
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

// TestErrorTable pins the status of every error the handlers can return,
// wrapped as they return them.
func TestErrorTable(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{ErrKeyNotFound, 404},
		{cache.ErrNoSuchKey, 404},
		{ErrRouteNotFound, 404},
		{ErrNotConfigured, 404},
		{ErrMethodNotAllowed, 405},
		{ErrEmptyKey, 400},
		{ErrInvalidKey, 400},
		{ErrInvalidTTL, 400},
		{cache.ErrInvalidExpire, 400},
		{ErrInvalidJSON, 400},
		{ErrBadRequest, 400},
		{ErrPreconditionFailed, 412},
		{ErrBodyTooLarge, 413},
		{cache.ErrValueTooLarge, 413},
		{ErrTooManyKeys, 413},
		{cache.ErrKeyTooLarge, 414},
		{cache.ErrValueTooLargeForMemory, 507},
		{ErrInternal, 500},
		{errors.New("something unforeseen"), 500},
	}
	for _, tt := range tests {
		if got := StatusOf(fmt.Errorf("context: %w", tt.err)); got != tt.code {
			t.Errorf("StatusOf(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
	for _, p := range problemTypes {
		if http.StatusText(p.status) == "" || p.slug == "" || p.title == "" {
			t.Errorf("problem row %+v is incomplete", p)
		}
	}
}

// TestProblemTypesAreDocumented checks that each type URI leads to a
// heading in docs/api.md, so that the link in a problem is never dead.
func TestProblemTypesAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problemTypes {
		if !bytes.Contains(doc, []byte("\n#### "+p.slug+"\n")) {
			t.Errorf("docs/api.md has no heading %q for problem type %s", "#### "+p.slug, p.slug)
		}
	}
}

func TestHealthAndStats(t *testing.T) {
	ready, reasons := true, []string(nil)
	f := newFixture(t, Options{
		Ready: func() (bool, []string) { return ready, reasons },
		Stats: func() any { return map[string]int{"keys": 3} },
	}, cacheLimits{})
	check := func(path string, code int, body string) {
		t.Helper()
		w := f.do(t, http.MethodGet, path, nil)
		if w.Code != code || strings.TrimSpace(w.Body.String()) != body || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s = %d %s %q, want %d %s", path, w.Code, w.Header().Get("Content-Type"), w.Body, code, body)
		}
		if w := f.do(t, http.MethodHead, path, nil); w.Code != code || w.Body.Len() != 0 {
			t.Errorf("HEAD %s = %d with %d body bytes", path, w.Code, w.Body.Len())
		}
	}
	check("/livez", 200, `{"status":"live"}`)
	check("/readyz", 200, `{"status":"ready"}`)
	check("/v1/stats", 200, `{"keys":3}`)
	ready, reasons = false, []string{"shutting down"}
	check("/readyz", 503, `{"status":"not ready","reasons":["shutting down"]}`)
	check("/livez", 200, `{"status":"live"}`)
	reasons = nil
	check("/readyz", 503, `{"status":"not ready","reasons":["not ready"]}`)

	bare := newFixture(t, Options{}, cacheLimits{})
	if w := bare.do(t, http.MethodGet, "/readyz", nil); w.Code != 200 {
		t.Errorf("readyz without Ready = %d, want 200", w.Code)
	}
	wantProblem(t, bare.do(t, http.MethodGet, "/metrics", nil), 404, "not-configured")
	wantProblem(t, bare.do(t, http.MethodGet, "/v1/stats", nil), 404, "not-configured")
}

func TestMetricsEndpoint(t *testing.T) {
	reg := telemetry.NewRegistry()
	m := telemetry.NewMetrics(reg)
	f := newFixture(t, Options{Gatherer: reg, Metrics: m}, cacheLimits{})
	f.put(t, "/v1/kv/secret-key-name", "v")
	f.do(t, http.MethodGet, "/v1/kv/secret-key-name", nil)
	f.do(t, http.MethodGet, "/v1/kv/missing", nil)
	f.do(t, http.MethodGet, "/nowhere", nil)

	w := f.do(t, http.MethodGet, "/metrics", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("/metrics = %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{
		`strata_http_requests_total{code="201",route="PUT /v1/kv/{key}"} 1`,
		`strata_http_requests_total{code="200",route="GET /v1/kv/{key}"} 1`,
		`strata_http_requests_total{code="404",route="GET /v1/kv/{key}"} 1`,
		`strata_http_requests_total{code="404",route="unmatched"} 1`,
		`strata_http_request_duration_seconds_count{route="GET /v1/kv/{key}"} 2`,
		`strata_connected_clients{proto="http"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "secret-key-name") {
		t.Error("a key leaked into a metric label")
	}
}

// logLines returns the JSON log records written to buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestAccessLogAndRequestID(t *testing.T) {
	var buf bytes.Buffer
	f := newFixture(t, Options{Logger: telemetry.NewLogger(&buf, slog.LevelInfo, "ecs")}, cacheLimits{})

	tests := []struct {
		name, sent string
		keep       bool
	}{
		{"client id kept", "req-123", true},
		{"no id generated", "", false},
		{"id with space replaced", "a b", false},
		{"id with CRLF replaced", "a\r\nb", false},
		{"overlong id replaced", strings.Repeat("x", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf.Reset()
			r := httptest.NewRequest(http.MethodPut, "/v1/kv/a%0Ab", strings.NewReader("value"))
			if tt.sent != "" {
				r.Header["X-Request-Id"] = []string{tt.sent}
			}
			r.RemoteAddr = "192.0.2.7:4242"
			r.Header.Set("User-Agent", "test-agent")
			w := serve(f.api, r)
			id := w.Header().Get("X-Request-Id")
			if tt.keep && id != tt.sent || !tt.keep && (id == "" || id == tt.sent) {
				t.Fatalf("X-Request-Id = %q (sent %q)", id, tt.sent)
			}
			lines := logLines(t, &buf)
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1", len(lines))
			}
			l := lines[0]
			want := map[string]any{
				"http.request.method":       "PUT",
				"url.path":                  "/v1/kv/a%0Ab",
				"http.response.status_code": float64(w.Code),
				"http.response.body.bytes":  float64(0),
				"client.ip":                 "192.0.2.7",
				"http.request.id":           id,
				"user_agent.original":       "test-agent",
			}
			for k, v := range want {
				if l[k] != v {
					t.Errorf("%s = %v, want %v", k, l[k], v)
				}
			}
			if d, ok := l["event.duration"].(float64); !ok || d <= 0 {
				t.Errorf("event.duration = %v, want positive nanoseconds", l["event.duration"])
			}
		})
	}

	// Two generated ids differ.
	a := f.do(t, http.MethodGet, "/livez", nil).Header().Get("X-Request-Id")
	b := f.do(t, http.MethodGet, "/livez", nil).Header().Get("X-Request-Id")
	if a == b {
		t.Errorf("generated ids repeat: %q", a)
	}
}

func TestPanicBecomes500(t *testing.T) {
	var buf bytes.Buffer
	f := newFixture(t, Options{
		Logger: telemetry.NewLogger(&buf, slog.LevelInfo, "ecs"),
		Stats:  func() any { panic("stats exploded: secret internals") },
	}, cacheLimits{})
	w := f.do(t, http.MethodGet, "/v1/stats", nil, "X-Request-Id", "boom-1")
	p := wantProblem(t, w, http.StatusInternalServerError, "internal")
	if strings.Contains(p.Detail, "secret") || p.RequestID != "boom-1" {
		t.Errorf("500 problem %+v: want a generic detail and the request id", p)
	}
	var sawPanic, sawAccess bool
	for _, l := range logLines(t, &buf) {
		if l["message"] == "panic serving request" {
			sawPanic = strings.Contains(fmt.Sprint(l["error.message"]), "stats exploded") &&
				strings.Contains(fmt.Sprint(l["error.stack_trace"]), "serveStats") &&
				l["http.request.id"] == "boom-1"
		}
		if l["http.response.status_code"] == float64(500) {
			sawAccess = true
		}
	}
	if !sawPanic || !sawAccess {
		t.Errorf("log lacks the panic (%v) or the access record (%v):\n%s", sawPanic, sawAccess, buf.String())
	}
	// The server keeps serving.
	if w := f.do(t, http.MethodGet, "/livez", nil); w.Code != 200 {
		t.Fatalf("after a panic /livez = %d", w.Code)
	}
}

// startServer serves f.api through NewServer on a loopback port.
func startServer(t *testing.T, f *fixture, opts ServerOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(f.api, opts)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

func TestServerOverTheWire(t *testing.T) {
	reg := telemetry.NewRegistry()
	m := telemetry.NewMetrics(reg)
	f := newFixture(t, Options{Gatherer: reg, Metrics: m}, cacheLimits{})
	base := startServer(t, f, ServerOptions{MaxHeaderBytes: 4 << 10})
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)

	// Keys that proxies and clients like to rewrite arrive intact.
	for _, key := range []string{"a/b", "../x", "..", ".", "\x00\r\n", "\xff", "sp ace?#"} {
		u := base + KeyPath(key)
		req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("v"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || !noErr(f.cache.Exists(key)) {
			t.Errorf("PUT %s = %d, key %q stored: %v", u, resp.StatusCode, key, noErr(f.cache.Exists(key)))
		}
	}

	// A header block over MaxHeaderBytes is refused by net/http with 431.
	req, _ := http.NewRequest(http.MethodGet, base+"/livez", nil)
	req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("huge header = %d, want 431", resp.StatusCode)
	}

	// The server counts its connections.
	resp, err = client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The connection serving this scrape is open; the one refused with 431
	// may or may not have been closed yet.
	for _, series := range []string{`strata_connected_clients{proto="http"} `, `strata_connections_received_total{proto="http"} `} {
		if !regexp.MustCompile(regexp.QuoteMeta(series) + `[1-9]`).Match(body) {
			t.Errorf("%s is missing or zero", series)
		}
	}
}

func TestNewServerDefaults(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	s := NewServer(f.api, ServerOptions{ReadHeaderTimeout: 7, IdleTimeout: 9})
	if s.MaxHeaderBytes != DefaultMaxHeaderBytes || s.ReadHeaderTimeout != 7 || s.IdleTimeout != 9 || s.Handler != f.api {
		t.Errorf("server %+v", s)
	}
	if s.ConnState != nil {
		t.Error("ConnState set without connection metrics")
	}
}

// noErr returns v, failing loudly on err: the key-space operations return
// an error only in a fleet (L2 unreachable), which these tests do not run.
func noErr[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
