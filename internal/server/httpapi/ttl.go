package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// putParams are the query parameters PUT accepts. Anything else is a 400,
// because a misspelt "?tll=30" would otherwise store a key that never
// expires.
var putParams = map[string]bool{"ttl": true}

// requestTTL returns the TTL a PUT asks for: the ttl query parameter if
// present, else the request's Cache-Control max-age, else none (0). Each,
// when present, must be valid: a ttl parameter that is wrong is an error even
// when max-age would be fine, so that the client learns of its mistake.
func requestTTL(r *http.Request) (time.Duration, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, fmt.Errorf("%w: query string: %v", ErrBadRequest, err)
	}
	for name := range q {
		if !putParams[name] {
			return 0, fmt.Errorf("%w: unknown query parameter %q (PUT accepts ttl)", ErrBadRequest, name)
		}
	}
	if v, ok := q["ttl"]; ok {
		if len(v) != 1 {
			return 0, fmt.Errorf("%w: ttl is given %d times", ErrInvalidTTL, len(v))
		}
		return parseTTL(v[0])
	}
	return maxAge(r.Header.Values("Cache-Control"))
}

// parseTTL parses a ttl parameter: integer seconds ("30") or a Go duration
// ("30s", "1h30m", "250ms"). It must be positive.
func parseTTL(s string) (time.Duration, error) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("%w: ttl=%s: seconds out of range", ErrInvalidTTL, s)
		}
		if n == 0 {
			return 0, fmt.Errorf("%w: ttl=0: must be positive (omit ttl for no expiry, DELETE to remove)", ErrInvalidTTL)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: ttl=%q: want integer seconds or a duration such as 30s or 1h30m", ErrInvalidTTL, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%w: ttl=%s: must be positive", ErrInvalidTTL, s)
	}
	return d, nil
}

// maxAge returns the max-age directive of Cache-Control header lines as a
// TTL, or 0 when there is none. Other directives are ignored (clients and
// proxies add no-cache and the like to requests). A malformed, zero or
// repeated max-age is an error: RFC 9111 §4.2.1 has recipients treat
// conflicting duplicates as invalid, and a write must not guess.
func maxAge(lines []string) (time.Duration, error) {
	var ttl time.Duration
	seen := false
	for _, line := range lines {
		for _, d := range strings.Split(line, ",") {
			name, val, hasVal := strings.Cut(strings.TrimSpace(d), "=")
			if !strings.EqualFold(strings.TrimSpace(name), "max-age") {
				continue
			}
			if seen {
				return 0, fmt.Errorf("%w: Cache-Control has more than one max-age", ErrInvalidTTL)
			}
			seen = true
			val = strings.TrimSpace(val)
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1] // quoted form, which senders should not use but recipients accept
			}
			n, err := strconv.ParseInt(val, 10, 64)
			if !hasVal || err != nil || strings.Trim(val, "0123456789") != "" || n <= 0 || n > math.MaxInt64/int64(time.Second) {
				return 0, fmt.Errorf("%w: Cache-Control max-age=%s: want a positive number of seconds", ErrInvalidTTL, val)
			}
			ttl = time.Duration(n) * time.Second
		}
	}
	return ttl, nil
}

// expireAt converts a TTL to the cache's absolute expiry at now; 0 TTL is
// no expiry. A TTL so long that the time overflows is an error.
func expireAt(now int64, ttl time.Duration) (int64, error) {
	if ttl == 0 {
		return 0, nil
	}
	if int64(ttl) > math.MaxInt64-now {
		return 0, fmt.Errorf("%w: %s is too far in the future", ErrInvalidTTL, ttl)
	}
	return now + int64(ttl), nil
}
