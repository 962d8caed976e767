package cache_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/tier/local"
)

// fakeClock is an otter.Clock and a cache.Clock that moves only when told to.
// It has no ticks, so the tier removes expired entries only lazily or when a
// test calls CleanUp.
type fakeClock struct{ now atomic.Int64 }

// epoch is an arbitrary start time for fake clocks (2023-11-14T22:13:20Z).
const epoch = int64(1_700_000_000) * int64(time.Second)

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.now.Store(epoch)
	return c
}

func (c *fakeClock) NowNano() int64                      { return c.now.Load() }
func (c *fakeClock) Tick(time.Duration) <-chan time.Time { return nil }
func (c *fakeClock) Advance(d time.Duration)             { c.now.Add(int64(d)) }

// newCache returns a Cache over a 64 MiB local tier driven by a fake clock.
func newCache(t testing.TB) (*cache.Cache, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	l1 := local.New(local.Config{MaxBytes: 64 << 20, Clock: clk})
	t.Cleanup(l1.Close)
	return cache.New(cache.Options{L1: l1, Clock: clk.NowNano}), clk
}

// value returns key's value, or nil and false if it is absent.
func value(t testing.TB, c *cache.Cache, key string) (string, bool) {
	t.Helper()
	e, _, ok, _ := c.Get(key)
	if !ok {
		return "", false
	}
	return string(e.Value), true
}

func mustSet(t testing.TB, c *cache.Cache, key, v string, opts cache.SetOptions) cache.SetResult {
	t.Helper()
	r, err := c.Set(key, []byte(v), opts)
	if err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
	return r
}

// newTier returns a 64 MiB local tier on clk, closed when t ends.
func newTier(t testing.TB, clk *fakeClock) *local.Tier {
	t.Helper()
	l1 := local.New(local.Config{MaxBytes: 64 << 20, Clock: clk})
	t.Cleanup(l1.Close)
	return l1
}

// noErr returns v, failing loudly on err: the key-space operations return
// an error only in a fleet (L2 unreachable), which these tests do not run.
func noErr[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
