package node_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/node"
	"github.com/strata-cache/strata/internal/resource"
	pgtest "github.com/strata-cache/strata/internal/testenv/postgres"
)

// compareCached checks every cached key of resource prefix against the
// database: an entry present in L1 must hold the row's current value.
// It returns how many entries it compared.
func compareCached(t *testing.T, n *node.Node, prefix, sql string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := dbConn(t)
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		want[prefix+strconv.FormatInt(id, 10)] = v
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	stale, compared := 0, 0
	for _, key := range noErr(n.Cache().Keys(prefix + "*")) {
		e, ok, _ := n.Cache().Peek(key) // live, not a cached miss, not flushed
		if !ok {
			continue
		}
		compared++
		if w, ok := want[key]; !ok || w != string(e.Value) {
			stale++
			if stale <= 5 {
				t.Errorf("%s: cached %q, database has %q (present %v)", key, e.Value, w, ok)
			}
		}
	}
	if stale > 0 {
		t.Fatalf("%d of %d cached entries are stale", stale, compared)
	}
	return compared
}

// waitCaughtUp waits until the node applied the server's current position.
func waitCaughtUp(t *testing.T, n *node.Node) {
	t.Helper()
	waitNodeApplied(t, n, currentLSN(t, dbConn(t), ""))
}

// TestPostgresRestartLosesNoInvalidation: PostgreSQL is stopped with -m
// immediate (a crash) during a write load and started again; the consumer
// reconnects and resumes from the slot, and afterwards every cached entry
// equals its row.
func TestPostgresRestartLosesNoInvalidation(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	n := startNode(t, itemsResource(t))
	waitFresh(t, n)
	rc := redisClient(t, n, 8)
	ctx := context.Background()
	warm := func() {
		for id := 1; id <= itemRows; id++ {
			rc.Get(ctx, "items:"+strconv.Itoa(id)) // errors while PostgreSQL is down are fine
		}
	}
	warm()
	s := server(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := pgx.Connect(ctx, s.DSN(db))
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				for i := 0; i < 200; i++ {
					if _, err := c.Exec(ctx, "UPDATE items SET version = version + 1 WHERE id = $1", 1+rand.IntN(itemRows)); err != nil {
						break
					}
				}
				c.Close(ctx)
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				warm()
			}
		}
	})
	time.Sleep(time.Second)
	for round := range 2 {
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		if err := s.Stop(sctx, pgtest.StopImmediate); err != nil {
			t.Fatal(err)
		}
		// The node cannot vouch for its cache now: it says so, and stays
		// ready (its reads go to PostgreSQL, which answers 503s now).
		for deadline := time.Now().Add(60 * time.Second); ; {
			r := httpGet(t, http.DefaultClient, "http://"+n.HTTPAddr()+"/readyz")
			if r.status == 200 && strings.Contains(r.body, "degraded") && strings.Contains(r.body, "disconnected") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz while PostgreSQL is down: %d %s", r.status, r.body)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := s.Start(sctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		t.Logf("round %d: PostgreSQL restarted", round)
		time.Sleep(1500 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	waitCaughtUp(t, n)
	warm()
	fs := n.Freshness()
	got := compareCached(t, n, "items:", "SELECT id, version::text FROM items")
	t.Logf("after 2 crashes of PostgreSQL: %d cached entries all equal the database; reconnects %d, slots recreated %d",
		got, fs.Reconnects, fs.SlotsRecreated)
	if got == 0 {
		t.Fatal("nothing cached to compare")
	}
}

// TestBulkTruncateSchemaChange: a bulk UPDATE of 100,000 rows in one
// transaction, a schema change on the published table followed by
// updates, and a TRUNCATE each leave 0 stale entries among 100,000 cached
// keys.
func TestBulkTruncateSchemaChange(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	exec(t, `DROP TABLE IF EXISTS bulk; CREATE TABLE bulk (id int8 PRIMARY KEY, v int8 NOT NULL);
INSERT INTO bulk SELECT i, 1 FROM generate_series(1, 100000) i`)
	s := spec("bulk:{id}", "SELECT v::text FROM bulk WHERE id = $1", time.Hour)
	s.Tables = []resource.TableBinding{{Table: "bulk", Columns: []string{"id"}}}
	n := startNode(t, map[string]resource.Spec{"bulk": s})
	waitFresh(t, n)
	// A pipeline of 1,000 reads that each load from PostgreSQL can take
	// longer than go-redis's 3 s default on a busy machine under -race;
	// the test is about what is cached, not how fast.
	rc := redis.NewClient(&redis.Options{Addr: n.RESPAddr(), PoolSize: 4, MaxRetries: -1, Protocol: 2, ReadTimeout: time.Minute})
	t.Cleanup(func() { rc.Close() })
	ctx := context.Background()
	warm := func() {
		p := rc.Pipeline()
		for id := 1; id <= 100000; id++ {
			p.Get(ctx, "bulk:"+strconv.Itoa(id))
			if id%1000 == 0 {
				if _, err := p.Exec(ctx); err != nil && err.Error() != "redis: nil" {
					t.Error(err)
					return
				}
			}
		}
	}
	check := func(what string) {
		waitCaughtUp(t, n)
		start := time.Now()
		got := compareCached(t, n, "bulk:", "SELECT id, v::text FROM bulk")
		t.Logf("%s: %d cached entries equal the database (compared in %v)", what, got, time.Since(start).Round(time.Millisecond))
	}
	// during runs fn while a reader refills the cache over and over, so
	// fills race with the change and its invalidations.
	during := func(fn func()) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
					warm()
				}
			}
		})
		// stop ends the reader, also when fn fails the test (Goexit runs
		// the deferred call), so that it never logs after the test ended.
		var once sync.Once
		stop := func() { once.Do(func() { close(done); wg.Wait() }) }
		defer stop()
		fn()
		time.Sleep(200 * time.Millisecond)
		stop()
		warm()
	}
	warm()
	during(func() {
		start := time.Now()
		exec(t, "UPDATE bulk SET v = v + 1")
		waitCaughtUp(t, n)
		t.Logf("bulk UPDATE of 100,000 rows: committed and invalidated in %v", time.Since(start).Round(time.Millisecond))
	})
	check("after the bulk UPDATE (with a concurrent reader)")

	during(func() {
		exec(t, "ALTER TABLE bulk ADD COLUMN note text; ALTER TABLE bulk ALTER COLUMN v TYPE numeric")
		exec(t, "UPDATE bulk SET v = v + 1, note = 'x' WHERE id % 7 = 0")
	})
	check("after ADD COLUMN, ALTER TYPE and an UPDATE")

	during(func() {
		exec(t, "TRUNCATE bulk")
		exec(t, "INSERT INTO bulk (id, v) SELECT i, 42 FROM generate_series(1, 50000) i")
	})
	check("after TRUNCATE and re-insert of half the rows")
}
