package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	pgtest "github.com/strata-cache/strata/internal/testenv/postgres"
)

// TestWALSurvivesSIGKILL: strata, invalidating from the WAL, is killed with
// SIGKILL three times while writers bump versions by SQL and readers fill
// the cache; each restart resumes from the replication slot. At the end,
// after the last node has caught up with the server's WAL position, every
// key it holds equals its row (0 lost invalidations).
func TestWALSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	srv := pgtest.New(t, pgtest.Options{})
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, "app", `CREATE TABLE items (id int8 PRIMARY KEY, version int8 NOT NULL);
INSERT INTO items SELECT i, 1 FROM generate_series(1, 500) i`); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "strata.yaml", fmt.Sprintf(`postgres:
  dsn: %s
resources:
  items:
    key: "items:{id}"
    query: "SELECT version::text FROM items WHERE id = $1"
    ttl: 1h
    tables: [{table: items, columns: [id]}]
wal:
  heartbeat: 200ms
  status_interval: 200ms
  max_staleness: 2s
`, srv.DSN("app")))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes sync.Map
	for range 3 {
		wg.Go(func() {
			c, err := pgx.Connect(ctx, srv.DSN("app"))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close(ctx)
			for n := 0; ; n++ {
				select {
				case <-stop:
					writes.Store(&n, n)
					return
				default:
				}
				if _, err := c.Exec(ctx, "UPDATE items SET version = version + 1 WHERE id = $1", 1+rand.IntN(500)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var warmErr sync.Once
	warm := func(rc *redis.Client) {
		for id := 1; id <= 500; id++ {
			if err := rc.Get(ctx, "items:"+strconv.Itoa(id)).Err(); err != nil {
				warmErr.Do(func() { t.Logf("GET: %v", err) })
			}
		}
	}
	for round := range 3 {
		n := startStrataWith(t, strataOpts{args: []string{"--config", cfg}, textLogs: true})
		rc := redis.NewClient(&redis.Options{Addr: n.RESPAddr, MaxRetries: -1})
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			warm(rc)
		}
		rc.Close()
		n.kill()
		t.Logf("round %d: strata (pid %d) killed with SIGKILL", round, n.PID())
	}
	// The last node: fill the cache under the write load, then stop the
	// writers and let it catch up.
	n := startStrataWith(t, strataOpts{args: []string{"--config", cfg}, textLogs: true})
	rc := redis.NewClient(&redis.Options{Addr: n.RESPAddr})
	defer rc.Close()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		warm(rc)
	}
	close(stop)
	wg.Wait()
	// Fill at once, while the node may still be replaying: what it caches
	// now must still be invalidated by the changes it has yet to apply.
	warm(rc)
	conn, err := pgx.Connect(ctx, srv.DSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	catchUp := func() {
		var target pglogrepl.LSN
		if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()").Scan(&target); err != nil {
			t.Fatal(err)
		}
		for wait := time.Now().Add(30 * time.Second); ; {
			var st struct {
				Freshness struct {
					AppliedLSN string `json:"applied_lsn"`
				} `json:"freshness"`
			}
			resp, err := http.Get(n.BaseURL() + "/v1/stats")
			if err == nil {
				json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
			}
			if applied, err := pglogrepl.ParseLSN(st.Freshness.AppliedLSN); err == nil && applied >= target {
				return
			}
			if time.Now().After(wait) {
				t.Fatalf("strata never applied %s (stats: %+v)", target, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	compare := func(what string) int {
		want := map[string]string{}
		rows, _ := conn.Query(ctx, "SELECT id, version::text FROM items")
		for rows.Next() {
			var id int64
			var v string
			rows.Scan(&id, &v)
			want["items:"+strconv.FormatInt(id, 10)] = v
		}
		keys, err := rc.Keys(ctx, "items:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		stale := 0
		for _, k := range keys {
			v, err := rc.Get(ctx, k).Result()
			if err != nil || v != want[k] {
				stale++
				if stale <= 5 {
					t.Errorf("%s: %s: strata has %q (%v), database %q", what, k, v, err, want[k])
				}
			}
		}
		t.Logf("%s: %d cached keys compared with their rows, %d stale", what, len(keys), stale)
		return len(keys)
	}
	catchUp()
	compare("after the replay (entries filled during it)")
	// Fill everything, change a random tenth of it, compare again.
	warm(rc)
	for range 50 {
		if _, err := conn.Exec(ctx, "UPDATE items SET version = version + 1 WHERE id = $1", 1+rand.IntN(500)); err != nil {
			t.Fatal(err)
		}
	}
	catchUp()
	if compare("after 50 more updates") == 0 {
		t.Fatal("nothing cached")
	}
	total := 0
	writes.Range(func(_, v any) bool { total += v.(int); return true })
	t.Logf("3 SIGKILLs of strata under %d SQL writes", total)
}
