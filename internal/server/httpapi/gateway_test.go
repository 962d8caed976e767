package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/gateway"
)

const (
	keyAdmin = "sk_test-admin"
	keyApp   = "sk_test-app" // read+write on users: only
	keyRO    = "sk_test-ro"
	keyRated = "sk_test-rated"
)

// gatewayFixture is a fixture behind a gateway with one key per outcome
// and a fake rate-limit clock.
func gatewayFixture(t testing.TB, now *time.Time) *fixture {
	t.Helper()
	g, err := gateway.New(config.GatewayConfig{Keys: []config.KeyConfig{
		{Name: "ops", Hash: gateway.HashKey(keyAdmin), Scopes: []string{"read", "write", "admin"}},
		{Name: "app", Hash: gateway.HashKey(keyApp), Scopes: []string{"read", "write"}, Prefixes: []string{"users:"}},
		{Name: "ro", Hash: gateway.HashKey(keyRO), Scopes: []string{"read"}},
		{Name: "rated", Hash: gateway.HashKey(keyRated), Scopes: []string{"read", "write"}, Rate: 0.5, Burst: 2},
	}}, gateway.Options{Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return newFixture(t, Options{Gateway: g, Stats: func() any { return map[string]int{"keys": 1} }}, cacheLimits{})
}

func bearer(k string) []string { return []string{"Authorization", "Bearer " + k} }

func TestGatewayOutcomes(t *testing.T) {
	now := time.Unix(1000, 0)
	f := gatewayFixture(t, &now)
	f.put(t, "/v1/kv/users:1", "v1", bearer(keyAdmin)...)
	f.put(t, "/v1/kv/orders:1", "o1", bearer(keyAdmin)...)
	const challenge = `Bearer realm="strata"`
	tests := []struct {
		name, method, target, body string
		headers                    []string
		code                       int
		slug, wwwAuth              string
	}{
		{"no key", "GET", "/v1/kv/users:1", "", nil, 401, "unauthorized", challenge},
		{"no key, write", "PUT", "/v1/kv/users:1", "x", nil, 401, "unauthorized", challenge},
		{"no key, unknown route", "GET", "/nope", "", nil, 401, "unauthorized", challenge},
		{"wrong key", "GET", "/v1/kv/users:1", "", bearer("sk_wrong"), 401, "unauthorized", challenge + `, error="invalid_token"`},
		{"wrong scheme", "GET", "/v1/kv/users:1", "", []string{"Authorization", "Basic " + keyAdmin}, 401, "unauthorized", challenge + `, error="invalid_token"`},
		{"read-only key writing", "PUT", "/v1/kv/users:1", "x", bearer(keyRO), 403, "forbidden", challenge + `, error="insufficient_scope"`},
		{"read-only key deleting", "DELETE", "/v1/kv/users:1", "", bearer(keyRO), 403, "forbidden", challenge + `, error="insufficient_scope"`},
		{"prefix-limited key on another prefix", "GET", "/v1/kv/orders:1", "", bearer(keyApp), 403, "forbidden", challenge + `, error="insufficient_scope"`},
		{"prefix-limited key writing another prefix", "PUT", "/v1/kv/orders:1", "x", bearer(keyApp), 403, "forbidden", challenge + `, error="insufficient_scope"`},
		{"prefix-limited key explaining another prefix", "GET", "/v1/explain/orders:1", "", bearer(keyApp), 403, "forbidden", challenge + `, error="insufficient_scope"`},
		{"admin route without admin", "GET", "/v1/stats", "", bearer(keyApp), 403, "forbidden", challenge + `, error="insufficient_scope"`},
		{"metrics without admin", "GET", "/metrics", "", []string{"X-API-Key", keyRO}, 403, "forbidden", challenge + `, error="insufficient_scope"`},
		{"batch with one forbidden key", "POST", "/v1/mget", `{"keys":["users:1","orders:1"]}`, bearer(keyApp), 403, "forbidden", challenge + `, error="insufficient_scope"`},
		{"batch with one forbidden key, base64", "POST", "/v1/mget", `{"keys":["dXNlcnM6MQ==","b3JkZXJzOjE="],"key_encoding":"base64"}`, bearer(keyApp), 403, "forbidden", challenge + `, error="insufficient_scope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, tt.method, tt.target, strings.NewReader(tt.body), tt.headers...)
			wantProblem(t, w, tt.code, tt.slug)
			if got := w.Header().Get("WWW-Authenticate"); got != tt.wwwAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wwwAuth)
			}
		})
	}
	// Nothing the refused requests asked for happened.
	for _, k := range []string{"users:1", "orders:1"} {
		if e, _, ok, _ := f.cache.Get(k); !ok || len(e.Value) != 2 {
			t.Errorf("%s was changed by a refused request: %q %v", k, e.Value, ok)
		}
	}

	allowed := []struct {
		name, method, target, body string
		headers                    []string
		code                       int
	}{
		{"read key reads", "GET", "/v1/kv/users:1", "", bearer(keyRO), 200},
		{"X-API-Key", "GET", "/v1/kv/users:1", "", []string{"X-API-Key", keyRO}, 200},
		{"prefix key in prefix", "PUT", "/v1/kv/users:2", "x", bearer(keyApp), 201},
		{"batch within prefix", "POST", "/v1/mget", `{"keys":["users:1","users:2"]}`, bearer(keyApp), 200},
		{"admin route with admin", "GET", "/v1/stats", "", bearer(keyAdmin), 200},
		{"livez needs no key", "GET", "/livez", "", nil, 200},
		{"readyz needs no key", "GET", "/readyz", "", nil, 200},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, tt.method, tt.target, strings.NewReader(tt.body), tt.headers...)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.code, w.Body)
			}
		})
	}
}

func TestGatewayRateLimitHeaders(t *testing.T) {
	now := time.Unix(1000, 0)
	f := gatewayFixture(t, &now)
	get := func() *http.Response {
		return f.do(t, "GET", "/v1/kv/users:1", nil, bearer(keyRated)...).Result()
	}
	for i := range 2 { // the burst
		r := get()
		if r.StatusCode != 404 || r.Header.Get("RateLimit-Limit") != "2" || r.Header.Get("RateLimit-Remaining") != []string{"1", "0"}[i] {
			t.Fatalf("request %d: %d %v", i, r.StatusCode, r.Header)
		}
	}
	// Admin and health routes do not take from the data limit.
	if w := f.do(t, "GET", "/livez", nil); w.Code != 200 {
		t.Fatal(w.Code)
	}
	r := get()
	if r.StatusCode != 429 {
		t.Fatalf("third request: %d", r.StatusCode)
	}
	// 0.5/s: one token takes 2 s.
	if got := r.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2", got)
	}
	if r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("429 is not a problem: %v", r.Header)
	}
	now = now.Add(1999 * time.Millisecond)
	if r := get(); r.StatusCode != 429 || r.Header.Get("Retry-After") != "1" {
		t.Errorf("before Retry-After: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	now = now.Add(time.Millisecond)
	if r := get(); r.StatusCode != 404 {
		t.Errorf("at Retry-After: %d, want the request through", r.StatusCode)
	}
}

func TestGatewayAccessLogClientIP(t *testing.T) {
	g, err := gateway.New(config.GatewayConfig{TrustedProxies: []string{"192.0.2.0/24"}}, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := &API{gw: g}
	for _, tt := range []struct{ remote, xff, want string }{
		{"192.0.2.1:5000", "198.51.100.7", "198.51.100.7"},  // trusted proxy
		{"203.0.113.9:5000", "198.51.100.7", "203.0.113.9"}, // anyone else: ignored
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-For", tt.xff)
		if got := a.clientAddr(r); got != tt.want {
			t.Errorf("clientAddr(%s, XFF %s) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}
