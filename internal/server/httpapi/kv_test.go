package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
)

// TestKeysSurviveExactly checks that a key reaches the cache byte for byte,
// whatever its path encoding, and that KeyPath builds a path for it.
func TestKeysSurviveExactly(t *testing.T) {
	tests := []struct {
		name, path, key string
	}{
		{"plain", "/v1/kv/users:42", "users:42"},
		{"raw slash", "/v1/kv/a/b", "a/b"},
		{"escaped slash", "/v1/kv/a%2Fb", "a/b"},
		{"trailing slash", "/v1/kv/dir/", "dir/"},
		{"NUL", "/v1/kv/%00", "\x00"},
		{"CRLF", "/v1/kv/x%0d%0aSet-Cookie:%20y", "x\r\nSet-Cookie: y"},
		{"invalid UTF-8", "/v1/kv/%FF%FE%80", "\xff\xfe\x80"},
		{"UTF-8", "/v1/kv/%E2%9C%93", "✓"},
		{"raw dot-dot", "/v1/kv/../etc/passwd", "../etc/passwd"},
		{"escaped dot-dot", "/v1/kv/..%2F..%2Fx", "../../x"},
		{"dot-dot only", "/v1/kv/%2E%2E", ".."},
		{"plus is literal", "/v1/kv/a+b", "a+b"},
		{"escaped percent", "/v1/kv/100%25", "100%"},
		{"question mark", "/v1/kv/what%3F", "what?"},
		{"double slash", "/v1/kv//x", "/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{}, cacheLimits{})
			w := f.do(t, http.MethodPut, tt.path, strings.NewReader("v-"+tt.name))
			if w.Code != http.StatusCreated {
				t.Fatalf("PUT = %d, want 201; %s", w.Code, w.Body)
			}
			if got := w.Header().Get("Location"); got != tt.path {
				t.Errorf("Location = %q, want the request path %q", got, tt.path)
			}
			e, ok, _ := f.cache.Peek(tt.key)
			if !ok || string(e.Value) != "v-"+tt.name {
				t.Fatalf("cache has %q = %q, %v; want the value under the exact key", tt.key, e.Value, ok)
			}
			w = f.do(t, http.MethodGet, KeyPath(tt.key), nil)
			if w.Code != http.StatusOK || w.Body.String() != "v-"+tt.name {
				t.Fatalf("GET KeyPath(%q) = %d %q", tt.key, w.Code, w.Body)
			}
		})
	}
}

func TestGetHeaders(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	f.put(t, "/v1/kv/k?ttl=60", "hello")
	f.put(t, "/v1/kv/forever", "world")
	f.clock.Advance(10*time.Second + 300*time.Millisecond)

	tests := []struct {
		path, value, cacheControl, ttlMs string
	}{
		// Age 10 + remaining 49.7s rounded down: max-age 59, so a cache that
		// subtracts Age expires its copy before the key expires.
		{"/v1/kv/k", "hello", "max-age=59", "49700"},
		{"/v1/kv/forever", "world", "no-cache", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := f.do(t, http.MethodGet, tt.path, nil)
			if w.Code != http.StatusOK || w.Body.String() != tt.value {
				t.Fatalf("GET = %d %q", w.Code, w.Body)
			}
			h := w.Header()
			want := map[string]string{
				"Content-Type":           "application/octet-stream",
				"Content-Length":         strconv.Itoa(len(tt.value)),
				"Etag":                   cache.ETag([]byte(tt.value)),
				"Age":                    "10",
				"Cache-Control":          tt.cacheControl,
				"X-Ttl-Ms":               tt.ttlMs,
				"X-Cache":                "L1",
				"X-Content-Type-Options": "nosniff",
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestGetMissIs404(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	w := f.do(t, http.MethodGet, "/v1/kv/nope", nil)
	p := wantProblem(t, w, http.StatusNotFound, "not-found")
	if p.Instance != "/v1/kv/nope" {
		t.Errorf("instance = %q", p.Instance)
	}
	if got := w.Header().Get("X-Cache"); got != "miss" {
		t.Errorf("X-Cache = %q, want miss", got)
	}
	if w.Header().Get("Etag") != "" {
		t.Error("a 404 carries an ETag")
	}
}

func TestHeadHasNoBody(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	f.put(t, "/v1/kv/k", "twelve bytes")
	w := f.do(t, http.MethodHead, "/v1/kv/k", nil)
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("HEAD = %d with %d body bytes, want 200 and none", w.Code, w.Body.Len())
	}
	if got := w.Header().Get("Content-Length"); got != "12" {
		t.Errorf("Content-Length = %q, want the GET length 12", got)
	}
	if w.Header().Get("Etag") != cache.ETag([]byte("twelve bytes")) {
		t.Error("HEAD lacks the ETag")
	}
	w = f.do(t, http.MethodHead, "/v1/kv/missing", nil)
	if w.Code != http.StatusNotFound || w.Body.Len() != 0 {
		t.Fatalf("HEAD miss = %d with %d body bytes, want 404 and none", w.Code, w.Body.Len())
	}
}

func TestTTLExpires(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	f.put(t, "/v1/kv/k?ttl=1500ms", "v")
	f.clock.Advance(1499 * time.Millisecond)
	if w := f.do(t, http.MethodGet, "/v1/kv/k", nil); w.Code != http.StatusOK {
		t.Fatalf("GET before expiry = %d", w.Code)
	}
	f.clock.Advance(time.Millisecond)
	wantProblem(t, f.do(t, http.MethodGet, "/v1/kv/k", nil), http.StatusNotFound, "not-found")
}

func TestPutTTL(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		cc      []string
		wantTTL time.Duration // 0: no expiry; -1: 400 invalid-ttl
		slug    string        // for errors other than invalid-ttl
	}{
		{name: "none", wantTTL: 0},
		{name: "duration", query: "ttl=30s", wantTTL: 30 * time.Second},
		{name: "compound duration", query: "ttl=1h30m", wantTTL: 90 * time.Minute},
		{name: "milliseconds", query: "ttl=250ms", wantTTL: 250 * time.Millisecond},
		{name: "integer seconds", query: "ttl=30", wantTTL: 30 * time.Second},
		{name: "max-age", cc: []string{"max-age=10"}, wantTTL: 10 * time.Second},
		{name: "max-age among directives", cc: []string{"no-cache, Max-Age=5"}, wantTTL: 5 * time.Second},
		{name: "max-age quoted", cc: []string{`max-age="7"`}, wantTTL: 7 * time.Second},
		{name: "other directives only", cc: []string{"no-cache"}, wantTTL: 0},
		{name: "ttl wins over max-age", query: "ttl=30", cc: []string{"max-age=10"}, wantTTL: 30 * time.Second},
		{name: "invalid ttl with valid max-age", query: "ttl=soon", cc: []string{"max-age=10"}, wantTTL: -1},
		{name: "valid ttl with invalid max-age", query: "ttl=5", cc: []string{"max-age=x"}, wantTTL: 5 * time.Second},
		{name: "zero", query: "ttl=0", wantTTL: -1},
		{name: "zero duration", query: "ttl=0s", wantTTL: -1},
		{name: "negative", query: "ttl=-1s", wantTTL: -1},
		{name: "negative integer", query: "ttl=-1", wantTTL: -1},
		{name: "empty", query: "ttl=", wantTTL: -1},
		{name: "words", query: "ttl=abc", wantTTL: -1},
		{name: "fraction without unit", query: "ttl=1.5", wantTTL: -1},
		{name: "seconds overflow", query: "ttl=99999999999999999999", wantTTL: -1},
		{name: "seconds beyond duration", query: "ttl=9300000000", wantTTL: -1},
		{name: "expiry overflows", query: "ttl=2562047h", wantTTL: -1},
		{name: "twice", query: "ttl=1&ttl=2", wantTTL: -1},
		{name: "max-age zero", cc: []string{"max-age=0"}, wantTTL: -1},
		{name: "max-age negative", cc: []string{"max-age=-3"}, wantTTL: -1},
		{name: "max-age no value", cc: []string{"max-age"}, wantTTL: -1},
		{name: "max-age repeated", cc: []string{"max-age=1", "max-age=2"}, wantTTL: -1},
		{name: "unknown parameter", query: "tll=30", wantTTL: -1, slug: "bad-request"},
		{name: "bad query", query: "ttl=%zz", wantTTL: -1, slug: "bad-request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{}, cacheLimits{})
			var hdr []string
			for _, v := range tt.cc {
				hdr = append(hdr, "Cache-Control", v)
			}
			target := "/v1/kv/k"
			if tt.query != "" {
				target += "?" + tt.query
			}
			w := f.do(t, http.MethodPut, target, strings.NewReader("v"), hdr...)
			if tt.wantTTL < 0 {
				slug := tt.slug
				if slug == "" {
					slug = "invalid-ttl"
				}
				wantProblem(t, w, http.StatusBadRequest, slug)
				if noErr(f.cache.Exists("k")) {
					t.Error("a refused PUT stored the key")
				}
				return
			}
			if w.Code != http.StatusCreated {
				t.Fatalf("PUT = %d; %s", w.Code, w.Body)
			}
			e, _, _ := f.cache.Peek("k")
			if got := e.TTL(f.clock.NowNano()); tt.wantTTL == 0 && got != -1 || tt.wantTTL > 0 && got != int64(tt.wantTTL) {
				t.Errorf("stored TTL = %v, want %v", time.Duration(got), tt.wantTTL)
			}
		})
	}
}

func TestPutStatusAndETag(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	w := f.put(t, "/v1/kv/k", "one")
	if w.Code != http.StatusCreated || w.Header().Get("Etag") != cache.ETag([]byte("one")) {
		t.Fatalf("first PUT = %d ETag %q, want 201 and the value's tag", w.Code, w.Header().Get("Etag"))
	}
	w = f.put(t, "/v1/kv/k", "two")
	if w.Code != http.StatusNoContent || w.Header().Get("Etag") != cache.ETag([]byte("two")) || w.Body.Len() != 0 {
		t.Fatalf("second PUT = %d ETag %q body %q, want 204 and the new tag", w.Code, w.Header().Get("Etag"), w.Body)
	}
	w = f.put(t, "/v1/kv/empty", "")
	if w.Code != http.StatusCreated {
		t.Fatalf("empty PUT = %d", w.Code)
	}
	if w := f.do(t, http.MethodGet, "/v1/kv/empty", nil); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("GET empty = %d %q", w.Code, w.Body)
	}
}

// TestPutWithoutLength sends a body of unknown length (chunked).
func TestPutWithoutLength(t *testing.T) {
	f := newFixture(t, Options{MaxBody: 8}, cacheLimits{})
	for _, tt := range []struct {
		body string
		code int
	}{{"12345678", http.StatusCreated}, {"123456789", http.StatusRequestEntityTooLarge}} {
		r := httptest.NewRequest(http.MethodPut, "/v1/kv/k", io.NopCloser(strings.NewReader(tt.body)))
		r.ContentLength = -1
		w := serve(f.api, r)
		if w.Code != tt.code {
			t.Errorf("PUT %d bytes without length = %d, want %d", len(tt.body), w.Code, tt.code)
		}
		if tt.code == http.StatusRequestEntityTooLarge {
			wantProblem(t, w, tt.code, "body-too-large")
		}
	}
}

func TestSizeLimits(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		lim    cacheLimits
		method string
		path   string
		body   string
		code   int
		slug   string
	}{
		{"body over MaxBody", Options{MaxBody: 16}, cacheLimits{}, http.MethodPut, "/v1/kv/k", strings.Repeat("x", 17), 413, "body-too-large"},
		{"body at MaxBody", Options{MaxBody: 16}, cacheLimits{}, http.MethodPut, "/v1/kv/k", strings.Repeat("x", 16), 201, ""},
		{"value over max_value_size", Options{}, cacheLimits{maxValueSize: 4}, http.MethodPut, "/v1/kv/k", "12345", 413, "value-too-large"},
		{"value over memory", Options{}, cacheLimits{maxBytes: 1024}, http.MethodPut, "/v1/kv/k", strings.Repeat("x", 2048), 507, "insufficient-storage"},
		{"key too large PUT", Options{}, cacheLimits{maxKeySize: 4}, http.MethodPut, "/v1/kv/12345", "v", 414, "key-too-large"},
		{"key too large GET", Options{}, cacheLimits{maxKeySize: 4}, http.MethodGet, "/v1/kv/12345", "", 414, "key-too-large"},
		{"key too large DELETE", Options{}, cacheLimits{maxKeySize: 4}, http.MethodDelete, "/v1/kv/12345", "", 414, "key-too-large"},
		{"key at limit", Options{}, cacheLimits{maxKeySize: 4}, http.MethodPut, "/v1/kv/1234", "v", 201, ""},
		{"escaped key counts decoded bytes", Options{}, cacheLimits{maxKeySize: 4}, http.MethodPut, "/v1/kv/%00%01%02%03", "v", 201, ""},
		{"empty key GET", Options{}, cacheLimits{}, http.MethodGet, "/v1/kv/", "", 400, "invalid-key"},
		{"empty key PUT", Options{}, cacheLimits{}, http.MethodPut, "/v1/kv/", "v", 400, "invalid-key"},
		{"empty key DELETE", Options{}, cacheLimits{}, http.MethodDelete, "/v1/kv/", "", 400, "invalid-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts, tt.lim)
			w := f.do(t, tt.method, tt.path, strings.NewReader(tt.body))
			if tt.slug == "" {
				if w.Code != tt.code {
					t.Fatalf("= %d, want %d; %s", w.Code, tt.code, w.Body)
				}
				return
			}
			wantProblem(t, w, tt.code, tt.slug)
		})
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	f.put(t, "/v1/kv/k", "v")
	if w := f.do(t, http.MethodDelete, "/v1/kv/k", nil); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("DELETE = %d %q, want 204", w.Code, w.Body)
	}
	if noErr(f.cache.Exists("k")) {
		t.Fatal("key survived DELETE")
	}
	wantProblem(t, f.do(t, http.MethodDelete, "/v1/kv/k", nil), http.StatusNotFound, "not-found")
}

func TestConditionalGet(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	f.put(t, "/v1/kv/k?ttl=60", "v")
	etag := cache.ETag([]byte("v"))
	tests := []struct {
		name    string
		headers []string
		code    int
	}{
		{"If-None-Match same", []string{"If-None-Match", etag}, 304},
		{"If-None-Match weak", []string{"If-None-Match", "W/" + etag}, 304},
		{"If-None-Match list", []string{"If-None-Match", `"a", "b,c", ` + etag}, 304},
		{"If-None-Match second line", []string{"If-None-Match", `"a"`, "If-None-Match", etag}, 304},
		{"If-None-Match star", []string{"If-None-Match", "*"}, 304},
		{"If-None-Match after garbage", []string{"If-None-Match", "garbage, " + etag}, 304},
		{"If-None-Match other", []string{"If-None-Match", `"other"`}, 200},
		{"If-None-Match unquoted", []string{"If-None-Match", strings.Trim(etag, `"`)}, 200},
		{"If-Match same", []string{"If-Match", etag}, 200},
		{"If-Match other", []string{"If-Match", `"other"`}, 412},
		{"If-Match weak is not strong", []string{"If-Match", "W/" + etag}, 412},
		{"If-Match first", []string{"If-Match", `"other"`, "If-None-Match", etag}, 412},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				w := f.do(t, method, "/v1/kv/k", nil, tt.headers...)
				if w.Code != tt.code {
					t.Fatalf("%s = %d, want %d", method, w.Code, tt.code)
				}
				switch tt.code {
				case 304:
					if w.Body.Len() != 0 || w.Header().Get("Etag") != etag || w.Header().Get("Cache-Control") != "max-age=60" {
						t.Errorf("304 body %q ETag %q Cache-Control %q: want no body, the ETag and Cache-Control",
							w.Body, w.Header().Get("Etag"), w.Header().Get("Cache-Control"))
					}
				case 412:
					if method == http.MethodGet {
						wantProblem(t, w, 412, "precondition-failed")
					}
				}
			}
		})
	}
	// Preconditions are ignored when the answer would be 404 anyway.
	wantProblem(t, f.do(t, http.MethodGet, "/v1/kv/missing", nil, "If-None-Match", "*"), 404, "not-found")
	wantProblem(t, f.do(t, http.MethodGet, "/v1/kv/missing", nil, "If-Match", etag), 404, "not-found")
}

func TestConditionalPut(t *testing.T) {
	cur := cache.ETag([]byte("old"))
	tests := []struct {
		name    string
		exists  bool
		headers []string
		code    int
	}{
		{"create only, absent", false, []string{"If-None-Match", "*"}, 201},
		{"create only, present", true, []string{"If-None-Match", "*"}, 412},
		{"If-Match current", true, []string{"If-Match", cur}, 204},
		{"If-Match in list", true, []string{"If-Match", `"x", ` + cur}, 204},
		{"If-Match stale", true, []string{"If-Match", `"0"`}, 412},
		{"If-Match weak", true, []string{"If-Match", "W/" + cur}, 412},
		{"If-Match absent", false, []string{"If-Match", cur}, 412},
		{"If-Match star present", true, []string{"If-Match", "*"}, 204},
		{"If-Match star absent", false, []string{"If-Match", "*"}, 412},
		{"If-None-Match current", true, []string{"If-None-Match", cur}, 412},
		{"If-None-Match weak current", true, []string{"If-None-Match", "W/" + cur}, 412},
		{"If-None-Match other", true, []string{"If-None-Match", `"other"`}, 204},
		{"If-None-Match tag, absent", false, []string{"If-None-Match", cur}, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{}, cacheLimits{})
			if tt.exists {
				f.put(t, "/v1/kv/k", "old")
			}
			w := f.do(t, http.MethodPut, "/v1/kv/k?ttl=5", strings.NewReader("new"), tt.headers...)
			if tt.code == 412 {
				wantProblem(t, w, 412, "precondition-failed")
				if e, ok, _ := f.cache.Peek("k"); ok != tt.exists || ok && string(e.Value) != "old" {
					t.Errorf("after 412 the key is %q, %v; want it unchanged", e.Value, ok)
				}
				return
			}
			if w.Code != tt.code {
				t.Fatalf("= %d, want %d; %s", w.Code, tt.code, w.Body)
			}
			e, _, _ := f.cache.Peek("k")
			if string(e.Value) != "new" || e.TTL(f.clock.NowNano()) != int64(5*time.Second) {
				t.Errorf("stored %q ttl %v, want new with 5s", e.Value, time.Duration(e.TTL(f.clock.NowNano())))
			}
		})
	}
}

func TestConditionalDelete(t *testing.T) {
	cur := cache.ETag([]byte("v"))
	tests := []struct {
		name    string
		exists  bool
		headers []string
		code    int
		slug    string
	}{
		{"If-Match current", true, []string{"If-Match", cur}, 204, ""},
		{"If-Match star", true, []string{"If-Match", "*"}, 204, ""},
		{"If-Match stale", true, []string{"If-Match", `"0"`}, 412, "precondition-failed"},
		{"If-None-Match current", true, []string{"If-None-Match", cur}, 412, "precondition-failed"},
		{"If-Match absent", false, []string{"If-Match", cur}, 404, "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{}, cacheLimits{})
			if tt.exists {
				f.put(t, "/v1/kv/k", "v")
			}
			w := f.do(t, http.MethodDelete, "/v1/kv/k", nil, tt.headers...)
			if tt.slug != "" {
				wantProblem(t, w, tt.code, tt.slug)
			} else if w.Code != tt.code {
				t.Fatalf("= %d, want %d", w.Code, tt.code)
			}
			if want := tt.exists && tt.code != 204; noErr(f.cache.Exists("k")) != want {
				t.Errorf("key exists = %v, want %v", !want, want)
			}
		})
	}
}

// TestIfMatchLosesNoUpdates has writers increment one counter with
// read-modify-write under If-Match, retrying on 412. If the
// compare-and-swap let two writers succeed from the same version, the final
// count would come out short.
func TestIfMatchLosesNoUpdates(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	f.put(t, "/v1/kv/n", "0")
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				w := f.do(t, http.MethodGet, "/v1/kv/n", nil)
				n, _ := strconv.Atoi(w.Body.String())
				w = f.do(t, http.MethodPut, "/v1/kv/n", strings.NewReader(strconv.Itoa(n+1)), "If-Match", w.Header().Get("Etag"))
				switch w.Code {
				case http.StatusNoContent:
					done++
				case http.StatusPreconditionFailed:
				default:
					t.Errorf("PUT = %d", w.Code)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e, _, _ := f.cache.Peek("n"); string(e.Value) != fmt.Sprint(writers*each) {
		t.Fatalf("counter = %s, want %d", e.Value, writers*each)
	}
}

// TestPreconditionsParse covers entity-tag list parsing on its own.
func TestPreconditionsParse(t *testing.T) {
	const tag = `"abc"`
	tests := []struct {
		lines       []string
		found, weak bool
		want        bool
	}{
		{[]string{tag}, true, false, true},
		{[]string{` ` + tag + ` `}, true, false, true},
		{[]string{`W/` + tag}, true, false, false},
		{[]string{`W/` + tag}, true, true, true},
		{[]string{`"x,y", ` + tag}, true, false, true},
		{[]string{`"abc`}, true, false, false},
		{[]string{`abc`}, true, false, false},
		{[]string{``}, true, false, false},
		{[]string{`*`}, true, false, true},
		{[]string{`*`}, false, false, false},
		{[]string{tag}, false, true, false},
		{[]string{`W/`}, true, true, false},
		{[]string{`,,, ,` + tag}, true, false, true},
	}
	for _, tt := range tests {
		if got := matchETag(tt.lines, tt.found, tag, tt.weak); got != tt.want {
			t.Errorf("matchETag(%q, found=%v, weak=%v) = %v, want %v", tt.lines, tt.found, tt.weak, got, tt.want)
		}
	}
}
