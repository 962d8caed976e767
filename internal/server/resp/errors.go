package resp

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/strata-cache/strata/internal/cache"
)

// Error replies used in several places, worded as Redis 7 words them.
const (
	errSyntax     = "ERR syntax error"
	errNotInteger = "ERR value is not an integer or out of range"
	errNotFloat   = "ERR value is not a valid float"
	errDBIndex    = "ERR DB index is out of range"
)

// errorReplies maps the key space's errors to RESP error replies. It is the
// one place where cache errors meet the wire; wording follows Redis where
// Redis has the error, and names strata's configuration where the limit is
// strata's.
var errorReplies = []struct {
	err   error
	reply string
}{
	{cache.ErrNotInteger, errNotInteger},
	{cache.ErrNotFloat, errNotFloat},
	{cache.ErrOverflow, "ERR increment or decrement would overflow"},
	{cache.ErrNaN, "ERR increment would produce NaN or Infinity"},
	{cache.ErrNoSuchKey, "ERR no such key"},
	{cache.ErrKeyTooLarge, "ERR key exceeds the maximum key size (cache.max_key_size)"},
	{cache.ErrValueTooLarge, "ERR string exceeds maximum allowed size (cache.max_value_size)"},
	{cache.ErrValueTooLargeForMemory, "ERR value is larger than the memory bound (cache.max_memory)"},
}

// Read-through errors carry their cause, so their replies are built from
// err's text rather than fixed:
//
//	cache.ErrOriginUnavailable  -TRYAGAIN origin unavailable (PostgreSQL): <cause>; retry in 1s
//	cache.ErrOriginQuery        -ERR origin query failed (PostgreSQL): <cause>
//	cache.ErrL2Unavailable      -TRYAGAIN L2 unavailable (Redis holds plain keys in a fleet): <cause>; retry in 1s
//	*cache.ReadOnlyError        -ERR key 'users:42' belongs to resource 'users' and is read-only (the database owns it); DEL invalidates it
//
// TRYAGAIN is the code Redis Cluster uses for "this may succeed later";
// clients that retry on it (rueidis, go-redis in cluster mode) do the right
// thing.

// errorReply returns the RESP error reply for err. An error the table does
// not know is a bug: it is logged and answered "ERR internal error".
func errorReply(c *conn, err error) string {
	var ro *cache.ReadOnlyError
	switch {
	case errors.As(err, &ro):
		return "ERR " + ro.Error()
	case errors.Is(err, cache.ErrOriginUnavailable):
		return "TRYAGAIN origin unavailable (PostgreSQL): " + cause(err, cache.ErrOriginUnavailable) +
			"; retry in " + cache.RetryAfter.String()
	case errors.Is(err, cache.ErrOriginQuery):
		return "ERR origin query failed (PostgreSQL): " + cause(err, cache.ErrOriginQuery)
	case errors.Is(err, cache.ErrL2Unavailable):
		return "TRYAGAIN L2 unavailable (Redis holds plain keys in a fleet): " + cause(err, cache.ErrL2Unavailable) +
			"; retry in " + cache.RetryAfter.String()
	}
	for _, e := range errorReplies {
		if errors.Is(err, e.err) {
			return e.reply
		}
	}
	if errors.Is(err, cache.ErrInvalidExpire) && c.cur != nil {
		return invalidExpire(c.cur.name)
	}
	name := ""
	if c.cur != nil {
		name = c.cur.name
	}
	c.s.log.Error("resp: unexpected error from the key space", slog.String("command", name), slog.Any("error", err))
	return "ERR internal error"
}

// invalidExpire is Redis's error for an out-of-range expiry.
func invalidExpire(cmd string) string {
	return "ERR invalid expire time in '" + cmd + "' command"
}

// cause returns err's text without the leading text of the sentinel it
// wraps ("origin unavailable (PostgreSQL): ").
func cause(err, sentinel error) string {
	msg := strings.TrimPrefix(err.Error(), sentinel.Error())
	return strings.TrimPrefix(msg, ": ")
}
