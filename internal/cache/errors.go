package cache

import "errors"

// Errors returned by the key-space operations. Front ends map them to their
// wire forms in one place each (RESP error replies, HTTP problem types).
var (
	// ErrNotInteger means a value or argument is not a 64-bit integer.
	ErrNotInteger = errors.New("value is not an integer or out of range")
	// ErrNotFloat means a value or argument is not a valid float.
	ErrNotFloat = errors.New("value is not a valid float")
	// ErrOverflow means an increment would overflow a 64-bit integer.
	ErrOverflow = errors.New("increment or decrement would overflow")
	// ErrNaN means a float increment would produce NaN or Infinity.
	ErrNaN = errors.New("increment would produce NaN or Infinity")
	// ErrNoSuchKey means an operation that needs an existing key found none.
	ErrNoSuchKey = errors.New("no such key")
	// ErrKeyTooLarge means a key exceeds the configured cache.max_key_size.
	ErrKeyTooLarge = errors.New("key exceeds the maximum key size (cache.max_key_size)")
	// ErrValueTooLarge means a value, or the result of APPEND or SETRANGE,
	// exceeds the configured cache.max_value_size.
	ErrValueTooLarge = errors.New("string exceeds maximum allowed size (cache.max_value_size)")
	// ErrValueTooLargeForMemory means a value is larger than the whole L1
	// memory bound and could never be stored.
	ErrValueTooLargeForMemory = errors.New("value is larger than the memory bound (cache.max_memory)")
	// ErrInvalidExpire means an expiry is not a positive, representable time.
	ErrInvalidExpire = errors.New("invalid expire time")
)
