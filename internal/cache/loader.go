package cache

import (
	"context"
	"errors"
	"time"
)

// Loader loads the value of one resource key from the origin (PostgreSQL).
// It is the cache's view of package source/postgres, adapted by the node;
// tests use LoaderFunc.
//
// Load runs the named resource's query with params, the key's template
// parameters in template order. It must honour ctx (the cache gives every
// shared load its own context with the resource's query timeout). An error
// should match ErrSourceUnavailable (the origin could not answer: serve
// stale within stale_if_error, or "origin unavailable") or ErrSourceBadParam
// (the key cannot name a row: a miss); any other error is a query error,
// which Read reports as ErrOriginQuery.
type Loader interface {
	Load(ctx context.Context, resource string, params []string) (LoadResult, error)
}

// LoaderFunc adapts a function to Loader.
type LoaderFunc func(ctx context.Context, resource string, params []string) (LoadResult, error)

// Load calls f.
func (f LoaderFunc) Load(ctx context.Context, resource string, params []string) (LoadResult, error) {
	return f(ctx, resource, params)
}

// LoadResult is the outcome of one load.
type LoadResult struct {
	// Value is the loaded value when Found. The cache retains it.
	Value []byte
	// Found is false when the query returned no row.
	Found bool
	// Duration is how long the load took.
	Duration time.Duration
}

// Loader error classes. A Loader wraps its errors with one of them.
var (
	// ErrSourceUnavailable means the origin could not answer now
	// (connection refused or lost, timeout, shutdown). Retrying later may
	// succeed.
	ErrSourceUnavailable = errors.New("origin could not answer")
	// ErrSourceBadParam means a key parameter cannot name a row (e.g.
	// "abc" for an integer column). No query was sent; the key is a miss.
	ErrSourceBadParam = errors.New("key parameter cannot name a row")
)

// Errors of read-through reads and of writes to resource keys. Front ends
// map them in their one error table each.
var (
	// ErrOriginUnavailable means a resource key is not cached (or its
	// cached value is past stale_if_error) and the origin could not answer.
	// HTTP answers 503 with Retry-After, RESP a -TRYAGAIN error. Read wraps
	// the loader's error, so the text says why.
	ErrOriginUnavailable = errors.New("origin unavailable (PostgreSQL)")
	// ErrOriginQuery means the origin answered the resource's query with an
	// error (a SQL or data error, or more than one row). Retrying will not
	// help until the query or the data changes.
	ErrOriginQuery = errors.New("origin query failed (PostgreSQL)")
	// ErrReadOnlyKey is matched by every *ReadOnlyError.
	ErrReadOnlyKey = errors.New("key belongs to a resource and is read-only")
	// ErrClosed means the cache was closed while a load was needed.
	ErrClosed = errors.New("cache closed")
)

// RetryAfter is how long clients are told to wait after ErrOriginUnavailable
// (HTTP Retry-After, the RESP error's "retry in").
const RetryAfter = time.Second

// ReadOnlyError is the error for a write to a resource key: the database
// owns the value, so clients may read it and invalidate it (DEL), but not
// write it.
type ReadOnlyError struct {
	// Key is the key written to.
	Key string
	// Resource is the name of the resource that owns it.
	Resource string
}

// Error says which resource owns the key and what the client may do.
func (e *ReadOnlyError) Error() string {
	return "key '" + e.Key + "' belongs to resource '" + e.Resource + "' and is read-only (the database owns it); DEL invalidates it"
}

// Is reports whether target is ErrReadOnlyKey.
func (e *ReadOnlyError) Is(target error) bool { return target == ErrReadOnlyKey }

// Classify returns err marked with class (ErrSourceUnavailable or
// ErrSourceBadParam), for a Loader: errors.Is matches both class and err's
// own chain, and the text is err's alone.
func Classify(class, err error) error { return &classified{class: class, err: err} }

type classified struct{ class, err error }

func (c *classified) Error() string   { return c.err.Error() }
func (c *classified) Unwrap() []error { return []error{c.class, c.err} }
