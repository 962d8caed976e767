// Package local is strata's L1 tier: an in-process, memory-bounded store on
// otter (W-TinyLFU admission and eviction), with per-key expiry that is both
// lazy (an expired entry is never returned) and active (otter's timer wheel
// removes it), and a key index that gives SCAN its Redis guarantee.
package local

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"

	"github.com/strata-cache/strata/internal/cache"
)

// EntryOverhead is the memory, in bytes, that one entry costs beyond its key
// and value bytes: otter's node (links, frequency, expiry and weight fields,
// and the inline Entry header), its hash-table slot, the key index's map slot
// and the Go allocator's rounding of them.
//
// TestEntryOverhead measures it on the heap (HeapAlloc after GC) with 16-byte
// keys and 16-byte values, no eviction: 174.7 B per entry at 450,000 entries,
// 186.5 B at 150,000, 187.7 B at 300,000 and 198.0 B at 1,048,576 (amd64, Go
// 1.26, otter v2.4.0); the spread is the load factor of the hash tables, which
// double as they grow. Since hits are counted outside otter (see Get), the
// 300,000-entry run measures 203.7 B. It is the largest figure plus a margin
// of about a tenth, so that small entries are not under-accounted. (It was
// 160, which under-accounted a small entry by up to a fifth.)
const EntryOverhead = 224

// ops maps the cache's Compute outcomes to otter's.
var ops = [...]otter.ComputeOp{
	cache.Keep:   otter.CancelOp,
	cache.Write:  otter.WriteOp,
	cache.Remove: otter.InvalidateOp,
}

var _ cache.Tier = (*Tier)(nil)

// Config configures a Tier.
type Config struct {
	// MaxBytes bounds the accounted memory (keys + values + EntryOverhead per
	// entry). Required.
	MaxBytes uint64
	// Clock is the time source, in Unix nanoseconds; nil uses the wall clock.
	// Tests inject a fake clock to drive expiry.
	Clock otter.Clock
}

// Tier is the L1 tier. It is safe for concurrent use; the zero value is not
// usable, call New.
type Tier struct {
	c     *otter.Cache[string, cache.Entry]
	idx   *keyIndex
	now   func() int64
	stats *stats.Counter

	evictions   atomic.Uint64
	expirations atomic.Uint64
}

// New returns an empty Tier bounded by cfg.MaxBytes.
func New(cfg Config) *Tier {
	t := &Tier{idx: newKeyIndex(), stats: stats.NewCounter()}
	if cfg.Clock != nil {
		t.now = cfg.Clock.NowNano
	} else {
		t.now = func() int64 { return time.Now().UnixNano() }
	}
	t.c = otter.Must(&otter.Options[string, cache.Entry]{
		MaximumWeight: cfg.MaxBytes,
		Weigher:       weigh,
		Clock:         cfg.Clock,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, cache.Entry]) time.Duration {
			return t.lifetime(e.Value)
		}),
		OnAtomicDeletion: func(e otter.DeletionEvent[string, cache.Entry]) {
			if e.Cause == otter.CauseReplacement {
				return
			}
			t.idx.remove(e.Key)
			switch e.Cause {
			case otter.CauseOverflow:
				t.evictions.Add(1)
			case otter.CauseExpiration:
				t.expirations.Add(1)
			}
		},
		// Run otter's maintenance and listeners on the calling goroutine so
		// that the tier owns no goroutines besides otter's expiry ticker,
		// which Close stops.
		Executor: func(fn func()) { fn() },
	})
	return t
}

// lifetime converts an entry's absolute expiry into the duration otter wants.
func (t *Tier) lifetime(e cache.Entry) time.Duration {
	if e.ExpireAt == 0 {
		return math.MaxInt64
	}
	d := time.Duration(e.ExpireAt - t.now())
	if d <= 0 {
		return 1 // already due: otter removes it on the next look
	}
	return d
}

func weigh(key string, e cache.Entry) uint32 {
	w := uint64(len(key)) + uint64(cap(e.Value)) + EntryOverhead
	if w > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(w)
}

// Weight returns the bytes an entry is accounted for (MEMORY USAGE).
func (t *Tier) Weight(key string, e cache.Entry) uint64 { return uint64(weigh(key, e)) }

// Get returns the live entry for key and records a hit or a miss.
//
// Hits and misses are counted here rather than by otter's stats recorder,
// which also counts the lookups inside Compute: a SET would move the hit
// ratio, unlike Redis, which counts reads only.
func (t *Tier) Get(key string) (cache.Entry, bool) {
	e, ok := t.c.GetIfPresent(key)
	if ok {
		t.stats.RecordHits(1)
	} else {
		t.stats.RecordMisses(1)
	}
	return e, ok
}

// Peek returns the live entry for key without recording a hit or a miss and
// without counting as an access for eviction (EXISTS, TTL, TYPE).
func (t *Tier) Peek(key string) (cache.Entry, bool) {
	e, ok := t.c.GetEntryQuietly(key)
	if !ok {
		return cache.Entry{}, false
	}
	return e.Value, true
}

// Set stores e under key, replacing any entry.
func (t *Tier) Set(key string, e cache.Entry) {
	t.Compute(key, func(cache.Entry, bool) (cache.Entry, cache.Op) { return e, cache.Write })
}

// Compute atomically replaces the entry for key with what f returns. f sees
// the live entry (found is false for an absent or expired key) and must not
// call the Tier. It returns the entry present afterwards.
func (t *Tier) Compute(key string, f func(old cache.Entry, found bool) (cache.Entry, cache.Op)) (cache.Entry, bool) {
	return t.c.Compute(key, func(old cache.Entry, found bool) (cache.Entry, otter.ComputeOp) {
		ne, op := f(old, found)
		if op == cache.Write && !found {
			// Under the key's bucket lock, so the index agrees with otter.
			t.idx.add(key)
		}
		return ne, ops[op]
	})
}

// Delete removes key and returns the entry it held, if it was live.
func (t *Tier) Delete(key string) (cache.Entry, bool) {
	return t.c.Invalidate(key)
}

// Scan returns keys from the cursor's shards (at least count where that many
// remain) and the next cursor, 0 when the iteration is complete. Expired keys
// may be returned; callers filter with Peek when they must not be.
func (t *Tier) Scan(cursor uint64, count int, dst []string) ([]string, uint64) {
	return t.idx.scan(cursor, count, dst)
}

// Each calls fn for every key until fn returns false; fn may call the Tier.
func (t *Tier) Each(fn func(key string) bool) { t.idx.each(fn) }

// RandomKey returns a random live key.
func (t *Tier) RandomKey() (string, bool) {
	for range 16 {
		k, ok := t.idx.random()
		if !ok {
			return "", false
		}
		if _, live := t.Peek(k); live {
			return k, true
		}
	}
	return "", false
}

// Len returns the number of entries, which may briefly include expired ones
// that the timer wheel has not removed yet.
func (t *Tier) Len() int { return t.c.EstimatedSize() }

// Flush removes every entry.
func (t *Tier) Flush() {
	t.c.InvalidateAll() // reports every removal, which empties the index
	t.idx.compact()
}

// UsedBytes returns the accounted memory in bytes.
func (t *Tier) UsedBytes() uint64 { return t.c.WeightedSize() }

// MaxBytes returns the memory bound in bytes.
func (t *Tier) MaxBytes() uint64 { return t.c.GetMaximum() }

// SetMaxBytes changes the memory bound; shrinking evicts at once.
func (t *Tier) SetMaxBytes(n uint64) { t.c.SetMaximum(n) }

// Stats is a snapshot of the tier's counters.
type Stats struct {
	Hits, Misses, Evictions, Expirations uint64
	Keys                                 uint64
	UsedBytes, MaxBytes                  uint64
}

// Stats returns the tier's counters.
func (t *Tier) Stats() Stats {
	s := t.stats.Snapshot()
	return Stats{
		Hits:        s.Hits,
		Misses:      s.Misses,
		Evictions:   t.evictions.Load(),
		Expirations: t.expirations.Load(),
		Keys:        uint64(t.Len()),
		UsedBytes:   t.UsedBytes(),
		MaxBytes:    t.MaxBytes(),
	}
}

// CleanUp runs pending maintenance now: expired entries are removed and
// evictions applied. Tests use it to make counters exact.
func (t *Tier) CleanUp() { t.c.CleanUp() }

// Close stops otter's background goroutine. It is idempotent.
func (t *Tier) Close() { t.c.StopAllGoroutines() }
