package local

import (
	"container/list"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/strata-cache/strata/internal/cache"
)

// Figures in the comments were measured on the development machine (2 cores of
// a shared VM, Go 1.26, otter v2.4.0) with go test -bench; the absolute
// nanoseconds are slow and noisy there, the ratios and allocations are not.

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench:key:%08d", i)
	}
	return keys
}

// BenchmarkTierGetHit measures a GET hit, which must allocate nothing in the
// tier: serial 411 ns/op, parallel 439 ns/op, both 0 B/op, 0 allocs/op.
func BenchmarkTierGetHit(b *testing.B) {
	tr := New(Config{MaxBytes: 1 << 30})
	defer tr.Close()
	keys := benchKeys(1 << 16)
	v := make([]byte, 64)
	for _, k := range keys {
		tr.Set(k, cache.Entry{Value: v})
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := tr.Get(keys[i&(len(keys)-1)]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var seed atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			for pb.Next() {
				if _, ok := tr.Get(keys[i&(len(keys)-1)]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	})
}

// BenchmarkTierSet measures SETs over 64 K keys with room for half of them,
// so that writes also evict: serial 4144 ns/op, 170 B/op, 2 allocs/op;
// parallel 3845 ns/op, 145 B/op, 1 alloc/op (otter's new node or boxed value,
// and the Compute closure).
func BenchmarkTierSet(b *testing.B) {
	keys := benchKeys(1 << 16)
	v := make([]byte, 64)
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			// Room for half the keys, so that writes also evict.
			tr := New(Config{MaxBytes: uint64(len(keys)/2) * (64 + 20 + EntryOverhead)})
			defer tr.Close()
			b.ReportAllocs()
			if mode == "serial" {
				i := 0
				for b.Loop() {
					tr.Set(keys[i&(len(keys)-1)], cache.Entry{Value: v})
					i++
				}
				return
			}
			var seed atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(7919))
				for pb.Next() {
					tr.Set(keys[i&(len(keys)-1)], cache.Entry{Value: v})
					i++
				}
			})
		})
	}
}

// shardedMap is the baseline for the cost of otter: a map per shard under an
// RWMutex, with no bound, no eviction and no expiry.
type shardedMap struct {
	seed   maphash.Seed
	shards [256]struct {
		sync.RWMutex
		m map[string]cache.Entry
		_ [40]byte
	}
}

func newShardedMap() *shardedMap {
	s := &shardedMap{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[string]cache.Entry)
	}
	return s
}

func (s *shardedMap) get(k string) (cache.Entry, bool) {
	sh := &s.shards[maphash.String(s.seed, k)%256]
	sh.RLock()
	e, ok := sh.m[k]
	sh.RUnlock()
	return e, ok
}

func (s *shardedMap) set(k string, e cache.Entry) {
	sh := &s.shards[maphash.String(s.seed, k)%256]
	sh.Lock()
	sh.m[k] = e
	sh.Unlock()
}

// BenchmarkThroughput compares the tier with a plain sharded map for parallel
// GET hits and SETs of 64 K keys that fit in the tier:
//
//	get/tier        348 ns/op   0 B/op  0 allocs/op
//	get/shardedmap  206 ns/op   0 B/op  0 allocs/op
//	set/tier       1113 ns/op  55 B/op  1 allocs/op
//	set/shardedmap  321 ns/op   0 B/op  0 allocs/op
//
// otter's price is about 1.7x on a hit and 3.5x on a write, for the bound,
// W-TinyLFU, expiry and the key index.
func BenchmarkThroughput(b *testing.B) {
	keys := benchKeys(1 << 16)
	v := make([]byte, 64)
	type store struct {
		get func(string) (cache.Entry, bool)
		set func(string, cache.Entry)
	}
	stores := map[string]func() (store, func()){
		"tier": func() (store, func()) {
			tr := New(Config{MaxBytes: 1 << 30})
			return store{tr.Get, tr.Set}, tr.Close
		},
		"shardedmap": func() (store, func()) {
			m := newShardedMap()
			return store{m.get, m.set}, func() {}
		},
	}
	for _, name := range []string{"tier", "shardedmap"} {
		s, done := stores[name]()
		for _, k := range keys {
			s.set(k, cache.Entry{Value: v})
		}
		b.Run("get/"+name, func(b *testing.B) {
			b.ReportAllocs()
			var seed atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(7919))
				for pb.Next() {
					s.get(keys[i&(len(keys)-1)])
					i++
				}
			})
		})
		b.Run("set/"+name, func(b *testing.B) {
			b.ReportAllocs()
			var seed atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(7919))
				for pb.Next() {
					s.set(keys[i&(len(keys)-1)], cache.Entry{Value: v})
					i++
				}
			})
		})
		done()
	}
}

// lru is a plain LRU bounded by the same bytes as the tier, weighing entries
// the same way: the baseline for hit ratios.
type lru struct {
	max, used uint64
	ll        *list.List
	m         map[string]*list.Element
}

type lruItem struct {
	key string
	e   cache.Entry
}

func newLRU(maxBytes uint64) *lru {
	return &lru{max: maxBytes, ll: list.New(), m: make(map[string]*list.Element)}
}

func (c *lru) get(k string) (cache.Entry, bool) {
	el, ok := c.m[k]
	if !ok {
		return cache.Entry{}, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*lruItem).e, true
}

func (c *lru) set(k string, e cache.Entry) {
	if el, ok := c.m[k]; ok {
		it := el.Value.(*lruItem)
		c.used -= uint64(weigh(k, it.e))
		it.e = e
		c.used += uint64(weigh(k, e))
		c.ll.MoveToFront(el)
	} else {
		c.m[k] = c.ll.PushFront(&lruItem{k, e})
		c.used += uint64(weigh(k, e))
	}
	for c.used > c.max {
		el := c.ll.Back()
		it := el.Value.(*lruItem)
		c.ll.Remove(el)
		delete(c.m, it.key)
		c.used -= uint64(weigh(it.key, it.e))
	}
}

const (
	traceKeys     = 1_000_000
	traceRequests = 4_000_000
	traceZipfS    = 1.1
	traceScan     = 500_000 // one-off keys read once, in order, mid-trace
)

var (
	traceOnce        sync.Once
	zipfTrace        []string
	scanTrace        []string
	traceKeyStrings  []string
	traceScanStrings []string
)

// traces builds, once, a Zipf trace (s = 1.1 over 1M keys, fixed seed) and
// the same trace with a one-off sequential scan of 500 K other keys in the
// middle.
func traces() (zipf, scan []string) {
	traceOnce.Do(func() {
		traceKeyStrings = make([]string, traceKeys)
		for i := range traceKeyStrings {
			traceKeyStrings[i] = fmt.Sprintf("k:%07d", i)
		}
		rng := rand.New(rand.NewPCG(2024, 1))
		z := rand.NewZipf(rng, traceZipfS, 1, traceKeys-1)
		// Rank r is key perm[r], so that hot keys are spread over the space.
		perm := rng.Perm(traceKeys)
		zipfTrace = make([]string, traceRequests)
		for i := range zipfTrace {
			zipfTrace[i] = traceKeyStrings[perm[z.Uint64()]]
		}
		traceScanStrings = make([]string, traceScan)
		for i := range traceScanStrings {
			traceScanStrings[i] = fmt.Sprintf("scan:%07d", i)
		}
		scanTrace = make([]string, 0, traceRequests+traceScan)
		scanTrace = append(scanTrace, zipfTrace[:traceRequests/2]...)
		scanTrace = append(scanTrace, traceScanStrings...)
		scanTrace = append(scanTrace, zipfTrace[traceRequests/2:]...)
	})
	return zipfTrace, scanTrace
}

// BenchmarkHitRatio replays a Zipf trace, and the same trace with a one-off
// scan, through the tier and through a plain LRU of the same byte budget
// (10% of the key space), filling on every miss, and reports the hit ratio.
// Run with -benchtime 1x: each iteration replays the whole trace.
//
//	zipf       tier 0.889  lru 0.880
//	zipf+scan  tier 0.786  lru 0.776  (500 K one-off keys are 11% of requests)
//	  the 500 K requests after the scan: tier 0.892, lru 0.834
func BenchmarkHitRatio(b *testing.B) {
	zipf, scan := traces()
	v := make([]byte, 64)
	budget := uint64(traceKeys/10) * uint64(weigh("k:0000000", cache.Entry{Value: v}))
	for _, tc := range []struct {
		name  string
		trace []string
	}{{"zipf", zipf}, {"zipf+scan", scan}} {
		for _, impl := range []string{"tier", "lru"} {
			b.Run(tc.name+"/"+impl, func(b *testing.B) {
				b.ReportAllocs()
				var ratio, afterRatio float64
				afterScan := traceRequests/2 + traceScan
				for b.Loop() {
					var get func(string) (cache.Entry, bool)
					var set func(string, cache.Entry)
					if impl == "tier" {
						tr := New(Config{MaxBytes: budget})
						defer tr.Close()
						get, set = tr.Get, tr.Set
					} else {
						c := newLRU(budget)
						get, set = c.get, c.set
					}
					hits, after := 0, 0
					for i, k := range tc.trace {
						if _, ok := get(k); ok {
							hits++
							if i >= afterScan && i < afterScan+traceScan {
								after++
							}
						} else {
							set(k, cache.Entry{Value: v})
						}
					}
					ratio = float64(hits) / float64(len(tc.trace))
					afterRatio = float64(after) / traceScan
				}
				b.ReportMetric(ratio, "hit-ratio")
				if tc.name == "zipf+scan" {
					// the 500 K requests right after the scan: how much of
					// the hot set the scan flushed out
					b.ReportMetric(afterRatio, "after-scan-hit-ratio")
				}
			})
		}
	}
}
