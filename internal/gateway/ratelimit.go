package gateway

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Quota is the outcome of one rate-limit decision, with what the HTTP
// front end needs for the RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset headers (draft-ietf-httpapi-ratelimit-headers) and
// Retry-After (RFC 9110). For an unlimited principal only OK is set.
type Quota struct {
	// OK reports whether the request may proceed.
	OK bool
	// Limit is the token bucket's size (the key's burst); 0 means the
	// principal is not rate limited.
	Limit int
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// RetryAfter, when OK is false, is how long until one request would be
	// allowed.
	RetryAfter time.Duration
}

// RateLimitError is ErrRateLimited with when to retry.
type RateLimitError struct {
	// Principal is the name of the principal limited.
	Principal string
	// RetryAfter is how long until one request would be allowed.
	RetryAfter time.Duration
	// Rate and Burst are the principal's limit, for the message.
	Rate  float64
	Burst int
}

// Error says who was limited and when to retry, e.g. "gateway: rate limit
// of app (100/s, burst 200) exceeded; retry after 10ms".
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("gateway: rate limit of %s (%s/s, burst %d) exceeded; retry after %s",
		e.Principal, strconv.FormatFloat(e.Rate, 'f', -1, 64), e.Burst, e.RetryAfter)
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Allow takes one request from p's token bucket. It returns the quota
// and, when the request is refused, a *RateLimitError (errors.Is
// ErrRateLimited). An unlimited principal always gets Quota{OK: true}.
//
// Limits are per node: behind a load balancer that spreads one key's
// requests over n nodes, the key's fleet-wide rate is up to n times its
// configured rate. The caller decides which requests are data requests;
// admin and health routes are meant to bypass Allow but not authentication.
func (g *Gateway) Allow(p *Principal) (Quota, error) {
	return g.AllowN(p, 1)
}

// AllowN is Allow for a request that costs n tokens; n greater than the
// burst can never be allowed and is refused with RetryAfter 0 and an
// error.
func (g *Gateway) AllowN(p *Principal, n int) (Quota, error) {
	lim := p.limiter
	if lim == nil {
		return Quota{OK: true}, nil
	}
	now := g.now()
	if lim.AllowN(now, n) {
		tokens := max(0, lim.TokensAt(now))
		return Quota{
			OK:        true,
			Limit:     p.burst,
			Remaining: int(math.Floor(tokens)),
			Reset:     tokenTime(float64(p.burst)-tokens, p.rate),
		}, nil
	}
	// Tokens may be negative only after a reservation, which Allow never
	// makes; clamp anyway so a retry time is never shorter than the truth.
	tokens := min(lim.TokensAt(now), float64(p.burst))
	q := Quota{Limit: p.burst, Reset: tokenTime(float64(p.burst)-tokens, p.rate)}
	if n <= p.burst {
		q.RetryAfter = tokenTime(float64(n)-tokens, p.rate)
	}
	return q, &RateLimitError{Principal: p.Name, RetryAfter: q.RetryAfter, Rate: p.rate, Burst: p.burst}
}

// tokenTime is how long a bucket filling at perSecond takes to gain
// tokens, rounded up to the nanosecond so that a retry at that instant
// succeeds.
func tokenTime(tokens, perSecond float64) time.Duration {
	if tokens <= 0 || perSecond <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(tokens / perSecond * 1e9))
}

// SetHeaders sets the rate-limit headers of an HTTP response from q:
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds,
// rounded up) for a limited principal, and Retry-After (whole seconds,
// rounded up, at least 1) when the request was refused. It sets nothing
// for an unlimited principal.
func (q Quota) SetHeaders(h http.Header) {
	if q.Limit == 0 {
		return
	}
	h.Set("RateLimit-Limit", strconv.Itoa(q.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(q.Remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(q.Reset), 10))
	if !q.OK {
		h.Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(q.RetryAfter)), 10))
	}
}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
