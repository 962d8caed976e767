package httpapi

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/strata-cache/strata/internal/slowlog"
	"github.com/strata-cache/strata/web"
)

// This file serves the console (web/, issue 8) and the two JSON routes it
// needs beyond /v1/stats, /v1/kv and /v1/explain:
//
//   - GET /ui/...: the console's static assets, embedded in the binary
//     (web.Dist), so the console works with no internet and no CDN. The
//     assets are the same on every node and in the public repository and
//     carry no data, so they answer without authentication: a browser
//     cannot attach a bearer token to a page navigation, and the page must
//     load to ask for a key. Every byte of data the console shows comes
//     from the JSON routes, which keep their scopes (/v1/stats, /v1/keys
//     and /v1/slowlog need admin).
//   - GET /v1/keys?prefix=&cursor=&count=: browse keys by prefix, SCAN
//     underneath, with each key's type, TTL and size.
//   - GET /v1/slowlog?count=: the slow-command log (SLOWLOG GET).

// Route labels of the console's routes.
const (
	RouteUI         = "GET /ui/"
	RouteUIAny      = "/ui/" // any other method: 405
	RouteKeys       = "GET /v1/keys"
	RouteKeysAny    = "/v1/keys" // any other method: 405
	RouteSlowlog    = "GET /v1/slowlog"
	RouteSlowlogAny = "/v1/slowlog" // any other method: 405
)

const uiPrefix = "/ui/"

// Bounds of GET /v1/keys.
const (
	// defaultKeysCount is how many keys a page has when count is absent.
	defaultKeysCount = 100
	// maxKeysCount bounds count.
	maxKeysCount = 1000
	// keysScanBudget bounds the keys one request examines, as a multiple of
	// count: a prefix that matches little answers a short page (with the
	// cursor to continue) rather than walking a large key space while
	// holding the shared side of the Isolation lock.
	keysScanBudget = 16
)

// consoleRoute routes the console's paths; ok is false for any other path.
func consoleRoute(method, path string) (name string, h handler, ok bool) {
	get := method == http.MethodGet || method == http.MethodHead
	switch {
	case path == "/ui" || strings.HasPrefix(path, uiPrefix):
		if get {
			return RouteUI, (*API).serveUI, true
		}
		return RouteUIAny, methodNotAllowed("GET, HEAD"), true
	case path == "/v1/keys":
		if get {
			return RouteKeys, (*API).listKeys, true
		}
		return RouteKeysAny, methodNotAllowed("GET, HEAD"), true
	case path == "/v1/slowlog":
		if get {
			return RouteSlowlog, (*API).serveSlowlog, true
		}
		return RouteSlowlogAny, methodNotAllowed("GET, HEAD"), true
	}
	return "", nil, false
}

// serveUI serves the console's embedded assets. "/ui" redirects to "/ui/";
// a path that names no asset is a 404 route-not-found problem.
func (a *API) serveUI(x *exchange, r *http.Request) error {
	if x.path == "/ui" {
		http.Redirect(x, r, uiPrefix, http.StatusMovedPermanently)
		return nil
	}
	name, err := url.PathUnescape(x.path[len(uiPrefix):])
	if err != nil || (name != "" && !fs.ValidPath(name)) {
		return fmt.Errorf("%w: %s is not a console asset", ErrRouteNotFound, x.path)
	}
	if name == "" {
		name = "index.html"
	}
	body, err := fs.ReadFile(web.Dist, name)
	if err != nil {
		return fmt.Errorf("%w: %s is not a console asset", ErrRouteNotFound, x.path)
	}
	h := x.Header()
	h.Set("Content-Type", assetType(name))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	// Assets change with the binary and are small: revalidate every load
	// rather than serve a console that disagrees with its server.
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// Only this origin's scripts and data; uPlot sets inline styles.
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	x.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		x.Write(body)
	}
	return nil
}

func assetType(name string) string {
	switch {
	case strings.HasSuffix(name, ".html"):
		return "text/html; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		return "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".svg"):
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// KeyInfo is one key of GET /v1/keys. Its JSON field names are part of the
// HTTP API.
type KeyInfo struct {
	// Key is the key: its text when it is valid UTF-8, else its bytes in
	// standard base64 with KeyEncoding "base64".
	Key         string `json:"key"`
	KeyEncoding string `json:"key_encoding,omitempty"`
	// Type is the Redis type, always "string" (strata stores strings only).
	Type string `json:"type"`
	// TTLMs is the time until the key expires; absent when it never does.
	TTLMs *int64 `json:"ttl_ms,omitempty"`
	// Bytes is the value's length; MemoryBytes what L1 accounts for the
	// entry (key, value and overhead), as MEMORY USAGE reports.
	Bytes       int    `json:"bytes"`
	MemoryBytes uint64 `json:"memory_bytes"`
	// Resource names the resource that owns the key; absent for plain keys.
	Resource string `json:"resource,omitempty"`
}

// KeysPage is the body of GET /v1/keys.
type KeysPage struct {
	Keys []KeyInfo `json:"keys"`
	// Cursor continues the scan; "0" means the scan is complete. As with
	// SCAN, a key present for the whole scan is returned at least once.
	Cursor string `json:"cursor"`
}

// listKeys serves GET /v1/keys: keys that start with prefix, SCAN
// semantics, up to count per page.
func (a *API) listKeys(x *exchange, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("%w: malformed query string: %v", ErrBadRequest, err)
	}
	prefix, cursor, count := "", uint64(0), defaultKeysCount
	for name, vs := range q {
		if len(vs) != 1 {
			return fmt.Errorf("%w: parameter %q is given %d times", ErrBadRequest, name, len(vs))
		}
		v := vs[0]
		switch name {
		case "prefix":
			prefix = v
		case "cursor":
			if cursor, err = strconv.ParseUint(v, 10, 64); err != nil {
				return fmt.Errorf("%w: cursor %q is not a cursor returned by /v1/keys", ErrBadRequest, v)
			}
		case "count":
			if count, err = strconv.Atoi(v); err != nil || count < 1 || count > maxKeysCount {
				return fmt.Errorf("%w: count %q must be an integer from 1 to %d", ErrBadRequest, v, maxKeysCount)
			}
		default:
			return fmt.Errorf("%w: unknown parameter %q (GET /v1/keys takes prefix, cursor, count)", ErrBadRequest, name)
		}
	}
	page := KeysPage{Keys: []KeyInfo{}}
	var batch []string
	stripe := a.cache.Isolation.RLock(a.slot())
	now := a.now()
	for examined := 0; ; {
		var err error
		batch, cursor, err = a.cache.Scan(cursor, "", count, batch[:0])
		if err != nil {
			a.cache.Isolation.RUnlock(stripe)
			return err
		}
		examined += len(batch)
		for _, k := range batch {
			if !strings.HasPrefix(k, prefix) {
				continue
			}
			e, ok, _ := a.cache.Peek(k)
			if !ok {
				continue
			}
			ki := KeyInfo{Key: k, Type: "string", Bytes: len(e.Value)}
			if !utf8.ValidString(k) {
				ki.Key, ki.KeyEncoding = base64.StdEncoding.EncodeToString([]byte(k)), encodingBase64
			}
			if ttl := e.TTL(now); ttl >= 0 {
				ms := ttl / int64(time.Millisecond)
				ki.TTLMs = &ms
			}
			ki.MemoryBytes, _ = a.cache.MemoryUsage(k)
			if res := a.cache.ResourceOf(k); res != nil {
				ki.Resource = res.Spec.Name
			}
			page.Keys = append(page.Keys, ki)
		}
		if cursor == 0 || len(page.Keys) >= count || examined >= count*keysScanBudget {
			break
		}
	}
	a.cache.Isolation.RUnlock(stripe)
	page.Cursor = strconv.FormatUint(cursor, 10)
	return writeJSON(x, r, http.StatusOK, page)
}

// SlowlogEntry is one entry of GET /v1/slowlog.
type SlowlogEntry struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	DurationUs int64     `json:"duration_us"`
	Args       []string  `json:"args"`
	ClientAddr string    `json:"client_addr"`
	ClientName string    `json:"client_name,omitempty"`
}

// Slowlog is the body of GET /v1/slowlog.
type Slowlog struct {
	// ThresholdUs is slowlog.log_slower_than in microseconds (negative:
	// disabled); MaxLen how many entries the log keeps; Len how many it
	// holds now.
	ThresholdUs int64          `json:"threshold_us"`
	MaxLen      int            `json:"max_len"`
	Len         int            `json:"len"`
	Entries     []SlowlogEntry `json:"entries"`
}

// serveSlowlog serves GET /v1/slowlog?count=N: the newest N entries
// (default 128, all when N is -1), newest first.
func (a *API) serveSlowlog(x *exchange, r *http.Request) error {
	if a.slowlog == nil {
		return fmt.Errorf("%w: this server has no slow log", ErrNotConfigured)
	}
	n := slowlog.DefaultMaxLen
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("%w: malformed query string: %v", ErrBadRequest, err)
	}
	for name, vs := range q {
		if name != "count" || len(vs) != 1 {
			return fmt.Errorf("%w: GET /v1/slowlog takes one parameter, count", ErrBadRequest)
		}
		if n, err = strconv.Atoi(vs[0]); err != nil || n < -1 {
			return fmt.Errorf("%w: count %q must be a non-negative integer, or -1 for all", ErrBadRequest, vs[0])
		}
	}
	l := a.slowlog
	out := Slowlog{ThresholdUs: l.Threshold().Microseconds(), MaxLen: l.MaxLen(), Entries: []SlowlogEntry{}}
	for _, e := range l.Get(n) {
		out.Entries = append(out.Entries, SlowlogEntry{
			ID: e.ID, Time: e.Time.UTC(), DurationUs: e.Duration.Microseconds(),
			Args: e.Args, ClientAddr: e.ClientAddr, ClientName: e.ClientName,
		})
	}
	out.Len = l.Len()
	return writeJSON(x, r, http.StatusOK, out)
}
