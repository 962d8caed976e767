package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/gateway"
)

// Prefixes of the resource routes.
const (
	resourcePrefix = "/v1/r/"
	explainPrefix  = "/v1/explain/"
)

// getResource serves a read of a resource key (GET /v1/kv/{key} or
// /v1/r/...): read through the cache, or straight from PostgreSQL when the
// request says Cache-Control: no-cache (or Pragma: no-cache). The load is
// bounded by the request's context for this reader only; it never holds
// the Isolation lock, which resource keys do not need (multi-key writes
// cannot touch them).
func (a *API) getResource(x *exchange, r *http.Request, key, contentType string) error {
	opts := cache.ReadOptions{NoCache: noCache(r)}
	if v := r.Header.Get(MinLSNHeader); v != "" {
		lsn, err := cache.ParseLSN(v)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadRequest, MinLSNHeader, err)
		}
		opts.MinLSN = lsn
	}
	res, err := a.cache.Read(r.Context(), key, opts)
	h := x.Header()
	if err != nil {
		h["X-Cache"] = []string{cache.SourceNone.String()}
		return err
	}
	if !res.Found {
		h["X-Cache"] = []string{res.CacheStatus()}
		return fmt.Errorf("%w: resource %s has no row for this key", ErrKeyNotFound, res.Resource.Spec.Name)
	}
	return a.writeEntry(x, r, res.Entry, res.CacheStatus(), contentType)
}

// MinLSNHeader carries a read-your-writes WAL position: the value of
// pg_current_wal_lsn() after the client's own commit, e.g. "0/16B3748".
// A WAL-invalidated resource key is then answered at least that fresh
// (the node waits, bounded, until it has applied it, or reads PostgreSQL).
const MinLSNHeader = "X-Strata-Min-LSN"

// noCache reports whether the request asks to bypass caches.
func noCache(r *http.Request) bool {
	for _, v := range r.Header.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-cache") {
				return true
			}
		}
	}
	return r.Header.Get("Cache-Control") == "" && strings.EqualFold(strings.TrimSpace(r.Header.Get("Pragma")), "no-cache")
}

// getByResource serves GET and HEAD /v1/r/{resource}/{params...}: the
// parameters are path segments in template order, each percent-decoded
// once, and the answer is the key's value with Content-Type
// application/json, exactly as GET of the key would give it.
func (a *API) getByResource(x *exchange, r *http.Request) error {
	rest := x.path[len(resourcePrefix):]
	name, segs, _ := strings.Cut(rest, "/")
	res, ok := a.cache.Resources().Get(name)
	if !ok {
		return fmt.Errorf("%w: no resource %q is configured", ErrUnknownResource, name)
	}
	parts := strings.Split(segs, "/")
	if segs == "" || len(parts) != res.Template.NumParams() {
		return fmt.Errorf("%w: resource %s (%s) takes %d path segment(s) after %s%s/, in template order: %s",
			ErrBadRequest, name, res.Spec.Key, res.Template.NumParams(), resourcePrefix, name, strings.Join(res.Template.Params(), "/"))
	}
	params := make([]string, len(parts))
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil {
			return fmt.Errorf("%w: segment {%s}: %v", ErrInvalidKey, res.Template.Param(i), err)
		}
		if v == "" {
			return fmt.Errorf("%w: segment {%s} is empty", ErrInvalidKey, res.Template.Param(i))
		}
		params[i] = v
	}
	key := res.Template.Expand(params...)
	// A value that contains the literal after its parameter would make a
	// key that reads back differently, i.e. a different row's key.
	if back, ok := res.Template.Match(key); !ok || !equal(back, params) || a.cache.ResourceOf(key) != res {
		return fmt.Errorf("%w: the parameters do not form a key of %s (a value may not contain the text that follows it in %q)",
			ErrInvalidKey, name, res.Spec.Key)
	}
	if err := a.cache.CheckKey(key); err != nil {
		return err
	}
	if err := a.authorizeKeys(x, gateway.ScopeRead, key); err != nil {
		return err
	}
	return a.getResource(x, r, key, "application/json")
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// explain serves GET /v1/explain/{key}: what the node knows about the key
// (cache.Explanation as JSON), without loading it.
func (a *API) explain(x *exchange, r *http.Request) error {
	key, err := decodeKey(x.path[len(explainPrefix):])
	if err != nil {
		return err
	}
	if err := a.cache.CheckKey(key); err != nil {
		return err
	}
	return writeJSON(x, r, http.StatusOK, a.cache.Explain(key))
}

// isOriginUnavailable reports whether err should carry Retry-After.
func isOriginUnavailable(err error) bool {
	return errors.Is(err, cache.ErrOriginUnavailable) || errors.Is(err, cache.ErrL2Unavailable)
}
