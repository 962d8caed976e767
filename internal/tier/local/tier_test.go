package local

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
)

// fakeClock is an otter.Clock that moves only when told to. It has no ticks:
// expired entries are removed lazily, by writes, or when a test calls CleanUp.
type fakeClock struct{ now atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.now.Store(1_700_000_000 * int64(time.Second))
	return c
}

func (c *fakeClock) NowNano() int64                      { return c.now.Load() }
func (c *fakeClock) Tick(time.Duration) <-chan time.Time { return nil }
func (c *fakeClock) Advance(d time.Duration)             { c.now.Add(int64(d)) }

func newTestTier(t testing.TB, maxBytes uint64, clk *fakeClock) *Tier {
	t.Helper()
	cfg := Config{MaxBytes: maxBytes}
	if clk != nil {
		cfg.Clock = clk
	}
	tr := New(cfg)
	t.Cleanup(tr.Close)
	return tr
}

func entry(v string, expireAt int64) cache.Entry {
	return cache.Entry{Value: []byte(v), ExpireAt: expireAt}
}

// indexed returns the key index's contents with their node counts.
func (t *Tier) indexed() map[string]uint32 {
	out := map[string]uint32{}
	for i := range t.idx.shards {
		s := &t.idx.shards[i]
		s.mu.Lock()
		for k, n := range s.keys {
			out[k] = n
		}
		s.mu.Unlock()
	}
	return out
}

// live returns the keys otter holds and has not expired.
func (t *Tier) live() map[string]bool {
	out := map[string]bool{}
	for k := range t.c.Keys() {
		if _, ok := t.Peek(k); ok {
			out[k] = true
		}
	}
	return out
}

// checkIndex fails t unless every live key is indexed once and, when exact,
// every indexed key is live.
func checkIndex(t *testing.T, tr *Tier, exact bool) {
	t.Helper()
	idx, live := tr.indexed(), tr.live()
	for k := range live {
		if idx[k] != 1 {
			t.Errorf("live key %q has index count %d, want 1", k, idx[k])
		}
	}
	if !exact {
		return
	}
	for k, n := range idx {
		if !live[k] {
			t.Errorf("indexed key %q (count %d) is not in the cache", k, n)
		}
	}
}

func TestExpiryIsLazy(t *testing.T) {
	clk := newFakeClock()
	tr := newTestTier(t, 1<<20, clk)
	tr.Set("k", entry("v", clk.NowNano()+int64(time.Second)))
	if _, ok := tr.Get("k"); !ok {
		t.Fatal("Get before the expiry missed")
	}
	clk.Advance(time.Second)
	// No clean-up has run: the entry may still be in otter, but is never
	// returned.
	if _, ok := tr.Get("k"); ok {
		t.Error("Get returned an expired entry")
	}
	if _, ok := tr.Peek("k"); ok {
		t.Error("Peek returned an expired entry")
	}
	if _, ok := tr.Delete("k"); ok {
		t.Error("Delete reported an expired entry as present")
	}
	tr.Set("k2", entry("v", clk.NowNano()+1))
	clk.Advance(1)
	if _, found := tr.Compute("k2", func(old cache.Entry, found bool) (cache.Entry, cache.Op) {
		if found {
			t.Error("Compute saw an expired entry as found")
		}
		return old, cache.Keep
	}); found {
		t.Error("Compute returned an expired entry")
	}
	if k, ok := tr.RandomKey(); ok {
		t.Errorf("RandomKey returned %q, which has expired", k)
	}
}

func TestExpiryIsActive(t *testing.T) {
	clk := newFakeClock()
	tr := newTestTier(t, 64<<20, clk)
	const n = 1000
	for i := range n {
		tr.Set(fmt.Sprint("exp", i), entry("v", clk.NowNano()+int64(time.Duration(1+i%10)*time.Second)))
		tr.Set(fmt.Sprint("keep", i), entry("v", 0))
	}
	clk.Advance(time.Minute)
	tr.CleanUp() // maintenance, as otter's ticker would run it
	st := tr.Stats()
	if st.Expirations != n {
		t.Errorf("Expirations = %d, want %d", st.Expirations, n)
	}
	if st.Keys != n || tr.Len() != n {
		t.Errorf("Len = %d, want %d: maintenance left expired entries", tr.Len(), n)
	}
	if st.Evictions != 0 {
		t.Errorf("Evictions = %d, want 0", st.Evictions)
	}
	if got := len(tr.indexed()); got != n {
		t.Errorf("index holds %d keys, want %d", got, n)
	}
	checkIndex(t, tr, true)
}

// TestWriteOverExpiredEntryStaysIndexed: a write over an entry that expired
// but was not removed yet adds the key to the index before otter reports the
// old node's expiry; the key must stay indexed, once.
func TestWriteOverExpiredEntryStaysIndexed(t *testing.T) {
	clk := newFakeClock()
	tr := newTestTier(t, 1<<20, clk)
	tr.Set("k", entry("old", clk.NowNano()+1))
	clk.Advance(time.Second)
	tr.Set("k", entry("new", 0))
	if n := tr.indexed()["k"]; n != 1 {
		t.Fatalf("index count %d after a write over an expired entry, want 1", n)
	}
	if got := tr.Stats().Expirations; got != 1 {
		t.Errorf("Expirations = %d, want 1 (the replaced expired entry)", got)
	}
	tr.CleanUp()
	if e, ok := tr.Peek("k"); !ok || string(e.Value) != "new" {
		t.Fatalf("Peek = %q, %v", e.Value, ok)
	}
	tr.Delete("k")
	if len(tr.indexed()) != 0 {
		t.Errorf("index not empty after Delete: %v", tr.indexed())
	}

	// Removing and keeping an expired entry through Compute also unindex it.
	for _, op := range []cache.Op{cache.Remove, cache.Keep} {
		tr.Set("k", entry("old", clk.NowNano()+1))
		clk.Advance(time.Second)
		tr.Compute("k", func(old cache.Entry, _ bool) (cache.Entry, cache.Op) { return old, op })
		if n, ok := tr.indexed()["k"]; ok {
			t.Errorf("op %d over an expired entry left index count %d", op, n)
		}
	}
}

func TestEvictionsAreCounted(t *testing.T) {
	tr := newTestTier(t, 1<<20, nil)
	v := make([]byte, 1000)
	const n = 5000 // about 5 MiB into 1 MiB
	for i := range n {
		tr.Set(fmt.Sprintf("key-%06d", i), cache.Entry{Value: v})
	}
	tr.CleanUp()
	st := tr.Stats()
	if st.UsedBytes > st.MaxBytes {
		t.Errorf("UsedBytes %d > MaxBytes %d", st.UsedBytes, st.MaxBytes)
	}
	if st.Evictions == 0 || st.Evictions+uint64(tr.Len()) != n {
		t.Errorf("Evictions %d + Len %d != %d writes", st.Evictions, tr.Len(), n)
	}
	if st.Expirations != 0 {
		t.Errorf("Expirations = %d", st.Expirations)
	}
	checkIndex(t, tr, true)

	tr.SetMaxBytes(100 << 10)
	if tr.UsedBytes() > 100<<10 {
		t.Errorf("after shrinking: UsedBytes %d > %d", tr.UsedBytes(), 100<<10)
	}
	checkIndex(t, tr, true)

	tr.Flush()
	if tr.Len() != 0 || len(tr.indexed()) != 0 || tr.UsedBytes() != 0 {
		t.Errorf("after Flush: Len %d, index %d, UsedBytes %d", tr.Len(), len(tr.indexed()), tr.UsedBytes())
	}
}

func TestWeight(t *testing.T) {
	tr := newTestTier(t, 1<<20, nil)
	e := cache.Entry{Value: make([]byte, 10, 32)}
	if got, want := tr.Weight("key", e), uint64(3+32+EntryOverhead); got != want {
		t.Errorf("Weight = %d, want %d (key + value capacity + EntryOverhead)", got, want)
	}
	tr.Set("key", e)
	if tr.UsedBytes() != 3+32+EntryOverhead {
		t.Errorf("UsedBytes = %d", tr.UsedBytes())
	}
}

// TestIndexAgreesWithCache runs sets, deletes, expiries and evictions from
// several goroutines over a small key space, then checks that every live key
// is indexed once and, after maintenance has removed the expired entries, that
// every indexed key is live. Run it with -race.
func TestIndexAgreesWithCache(t *testing.T) {
	clk := newFakeClock()
	tr := newTestTier(t, 256<<10, clk) // about 1,000 entries of 100 B
	const (
		workers = 8
		ops     = 10_000
		keys    = 3000
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			v := make([]byte, 100)
			for range ops {
				k := fmt.Sprintf("k%d", rng.IntN(keys))
				switch r := rng.IntN(100); {
				case r < 40:
					tr.Set(k, cache.Entry{Value: v})
				case r < 60:
					tr.Set(k, cache.Entry{Value: v, ExpireAt: clk.NowNano() + rng.Int64N(int64(time.Millisecond))})
				case r < 70:
					tr.Delete(k)
				case r < 80:
					tr.Compute(k, func(old cache.Entry, found bool) (cache.Entry, cache.Op) {
						if found {
							return old, cache.Remove
						}
						return cache.Entry{Value: v}, cache.Write
					})
				case r < 85:
					clk.Advance(time.Duration(rng.Int64N(int64(100 * time.Microsecond))))
				case r < 87:
					tr.CleanUp()
				case r < 88:
					tr.Scan(uint64(rng.IntN(indexShards)), 10, nil)
				default:
					tr.Get(k)
				}
			}
		}()
	}
	wg.Wait()

	checkIndex(t, tr, false) // expired-but-pending entries may still be indexed
	for k, n := range tr.indexed() {
		if n != 1 {
			t.Errorf("key %q has index count %d", k, n)
		}
	}
	if got, n := len(tr.indexed()), tr.Len(); got != n {
		t.Errorf("index holds %d keys, otter %d entries", got, n)
	}
	// otter's timer wheel removes an entry once the wheel passes its bucket,
	// which may be up to about a second after its deadline.
	clk.Advance(2 * time.Second)
	tr.CleanUp()
	checkIndex(t, tr, true)
	st := tr.Stats()
	if st.Evictions == 0 || st.Expirations == 0 {
		t.Errorf("workload did not exercise evictions (%d) and expiries (%d)", st.Evictions, st.Expirations)
	}
	if st.UsedBytes > st.MaxBytes {
		t.Errorf("UsedBytes %d > MaxBytes %d", st.UsedBytes, st.MaxBytes)
	}
	t.Logf("stats: %+v", st)
}

// TestScanReturnsStableKeys: SCAN returns every key that is present for the
// whole iteration at least once, while other goroutines insert and delete
// other keys.
func TestScanReturnsStableKeys(t *testing.T) {
	tr := newTestTier(t, 256<<20, nil)
	const stable = 5000
	for i := range stable {
		tr.Set(fmt.Sprintf("stable:%d", i), entry("v", 0))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("churn:%d", rng.IntN(20_000))
				if rng.IntN(2) == 0 {
					tr.Set(k, entry("v", 0))
				} else {
					tr.Delete(k)
				}
			}
		}()
	}
	for round := range 5 {
		seen := make(map[string]bool, stable)
		var buf []string
		for cursor := uint64(0); ; {
			buf, cursor = tr.Scan(cursor, 10, buf[:0])
			for _, k := range buf {
				seen[k] = true
			}
			if cursor == 0 {
				break
			}
		}
		for i := range stable {
			if k := fmt.Sprintf("stable:%d", i); !seen[k] {
				t.Fatalf("round %d: SCAN missed %q", round, k)
			}
		}
	}
	close(stop)
	wg.Wait()
}
