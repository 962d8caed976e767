package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/gateway"
)

// ProblemTypeBase prefixes every problem type URI. Each type is a heading in
// docs/api.md, so the URI is also the link to its documentation.
const ProblemTypeBase = "https://github.com/strata-cache/strata/blob/main/docs/api.md#"

// Errors that the handlers return and the error table maps to problem types.
// They wrap with %w to add a detail, so callers (and tests) branch with
// errors.Is.
var (
	// ErrKeyNotFound means the key does not exist (or has expired).
	ErrKeyNotFound = errors.New("key not found")
	// ErrEmptyKey means the request named an empty key.
	ErrEmptyKey = errors.New("the key is empty")
	// ErrInvalidKey means the key's percent-encoding is malformed.
	ErrInvalidKey = errors.New("the key is not a valid percent-encoded path segment")
	// ErrInvalidTTL means a TTL (?ttl= or Cache-Control: max-age) is not a
	// positive, representable duration.
	ErrInvalidTTL = errors.New("invalid TTL")
	// ErrBadRequest means a malformed request other than the cases above,
	// such as an unknown query parameter.
	ErrBadRequest = errors.New("bad request")
	// ErrInvalidJSON means a JSON request body could not be decoded.
	ErrInvalidJSON = errors.New("invalid JSON body")
	// ErrTooManyKeys means a batch names more keys than Options.MaxBatchKeys.
	ErrTooManyKeys = errors.New("too many keys in one batch")
	// ErrPreconditionFailed means If-Match or If-None-Match did not hold.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrBodyTooLarge means the request body exceeds Options.MaxBody.
	ErrBodyTooLarge = errors.New("request body too large (http.max_body)")
	// ErrRouteNotFound means no route matches the request path.
	ErrRouteNotFound = errors.New("no such route")
	// ErrMethodNotAllowed means the route exists but not for this method.
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrNotConfigured means an optional endpoint (/metrics, /v1/stats) has
	// nothing behind it in this process.
	ErrNotConfigured = errors.New("endpoint not configured")
	// ErrUnknownResource means /v1/r/{resource}/ names no configured
	// resource.
	ErrUnknownResource = errors.New("unknown resource")
	// ErrInternal is a failure of the server itself, such as a recovered
	// panic. Its detail is never sent to the client.
	ErrInternal = errors.New("internal server error")
)

// problemType is one row of the error table.
type problemType struct {
	err    error
	status int
	slug   string // the fragment of the type URI and the heading in docs/api.md
	title  string
}

// problemTypes is the one place where errors become HTTP statuses; RESP has
// its own table. The first row whose err matches (errors.Is) wins; an error
// that matches no row is a 500 whose text is logged, not sent.
//
// Choices worth knowing:
//   - cache.ErrKeyTooLarge is 414 URI Too Long: on every single-key route the
//     key is the last path segment, so the URI is what is too long. The batch
//     read uses the same row, so a client sees one problem type for one cause.
//   - cache.ErrValueTooLargeForMemory is 507 Insufficient Storage: the value
//     is within the configured value limit but larger than the whole memory
//     budget, a property of this server rather than of the request.
//   - A batch with too many keys is 413: the request is larger than the
//     server is willing to process, and splitting it succeeds.
//   - cache.ErrOriginUnavailable and cache.ErrL2Unavailable are 503 with
//     Retry-After (cache.RetryAfter):
//     PostgreSQL could not answer and nothing usable was cached; retrying
//     soon may succeed. cache.ErrOriginQuery is 502: PostgreSQL answered,
//     with an error, as an upstream would.
//   - A write to a resource key is 409 Conflict: the request conflicts with
//     the key's state (owned by the database), not with its syntax.
var problemTypes = []problemType{
	{ErrKeyNotFound, http.StatusNotFound, "not-found", "Key not found"},
	{cache.ErrNoSuchKey, http.StatusNotFound, "not-found", "Key not found"},
	{ErrRouteNotFound, http.StatusNotFound, "route-not-found", "No such route"},
	{ErrNotConfigured, http.StatusNotFound, "not-configured", "Endpoint not configured"},
	{ErrMethodNotAllowed, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"},
	{ErrEmptyKey, http.StatusBadRequest, "invalid-key", "Invalid key"},
	{ErrInvalidKey, http.StatusBadRequest, "invalid-key", "Invalid key"},
	{ErrInvalidTTL, http.StatusBadRequest, "invalid-ttl", "Invalid TTL"},
	{cache.ErrInvalidExpire, http.StatusBadRequest, "invalid-ttl", "Invalid TTL"},
	{ErrInvalidJSON, http.StatusBadRequest, "invalid-json", "Invalid JSON body"},
	{ErrBadRequest, http.StatusBadRequest, "bad-request", "Bad request"},
	{ErrPreconditionFailed, http.StatusPreconditionFailed, "precondition-failed", "Precondition failed"},
	{ErrBodyTooLarge, http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large"},
	{cache.ErrValueTooLarge, http.StatusRequestEntityTooLarge, "value-too-large", "Value too large"},
	{ErrTooManyKeys, http.StatusRequestEntityTooLarge, "too-many-keys", "Too many keys"},
	{cache.ErrKeyTooLarge, http.StatusRequestURITooLong, "key-too-large", "Key too large"},
	{cache.ErrValueTooLargeForMemory, http.StatusInsufficientStorage, "insufficient-storage", "Value larger than the memory budget"},
	{ErrUnknownResource, http.StatusNotFound, "unknown-resource", "Unknown resource"},
	{cache.ErrReadOnlyKey, http.StatusConflict, "read-only-key", "Key is read-only"},
	{cache.ErrOriginUnavailable, http.StatusServiceUnavailable, "origin-unavailable", "Origin unavailable"},
	{cache.ErrOriginQuery, http.StatusBadGateway, "origin-query-failed", "Origin query failed"},
	{cache.ErrL2Unavailable, http.StatusServiceUnavailable, "l2-unavailable", "L2 (Redis) unavailable"},
	{gateway.ErrNoAuth, http.StatusUnauthorized, "unauthorized", "Authentication required"},
	{gateway.ErrBadAuth, http.StatusUnauthorized, "unauthorized", "Invalid API key"},
	{gateway.ErrForbidden, http.StatusForbidden, "forbidden", "Forbidden"},
	{gateway.ErrRateLimited, http.StatusTooManyRequests, "rate-limited", "Rate limit exceeded"},
	{ErrInternal, http.StatusInternalServerError, "internal", "Internal server error"},
}

// internalProblem is the row used for errors the table does not know.
var internalProblem = problemTypes[len(problemTypes)-1]

// lookupProblem returns the table row for err.
func lookupProblem(err error) problemType {
	for _, p := range problemTypes {
		if errors.Is(err, p.err) {
			return p
		}
	}
	return internalProblem
}

// Problem is an RFC 9457 problem details object, the body of every error
// response (Content-Type application/problem+json).
type Problem struct {
	// Type is a URI naming the kind of problem; see docs/api.md.
	Type string `json:"type"`
	// Title is a short, fixed summary of the type.
	Title string `json:"title"`
	// Status repeats the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Instance is the request path, as the client sent it.
	Instance string `json:"instance,omitempty"`
	// RequestID is the request's X-Request-Id, to find it in the logs.
	RequestID string `json:"request_id,omitempty"`
}

// StatusOf returns the HTTP status the error table assigns to err.
func StatusOf(err error) int { return lookupProblem(err).status }

// writeProblem sends err as problem+json with the status from the table. The
// detail is err's text, except for internal errors, whose text stays in the
// log (ServeHTTP writes it there): it may describe the server, not the
// request.
func (a *API) writeProblem(x *exchange, r *http.Request, err error) {
	p := lookupProblem(err)
	detail := err.Error()
	if p.status == http.StatusInternalServerError {
		detail = "the server failed to handle the request; the log has the details under this request id"
	}
	body, mErr := json.Marshal(Problem{
		Type:      ProblemTypeBase + p.slug,
		Title:     p.title,
		Status:    p.status,
		Detail:    detail,
		Instance:  r.URL.EscapedPath(),
		RequestID: x.requestID,
	})
	if mErr != nil { // cannot happen for these field types
		body = []byte(`{"title":"Internal server error","status":500}`)
	}
	h := x.Header()
	// Drop what a handler set for a success it did not reach, and keep
	// caches from storing the error: explicit freshness would make even a
	// 412 storable, and a cached 404 would hide the next PUT.
	for _, k := range []string{"Etag", "Age", "X-Ttl-Ms", "Location"} {
		delete(h, k)
	}
	h.Set("Cache-Control", "no-store")
	if isOriginUnavailable(err) {
		h.Set("Retry-After", strconv.Itoa(int(cache.RetryAfter/time.Second)))
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	x.WriteHeader(p.status)
	if r.Method != http.MethodHead {
		x.Write(append(body, '\n'))
	}
}
