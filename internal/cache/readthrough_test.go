package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/resource"
)

// fakeDB is a Loader over a map, standing in for PostgreSQL. Keys of the
// map are the first parameter.
type fakeDB struct {
	mu    sync.Mutex
	rows  map[string]string
	down  bool
	calls atomic.Int64
	// hook, when set, runs after the row was read and before Load
	// returns: a test pauses a fill there.
	hook func(ctx context.Context, id string)
}

func (db *fakeDB) set(id, v string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.rows[id] = v
}

func (db *fakeDB) setDown(down bool) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.down = down
}

func (db *fakeDB) Load(ctx context.Context, _ string, params []string) (cache.LoadResult, error) {
	db.calls.Add(1)
	id := params[0]
	if id == "bad" {
		return cache.LoadResult{}, fmt.Errorf("load: %w", cache.ErrSourceBadParam)
	}
	db.mu.Lock()
	v, ok := db.rows[id]
	down := db.down
	db.mu.Unlock()
	if down {
		return cache.LoadResult{}, fmt.Errorf("load: %w: connection refused", cache.ErrSourceUnavailable)
	}
	if db.hook != nil {
		db.hook(ctx, id)
	}
	if err := ctx.Err(); err != nil {
		return cache.LoadResult{}, fmt.Errorf("load: %w: %w", cache.ErrSourceUnavailable, err)
	}
	return cache.LoadResult{Value: []byte(v), Found: ok, Duration: time.Millisecond}, nil
}

func usersSpec() resource.Spec {
	s := resource.DefaultSpec()
	s.Name, s.Key, s.Query, s.TTL = "users", "users:{id}", "SELECT $1", time.Minute
	s.TTLJitter = 0
	return s
}

// newRTCache returns a read-through cache over db with the given spec.
func newRTCache(t *testing.T, db *fakeDB, spec resource.Spec) (*cache.Cache, *fakeClock) {
	t.Helper()
	set, err := resource.NewSet(spec)
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	c := cache.New(cache.Options{L1: newTier(t, clk), Clock: clk.NowNano, Resources: set, Loader: db})
	t.Cleanup(c.Close)
	return c, clk
}

func newDB(rows ...string) *fakeDB {
	db := &fakeDB{rows: map[string]string{}}
	for i := 0; i+1 < len(rows); i += 2 {
		db.rows[rows[i]] = rows[i+1]
	}
	return db
}

func read(t *testing.T, c *cache.Cache, key string) cache.ReadResult {
	t.Helper()
	r, err := c.Read(context.Background(), key, cache.ReadOptions{})
	if err != nil {
		t.Fatalf("Read(%q): %v", key, err)
	}
	return r
}

func TestReadPlainKeyUnchanged(t *testing.T) {
	c, _ := newRTCache(t, newDB(), usersSpec())
	mustSet(t, c, "greeting", "hi", cache.SetOptions{})
	r := read(t, c, "greeting")
	if !r.Found || string(r.Entry.Value) != "hi" || r.Source != cache.SourceL1 || r.Resource != nil {
		t.Fatalf("Read(greeting) = %+v", r)
	}
}

func TestReadThroughMissThenHit(t *testing.T) {
	db := newDB("42", `{"id":42}`)
	c, _ := newRTCache(t, db, usersSpec())
	r := read(t, c, "users:42")
	if !r.Found || string(r.Entry.Value) != `{"id":42}` || r.Source != cache.SourceOrigin || r.CacheStatus() != "origin" {
		t.Fatalf("first read = %+v", r)
	}
	r = read(t, c, "users:42")
	if !r.Found || r.Source != cache.SourceL1 || r.Stale {
		t.Fatalf("second read = %+v", r)
	}
	if n := db.calls.Load(); n != 1 {
		t.Fatalf("%d loads, want 1", n)
	}
	if x := c.Explain("users:42"); x.State != "fresh" || x.FillKind != "origin" || x.Params["id"] != "42" || x.Tier != "L1" {
		t.Fatalf("Explain = %+v", x)
	}
}

// TestReadCoalesces: many concurrent readers of one cold key cause one
// load, and every reader gets its value.
func TestReadCoalesces(t *testing.T) {
	db := newDB("1", "one")
	gate := make(chan struct{})
	db.hook = func(context.Context, string) { <-gate }
	c, _ := newRTCache(t, db, usersSpec())
	const readers = 200
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.Read(context.Background(), "users:1", cache.ReadOptions{})
			if err != nil || string(r.Entry.Value) != "one" {
				bad.Add(1)
			}
		}()
	}
	for db.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the rest join the flight
	close(gate)
	wg.Wait()
	if n := db.calls.Load(); n != 1 {
		t.Errorf("%d loads for %d concurrent readers, want 1", n, readers)
	}
	if bad.Load() != 0 {
		t.Errorf("%d readers got an error or a wrong value", bad.Load())
	}
}

// TestReaderGivingUpCancelsNothing: a reader whose context ends stops
// waiting, but the shared load goes on and serves the others.
func TestReaderGivingUpCancelsNothing(t *testing.T) {
	db := newDB("1", "one")
	gate := make(chan struct{})
	var loadCtxErr atomic.Value
	db.hook = func(ctx context.Context, _ string) {
		<-gate
		if ctx.Err() != nil {
			loadCtxErr.Store(ctx.Err())
		}
	}
	c, _ := newRTCache(t, db, usersSpec())
	ctx, cancel := context.WithCancel(context.Background())
	quitter := make(chan error, 1)
	go func() {
		_, err := c.Read(ctx, "users:1", cache.ReadOptions{})
		quitter <- err
	}()
	for db.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	stayer := make(chan cache.ReadResult, 1)
	go func() { stayer <- read(t, c, "users:1") }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-quitter; !errors.Is(err, context.Canceled) {
		t.Fatalf("the reader that gave up got %v, want context.Canceled", err)
	}
	close(gate)
	if r := <-stayer; string(r.Entry.Value) != "one" {
		t.Fatalf("the reader that stayed got %+v", r)
	}
	if err := loadCtxErr.Load(); err != nil {
		t.Fatalf("the shared load's context was cancelled: %v", err)
	}
	if n := db.calls.Load(); n != 1 {
		t.Fatalf("%d loads, want 1", n)
	}
}

// TestStaleSetRaceIsFenced is the deterministic stale-set race: a fill
// reads the old row, then (before it stores) the row changes and the key is
// invalidated. The old value must never be stored, and the next read must
// load the new one.
func TestStaleSetRaceIsFenced(t *testing.T) {
	db := newDB("7", "v1")
	read1 := make(chan struct{})
	resume := make(chan struct{})
	var paused atomic.Bool
	db.hook = func(_ context.Context, _ string) {
		if paused.CompareAndSwap(false, true) { // only the first fill pauses
			close(read1)
			<-resume
		}
	}
	c, _ := newRTCache(t, db, usersSpec())
	done := make(chan cache.ReadResult, 1)
	go func() { done <- read(t, c, "users:7") }()

	<-read1                 // the fill has read "v1" from the database
	db.set("7", "v2")       // a write commits...
	c.Invalidate("users:7") // ...and its invalidation is applied
	close(resume)           // the fill now tries to store "v1"

	if r := <-done; string(r.Entry.Value) != "v1" {
		t.Fatalf("the racing reader got %q; it asked before the write and may see v1", r.Entry.Value)
	}
	if e, ok, _ := c.Peek("users:7"); ok {
		t.Fatalf("the fenced fill stored %q after the invalidation", e.Value)
	}
	if r := read(t, c, "users:7"); string(r.Entry.Value) != "v2" || r.Source != cache.SourceOrigin {
		t.Fatalf("the next read got %q from %v, want v2 from the origin", r.Entry.Value, r.Source)
	}
	if r := read(t, c, "users:7"); string(r.Entry.Value) != "v2" || r.Source != cache.SourceL1 {
		t.Fatalf("then %q from %v, want v2 from L1", r.Entry.Value, r.Source)
	}
}

// TestInvalidateResourceFencesLoadsInFlight: flushing a resource kills its
// entries and any fill that started before.
func TestInvalidateResourceFencesLoadsInFlight(t *testing.T) {
	db := newDB("1", "a", "2", "b")
	c, _ := newRTCache(t, db, usersSpec())
	read(t, c, "users:1")
	mustSet(t, c, "plain", "x", cache.SetOptions{})

	gate := make(chan struct{})
	started := make(chan struct{})
	db.hook = func(context.Context, string) { close(started); <-gate }
	done := make(chan cache.ReadResult, 1)
	go func() { done <- read(t, c, "users:2") }()
	<-started
	if !c.InvalidateResource("users") {
		t.Fatal("InvalidateResource(users) = false")
	}
	close(gate)
	<-done
	db.hook = nil
	for _, k := range []string{"users:1", "users:2"} {
		if _, ok, _ := c.Peek(k); ok {
			t.Errorf("%s survived InvalidateResource", k)
		}
	}
	if _, ok, _ := c.Peek("plain"); !ok {
		t.Error("InvalidateResource removed a plain key")
	}
	if c.InvalidateResource("nope") {
		t.Error("InvalidateResource(nope) = true")
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	db := newDB("1", "old")
	spec := usersSpec()
	spec.TTL, spec.StaleWhileRevalidate = 10*time.Second, 30*time.Second
	c, clk := newRTCache(t, db, spec)
	read(t, c, "users:1")
	db.set("1", "new")
	clk.Advance(15 * time.Second)

	gate := make(chan struct{})
	db.hook = func(context.Context, string) { <-gate }
	for range 5 {
		r := read(t, c, "users:1")
		if string(r.Entry.Value) != "old" || !r.Stale || r.StaleReason != cache.StaleRevalidate || r.CacheStatus() != "stale" {
			t.Fatalf("stale read = %+v", r)
		}
	}
	close(gate)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if e, ok, _ := c.Peek("users:1"); ok && string(e.Value) == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background refresh did not store the new value")
		}
		time.Sleep(time.Millisecond)
	}
	if n := db.calls.Load(); n != 2 {
		t.Errorf("%d loads, want 2 (one fill, one refresh for five stale reads)", n)
	}
	if r := read(t, c, "users:1"); r.Stale || string(r.Entry.Value) != "new" {
		t.Fatalf("after the refresh = %+v", r)
	}
	if x := c.Explain("users:1"); x.FillKind != "refresh" {
		t.Fatalf("fill kind %q, want refresh", x.FillKind)
	}
}

func TestStaleIfError(t *testing.T) {
	db := newDB("1", "kept")
	spec := usersSpec()
	spec.TTL, spec.StaleIfError = 10*time.Second, time.Minute
	c, clk := newRTCache(t, db, spec)
	read(t, c, "users:1")
	db.setDown(true)
	clk.Advance(30 * time.Second)
	r := read(t, c, "users:1")
	if string(r.Entry.Value) != "kept" || !r.Stale || r.StaleReason != cache.StaleError {
		t.Fatalf("within stale_if_error = %+v", r)
	}
	_, err := c.Read(context.Background(), "users:2", cache.ReadOptions{})
	if !errors.Is(err, cache.ErrOriginUnavailable) {
		t.Fatalf("a miss with the origin down = %v, want ErrOriginUnavailable", err)
	}
	clk.Advance(time.Minute)
	if _, err := c.Read(context.Background(), "users:1", cache.ReadOptions{}); !errors.Is(err, cache.ErrOriginUnavailable) {
		t.Fatalf("past stale_if_error = %v, want ErrOriginUnavailable", err)
	}
	db.setDown(false)
	if r := read(t, c, "users:1"); string(r.Entry.Value) != "kept" || r.Source != cache.SourceOrigin {
		t.Fatalf("after recovery = %+v", r)
	}
}

func TestNegativeCaching(t *testing.T) {
	db := newDB()
	spec := usersSpec()
	spec.NegativeTTL = 5 * time.Second
	c, clk := newRTCache(t, db, spec)
	for range 3 {
		if r := read(t, c, "users:9"); r.Found {
			t.Fatalf("missing row found: %+v", r)
		}
	}
	if n := db.calls.Load(); n != 1 {
		t.Fatalf("%d loads, want 1 (negative cached)", n)
	}
	if noErr(c.Exists("users:9")) {
		t.Error("a cached miss counts as an existing key")
	}
	if x := c.Explain("users:9"); x.State != "negative" {
		t.Errorf("Explain state %q, want negative", x.State)
	}
	db.set("9", "nine")
	clk.Advance(6 * time.Second)
	if r := read(t, c, "users:9"); string(r.Entry.Value) != "nine" {
		t.Fatalf("after negative_ttl = %+v", r)
	}
}

func TestNoNegativeCachingByDefault(t *testing.T) {
	db := newDB()
	c, _ := newRTCache(t, db, usersSpec())
	read(t, c, "users:9")
	read(t, c, "users:9")
	if n := db.calls.Load(); n != 2 {
		t.Fatalf("%d loads, want 2 (negative_ttl 0 caches nothing)", n)
	}
}

func TestBadParamIsAMiss(t *testing.T) {
	c, _ := newRTCache(t, newDB(), usersSpec())
	if r := read(t, c, "users:bad"); r.Found {
		t.Fatalf("bad param = %+v", r)
	}
	if _, ok, _ := c.Peek("users:bad"); ok {
		t.Fatal("a bad parameter was cached")
	}
}

func TestQueryErrorIsReported(t *testing.T) {
	loader := cache.LoaderFunc(func(context.Context, string, []string) (cache.LoadResult, error) {
		return cache.LoadResult{}, errors.New("syntax error at or near FROM")
	})
	set, _ := resource.NewSet(usersSpec())
	clk := newFakeClock()
	c := cache.New(cache.Options{L1: newTier(t, clk), Clock: clk.NowNano, Resources: set, Loader: loader})
	defer c.Close()
	if _, err := c.Read(context.Background(), "users:1", cache.ReadOptions{}); !errors.Is(err, cache.ErrOriginQuery) {
		t.Fatalf("Read = %v, want ErrOriginQuery", err)
	}
}

func TestBypassReadsOriginAndRefreshes(t *testing.T) {
	db := newDB("1", "old")
	c, _ := newRTCache(t, db, usersSpec())
	read(t, c, "users:1")
	db.set("1", "new")
	if r := read(t, c, "users:1"); string(r.Entry.Value) != "old" {
		t.Fatalf("cached read = %q", r.Entry.Value)
	}
	r, err := c.Read(context.Background(), "users:1", cache.ReadOptions{NoCache: true})
	if err != nil || string(r.Entry.Value) != "new" || r.Source != cache.SourceOrigin {
		t.Fatalf("bypass = %+v, %v", r, err)
	}
	if r := read(t, c, "users:1"); string(r.Entry.Value) != "new" || r.Source != cache.SourceL1 {
		t.Fatalf("after bypass = %+v", r)
	}
	if x := c.Explain("users:1"); x.FillKind != "bypass" {
		t.Errorf("fill kind %q, want bypass", x.FillKind)
	}
}

func TestTTLJitterShortensTTL(t *testing.T) {
	spec := usersSpec()
	spec.TTL, spec.TTLJitter = 100*time.Second, 0.5
	set, _ := resource.NewSet(spec)
	clk := newFakeClock()
	c := cache.New(cache.Options{L1: newTier(t, clk), Clock: clk.NowNano, Resources: set, Loader: newDB("1", "x"),
		Rand: func() float64 { return 0.5 }})
	defer c.Close()
	read(t, c, "users:1")
	x := c.Explain("users:1")
	if x.TTLMs == nil || *x.TTLMs != 75_000 {
		t.Fatalf("TTL with jitter 0.5 and rand 0.5 = %v ms, want 75000", x.TTLMs)
	}
}

func TestCheckWrite(t *testing.T) {
	c, _ := newRTCache(t, newDB(), usersSpec())
	err := c.CheckWrite("users:42")
	var ro *cache.ReadOnlyError
	if !errors.As(err, &ro) || !errors.Is(err, cache.ErrReadOnlyKey) || ro.Resource != "users" {
		t.Fatalf("CheckWrite(users:42) = %v", err)
	}
	if err := c.CheckWrite("sessions:1"); err != nil {
		t.Fatalf("CheckWrite(plain) = %v", err)
	}
}

func TestFlushFencesLoadsInFlight(t *testing.T) {
	db := newDB("1", "a")
	gate := make(chan struct{})
	started := make(chan struct{})
	db.hook = func(context.Context, string) { close(started); <-gate }
	c, _ := newRTCache(t, db, usersSpec())
	done := make(chan struct{})
	go func() { read(t, c, "users:1"); close(done) }()
	<-started
	c.Flush()
	close(gate)
	<-done
	if _, ok, _ := c.Peek("users:1"); ok {
		t.Fatal("a fill from before FLUSHALL was stored after it")
	}
}

func TestCloseWaitsAndRefusesLoads(t *testing.T) {
	db := newDB("1", "a")
	c, _ := newRTCache(t, db, usersSpec())
	c.Close()
	c.Close() // idempotent
	if _, err := c.Read(context.Background(), "users:1", cache.ReadOptions{}); !errors.Is(err, cache.ErrOriginUnavailable) {
		t.Fatalf("Read after Close = %v", err)
	}
}
