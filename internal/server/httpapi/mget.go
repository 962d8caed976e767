package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/gateway"
)

// Encodings of keys and values in the batch read's JSON.
const (
	encodingUTF8   = "utf-8"
	encodingBase64 = "base64"
)

// mgetRequest is the body of POST /v1/mget.
type mgetRequest struct {
	// Keys are the keys to read, in order; duplicates are allowed.
	Keys []string `json:"keys"`
	// KeyEncoding is "utf-8" (the default) or "base64" (standard encoding,
	// with padding), for keys that are not UTF-8: a JSON string cannot carry
	// arbitrary bytes, and Go's decoder would silently replace them.
	KeyEncoding string `json:"key_encoding,omitempty"`
}

// mgetResponse is the body of a successful POST /v1/mget.
type mgetResponse struct {
	// Results has one element per requested key, in request order.
	Results []mgetResult `json:"results"`
}

// mgetResult is one key's answer.
type mgetResult struct {
	// Key is the key as the request wrote it (so base64 if key_encoding was).
	Key   string `json:"key"`
	Found bool   `json:"found"`
	// Value is the value, in Encoding; absent on a miss.
	Value *string `json:"value,omitempty"`
	// Encoding is "utf-8" when the value is valid UTF-8 (Value is the value
	// itself), otherwise "base64" (standard encoding of the bytes).
	Encoding string `json:"encoding,omitempty"`
	// ETag is the value's entity tag, as on GET.
	ETag string `json:"etag,omitempty"`
	// TTLMs is the remaining time to live in milliseconds; absent when the
	// key does not expire (and on a miss).
	TTLMs *int64 `json:"ttl_ms,omitempty"`
	// Source is the tier that answered, "miss" when none did; for a
	// resource key also "origin" or "stale".
	Source string `json:"source"`
	// Error says why a resource key could not be read (e.g. the origin is
	// unavailable and nothing is cached); absent otherwise.
	Error string `json:"error,omitempty"`
}

// mget serves POST /v1/mget: a batch read of up to MaxBatchKeys keys. Every
// key is read under one hold of the shared Isolation lock, so the batch sees
// all or none of a multi-key RESP command (MSET, MULTI/EXEC).
func (a *API) mget(x *exchange, r *http.Request) error {
	req, err := a.decodeMGet(x, r)
	if err != nil {
		return err
	}
	keys := req.Keys
	if req.KeyEncoding == encodingBase64 {
		keys = make([]string, len(req.Keys))
		for i, k := range req.Keys {
			b, err := base64.StdEncoding.DecodeString(k)
			if err != nil {
				return fmt.Errorf("%w: keys[%d] is not base64: %v", ErrInvalidKey, i, err)
			}
			keys[i] = string(b)
		}
	}
	for i, k := range keys {
		if k == "" {
			return fmt.Errorf("%w: keys[%d]", ErrEmptyKey, i)
		}
		if err := a.cache.CheckKey(k); err != nil {
			return fmt.Errorf("%w: keys[%d] is %d bytes", err, i, len(k))
		}
	}
	if err := a.authorizeKeys(x, gateway.ScopeRead, keys...); err != nil {
		return err
	}

	entries := make([]cache.Entry, len(keys))
	sources := make([]string, len(keys))
	errs := make([]error, len(keys))
	var pending []int
	stripe := a.cache.Isolation.RLock(a.slot())
	for i, k := range keys {
		if a.cache.ResourceOf(k) != nil {
			pending = append(pending, i)
			continue
		}
		var src cache.Source
		entries[i], src, _, errs[i] = a.cache.Get(k)
		sources[i] = src.String()
	}
	a.cache.Isolation.RUnlock(stripe)
	// Resource keys are read through without the lock, in parallel.
	var wg sync.WaitGroup
	for _, i := range pending {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := a.cache.Read(r.Context(), keys[i], cache.ReadOptions{})
			sources[i], errs[i] = res.CacheStatus(), err
			if err != nil {
				sources[i] = cache.SourceNone.String()
			} else if !res.Found {
				sources[i] = cache.SourceNone.String()
			} else {
				entries[i] = res.Entry
			}
		}()
	}
	wg.Wait()

	now := a.now()
	resp := mgetResponse{Results: make([]mgetResult, len(keys))}
	for i, e := range entries {
		res := &resp.Results[i]
		res.Key = req.Keys[i]
		res.Source = sources[i]
		if errs[i] != nil {
			res.Error = errs[i].Error()
			continue
		}
		if sources[i] == cache.SourceNone.String() {
			continue
		}
		res.Found = true
		var v string
		if utf8.Valid(e.Value) {
			v, res.Encoding = string(e.Value), encodingUTF8
		} else {
			v, res.Encoding = base64.StdEncoding.EncodeToString(e.Value), encodingBase64
		}
		res.Value = &v
		res.ETag = cache.ETag(e.Value)
		if ttl := e.TTL(now); ttl >= 0 {
			ms := ttl / int64(time.Millisecond)
			res.TTLMs = &ms
		}
	}
	return writeJSON(x, r, http.StatusOK, resp)
}

// decodeMGet reads and validates the batch request. Every way the body can
// be wrong is a 400 invalid-json whose detail says what and where, except
// that a body over MaxBody is 413 body-too-large and too many keys 413
// too-many-keys.
func (a *API) decodeMGet(x *exchange, r *http.Request) (mgetRequest, error) {
	var req mgetRequest
	if r.ContentLength > a.maxBody {
		return req, fmt.Errorf("%w: Content-Length %d exceeds the limit of %d bytes", ErrBodyTooLarge, r.ContentLength, a.maxBody)
	}
	dec := json.NewDecoder(http.MaxBytesReader(x.ResponseWriter, r.Body, a.maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, jsonError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		if errors.As(err, new(*http.MaxBytesError)) {
			return req, jsonError(err)
		}
		return req, fmt.Errorf("%w: unexpected data after the JSON object", ErrInvalidJSON)
	}
	if req.Keys == nil {
		return req, fmt.Errorf(`%w: "keys" is required, e.g. {"keys": ["a", "b"]}`, ErrInvalidJSON)
	}
	switch req.KeyEncoding {
	case "", encodingUTF8, encodingBase64:
	default:
		return req, fmt.Errorf(`%w: "key_encoding" must be "utf-8" or "base64", not %q`, ErrInvalidJSON, req.KeyEncoding)
	}
	if len(req.Keys) > a.maxBatchKeys {
		return req, fmt.Errorf("%w: the request names %d keys, the limit is %d; split the batch", ErrTooManyKeys, len(req.Keys), a.maxBatchKeys)
	}
	return req, nil
}

// jsonError turns a decoding error into ErrInvalidJSON (or ErrBodyTooLarge)
// with a detail that names the problem and its place.
func jsonError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		tooBig *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return fmt.Errorf("%w: the body exceeds the limit of %d bytes", ErrBodyTooLarge, tooBig.Limit)
	case err == io.EOF:
		return fmt.Errorf(`%w: the body is empty; send {"keys": ["a", "b"]}`, ErrInvalidJSON)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the body ends in the middle of the JSON value", ErrInvalidJSON)
	case errors.As(err, &syntax):
		return fmt.Errorf("%w: at byte %d: %v", ErrInvalidJSON, syntax.Offset, err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		} else {
			field = strconv.Quote(field)
		}
		return fmt.Errorf("%w: at byte %d: %s: want %s, got a JSON %s", ErrInvalidJSON, typ.Offset, field, typeName(typ.Type), typ.Value)
	}
	return fmt.Errorf("%w: %v", ErrInvalidJSON, err) // e.g. json: unknown field "x"
}

// typeName describes, in JSON terms, the Go type a value should have had.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(typeName(t.Elem()), "a ") + "s"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// writeJSON sends v as JSON (HTML characters unescaped: the body is data,
// not a page).
func writeJSON(x *exchange, r *http.Request, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("%w: encoding the response: %v", ErrInternal, err)
	}
	h := x.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	x.WriteHeader(status)
	if r.Method != http.MethodHead {
		x.Write(buf.Bytes())
	}
	return nil
}
