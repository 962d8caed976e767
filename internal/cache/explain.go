package cache

import "time"

// Explanation describes what the node knows about one key, for
// GET /v1/explain/{key}, STRATA.EXPLAIN and `strata explain`. Its JSON
// field names are part of the HTTP API.
type Explanation struct {
	// Key is the key explained.
	Key string `json:"key"`
	// Resource is the name of the resource that owns the key, or "plain".
	Resource string `json:"resource"`
	// Template is the resource's key template; Params its parameters by
	// name, as read off the key. Both absent for plain keys.
	Template string            `json:"template,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	// Tier is the tier holding the key ("L1"), or "none".
	Tier string `json:"tier"`
	// State is "fresh", "stale" or "negative" (a cached "no row") for a
	// resource entry, "present" for a plain key, "absent" when no tier
	// holds the key.
	State string `json:"state"`
	// AgeMs is the time since the value was stored or filled.
	AgeMs *int64 `json:"age_ms,omitempty"`
	// TTLMs is the time until the key expires for a plain key (absent when
	// it never expires), or until the TTL ends (0 once stale) for a
	// resource entry.
	TTLMs *int64 `json:"ttl_ms,omitempty"`
	// ExpiresInMs is, for a resource entry, the time until L1 drops it (the
	// end of its stale windows).
	ExpiresInMs *int64 `json:"expires_in_ms,omitempty"`
	// FilledAt, FillDurationMs and FillKind say when, how fast and how a
	// resource entry was loaded ("origin", "refresh" or "bypass").
	FilledAt       *time.Time `json:"filled_at,omitempty"`
	FillDurationMs *float64   `json:"fill_duration_ms,omitempty"`
	FillKind       string     `json:"fill_kind,omitempty"`
	// Bytes is the value's length.
	Bytes *int `json:"bytes,omitempty"`
	// Policy is the resource's caching policy, for context.
	Policy *Policy `json:"policy,omitempty"`
}

// Policy is a resource's caching policy as explain shows it, in
// milliseconds.
type Policy struct {
	TTLMs                  int64   `json:"ttl_ms"`
	StaleWhileRevalidateMs int64   `json:"stale_while_revalidate_ms"`
	StaleIfErrorMs         int64   `json:"stale_if_error_ms"`
	NegativeTTLMs          int64   `json:"negative_ttl_ms"`
	QueryTimeoutMs         int64   `json:"query_timeout_ms"`
	TTLJitter              float64 `json:"ttl_jitter"`
}

// Explain describes key without loading it and without counting an
// access.
func (c *Cache) Explain(key string) Explanation {
	now := c.now()
	x := Explanation{Key: key, Resource: "plain", Tier: "none", State: "absent"}
	r := c.ResourceOf(key)
	if r != nil {
		x.Resource, x.Template = r.Spec.Name, r.Spec.Key
		params, _ := r.Template.Match(key)
		x.Params = make(map[string]string, len(params))
		for i, p := range params {
			x.Params[r.Template.Param(i)] = p
		}
		ms := func(d time.Duration) int64 { return d.Milliseconds() }
		x.Policy = &Policy{
			TTLMs: ms(r.Spec.TTL), StaleWhileRevalidateMs: ms(r.Spec.StaleWhileRevalidate),
			StaleIfErrorMs: ms(r.Spec.StaleIfError), NegativeTTLMs: ms(r.Spec.NegativeTTL),
			QueryTimeoutMs: ms(r.Spec.Timeout()), TTLJitter: r.Spec.TTLJitter,
		}
	}
	e, ok := c.l1.Peek(key)
	if !ok || (e.Fill != nil && !e.Fill.current()) || !c.kvFresh(e) {
		if s := c.shared; s != nil && r == nil {
			// A plain key of a fleet may be in the L2 only (explain does
			// not copy it into L1).
			ctx, cancel := s.ctx()
			defer cancel()
			if v, exp, found, err := s.l2.KVGet(ctx, key); err == nil && found {
				x.Tier, x.State = SourceL2.String(), "present"
				if exp > 0 {
					ttl := max(exp-now/1e6, 0)
					x.TTLMs = &ttl
				}
				n := len(v)
				x.Bytes = &n
			}
		}
		return x
	}
	x.Tier = SourceL1.String()
	age := max(now-e.StoredAt, 0) / int64(time.Millisecond)
	x.AgeMs = &age
	if e.Fill == nil {
		x.State = "present"
		if ttl := e.TTL(now); ttl >= 0 {
			v := ttl / int64(time.Millisecond)
			x.TTLMs = &v
		}
		n := len(e.Value)
		x.Bytes = &n
		return x
	}
	f := e.Fill
	switch {
	case f.Negative:
		x.State = "negative"
	case now < f.FreshUntil:
		x.State = "fresh"
	default:
		x.State = "stale"
	}
	ttl := max(f.FreshUntil-now, 0) / int64(time.Millisecond)
	x.TTLMs = &ttl
	exp := max(e.ExpireAt-now, 0) / int64(time.Millisecond)
	x.ExpiresInMs = &exp
	at := time.Unix(0, e.StoredAt).UTC()
	x.FilledAt = &at
	d := float64(f.Duration) / float64(time.Millisecond)
	x.FillDurationMs = &d
	x.FillKind = f.Kind.String()
	if !f.Negative {
		n := len(e.Value)
		x.Bytes = &n
	}
	return x
}
