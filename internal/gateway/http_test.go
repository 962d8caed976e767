package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/strata-cache/strata/internal/config"
)

func TestCredential(t *testing.T) {
	tests := []struct {
		name    string
		headers [][2]string
		want    string
		err     error
	}{
		{"none", nil, "", ErrNoAuth},
		{"bearer", [][2]string{{"Authorization", "Bearer sk_x"}}, "sk_x", nil},
		{"bearer lower case", [][2]string{{"Authorization", "bearer  sk_x "}}, "sk_x", nil},
		{"x-api-key", [][2]string{{"X-API-Key", "sk_x"}}, "sk_x", nil},
		{"both agree", [][2]string{{"Authorization", "Bearer sk_x"}, {"X-Api-Key", "sk_x"}}, "sk_x", nil},
		{"both disagree", [][2]string{{"Authorization", "Bearer sk_x"}, {"X-Api-Key", "sk_y"}}, "", ErrBadAuth},
		{"basic", [][2]string{{"Authorization", "Basic YTpi"}}, "", ErrBadAuth},
		{"bearer without token", [][2]string{{"Authorization", "Bearer"}}, "", ErrBadAuth},
		{"empty api key", [][2]string{{"X-API-Key", ""}}, "", ErrBadAuth},
		{"too long", [][2]string{{"X-API-Key", strings.Repeat("k", 600)}}, "", ErrBadAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, kv := range tt.headers {
				h.Add(kv[0], kv[1])
			}
			got, err := Credential(h)
			if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Credential = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

// TestHTTPOutcomes walks every auth and scope outcome the HTTP middleware
// will see, with the status and WWW-Authenticate it should send.
func TestHTTPOutcomes(t *testing.T) {
	g := newTestGateway(t, testConfig(), Options{})
	tests := []struct {
		name      string
		header    string
		scope     Scope
		key       string
		status    int
		challenge string
	}{
		{"missing", "", ScopeRead, "k", 401, `Bearer realm="strata"`},
		{"wrong", "Bearer sk_wrong", ScopeRead, "k", 401, `Bearer realm="strata", error="invalid_token"`},
		{"read ok", "Bearer " + keyRO, ScopeRead, "k", 200, ""},
		{"write with read key", "Bearer " + keyRO, ScopeWrite, "k", 403, `Bearer realm="strata", error="insufficient_scope"`},
		{"admin with admin key", "Bearer " + keyAdmin, ScopeAdmin, "", 200, ""},
		{"key outside prefix", "Bearer " + keyUsers, ScopeRead, "orders:1", 403, `Bearer realm="strata", error="insufficient_scope"`},
		{"key inside prefix", "Bearer " + keyUsers, ScopeRead, "users:1", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/kv/"+tt.key, nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			status := 200
			p, err := g.AuthenticateRequest(r)
			if err == nil {
				var keys []string
				if tt.key != "" {
					keys = []string{tt.key}
				}
				err = g.Authorize(p, tt.scope, keys...)
			}
			switch {
			case errors.Is(err, ErrNoAuth), errors.Is(err, ErrBadAuth):
				status = 401
			case errors.Is(err, ErrForbidden):
				status = 403
			}
			if status != tt.status || Challenge(err) != tt.challenge {
				t.Fatalf("status %d challenge %q (err %v), want %d %q", status, Challenge(err), err, tt.status, tt.challenge)
			}
		})
	}
	open := newTestGateway(t, config.GatewayConfig{}, Options{})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Basic whatever")
	if p, err := open.AuthenticateRequest(r); p != Anonymous || err != nil {
		t.Fatalf("no keys: %v, %v", p, err)
	}
}
