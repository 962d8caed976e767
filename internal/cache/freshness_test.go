package cache_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/resource"
)

// fakeFreshness is a cache.Freshness a test steers.
type fakeFreshness struct {
	mu      sync.Mutex
	lag     time.Duration
	ok      bool
	applied uint64
}

func (f *fakeFreshness) Lag() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lag, f.ok
}

func (f *fakeFreshness) MaxStaleness(*resource.Resource) time.Duration { return 5 * time.Second }

func (f *fakeFreshness) WaitApplied(_ context.Context, lsn uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied >= lsn
}

func (f *fakeFreshness) set(lag time.Duration, ok bool, applied uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lag, f.ok, f.applied = lag, ok, applied
}

// TestFreshnessBypass: a bound resource is answered from L1 only while the
// node is provably within max_staleness and has applied the position a
// read asks for; otherwise reads go to the origin (and refresh L1). An
// unbound resource ignores freshness.
func TestFreshnessBypass(t *testing.T) {
	db := newDB("1", "v1")
	spec := usersSpec()
	spec.Tables = []resource.TableBinding{{Table: "users", Columns: []string{"id"}}}
	c, _ := newRTCache(t, db, spec)
	f := &fakeFreshness{}
	f.set(time.Second, true, 100)
	c.SetFreshness(f)

	if r := read(t, c, "users:1"); r.Source != cache.SourceOrigin {
		t.Fatalf("first read from %v", r.Source)
	}
	if r := read(t, c, "users:1"); r.Source != cache.SourceL1 {
		t.Fatalf("fresh node: second read from %v, want L1", r.Source)
	}
	db.set("1", "v2")
	for _, tc := range []struct {
		lag time.Duration
		ok  bool
	}{{10 * time.Second, true}, {0, false}} {
		f.set(tc.lag, tc.ok, 100)
		if r := read(t, c, "users:1"); r.Source != cache.SourceOrigin || string(r.Entry.Value) != "v2" {
			t.Fatalf("lag %v ok %v: read %q from %v, want v2 from the origin", tc.lag, tc.ok, r.Entry.Value, r.Source)
		}
	}
	f.set(time.Second, true, 100)
	for _, tc := range []struct {
		minLSN uint64
		want   cache.Source
	}{{100, cache.SourceL1}, {101, cache.SourceOrigin}} {
		r, err := c.Read(context.Background(), "users:1", cache.ReadOptions{MinLSN: tc.minLSN})
		if err != nil || r.Source != tc.want {
			t.Fatalf("MinLSN %d: %v, %v; want from %v", tc.minLSN, r.Source, err, tc.want)
		}
	}

	// A resource without table bindings is not WAL-invalidated: freshness
	// does not apply.
	c2, _ := newRTCache(t, db, usersSpec())
	c2.SetFreshness(f)
	f.set(0, false, 0)
	read(t, c2, "users:1")
	if r := read(t, c2, "users:1"); r.Source != cache.SourceL1 {
		t.Fatalf("unbound resource: second read from %v, want L1", r.Source)
	}
}
