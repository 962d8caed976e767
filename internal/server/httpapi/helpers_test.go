package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/tier/local"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a settable clock shared by the tier, the cache and the API,
// so TTL tests move time instead of sleeping.
type fakeClock struct{ ns atomic.Int64 }

// t0 is an arbitrary, realistic start time.
var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t0)
	return c
}

// NowNano returns the current fake time.
func (c *fakeClock) NowNano() int64 { return c.ns.Load() }

// Tick returns no ticks: the tier's timer wheel stays idle, and expiry is
// lazy, which is what TTL tests observe.
func (c *fakeClock) Tick(time.Duration) <-chan time.Time { return nil }

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fixture is an API over a fresh cache with a fake clock.
type fixture struct {
	api   *API
	cache *cache.Cache
	clock *fakeClock
}

// cacheLimits configures the fixture's cache.
type cacheLimits struct {
	maxBytes     uint64
	maxKeySize   int
	maxValueSize int
}

func newFixture(t testing.TB, opts Options, lim cacheLimits) *fixture {
	t.Helper()
	if lim.maxBytes == 0 {
		lim.maxBytes = 64 << 20
	}
	clk := newFakeClock()
	l1 := local.New(local.Config{MaxBytes: lim.maxBytes, Clock: clk})
	t.Cleanup(l1.Close)
	c := cache.New(cache.Options{L1: l1, Clock: clk.NowNano, MaxKeySize: lim.maxKeySize, MaxValueSize: lim.maxValueSize})
	opts.Cache = c
	return &fixture{api: New(opts), cache: c, clock: clk}
}

// do sends one request through the handler. headers are name, value pairs.
func (f *fixture) do(t testing.TB, method, target string, body io.Reader, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.api.ServeHTTP(w, r)
	return w
}

// put stores value under the path's key and fails the test unless it
// succeeds.
func (f *fixture) put(t testing.TB, path, value string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	w := f.do(t, http.MethodPut, path, strings.NewReader(value), headers...)
	if w.Code != http.StatusCreated && w.Code != http.StatusNoContent {
		t.Fatalf("PUT %s = %d, want 201 or 204; body %s", path, w.Code, w.Body)
	}
	return w
}

// wantProblem checks that w is a problem+json response of status code with
// the given type slug, and returns it.
func wantProblem(t testing.TB, w *httptest.ResponseRecorder, code int, slug string) Problem {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status = %d, want %d; body %s", w.Code, code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p Problem
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body does not decode: %v", err)
	}
	if p.Type != ProblemTypeBase+slug {
		t.Errorf("type = %q, want %q", p.Type, ProblemTypeBase+slug)
	}
	if p.Status != code || p.Title == "" || p.Detail == "" || p.Instance == "" || p.RequestID == "" {
		t.Errorf("problem %+v: want status %d and every member set", p, code)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("problem Cache-Control = %q, want no-store", got)
	}
	return p
}

// serve runs one prepared request through api.
func serve(api http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	api.ServeHTTP(w, r)
	return w
}
