package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/slowlog"
)

func TestConsoleAssets(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	w := f.do(t, http.MethodGet, "/ui/", nil)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /ui/ = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if !strings.Contains(w.Body.String(), `src="console.js"`) {
		t.Errorf("index.html does not load console.js: %.200s", w.Body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	for path, ctype := range map[string]string{"/ui/console.js": "text/javascript", "/ui/console.css": "text/css"} {
		w := f.do(t, http.MethodGet, path, nil)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), ctype) || w.Body.Len() == 0 {
			t.Errorf("GET %s = %d %q (%d bytes)", path, w.Code, w.Header().Get("Content-Type"), w.Body.Len())
		}
	}
	if w := f.do(t, http.MethodGet, "/ui", nil); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/ui/" {
		t.Errorf("GET /ui = %d Location %q, want 301 to /ui/", w.Code, w.Header().Get("Location"))
	}
	for _, p := range []string{"/ui/nope.js", "/ui/../api.go", "/ui/%2E%2E/web.go", "/ui/dist/index.html"} {
		wantProblem(t, f.do(t, http.MethodGet, p, nil), http.StatusNotFound, "route-not-found")
	}
	wantProblem(t, f.do(t, http.MethodPost, "/ui/", nil), http.StatusMethodNotAllowed, "method-not-allowed")
}

func TestListKeys(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	for i := range 250 {
		f.put(t, fmt.Sprintf("/v1/kv/users:%d", i), `{"id":1}`)
	}
	f.put(t, "/v1/kv/orders:1?ttl=60", "o")
	f.put(t, "/v1/kv/users%FF", "binary key")

	// Every users: key exactly once across the pages, and nothing else.
	seen := map[string]int{}
	cursor := "0"
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("the scan did not end")
		}
		w := f.do(t, http.MethodGet, "/v1/keys?prefix=users:&count=50&cursor="+cursor, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET /v1/keys = %d %s", w.Code, w.Body)
		}
		var page KeysPage
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Keys) > 50+50 { // a scan step may overshoot count, as SCAN does
			t.Errorf("page of %d keys for count=50", len(page.Keys))
		}
		for _, k := range page.Keys {
			if !strings.HasPrefix(k.Key, "users:") || k.Type != "string" || k.Bytes != 8 || k.TTLMs != nil || k.MemoryBytes == 0 {
				t.Errorf("unexpected key %+v", k)
			}
			seen[k.Key]++
		}
		if cursor = page.Cursor; cursor == "0" {
			break
		}
	}
	if len(seen) != 250 {
		t.Errorf("found %d users: keys, want 250", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s returned %d times", k, n)
		}
	}

	w := f.do(t, http.MethodGet, "/v1/keys?prefix=orders:", nil)
	var page KeysPage
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || len(page.Keys) != 1 || page.Keys[0].TTLMs == nil || *page.Keys[0].TTLMs != 60000 {
		t.Errorf("orders: page %s (%v)", w.Body, err)
	}
	w = f.do(t, http.MethodGet, "/v1/keys?prefix=users%FF", nil)
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || len(page.Keys) != 1 ||
		page.Keys[0].KeyEncoding != "base64" || page.Keys[0].Key != base64.StdEncoding.EncodeToString([]byte("users\xff")) {
		t.Errorf("binary key page %s (%v)", w.Body, err)
	}

	for _, q := range []string{"count=0", "count=1001", "count=x", "cursor=-1", "prefix=a&prefix=b", "pattern=*"} {
		wantProblem(t, f.do(t, http.MethodGet, "/v1/keys?"+q, nil), http.StatusBadRequest, "bad-request")
	}
	wantProblem(t, f.do(t, http.MethodDelete, "/v1/keys", nil), http.StatusMethodNotAllowed, "method-not-allowed")
}

func TestSlowlogRoute(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	wantProblem(t, f.do(t, http.MethodGet, "/v1/slowlog", nil), http.StatusNotFound, "not-configured")

	l := slowlog.New(time.Millisecond, 4)
	for i := range 6 {
		l.Add(time.Unix(int64(i), 0), 2*time.Millisecond, [][]byte{[]byte("GET"), []byte(fmt.Sprint("k", i))}, "127.0.0.1:1", "")
	}
	f = newFixture(t, Options{SlowLog: l}, cacheLimits{})
	w := f.do(t, http.MethodGet, "/v1/slowlog?count=2", nil)
	var got Slowlog
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.ThresholdUs != 1000 || got.MaxLen != 4 || got.Len != 4 || len(got.Entries) != 2 ||
		got.Entries[0].ID != 5 || got.Entries[0].DurationUs != 2000 || strings.Join(got.Entries[0].Args, " ") != "GET k5" {
		t.Errorf("GET /v1/slowlog?count=2 = %s", w.Body)
	}
	wantProblem(t, f.do(t, http.MethodGet, "/v1/slowlog?count=-2", nil), http.StatusBadRequest, "bad-request")
}

// TestConsoleGateway: the assets are public (they hold no data, and a page
// navigation cannot carry a bearer token), the console's JSON routes need
// the admin scope like /v1/stats.
func TestConsoleGateway(t *testing.T) {
	now := time.Unix(1000, 0)
	f := gatewayFixture(t, &now)
	f.api.slowlog = slowlog.New(0, 8)
	if w := f.do(t, http.MethodGet, "/ui/", nil); w.Code != http.StatusOK {
		t.Errorf("GET /ui/ without a key = %d, want 200", w.Code)
	}
	for _, path := range []string{"/v1/keys", "/v1/slowlog"} {
		wantProblem(t, f.do(t, http.MethodGet, path, nil), http.StatusUnauthorized, "unauthorized")
		wantProblem(t, f.do(t, http.MethodGet, path, nil, bearer(keyApp)...), http.StatusForbidden, "forbidden")
		if w := f.do(t, http.MethodGet, path, nil, bearer(keyAdmin)...); w.Code != http.StatusOK {
			t.Errorf("GET %s with the admin key = %d %s", path, w.Code, w.Body)
		}
	}
}
