package cache

import (
	"context"
	"time"

	"github.com/strata-cache/strata/internal/resource"
)

// Freshness is what the cache asks before it answers a resource key from
// L1, for resources whose tables are bound for WAL invalidation
// (resource.Spec.Tables). The node implements it over the WAL consumer
// (package invalidate/pgwal); without one, L1 answers as usual.
type Freshness interface {
	// Lag returns how far behind the database the node's invalidations
	// may be: every write committed more than Lag ago has been applied. It
	// returns ok false when it cannot say (not connected, no proof yet).
	Lag() (lag time.Duration, ok bool)
	// MaxStaleness returns the resource's bound on Lag.
	MaxStaleness(r *resource.Resource) time.Duration
	// WaitApplied waits, bounded by the implementation and by ctx, until
	// WAL position lsn has been applied, and reports whether it was.
	WaitApplied(ctx context.Context, lsn uint64) bool
}

// Bypass reasons, as in strata_bypass_reads_total{reason}.
const (
	BypassNoCache   = "no_cache"
	BypassStaleness = "staleness"
	BypassMinLSN    = "min_lsn"
)

type freshBox struct{ f Freshness }

// SetFreshness installs f (nil removes it). From then on a read of a
// resource key bound to tables goes to the origin, fenced like any fill,
// when f cannot show the node is within the resource's max_staleness
// (reason "staleness"), or when the read asks for a WAL position that is
// not applied within f's wait (reason "min_lsn").
func (c *Cache) SetFreshness(f Freshness) {
	if c.rt == nil {
		return
	}
	if f == nil {
		c.rt.fresh.Store(nil)
		return
	}
	c.rt.fresh.Store(&freshBox{f})
}

// bypassReason returns why a read of a bound resource must skip L1, or "".
func (rt *readThrough) bypassReason(ctx context.Context, rs *resState, minLSN uint64) string {
	b := rt.fresh.Load()
	if b == nil {
		return ""
	}
	if minLSN != 0 && !b.f.WaitApplied(ctx, minLSN) {
		return BypassMinLSN
	}
	if lag, ok := b.f.Lag(); !ok || lag > b.f.MaxStaleness(rs.r) {
		return BypassStaleness
	}
	return ""
}

// bypass returns the counter for a bypass reason.
func (m *ResourceMetrics) bypass(reason string) Counter {
	switch reason {
	case BypassStaleness:
		return m.BypassStaleness
	case BypassMinLSN:
		return m.BypassMinLSN
	}
	return m.BypassNoCache
}

// older reports whether t was taken before an invalidation that u saw
// (same key, so same stripe).
func (t token) older(u token) bool {
	return t.stripe == u.stripe && (t.seq < u.seq || t.epoch < u.epoch)
}
