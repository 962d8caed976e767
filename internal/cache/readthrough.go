package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/strata-cache/strata/internal/resource"
)

// Counter is the part of a Prometheus counter the cache uses.
type Counter interface{ Inc() }

// Observer is the part of a Prometheus histogram the cache uses.
type Observer interface{ Observe(float64) }

// ResourceMetrics are one resource's pre-resolved metric series. Nil fields
// count nothing. The node resolves them from package telemetry.
type ResourceMetrics struct {
	// Hits are reads answered from L1 (fresh, or stale within a window);
	// Misses are reads that needed a load.
	Hits, Misses Counter
	// NegativeHits are reads answered "no such key" from a cached miss.
	NegativeHits Counter
	// CoalescedWaiters are reads that waited for another read's load of
	// the same key instead of querying.
	CoalescedWaiters Counter
	// Queries by outcome: a row, no row, a query error, origin unavailable.
	QueriesOK, QueriesNotFound, QueriesError, QueriesUnavailable Counter
	// QueryDuration observes each origin query's duration in seconds.
	QueryDuration Observer
	// StaleRevalidate and StaleError count stale entries served within
	// stale_while_revalidate and stale_if_error.
	StaleRevalidate, StaleError Counter
	// BypassNoCache counts bypass reads that went to the origin on request.
	BypassNoCache Counter
	// FillsRejected counts fills refused by the fence because their key
	// was invalidated while they queried (a stale set prevented).
	FillsRejected Counter
	// BypassStaleness and BypassMinLSN count reads that skipped L1 because
	// the node could not show it was within max_staleness, or had not
	// applied the WAL position the client asked for (freshness.go).
	BypassStaleness, BypassMinLSN Counter
}

type nopMetric struct{}

func (nopMetric) Inc()            {}
func (nopMetric) Observe(float64) {}

func (m *ResourceMetrics) fillDefaults() {
	for _, c := range []*Counter{&m.Hits, &m.Misses, &m.NegativeHits, &m.CoalescedWaiters,
		&m.QueriesOK, &m.QueriesNotFound, &m.QueriesError, &m.QueriesUnavailable,
		&m.StaleRevalidate, &m.StaleError, &m.BypassNoCache, &m.FillsRejected,
		&m.BypassStaleness, &m.BypassMinLSN} {
		if *c == nil {
			*c = nopMetric{}
		}
	}
	if m.QueryDuration == nil {
		m.QueryDuration = nopMetric{}
	}
}

// resState is the cache's state for one resource.
type resState struct {
	r *resource.Resource
	// epoch is bumped by InvalidateResource (and Flush); entries and
	// tokens from an older epoch are dead.
	epoch atomic.Uint64
	m     ResourceMetrics
}

// readThrough is the cache's read-through machinery, present when
// Options.Resources has resources.
type readThrough struct {
	set    *resource.Set
	states map[string]*resState
	loader Loader
	fence  fence
	group  singleflight.Group
	rand   func() float64
	// fresh is the WAL freshness oracle (freshness.go); nil until
	// SetFreshness.
	fresh atomic.Pointer[freshBox]

	// base is the parent of every shared load's context; Close cancels it.
	base   context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // orders wg.Add against Close
	closed bool
	wg     sync.WaitGroup
}

// ReadOptions modify a Read.
type ReadOptions struct {
	// NoCache reads a resource key from the origin whatever L1 holds, and
	// refreshes L1 with the result (fenced, like every fill). It is
	// ignored for plain keys.
	NoCache bool
	// MinLSN, when not 0, is a WAL position the client's own write
	// committed at or before (read-your-writes): a resource key bound to
	// tables is answered from L1 only once the node has applied it, after
	// a bounded wait; otherwise it is read from the origin.
	MinLSN uint64
}

// Stale reasons, as in strata_stale_served_total{reason}.
const (
	StaleRevalidate = "revalidate"
	StaleError      = "error"
)

// ReadResult is the answer to a Read.
type ReadResult struct {
	// Entry is the entry read, valid when Found.
	Entry Entry
	// Found is false for a miss, including a cached "no row".
	Found bool
	// Source is where the answer came from: SourceL1 or SourceOrigin
	// (SourceNone on a miss that did not load).
	Source Source
	// Stale is set when the entry was served past its TTL; StaleReason
	// says why (StaleRevalidate or StaleError).
	Stale       bool
	StaleReason string
	// Negative is set when the miss came from a cached "no row".
	Negative bool
	// Resource is the resource that owns the key; nil for a plain key.
	Resource *resource.Resource
}

// CacheStatus is the X-Cache value of the result: L1, origin, stale or
// miss.
func (r ReadResult) CacheStatus() string {
	if r.Stale {
		return "stale"
	}
	return r.Source.String()
}

func newReadThrough(opts Options) *readThrough {
	if opts.Resources.Len() == 0 {
		return nil
	}
	rt := &readThrough{set: opts.Resources, loader: opts.Loader, rand: opts.Rand, states: map[string]*resState{}}
	if rt.loader == nil {
		rt.loader = LoaderFunc(func(context.Context, string, []string) (LoadResult, error) {
			return LoadResult{}, fmt.Errorf("%w: no loader configured", ErrSourceUnavailable)
		})
	}
	for _, r := range opts.Resources.All() {
		rs := &resState{r: r}
		if opts.Metrics != nil {
			rs.m = opts.Metrics(r.Spec.Name)
		}
		rs.m.fillDefaults()
		rt.states[r.Spec.Name] = rs
	}
	rt.fence.seed = maphash.MakeSeed()
	rt.base, rt.cancel = context.WithCancel(context.Background())
	return rt
}

// Resources returns the configured resources (nil when there are none).
func (c *Cache) Resources() *resource.Set {
	if c.rt == nil {
		return nil
	}
	return c.rt.set
}

// ResourceOf returns the resource that owns key, or nil for a plain key. It
// does not allocate.
func (c *Cache) ResourceOf(key string) *resource.Resource {
	if c.rt == nil {
		return nil
	}
	return c.rt.set.Find(key)
}

// CheckWrite returns a *ReadOnlyError if key belongs to a resource. Front
// ends call it for every key a write command names, except DEL, which
// invalidates.
func (c *Cache) CheckWrite(key string) error {
	if r := c.ResourceOf(key); r != nil {
		return &ReadOnlyError{Key: key, Resource: r.Spec.Name}
	}
	return nil
}

// usable reports whether a stored entry may be returned as a value by the
// plain-key operations: not a cached miss, not invalidated by
// InvalidateResource.
func usable(e Entry) bool {
	return e.Fill == nil || (!e.Fill.Negative && e.Fill.current())
}

// Read reads key; key may be a view of a buffer the caller reuses (Read
// copies it when it must keep it). A plain key is read from L1 exactly as Get does. A
// resource key is read through:
//
//   - fresh in L1: returned (a cached "no row" is a miss);
//   - stale within stale_while_revalidate: returned, and one background
//     load per key refreshes it;
//   - otherwise (absent, or stale past that window): loaded, coalesced per
//     key, so one query runs however many readers wait. Each reader waits
//     on its own ctx; the shared load runs on a context of its own with the
//     resource's query timeout, so a reader giving up cancels nothing.
//   - the origin unavailable: the stale entry within stale_if_error is
//     returned (Stale, StaleError); with nothing usable Read returns an
//     error wrapping ErrOriginUnavailable.
//
// A key parameter that cannot name a row is a miss. A query error is an
// error wrapping ErrOriginQuery. opts.NoCache reads the origin directly.
func (c *Cache) Read(ctx context.Context, key string, opts ReadOptions) (ReadResult, error) {
	var rs *resState
	if c.rt != nil {
		if r := c.rt.set.Find(key); r != nil {
			rs = c.rt.states[r.Spec.Name]
		}
	}
	if rs == nil {
		e, src, ok, err := c.Get(key)
		return ReadResult{Entry: e, Found: ok, Source: src}, err
	}
	if err := c.CheckKey(key); err != nil {
		return ReadResult{}, err
	}
	res := ReadResult{Resource: rs.r}
	if !opts.NoCache && len(rs.r.Spec.Tables) > 0 {
		if reason := c.rt.bypassReason(ctx, rs, opts.MinLSN); reason != "" {
			rs.m.bypass(reason).Inc()
			key, params := own(rs, key)
			return c.readOrigin(ctx, rs, key, params, res)
		}
	}
	if opts.NoCache {
		rs.m.BypassNoCache.Inc()
		key, params := own(rs, key)
		return c.readOrigin(ctx, rs, key, params, res)
	}

	now := c.now()
	var stale Entry
	haveStale := false
	if e, ok := c.l1.Get(key); ok && e.Fill != nil && e.Fill.current() {
		f := e.Fill
		spec := &rs.r.Spec
		switch {
		case now < f.FreshUntil:
			rs.m.Hits.Inc()
			return served(res, e, rs, "")
		case now < f.FreshUntil+int64(spec.StaleWhileRevalidate):
			rs.m.Hits.Inc()
			rs.m.StaleRevalidate.Inc()
			k, params := own(rs, key)
			c.refresh(rs, k, params)
			return served(res, e, rs, StaleRevalidate)
		case now < f.FreshUntil+int64(spec.StaleIfError):
			stale, haveStale = e, true
		}
	}
	rs.m.Misses.Inc()
	key, params := own(rs, key)
	out, err := c.load(ctx, rs, key, params, FillOrigin)
	if err != nil {
		if errors.Is(err, ErrSourceBadParam) {
			return res, nil // the key cannot name a row: a miss
		}
		if haveStale && errors.Is(err, ErrOriginUnavailable) {
			rs.m.StaleError.Inc()
			return served(res, stale, rs, StaleError)
		}
		return res, err
	}
	res.Source = out.src
	if !out.res.Found {
		return res, nil
	}
	res.Found = true
	res.Entry = out.entry
	return res, nil
}

// own copies key (callers may pass a view of a buffer they reuse, and a
// load retains the key) and reads its parameters off the copy. Fresh hits
// never get here, so they do not allocate.
func own(rs *resState, key string) (string, []string) {
	key = strings.Clone(key)
	params, _ := rs.r.Template.Match(key)
	return key, params
}

// served builds the result for an entry read from L1.
func served(res ReadResult, e Entry, rs *resState, staleReason string) (ReadResult, error) {
	res.Source = SourceL1
	res.Stale, res.StaleReason = staleReason != "", staleReason
	if e.Fill.Negative {
		rs.m.NegativeHits.Inc()
		res.Negative = true
		return res, nil
	}
	res.Entry, res.Found = e, true
	return res, nil
}

// flight is the shared outcome of one coalesced load.
type flight struct {
	res    LoadResult
	entry  Entry // what was (or would have been) stored
	leader *byte // identifies the reader whose call ran the load
	tok    token // the fill's token: which invalidations it saw
	src    Source
}

// load loads key through the per-key singleflight and waits for it on ctx.
func (c *Cache) load(ctx context.Context, rs *resState, key string, params []string, kind FillKind) (flight, error) {
	// A reader must not take the value of a flight that began before an
	// invalidation the reader itself came after: that value may predate
	// the write. Invalidate makes the singleflight forget the key, and a
	// resource-wide invalidation cannot, so the reader compares tokens and
	// loads again (at most twice; the third flight began after it did).
	mine := c.rt.fence.take(key, rs)
	for attempt := 0; ; attempt++ {
		me := new(byte)
		ch := c.rt.group.DoChan(key, func() (any, error) {
			return c.fill(rs, key, params, kind, me)
		})
		select {
		case r := <-ch:
			fl, _ := r.Val.(flight)
			if r.Shared && fl.leader != me {
				rs.m.CoalescedWaiters.Inc()
				if r.Err == nil && attempt < 2 && fl.tok.older(mine) {
					continue
				}
			}
			return fl, r.Err
		case <-ctx.Done():
			return flight{}, fmt.Errorf("%w: the request ended while waiting for the load: %w", ErrOriginUnavailable, ctx.Err())
		}
	}
}

// refresh starts one background load of key unless one is in flight
// (stale_while_revalidate). The load is owned by the cache: Close waits
// for it.
func (c *Cache) refresh(rs *resState, key string, params []string) {
	// DoChan's channel is buffered, so nobody needs to read it.
	c.rt.group.DoChan(key, func() (any, error) {
		return c.fill(rs, key, params, FillRefresh, nil)
	})
}

// readOrigin is a bypass read: one query of its own (a bypass asks for
// what the database holds now, so it does not join a load that may have
// started before), stored fenced like any fill.
func (c *Cache) readOrigin(ctx context.Context, rs *resState, key string, params []string, res ReadResult) (ReadResult, error) {
	type result struct {
		fl  flight
		err error
	}
	ch := make(chan result, 1)
	if !c.rt.start() {
		return res, fmt.Errorf("%w: %w", ErrOriginUnavailable, ErrClosed)
	}
	go func() {
		defer c.rt.wg.Done()
		fl, err := c.fillStarted(rs, key, params, FillBypass, nil)
		ch <- result{fl, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return res, fmt.Errorf("%w: the request ended while waiting for the load: %w", ErrOriginUnavailable, ctx.Err())
	}
	if r.err != nil {
		if errors.Is(r.err, ErrSourceBadParam) {
			return res, nil
		}
		return res, r.err
	}
	res.Source = SourceOrigin
	if r.fl.res.Found {
		res.Found, res.Entry = true, r.fl.entry
	}
	return res, nil
}

// start registers a load with the cache's wait group, unless closed.
func (rt *readThrough) start() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return false
	}
	rt.wg.Add(1)
	return true
}

// fill runs one load on behalf of every reader of key and stores the
// result, fenced. It runs on singleflight's goroutine.
func (c *Cache) fill(rs *resState, key string, params []string, kind FillKind, leader *byte) (flight, error) {
	if !c.rt.start() {
		return flight{leader: leader}, fmt.Errorf("%w: %w", ErrOriginUnavailable, ErrClosed)
	}
	defer c.rt.wg.Done()
	return c.fillStarted(rs, key, params, kind, leader)
}

// fillStarted is fill after start: take the token, query, store if the
// token is still valid.
func (c *Cache) fillStarted(rs *resState, key string, params []string, kind FillKind, leader *byte) (flight, error) {
	spec := &rs.r.Spec
	tok := c.rt.fence.take(key, rs)
	if kind == FillOrigin {
		// A reader can miss L1 just as the previous load of the key stores
		// and leaves the flight; it then starts a flight of its own. Check
		// again, as groupcache does, so a stampede costs one query.
		if e, ok := c.l1.Peek(key); ok && e.Fill != nil && e.Fill.current() && c.now() < e.Fill.FreshUntil {
			return flight{res: LoadResult{Value: e.Value, Found: !e.Fill.Negative}, entry: e, leader: leader, tok: tok, src: SourceL1}, nil
		}
	}
	// L1 -> L2 -> origin. The L2 read also takes the fleet-wide fence
	// token that the store into L2 below is checked against.
	var shared SharedFetch
	useShared := false
	if kind != FillBypass {
		var e Entry
		var hit bool
		shared, useShared, e, hit = c.readShared(rs, key)
		if hit {
			e.Fill.epoch, e.Fill.res = tok.epoch, rs
			c.storeL1(rs, key, tok, e, true)
			return flight{res: LoadResult{Value: e.Value, Found: !e.Fill.Negative, Duration: e.Fill.Duration},
				entry: e, leader: leader, tok: tok, src: SourceL2}, nil
		}
	}
	ctx, cancel := context.WithTimeout(c.rt.base, spec.Timeout())
	defer cancel()
	res, err := c.rt.loader.Load(ctx, spec.Name, params)
	fl := flight{res: res, leader: leader, tok: tok, src: SourceOrigin}
	if err != nil {
		switch {
		case errors.Is(err, ErrSourceBadParam):
			return fl, err
		case errors.Is(err, ErrSourceUnavailable), ctx.Err() != nil:
			rs.m.QueriesUnavailable.Inc()
			rs.m.QueryDuration.Observe(res.Duration.Seconds())
			return fl, fmt.Errorf("%w: %w", ErrOriginUnavailable, err)
		default:
			rs.m.QueriesError.Inc()
			rs.m.QueryDuration.Observe(res.Duration.Seconds())
			return fl, fmt.Errorf("%w: %w", ErrOriginQuery, err)
		}
	}
	rs.m.QueryDuration.Observe(res.Duration.Seconds())
	if res.Found {
		rs.m.QueriesOK.Inc()
		res.Value = res.Value[:len(res.Value):len(res.Value)] // APPEND must not grow into it
	} else {
		rs.m.QueriesNotFound.Inc()
		res.Value = nil
	}
	fl.res = res
	var stored bool
	fl.entry, stored = c.store(rs, key, tok, res, kind)
	if stored && useShared {
		c.storeShared(rs, key, shared, fl.entry)
	}
	return fl, nil
}

// store writes a fill's result under key if tok is still valid, and
// returns the entry (stored or not) and whether the fence let it through.
// A miss is stored as a negative entry when negative_ttl is set; otherwise
// it removes whatever L1 held.
func (c *Cache) store(rs *resState, key string, tok token, res LoadResult, kind FillKind) (Entry, bool) {
	spec := &rs.r.Spec
	now := c.now()
	ttl := spec.TTL
	if !res.Found {
		ttl = spec.NegativeTTL
	}
	if j := spec.TTLJitter; j > 0 && ttl > 0 {
		ttl -= time.Duration(float64(ttl) * j * c.rt.rand())
	}
	fresh := now + int64(ttl)
	window := max(spec.StaleWhileRevalidate, spec.StaleIfError)
	e := Entry{
		Value:    res.Value,
		ExpireAt: fresh + int64(window),
		StoredAt: now,
		Fill: &Fill{FreshUntil: fresh, Duration: res.Duration, Kind: kind, Negative: !res.Found,
			epoch: tok.epoch, res: rs},
	}
	if e.ExpireAt <= now {
		e.ExpireAt = now + 1 // negative_ttl 0 and no window: Remove below
	}
	keep := !(res.Found && c.CheckValue(len(res.Value)) != nil) && (res.Found || spec.NegativeTTL > 0)
	return e, c.storeL1(rs, key, tok, e, keep)
}

// storeL1 writes e under key if tok is still valid (keep false removes
// what L1 held instead: the origin no longer has it, or it does not fit),
// and reports whether the fence let it through.
func (c *Cache) storeL1(rs *resState, key string, tok token, e Entry, keep bool) bool {
	rejected := false
	c.l1.Compute(key, func(old Entry, found bool) (Entry, Op) {
		if !c.rt.fence.valid(tok, rs) {
			rejected = true
			return old, Keep
		}
		if !keep {
			if found {
				return old, Remove
			}
			return old, Keep
		}
		return e, Write
	})
	if rejected {
		rs.m.FillsRejected.Inc()
	}
	return !rejected
}

// Invalidate removes key's entry and fences it: a load of key that took
// its token before Invalidate can no longer store its result. It reports
// whether an entry was present. DEL of a resource key calls it, and so does
// WAL-driven invalidation.
func (c *Cache) Invalidate(key string) bool {
	if c.rt == nil {
		ok, _ := c.Delete(key)
		return ok
	}
	// The L2 first, then L1: a fill here that read the L2 before the
	// invalidation reached it took its token before the L1 invalidation.
	c.toShared(func(ctx context.Context) error { return c.l2.Invalidate(ctx, key) })
	return c.invalidateL1(key)
}

// invalidateL1 is Invalidate on this node's L1 only.
func (c *Cache) invalidateL1(key string) bool {
	existed := false
	c.l1.Compute(key, func(old Entry, found bool) (Entry, Op) {
		c.rt.fence.bump(key) // under key's lock: no store can interleave
		if !found {
			return old, Keep
		}
		existed = usable(old)
		return old, Remove
	})
	// Readers that come after this invalidation start a new load rather
	// than join one that may have read the database before the write.
	c.rt.group.Forget(key)
	return existed
}

// InvalidateResource invalidates every key of the named resource: entries
// and loads in flight from before the call are dead at once (the resource's
// epoch moves), and a sweep then frees their memory. It reports whether the
// resource exists.
func (c *Cache) InvalidateResource(name string) bool {
	if c.rt == nil {
		return false
	}
	if c.rt == nil || c.rt.states[name] == nil {
		return false
	}
	c.toShared(func(ctx context.Context) error { return c.l2.InvalidateResource(ctx, name) })
	return c.invalidateResourceL1(name)
}

// invalidateResourceL1 is InvalidateResource on this node's L1 only. The
// epoch moves at once; the sweep that frees the memory runs in the
// background (the L2 calls this from a connection's reader).
func (c *Cache) invalidateResourceL1(name string) bool {
	if c.rt == nil {
		return false
	}
	rs := c.rt.states[name]
	if rs == nil {
		return false
	}
	rs.epoch.Add(1)
	c.sweepAsync(func(f *Fill) bool { return f.res == rs })
	return true
}

// sweepAsync runs sweep on a goroutine the cache owns (Close waits for it).
func (c *Cache) sweepAsync(dead func(*Fill) bool) {
	if !c.rt.start() {
		return
	}
	go func() {
		defer c.rt.wg.Done()
		c.sweep(dead)
	}()
}

// sweep removes the resource entries for which dead returns true or that
// are no longer current.
func (c *Cache) sweep(dead func(*Fill) bool) {
	c.l1.Each(func(k string) bool {
		if c.rt.set.Find(k) == nil {
			return true
		}
		c.l1.Compute(k, func(old Entry, found bool) (Entry, Op) {
			if found && old.Fill != nil && (dead(old.Fill) || !old.Fill.current()) {
				return old, Remove
			}
			return old, Keep
		})
		return true
	})
}

// bumpAll invalidates every resource's entries and loads in flight, for
// FLUSHALL.
func (rt *readThrough) bumpAll() {
	for _, rs := range rt.states {
		rs.epoch.Add(1)
	}
}

// Close stops the read-through machinery: loads in flight are cancelled
// and waited for, and later loads fail with ErrOriginUnavailable. It is
// idempotent. Plain-key operations keep working.
func (c *Cache) Close() {
	defer c.bg.Wait()
	if c.rt == nil {
		return
	}
	c.rt.mu.Lock()
	c.rt.closed = true
	c.rt.mu.Unlock()
	c.rt.cancel()
	c.rt.wg.Wait()
}
