// Package cache is strata's key space: the one command core that both front
// ends (RESP and HTTP) call. It owns the tiers and implements Redis string
// semantics over them: conditional writes, expiry, counters, ranges, renames
// and scans. Later tiers (L2 on Redis Cluster) and resource loading plug in
// here, so that every front end gets them at once.
//
// Atomicity: every operation on a single key is atomic (it runs inside the
// tier's per-key Compute). Operations on several keys are atomic with respect
// to each other only when the caller holds the exclusive side of Isolation;
// the front ends do that for MSET, MSETNX, RENAME, COPY, FLUSHALL and
// MULTI/EXEC, and take the shared side for everything else.
package cache

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-cache/strata/internal/resource"
)

// Clock returns the current time in Unix nanoseconds.
type Clock func() int64

// Options configures a Cache.
type Options struct {
	// L1 is the in-process tier. Required.
	L1 Tier
	// Clock is the time source; nil uses the wall clock. It must agree with
	// the tier's clock.
	Clock Clock
	// MaxKeySize bounds keys in bytes; 0 means no bound.
	MaxKeySize int
	// MaxValueSize bounds values in bytes, including values grown by APPEND
	// and SETRANGE; 0 means no bound.
	MaxValueSize int

	// Resources are the resource declarations: keys that match one are read
	// through Loader. Nil or empty: every key is plain (embedded mode).
	Resources *resource.Set
	// Loader loads resource keys from the origin. Required with Resources.
	Loader Loader
	// Metrics returns the metric series of a resource, called once per
	// resource by New; nil counts nothing.
	Metrics func(resource string) ResourceMetrics
	// Rand returns a number in [0, 1) for TTL jitter; nil uses math/rand/v2.
	Rand func() float64
	// L2 is the tier shared by the fleet (resource entries, fences and
	// invalidations across nodes); nil runs the node alone.
	L2 Shared
}

// Cache is the key space. It is safe for concurrent use.
type Cache struct {
	l1           Tier
	now          Clock
	maxKeySize   int
	maxValueSize int
	rt           *readThrough // nil without resources
	l2           Shared       // nil without an L2
	kv           kvStore      // where plain keys live: L1 alone, L2 in a fleet
	shared       *sharedKV    // kv in a fleet, nil alone
	bg           sync.WaitGroup
	remoteWrite  atomic.Pointer[func(key string)]

	// Isolation serialises multi-key commands against everything else.
	Isolation BigLock
}

// New returns a Cache over the tiers in opts.
func New(opts Options) *Cache {
	c := &Cache{
		l1:           opts.L1,
		now:          opts.Clock,
		maxKeySize:   opts.MaxKeySize,
		maxValueSize: opts.MaxValueSize,
		l2:           opts.L2,
	}
	if c.now == nil {
		c.now = func() int64 { return time.Now().UnixNano() }
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	c.rt = newReadThrough(opts)
	c.kv = localKV{c}
	if opts.L2 != nil {
		c.shared = newSharedKV(c, opts.L2)
		c.kv = c.shared
	}
	return c
}

// Now returns the cache's current time in Unix nanoseconds.
func (c *Cache) Now() int64 { return c.now() }

// L2 returns the shared tier, and whether the node runs alone (no L2).
func (c *Cache) L2() (Shared, bool) { return c.l2, c.l2 == nil }

// L1 returns the in-process tier, for stats and admin commands.
func (c *Cache) L1() Tier { return c.l1 }

// CheckKey returns ErrKeyTooLarge if key exceeds the configured bound.
func (c *Cache) CheckKey(key string) error {
	if c.maxKeySize > 0 && len(key) > c.maxKeySize {
		return ErrKeyTooLarge
	}
	return nil
}

// CheckValue returns an error if a value of n bytes may not be stored.
func (c *Cache) CheckValue(n int) error {
	if c.maxValueSize > 0 && n > c.maxValueSize {
		return ErrValueTooLarge
	}
	if uint64(n) > c.l1.MaxBytes() {
		return ErrValueTooLargeForMemory
	}
	return nil
}

// Source names where a read was answered from.
type Source uint8

// The sources of a read.
const (
	SourceNone Source = iota // miss
	SourceL1
	SourceL2
	SourceOrigin
)

// String returns the name used in X-Cache headers, metrics and explain.
func (s Source) String() string {
	switch s {
	case SourceL1:
		return "L1"
	case SourceL2:
		return "L2"
	case SourceOrigin:
		return "origin"
	}
	return "miss"
}

// Get returns the live entry for key and where it was found. It never
// loads a resource key (Read does): for those it looks at L1 only. A miss
// returns found == false; so does a cached "no row" of a resource key. In
// a fleet a plain key missing from L1 is read from the L2, and err wraps
// ErrL2Unavailable when that fails.
func (c *Cache) Get(key string) (e Entry, src Source, found bool, err error) {
	if e, ok := c.l1.Get(key); ok && usable(e) && c.kvFresh(e) {
		return e, SourceL1, true, nil
	}
	if c.shared == nil || c.ResourceOf(key) != nil {
		return Entry{}, SourceNone, false, nil
	}
	e, found, err = c.kv.get(key, false)
	if !found || err != nil {
		return Entry{}, SourceNone, false, err
	}
	return e, SourceL2, true, nil
}

// Peek returns the live entry for key without counting a hit or a miss. A
// cached "no row" of a resource key is not an entry.
func (c *Cache) Peek(key string) (Entry, bool, error) {
	if c.ResourceOf(key) != nil {
		e, ok := c.l1.Peek(key)
		if !ok || !usable(e) {
			return Entry{}, false, nil
		}
		return e, true, nil
	}
	return c.kv.get(key, false)
}

// SetMode selects a conditional write.
type SetMode uint8

// The SET conditions.
const (
	SetAlways SetMode = iota
	SetNX             // only if the key does not exist
	SetXX             // only if the key exists
)

// SetOptions are the options of a SET.
type SetOptions struct {
	Mode SetMode
	// ExpireAt is the absolute expiry in Unix nanoseconds; 0 means none. A
	// time in the past stores nothing and deletes the key, as Redis does.
	ExpireAt int64
	// KeepTTL keeps the existing key's expiry (ExpireAt must be 0).
	KeepTTL bool
	// IfMatch, when set, writes only if the current value's ETag equals it
	// (HTTP If-Match). ETag computes the tag.
	IfMatch string
}

// SetResult says what a SET did.
type SetResult struct {
	// Old is the entry the key held before, valid when HadOld.
	Old    Entry
	HadOld bool
	// Written is false when a condition (NX, XX, IfMatch) was not met.
	Written bool
}

// Set stores value under key subject to opts. The value slice is retained:
// the caller must not modify it afterwards.
func (c *Cache) Set(key string, value []byte, opts SetOptions) (SetResult, error) {
	if err := c.CheckKey(key); err != nil {
		return SetResult{}, err
	}
	if err := c.CheckValue(len(value)); err != nil {
		return SetResult{}, err
	}
	// Clip the capacity: APPEND grows a value in place when it has spare
	// capacity, and that capacity belongs to the caller (a read buffer, say).
	value = value[:len(value):len(value)]
	now := c.now()
	if s := c.shared; s != nil && opts.Mode == SetAlways && !opts.KeepTTL && opts.IfMatch == "" &&
		(opts.ExpireAt == 0 || opts.ExpireAt > now) {
		return s.set(key, value, opts.ExpireAt)
	}
	var r SetResult
	_, _, err := c.kv.compute(key, func(old Entry, found bool) (Entry, Op) {
		r = SetResult{Old: old, HadOld: found}
		switch {
		case opts.Mode == SetNX && found, opts.Mode == SetXX && !found:
			return old, Keep
		case opts.IfMatch != "" && (!found || ETag(old.Value) != opts.IfMatch):
			return old, Keep
		}
		r.Written = true
		ne := Entry{Value: value, ExpireAt: opts.ExpireAt, StoredAt: now}
		if opts.KeepTTL && found {
			ne.ExpireAt = old.ExpireAt
		}
		if ne.Expired(now) {
			return old, Remove
		}
		return ne, Write
	})
	return r, err
}

// Delete removes key and reports whether it existed.
func (c *Cache) Delete(key string) (bool, error) {
	_, ok, err := c.kv.del(key)
	return ok, err
}

// GetDel returns the value of key and deletes it.
func (c *Cache) GetDel(key string) (Entry, bool, error) {
	return c.kv.del(key)
}

// ExpireMode is a condition of EXPIRE (Redis 7's NX, XX, GT, LT).
type ExpireMode uint8

// The EXPIRE conditions.
const (
	ExpireAlways ExpireMode = iota
	ExpireNX                // only if the key has no expiry
	ExpireXX                // only if the key has an expiry
	ExpireGT                // only if the new expiry is later (no expiry counts as infinite)
	ExpireLT                // only if the new expiry is earlier
	ExpireXXLT              // XX and LT together: only if the key has an expiry and the new one is earlier
)

// Expire sets key's absolute expiry (Unix nanoseconds) subject to mode and
// reports whether it was set. A time in the past deletes the key.
func (c *Cache) Expire(key string, at int64, mode ExpireMode) (bool, error) {
	now := c.now()
	set := false
	_, _, err := c.kv.compute(key, func(old Entry, found bool) (Entry, Op) {
		if !found {
			return old, Keep
		}
		switch mode {
		case ExpireNX:
			if old.ExpireAt != 0 {
				return old, Keep
			}
		case ExpireXX:
			if old.ExpireAt == 0 {
				return old, Keep
			}
		case ExpireGT:
			if old.ExpireAt == 0 || at <= old.ExpireAt {
				return old, Keep
			}
		case ExpireLT:
			if old.ExpireAt != 0 && at >= old.ExpireAt {
				return old, Keep
			}
		case ExpireXXLT:
			if old.ExpireAt == 0 || at >= old.ExpireAt {
				return old, Keep
			}
		}
		set = true
		if at <= now {
			return old, Remove
		}
		old.ExpireAt = at
		return old, Write
	})
	return set, err
}

// Persist removes key's expiry and reports whether it had one.
func (c *Cache) Persist(key string) (bool, error) {
	done := false
	_, _, err := c.kv.compute(key, func(old Entry, found bool) (Entry, Op) {
		if !found || old.ExpireAt == 0 {
			return old, Keep
		}
		done = true
		old.ExpireAt = 0
		return old, Write
	})
	return done, err
}

// GetEx returns key's value and changes its expiry: at > 0 sets it, persist
// removes it, neither leaves it alone (GETEX).
func (c *Cache) GetEx(key string, at int64, persist bool) (Entry, bool, error) {
	now := c.now()
	var got Entry
	var ok bool
	_, _, err := c.kv.compute(key, func(old Entry, found bool) (Entry, Op) {
		got, ok = old, found
		switch {
		case !found:
			return old, Keep
		case persist:
			if old.ExpireAt == 0 {
				return old, Keep
			}
			old.ExpireAt = 0
			return old, Write
		case at != 0:
			if at <= now {
				return old, Remove
			}
			old.ExpireAt = at
			return old, Write
		}
		return old, Keep
	})
	return got, ok, err
}
