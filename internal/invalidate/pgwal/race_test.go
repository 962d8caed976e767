package pgwal_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/resource"
	"github.com/strata-cache/strata/internal/tier/local"
)

type counter struct{ n atomic.Int64 }

func (c *counter) Inc() { c.n.Add(1) }

// TestStaleSetRaceThroughPostgres is the stale-set race, made
// deterministic, with a real PostgreSQL and the real WAL consumer: a fill
// reads version 1 and pauses before storing; an UPDATE to version 2
// commits and the consumer applies its invalidation; a reader that starts
// now gets version 2 (it does not join the paused fill); the paused fill
// is released: its version 1 is not stored (counted as rejected), and the
// next read returns version 2.
func TestStaleSetRaceThroughPostgres(t *testing.T) {
	db := testDB(t, schema)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, server(t).DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	spec := resource.DefaultSpec()
	spec.Name, spec.Key, spec.TTL = "users", "users:{id}", time.Hour
	spec.Query = "SELECT version::text FROM users WHERE id = $1"
	spec.Tables = []resource.TableBinding{{Table: "users", Columns: []string{"id"}}}
	set, err := resource.NewSet(spec)
	if err != nil {
		t.Fatal(err)
	}
	var (
		pause    atomic.Bool
		readDone = make(chan string, 1)
		release  = make(chan struct{})
		loads    atomic.Int64
	)
	loader := cache.LoaderFunc(func(ctx context.Context, _ string, params []string) (cache.LoadResult, error) {
		loads.Add(1)
		var v string
		err := pool.QueryRow(ctx, spec.Query, params[0]).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return cache.LoadResult{}, nil
		}
		if err != nil {
			return cache.LoadResult{}, err
		}
		if pause.CompareAndSwap(true, false) {
			readDone <- v // between the database read and the store
			<-release
		}
		return cache.LoadResult{Value: []byte(v), Found: true}, nil
	})
	rejected := &counter{}
	l1 := local.New(local.Config{MaxBytes: 64 << 20})
	defer l1.Close()
	c := cache.New(cache.Options{L1: l1, Resources: set, Loader: loader,
		Metrics: func(string) cache.ResourceMetrics { return cache.ResourceMetrics{FillsRejected: rejected} }})
	defer c.Close()
	cons := newConsumer(t, db, "s_race", c, set.All())
	conn := connect(t, db)

	read := func() string {
		r, err := c.Read(ctx, "users:1", cache.ReadOptions{})
		if err != nil || !r.Found {
			t.Fatalf("Read: %+v, %v", r, err)
		}
		return string(r.Entry.Value)
	}

	pause.Store(true)
	first := make(chan string, 1)
	go func() { first <- read() }()
	if v := <-readDone; v != "1" {
		t.Fatalf("the paused fill read version %s, want 1", v)
	}
	waitApplied(t, cons, write(t, conn, "UPDATE users SET version = 2 WHERE id = 1"))

	// A read that begins after the invalidation was applied must not join
	// the paused fill.
	if v := read(); v != "2" {
		t.Fatalf("a read after the invalidation returned version %s, want 2", v)
	}
	close(release)
	if v := <-first; v != "1" {
		t.Fatalf("the paused reader got %s, want 1 (it asked before the write)", v)
	}
	if rejected.n.Load() != 1 {
		t.Errorf("fills rejected = %d, want 1", rejected.n.Load())
	}
	if e, _, ok, _ := c.Get("users:1"); !ok || string(e.Value) != "2" {
		t.Fatalf("L1 holds %q (present %v) after the race, want version 2", e.Value, ok)
	}
	if v := read(); v != "2" {
		t.Fatalf("next read returned %s, want 2", v)
	}
	if n := loads.Load(); n != 2 {
		t.Errorf("%d loads, want 2 (the paused one and the post-invalidation one)", n)
	}
}
