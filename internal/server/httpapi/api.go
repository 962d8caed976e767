// Package httpapi is strata's REST front end: an http.Handler over the same
// key space (cache.Cache) that the RESP front end serves, plus the health,
// metrics and stats endpoints. docs/api.md is the reference for clients.
//
// The package owns no listener: the node creates the http.Server (NewServer
// sets its limits) and decides when to serve and shut down.
//
// Every error a handler meets goes through one table (problemTypes) that
// gives its status and RFC 9457 problem type, so a cause has one status
// whichever route met it.
//
// Keys are arbitrary bytes. A key is the rest of the escaped request path
// after "/v1/kv/", percent-decoded once; routing never cleans or re-decodes
// the path, so "%2F", "%00", "%0D%0A", "../" and invalid UTF-8 reach the
// cache exactly as sent. KeyPath builds such a path for clients.
//
// Locking: each operation runs under the shared side of the cache's
// Isolation lock, so multi-key RESP commands (which take the exclusive side)
// are atomic with respect to HTTP requests. The lock is never held while
// reading a request body or writing a response, so a slow client cannot
// stall the exclusive side.
package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/gateway"
	"github.com/strata-cache/strata/internal/slowlog"
	"github.com/strata-cache/strata/internal/telemetry"
)

// Defaults for zero Options fields.
const (
	// DefaultMaxBody is the request body bound when Options.MaxBody is 0; it
	// matches the default of the http.max_body setting.
	DefaultMaxBody = 64 << 20
	// DefaultMaxBatchKeys is the batch read bound when Options.MaxBatchKeys
	// is 0.
	DefaultMaxBatchKeys = 1000
)

// Route labels: the values of the route label of the request metrics. They
// are fixed patterns, never the key, so the label's cardinality is bounded.
const (
	RouteKVGet    = "GET /v1/kv/{key}"
	RouteKVHead   = "HEAD /v1/kv/{key}"
	RouteKVPut    = "PUT /v1/kv/{key}"
	RouteKVDelete = "DELETE /v1/kv/{key}"
	RouteKV       = "/v1/kv/{key}" // any other method: 405
	RouteMGet     = "POST /v1/mget"
	RouteMGetAny  = "/v1/mget" // any other method: 405
	RouteLivez    = "/livez"
	RouteReadyz   = "/readyz"
	RouteMetrics  = "/metrics"
	RouteStats    = "/v1/stats"
	RouteResource = "GET /v1/r/{resource}/{params}"
	RouteResAny   = "/v1/r/{resource}/{params}" // any other method: 405
	RouteExplain  = "GET /v1/explain/{key}"
	RouteExplAny  = "/v1/explain/{key}" // any other method: 405
	RouteUnknown  = "unmatched"
)

// kvPrefix starts every single-key path. No other route starts with it, so a
// key can never collide with a route.
const kvPrefix = "/v1/kv/"

// headerRequestID carries the request id in both directions.
const headerRequestID = "X-Request-Id"

// Metrics receives one observation per finished request, for
// strata_http_requests_total{route,code} and
// strata_http_request_duration_seconds{route}. *telemetry.Metrics satisfies
// it; MetricsFunc adapts a plain function (tests, other registries).
type Metrics interface {
	ObserveHTTP(route string, code int, elapsed time.Duration)
}

// MetricsFunc adapts a function to Metrics.
type MetricsFunc func(route string, code int, elapsed time.Duration)

// ObserveHTTP calls f.
func (f MetricsFunc) ObserveHTTP(route string, code int, elapsed time.Duration) {
	f(route, code, elapsed)
}

// connMetrics is implemented by a Metrics that also keeps the connection
// series, as *telemetry.Metrics does. NewServer uses it, when the API's
// Metrics implements it, to count HTTP connections under proto="http".
type connMetrics interface {
	Conn(proto string) *telemetry.ConnMetrics
}

// Options configures an API. Cache is required; every other field has a
// working default.
type Options struct {
	// Cache is the key space served under /v1/kv/ and /v1/mget. Required.
	Cache *cache.Cache
	// Logger receives one access-log record per request (ECS field names)
	// and the details of internal errors and recovered panics. Nil discards.
	Logger *slog.Logger
	// Gatherer is served at /metrics in the Prometheus text format (or
	// OpenMetrics, when the scraper asks for it). Pass the node's private
	// registry. Nil makes /metrics answer 404 not-configured.
	Gatherer prometheus.Gatherer
	// Metrics observes every request. Nil observes nothing.
	Metrics Metrics
	// Ready reports whether the node should receive traffic, and if not, why.
	// /readyz answers 503 with the reasons while it returns false. Nil means
	// always ready.
	Ready func() (ok bool, reasons []string)
	// Stats returns the node's statistics snapshot; /v1/stats serves it as
	// JSON. Nil makes /v1/stats answer 404 not-configured.
	Stats func() any
	// MaxBody bounds request bodies in bytes; larger bodies get 413
	// body-too-large. Default DefaultMaxBody (64 MiB).
	MaxBody int64
	// MaxBatchKeys bounds the number of keys in one POST /v1/mget; more get
	// 413 too-many-keys. Default DefaultMaxBatchKeys (1000).
	MaxBatchKeys int
	// Clock is the time source for TTLs, Age and Cache-Control, in Unix
	// nanoseconds. It must agree with the cache's clock; nil uses
	// Cache.Now. Request durations always use the monotonic wall clock.
	Clock cache.Clock
	// Gateway authenticates, authorizes and rate-limits requests (see
	// gateway.go) and finds the client address behind trusted proxies.
	// Nil, or a Gateway without keys, lets every request through.
	Gateway *gateway.Gateway
	// SlowLog is served at /v1/slowlog for the console. Nil makes
	// /v1/slowlog answer 404 not-configured.
	SlowLog *slowlog.Log
}

// API is the REST front end. It is an http.Handler, safe for concurrent use;
// create it with New.
type API struct {
	cache        *cache.Cache
	log          *slog.Logger
	metrics      Metrics
	metricsH     http.Handler // nil when Options.Gatherer is nil
	ready        func() (bool, []string)
	stats        func() any
	maxBody      int64
	maxBatchKeys int
	now          cache.Clock
	gw           *gateway.Gateway
	slowlog      *slowlog.Log

	// slots spreads requests over the Isolation lock's stripes.
	slots atomic.Uint64
	// idPrefix and ids make generated request ids: unique per process
	// (prefix) and per request (counter), without a syscall per request.
	idPrefix string
	ids      atomic.Uint64

	exchanges sync.Pool
}

// New returns an API serving opts.Cache. It panics if opts.Cache is nil,
// a programming error.
func New(opts Options) *API {
	if opts.Cache == nil {
		panic("httpapi: Options.Cache is required")
	}
	a := &API{
		cache:        opts.Cache,
		log:          opts.Logger,
		metrics:      opts.Metrics,
		ready:        opts.Ready,
		stats:        opts.Stats,
		maxBody:      opts.MaxBody,
		maxBatchKeys: opts.MaxBatchKeys,
		now:          opts.Clock,
		gw:           opts.Gateway,
		slowlog:      opts.SlowLog,
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBody
	}
	if a.maxBatchKeys <= 0 {
		a.maxBatchKeys = DefaultMaxBatchKeys
	}
	if a.now == nil {
		a.now = opts.Cache.Now
	}
	if opts.Gatherer != nil {
		a.metricsH = promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
			ErrorLog:          promLogger{a.log},
			ErrorHandling:     promhttp.ContinueOnError,
			EnableOpenMetrics: true,
		})
	}
	var b [6]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	a.idPrefix = hex.EncodeToString(b[:]) + "-"
	a.exchanges.New = func() any { return new(exchange) }
	return a
}

// handler serves one route. A returned error becomes the response, through
// the error table; a handler that returns nil has written its response.
type handler func(a *API, x *exchange, r *http.Request) error

// ServeHTTP routes the request, then logs and measures it. A panic in a
// handler becomes a 500 problem (or, if the response had started, an aborted
// connection) and is logged with its stack; it never kills the process.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := a.exchanges.Get().(*exchange)
	x.ResponseWriter = w
	x.path = r.URL.EscapedPath()
	x.requestID = a.requestID(r)
	w.Header().Set(headerRequestID, x.requestID)
	defer a.finish(x, r, start)

	var h handler
	x.route, h = route(r.Method, x.path)
	h = a.guard(x, r, h)
	if err := h(a, x, r); err != nil {
		if StatusOf(err) == http.StatusInternalServerError {
			a.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
				telemetry.Err(err), slog.String("http.request.id", x.requestID))
		}
		if !x.wroteHeader {
			a.writeProblem(x, r, err)
		}
	}
}

// route picks the handler for a method and escaped path. It compares the
// path byte for byte: no cleaning, so "/v1/kv/../x" is the key "../x", not a
// redirect.
func route(method, path string) (string, handler) {
	if strings.HasPrefix(path, kvPrefix) {
		switch method {
		case http.MethodGet:
			return RouteKVGet, (*API).getKey
		case http.MethodHead:
			return RouteKVHead, (*API).getKey
		case http.MethodPut:
			return RouteKVPut, (*API).putKey
		case http.MethodDelete:
			return RouteKVDelete, (*API).deleteKey
		}
		return RouteKV, methodNotAllowed("GET, HEAD, PUT, DELETE")
	}
	if strings.HasPrefix(path, resourcePrefix) {
		if method == http.MethodGet || method == http.MethodHead {
			return RouteResource, (*API).getByResource
		}
		return RouteResAny, methodNotAllowed("GET, HEAD")
	}
	if strings.HasPrefix(path, explainPrefix) {
		if method == http.MethodGet || method == http.MethodHead {
			return RouteExplain, (*API).explain
		}
		return RouteExplAny, methodNotAllowed("GET, HEAD")
	}
	if name, h, ok := consoleRoute(method, path); ok { // console.go
		return name, h
	}
	var name string
	var h handler
	switch path {
	case "/v1/mget":
		if method == http.MethodPost {
			return RouteMGet, (*API).mget
		}
		return RouteMGetAny, methodNotAllowed("POST")
	case "/livez":
		name, h = RouteLivez, (*API).livez
	case "/readyz":
		name, h = RouteReadyz, (*API).readyz
	case "/metrics":
		name, h = RouteMetrics, (*API).serveMetrics
	case "/v1/stats":
		name, h = RouteStats, (*API).serveStats
	default:
		return RouteUnknown, routeNotFound
	}
	if method != http.MethodGet && method != http.MethodHead {
		return name, methodNotAllowed("GET, HEAD")
	}
	return name, h
}

func routeNotFound(_ *API, _ *exchange, r *http.Request) error {
	return fmt.Errorf("%w: %s %s (single keys live under %s<key>)", ErrRouteNotFound, r.Method, r.URL.EscapedPath(), kvPrefix)
}

// methodNotAllowed returns a handler that answers 405 with an Allow header.
func methodNotAllowed(allow string) handler {
	return func(_ *API, x *exchange, r *http.Request) error {
		x.Header().Set("Allow", allow)
		return fmt.Errorf("%w: %s; this route allows %s", ErrMethodNotAllowed, r.Method, allow)
	}
}

// finish runs after every request: it recovers a panic, observes the
// request, writes the access log and recycles the exchange.
func (a *API) finish(x *exchange, r *http.Request, start time.Time) {
	abort := false
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler { // a deliberate abort: not a bug
			abort = true
		} else {
			a.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("error.message", fmt.Sprint(v)),
				slog.String("error.stack_trace", string(debug.Stack())),
				slog.String("http.request.id", x.requestID))
			if x.wroteHeader {
				abort = true // too late for a 500: make the client see a broken response
			} else {
				a.writeProblem(x, r, fmt.Errorf("%w: panic", ErrInternal))
			}
		}
	}
	elapsed := time.Since(start)
	status := x.status
	if !x.wroteHeader {
		status = http.StatusOK
	}
	if a.metrics != nil {
		a.metrics.ObserveHTTP(x.route, status, elapsed)
	}
	if a.log.Enabled(r.Context(), slog.LevelInfo) { // skip building the record when it is dropped
		telemetry.AccessLog(r.Context(), a.log, telemetry.Access{
			Method:    r.Method,
			Path:      x.path,
			Status:    status,
			Bytes:     x.bytes,
			Duration:  elapsed,
			ClientIP:  a.clientAddr(r),
			UserName:  principalName(x),
			RequestID: x.requestID,
			UserAgent: r.UserAgent(),
		})
	}
	*x = exchange{}
	a.exchanges.Put(x)
	if abort {
		panic(http.ErrAbortHandler)
	}
}

// requestID returns the client's X-Request-Id when it is a sane token (1 to
// 128 visible ASCII characters, so it cannot forge log lines), or a new one.
func (a *API) requestID(r *http.Request) string {
	if v := r.Header[headerRequestID]; len(v) == 1 && validRequestID(v[0]) {
		return v[0]
	}
	var b [40]byte
	return string(strconv.AppendUint(append(b[:0], a.idPrefix...), a.ids.Add(1), 36))
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// clientIP returns the host part of a RemoteAddr. It deliberately ignores
// X-Forwarded-For, which any client can forge; the proxy in front logs the
// original address.
func clientIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// slot returns the Isolation stripe hint for the next operation.
func (a *API) slot() uint64 { return a.slots.Add(1) }

// exchange is the per-request state: the response writer, wrapped to record
// the status and body size for the access log and metrics. Exchanges are
// pooled, so a request allocates none.
type exchange struct {
	http.ResponseWriter
	path        string // r.URL.EscapedPath(), computed once
	route       string
	requestID   string
	status      int
	bytes       int64
	wroteHeader bool
	principal   *gateway.Principal // set by guard
}

// WriteHeader records the first final status and passes it on.
func (x *exchange) WriteHeader(code int) {
	if x.wroteHeader || code < 200 {
		x.ResponseWriter.WriteHeader(code)
		return
	}
	x.status, x.wroteHeader = code, true
	x.ResponseWriter.WriteHeader(code)
}

// Write counts the body bytes and passes them on.
func (x *exchange) Write(b []byte) (int, error) {
	if !x.wroteHeader {
		x.WriteHeader(http.StatusOK)
	}
	n, err := x.ResponseWriter.Write(b)
	x.bytes += int64(n)
	return n, err
}

// Flush passes a flush on, for handlers (promhttp) that stream.
func (x *exchange) Flush() {
	if !x.wroteHeader {
		x.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(x.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

// promLogger adapts the access logger to promhttp's error log.
type promLogger struct{ log *slog.Logger }

// Println logs a /metrics gathering or encoding error.
func (l promLogger) Println(v ...any) {
	l.log.Error("serving /metrics", slog.String("error.message", fmt.Sprint(v...)))
}
