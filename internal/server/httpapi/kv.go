package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/strata-cache/strata/internal/cache"
)

// key decodes and checks the key of a /v1/kv/ request.
func (a *API) key(x *exchange) (string, error) {
	key, err := decodeKey(x.path[len(kvPrefix):])
	if err != nil {
		return "", err
	}
	if err := a.cache.CheckKey(key); err != nil {
		return "", fmt.Errorf("%w: the key is %d bytes", err, len(key))
	}
	return key, nil
}

// getKey serves GET and HEAD /v1/kv/{key}: the raw value with its entity
// tag, age and freshness, or 304 when If-None-Match matches.
func (a *API) getKey(x *exchange, r *http.Request) error {
	key, err := a.key(x)
	if err != nil {
		return err
	}
	if a.cache.ResourceOf(key) != nil {
		return a.getResource(x, r, key, "application/octet-stream")
	}
	stripe := a.cache.Isolation.RLock(a.slot())
	e, src, found, err := a.cache.Get(key)
	a.cache.Isolation.RUnlock(stripe)
	if err != nil {
		return err
	}
	// From here on e.Value is ours to read without the lock: stored values
	// are immutable (see cache.Entry).

	if !found {
		x.Header()["X-Cache"] = []string{cache.SourceNone.String()}
		return fmt.Errorf("%w: the key does not exist or has expired", ErrKeyNotFound)
	}
	return a.writeEntry(x, r, e, src.String(), "application/octet-stream")
}

// writeEntry answers a GET or HEAD with e: its freshness headers, then 304
// or 412 when a precondition says so, else 200 with the value.
func (a *API) writeEntry(x *exchange, r *http.Request, e cache.Entry, xcache, contentType string) error {
	etag := cache.ETag(e.Value)
	now := a.now()
	hv := headerValues{h: x.Header(), buf: make([]string, 0, 8)}
	writeFreshness(&hv, e, xcache, etag, now)

	if pre := readPreconditions(r); pre.present() {
		switch pre.evaluate(true, etag, true) {
		case failed:
			return fmt.Errorf("%w: If-Match does not match the current ETag %s", ErrPreconditionFailed, etag)
		case notModified:
			x.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	hv.set("Content-Type", contentType)
	hv.set("X-Content-Type-Options", "nosniff")
	hv.set("Content-Length", strconv.Itoa(len(e.Value)))
	x.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		x.Write(e.Value)
	}
	return nil
}

// writeFreshness sets the headers that describe an entry on 200 and 304
// responses (RFC 9110 §15.4.5 wants the same ETag and Cache-Control on both):
//
//   - ETag: the strong tag of the value (cache.ETag), equal across nodes and
//     front ends for equal bytes.
//   - Age: whole seconds since the value was stored.
//   - Cache-Control: with a TTL, max-age is Age plus the remaining TTL, both
//     rounded down. A downstream cache subtracts Age from max-age (RFC 9111
//     §4.2.3), so it then expires its copy no later than strata expires the
//     key; max-age of the remaining TTL alone would expire it early by Age.
//     Without a TTL the entry may live, or be overwritten, at any time: no
//     freshness lifetime would be honest, so it is no-cache, which lets a
//     cache keep the copy but revalidate it each time (cheap: If-None-Match
//     and 304).
//   - X-TTL-Ms: the remaining TTL in milliseconds, for clients that want
//     more precision than max-age; absent when the key does not expire.
//   - X-Cache: the tier that answered (cache.Source), e.g. L1; for a
//     resource key also "origin" (loaded by this request) or "stale"
//     (served past its TTL, within stale_while_revalidate or
//     stale_if_error).
//
// For a resource entry the TTL is the resource's (up to Fill.FreshUntil),
// not the entry's life in L1, which includes its stale windows; a stale
// entry is sent with max-age equal to its Age, i.e. already stale.
//
// A cache in front of strata may still serve a value that was overwritten
// before its TTL ran out; clients that need read-your-writes revalidate.
func writeFreshness(hv *headerValues, e cache.Entry, xcache string, etag string, now int64) {
	age := max(now-e.StoredAt, 0) / int64(time.Second)
	hv.set("Etag", etag)
	hv.set("Age", strconv.FormatInt(age, 10))
	ttl := e.TTL(now)
	if e.Fill != nil {
		ttl = max(e.Fill.FreshUntil-now, 0)
	}
	if ttl >= 0 {
		var b [32]byte
		hv.set("Cache-Control", string(strconv.AppendInt(append(b[:0], "max-age="...), age+ttl/int64(time.Second), 10)))
		hv.set("X-Ttl-Ms", strconv.FormatInt(ttl/int64(time.Millisecond), 10))
	} else {
		hv.set("Cache-Control", "no-cache")
	}
	hv.set("X-Cache", xcache)
}

// headerValues sets response headers from one backing array, instead of one
// []string allocation per header, on the GET hot path. Keys must be in
// canonical form.
type headerValues struct {
	h   http.Header
	buf []string
}

// set replaces the values of the canonical header key with v.
func (hv *headerValues) set(key, v string) {
	hv.buf = append(hv.buf, v)
	n := len(hv.buf)
	hv.h[key] = hv.buf[n-1 : n : n]
}

// putKey serves PUT /v1/kv/{key}: the body becomes the value, with the TTL
// from ?ttl= or Cache-Control: max-age. It answers 201 Created (with
// Location) when the key did not exist and 204 No Content when it replaced
// a value, both with the new ETag.
func (a *API) putKey(x *exchange, r *http.Request) error {
	key, err := a.key(x)
	if err != nil {
		return err
	}
	if err := a.cache.CheckWrite(key); err != nil {
		return err
	}
	ttl, err := requestTTL(r)
	if err != nil {
		return err
	}
	value, err := a.readBody(x, r)
	if err != nil {
		return err
	}
	pre := readPreconditions(r)

	stripe := a.cache.Isolation.RLock(a.slot())
	created, err := a.store(key, value, ttl, pre)
	a.cache.Isolation.RUnlock(stripe)
	if err != nil {
		return err
	}

	h := x.Header()
	h["Etag"] = []string{cache.ETag(value)}
	if created {
		h["Location"] = []string{x.path}
		x.WriteHeader(http.StatusCreated)
	} else {
		x.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// store writes value under key if pre allows it and reports whether the key
// was created. The caller holds the shared side of Isolation.
func (a *API) store(key string, value []byte, ttl time.Duration, pre preconditions) (created bool, err error) {
	at, err := expireAt(a.now(), ttl)
	if err != nil {
		return false, err
	}
	if !pre.present() {
		res, err := a.cache.Set(key, value, cache.SetOptions{ExpireAt: at})
		return !res.HadOld, err
	}
	return a.writeIf(key, value, at, false, pre)
}

// deleteKey serves DELETE /v1/kv/{key}: 204 when it removed the key, 404
// when there was none, 412 when If-Match or If-None-Match does not hold.
func (a *API) deleteKey(x *exchange, r *http.Request) error {
	key, err := a.key(x)
	if err != nil {
		return err
	}
	if a.cache.ResourceOf(key) != nil {
		// The database owns the value: DELETE invalidates it (and fences
		// loads in flight); the next read loads it again.
		if !a.cache.Invalidate(key) {
			return fmt.Errorf("%w: nothing cached to invalidate", ErrKeyNotFound)
		}
		x.WriteHeader(http.StatusNoContent)
		return nil
	}
	pre := readPreconditions(r)
	stripe := a.cache.Isolation.RLock(a.slot())
	var deleted bool
	if pre.present() {
		deleted, err = a.writeIf(key, nil, 0, true, pre)
	} else {
		deleted, err = a.cache.Delete(key)
	}
	a.cache.Isolation.RUnlock(stripe)
	if err != nil {
		return err
	}
	if !deleted {
		return fmt.Errorf("%w: nothing to delete", ErrKeyNotFound)
	}
	x.WriteHeader(http.StatusNoContent)
	return nil
}

// writeIf performs a conditional PUT (del false) or DELETE (del true)
// atomically. The cache can only compare one entity tag, so it evaluates the
// preconditions against the current entry and then writes with a
// compare-and-swap on exactly the state it evaluated: IfMatch on that
// entry's tag, or SetNX if there was none. If another writer got in between,
// the swap fails and the loop re-evaluates against the new state, so the
// outcome is always one a serial execution could give.
//
// A delete is a write with an expiry in the past, which SetOptions documents
// as deleting the key; the cache has no conditional delete of its own.
//
// For PUT it reports whether the key was created; for DELETE whether it was
// deleted (false with a nil error: there was nothing to delete, a 404, as
// RFC 9110 §13.2.1 has preconditions ignored when the request would fail
// anyway).
func (a *API) writeIf(key string, value []byte, at int64, del bool, pre preconditions) (bool, error) {
	for {
		old, found, err := a.cache.Peek(key)
		if err != nil {
			return false, err
		}
		if del && !found {
			return false, nil
		}
		etag := ""
		if found {
			etag = cache.ETag(old.Value)
		}
		if pre.evaluate(found, etag, false) != proceed {
			if found {
				return false, fmt.Errorf("%w: the current ETag is %s", ErrPreconditionFailed, etag)
			}
			return false, fmt.Errorf("%w: the key does not exist", ErrPreconditionFailed)
		}
		opts := cache.SetOptions{ExpireAt: at}
		if found {
			opts.IfMatch = etag
		} else {
			opts.Mode = cache.SetNX
		}
		if del {
			opts.ExpireAt = 1 // in the past: Set removes the key
		}
		res, err := a.cache.Set(key, value, opts)
		if err != nil {
			return false, err
		}
		if res.Written {
			return del || !res.HadOld, nil
		}
	}
}

// readBody reads a request body of at most MaxBody bytes. When the client
// announced the length, a body over either limit is refused before a byte
// is read, and the buffer is allocated once at the right size.
func (a *API) readBody(x *exchange, r *http.Request) ([]byte, error) {
	n := r.ContentLength
	if n > a.maxBody {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds the limit of %d bytes", ErrBodyTooLarge, n, a.maxBody)
	}
	if n >= 0 {
		if err := a.cache.CheckValue(int(n)); err != nil {
			return nil, fmt.Errorf("%w: the value is %d bytes", err, n)
		}
	}
	body := http.MaxBytesReader(x.ResponseWriter, r.Body, a.maxBody)
	var b []byte
	var err error
	if n >= 0 {
		b = make([]byte, n)
		_, err = io.ReadFull(body, b)
	} else {
		b, err = io.ReadAll(body)
		if err == nil {
			if cerr := a.cache.CheckValue(len(b)); cerr != nil {
				return nil, fmt.Errorf("%w: the value is %d bytes", cerr, len(b))
			}
		}
	}
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: the body exceeds the limit of %d bytes", ErrBodyTooLarge, mbe.Limit)
		}
		return nil, fmt.Errorf("%w: reading the body: %v", ErrBadRequest, err)
	}
	return b, nil
}
