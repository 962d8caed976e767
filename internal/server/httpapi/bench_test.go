package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/strata-cache/strata/internal/telemetry"
)

// discardWriter is a ResponseWriter that keeps nothing but its header map,
// so the benchmark measures the handler, not httptest.ResponseRecorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkGetHit measures GET /v1/kv/{key} of a 64-byte value through the
// handler, with request metrics on and the access log at a level that drops
// it (as under load with log.level=warn).
//
// Budget: 7 allocs/op (about 1µs/op measured on an idle 2-core machine): the
// header value slab, the ETag, the Cache-Control and X-TTL-Ms strings, the
// generated request id and its header slice. net/http's own header map is
// reused here; in a real server it is per request.
func BenchmarkGetHit(b *testing.B) {
	m := telemetry.NewMetrics(telemetry.NewRegistry())
	f := newFixture(b, Options{Metrics: m}, cacheLimits{})
	f.put(b, "/v1/kv/user:42?ttl=1h", strings.Repeat("v", 64))
	r := httptest.NewRequest(http.MethodGet, "/v1/kv/user:42", nil)
	w := &discardWriter{h: make(http.Header, 16)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		f.api.ServeHTTP(w, r)
	}
}
