package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-cache/strata/internal/invalidate/pgwal"
	"github.com/strata-cache/strata/internal/node"
	"github.com/strata-cache/strata/internal/resource"
	"github.com/strata-cache/strata/internal/testenv/freshcheck"
)

const itemRows = 200

// itemsResource creates (once) the items table and returns a resource over
// it, bound for WAL invalidation.
func itemsResource(t *testing.T) map[string]resource.Spec {
	t.Helper()
	exec(t, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS items (id int8 PRIMARY KEY, version int8 NOT NULL);
INSERT INTO items SELECT i, 1 FROM generate_series(1, %d) i ON CONFLICT DO NOTHING`, itemRows))
	s := spec("items:{id}", "SELECT version::text FROM items WHERE id = $1", time.Hour)
	s.Tables = []resource.TableBinding{{Table: "items", Columns: []string{"id"}}}
	return map[string]resource.Spec{"items": s}
}

func waitNodeApplied(t *testing.T, n *node.Node, lsn uint64) {
	t.Helper()
	// Generous: under -race with other packages' tests running, applying
	// a 100,000-row transaction took over 10s on 2 cores (about 2s
	// without the race detector). The tests assert what is applied, not
	// how fast.
	deadline := time.Now().Add(2 * time.Minute)
	for n.AppliedLSN() < lsn {
		if time.Now().After(deadline) {
			t.Fatalf("applied %x never reached %x: %+v", n.AppliedLSN(), lsn, n.Freshness())
		}
		time.Sleep(time.Millisecond)
	}
}

// waitFresh waits until the node has proven its freshness (the first
// heartbeat came back), so that reads of bound resources use L1.
func waitFresh(t *testing.T, n *node.Node) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		fs := n.Freshness()
		if fs.LagSeconds >= 0 && len(fs.Bypassing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("freshness never proven: %+v", fs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// currentLSN runs sql (if any) and returns pg_current_wal_lsn() after it.
func currentLSN(t *testing.T, conn *pgx.Conn, sql string, args ...any) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if sql != "" {
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	var lsn pgwal.LSN
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()").Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	return uint64(lsn)
}

func dbConn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, server(t).DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestWALInvalidatesResourceKeys: an UPDATE by SQL reaches a cached
// resource key over both front ends; /v1/stats has the freshness object,
// /readyz is plainly ready, /metrics exports the WAL series.
func TestWALInvalidatesResourceKeys(t *testing.T) {
	n := startNode(t, itemsResource(t))
	waitFresh(t, n)
	rc := redisClient(t, n, 4)
	ctx := context.Background()
	conn := dbConn(t)
	exec(t, "UPDATE items SET version = 1 WHERE id = 1")
	waitNodeApplied(t, n, currentLSN(t, conn, ""))
	if v, err := rc.Get(ctx, "items:1").Result(); err != nil || v != "1" {
		t.Fatalf("GET items:1 = %q, %v", v, err)
	}
	waitNodeApplied(t, n, currentLSN(t, conn, "UPDATE items SET version = 7 WHERE id = 1"))
	if v, _ := rc.Get(ctx, "items:1").Result(); v != "7" {
		t.Fatalf("after UPDATE, RESP GET items:1 = %q, want 7", v)
	}
	if r := httpGet(t, http.DefaultClient, kvURL(n, "items:1")); r.body != "7" || r.header.Get("X-Cache") != "L1" {
		t.Fatalf("after UPDATE, HTTP GET items:1 = %q (X-Cache %s), want 7 from L1", r.body, r.header.Get("X-Cache"))
	}

	var st struct {
		Freshness node.FreshnessStats `json:"freshness"`
	}
	r := httpGet(t, http.DefaultClient, "http://"+n.HTTPAddr()+"/v1/stats")
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Freshness.Connected || st.Freshness.AppliedLSN == "0/0" || len(st.Freshness.Bypassing) != 0 {
		t.Errorf("freshness in /v1/stats: %+v", st.Freshness)
	}
	if r := httpGet(t, http.DefaultClient, "http://"+n.HTTPAddr()+"/readyz"); r.status != 200 || !strings.Contains(r.body, `"ready"`) {
		t.Errorf("/readyz: %d %s", r.status, r.body)
	}
	m := httpGet(t, http.DefaultClient, "http://"+n.HTTPAddr()+"/metrics").body
	for _, name := range []string{"strata_invalidation_lag_seconds_bucket", "strata_wal_applied_lsn", "strata_wal_confirmed_lsn",
		"strata_replication_slot_lag_bytes", `strata_invalidations_total{table="public.items"}`, "strata_wal_reconnects_total",
		"strata_wal_slot_recreated_total", `strata_bypass_reads_total{reason="staleness",resource="items"}`, "strata_wal_connected 1"} {
		if !strings.Contains(m, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestFreshnessRandomized: writers bump versions by SQL while readers read
// through both front ends. A read that begins after the node applied the
// WAL position of a write's commit must not return an older version. The
// duration is STRATA_FRESHNESS_SECONDS (default 5).
func TestFreshnessRandomized(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dur := 5 * time.Second
	if s := os.Getenv("STRATA_FRESHNESS_SECONDS"); s != "" {
		secs, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		dur = time.Duration(secs) * time.Second
	}
	n := startNode(t, itemsResource(t))
	waitFresh(t, n)
	const writers, respReaders, httpReaders = 4, 4, 4

	var (
		log    freshcheck.Log
		mu     sync.Mutex
		lags   []time.Duration
		errs   atomic.Int64
		nreads atomic.Int64
	)
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		conn := dbConn(t)
		wg.Go(func() {
			for ctx.Err() == nil {
				id, v, lsn, err := bumpItem(conn)
				if err != nil {
					errs.Add(1)
					continue
				}
				start := time.Now()
				for n.AppliedLSN() < uint64(lsn) && time.Since(start) < 10*time.Second {
					time.Sleep(100 * time.Microsecond)
				}
				lag := time.Since(start)
				log.Write(id, uint64(lsn), v)
				mu.Lock()
				lags = append(lags, lag)
				mu.Unlock()
			}
		})
	}
	record := func(id int, applied uint64, val string, err error) {
		if err != nil {
			errs.Add(1)
			return
		}
		v, perr := strconv.ParseUint(val, 10, 64)
		if perr != nil {
			errs.Add(1)
			return
		}
		nreads.Add(1)
		log.Read(id, applied, v)
	}
	for r := 0; r < respReaders; r++ {
		rc := redisClient(t, n, 1)
		wg.Go(func() {
			for ctx.Err() == nil {
				id := 1 + rand.IntN(itemRows)
				applied := n.AppliedLSN()
				v, err := rc.Get(context.Background(), "items:"+strconv.Itoa(id)).Result()
				record(id, applied, v, err)
			}
		})
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: httpReaders}}
	defer hc.CloseIdleConnections()
	for r := 0; r < httpReaders; r++ {
		wg.Go(func() {
			for ctx.Err() == nil {
				id := 1 + rand.IntN(itemRows)
				applied := n.AppliedLSN()
				resp, err := hc.Get(kvURL(n, "items:"+strconv.Itoa(id)))
				var body string
				if err == nil {
					var b strings.Builder
					_, err = fmt.Fprint(&b, readAll(resp))
					body = b.String()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				record(id, applied, body, err)
			}
		})
	}
	wg.Wait()

	res := log.Check(func(id int) string { return "items:" + strconv.Itoa(id) })
	for _, e := range res.Examples {
		t.Error(e)
	}
	violations, checked := res.Violations, res.Checked
	slices.Sort(lags)
	pct := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))]
	}
	total := nreads.Load()
	t.Logf("%d reads in %v (%.0f/s; %d checked against an applied write), %d writes, %d errors, %d violations",
		total, dur, float64(total)/dur.Seconds(), checked, len(lags), errs.Load(), violations)
	if len(lags) > 0 {
		t.Logf("commit-to-applied lag: p50 %v, p99 %v, max %v", pct(0.5), pct(0.99), lags[len(lags)-1])
	}
	if violations > 0 {
		t.Fatalf("%d violations", violations)
	}
	if errs.Load() > 0 {
		t.Errorf("%d errors", errs.Load())
	}
}

// bumpItem increments the version of a random item and returns the item,
// its new version and a WAL position at or after the commit.
func bumpItem(conn *pgx.Conn) (id int, version uint64, lsn pgwal.LSN, err error) {
	id = 1 + rand.IntN(itemRows)
	ctx := context.Background()
	if err = conn.QueryRow(ctx, "UPDATE items SET version = version + 1 WHERE id = $1 RETURNING version", id).Scan(&version); err != nil {
		return
	}
	err = conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()").Scan(&lsn)
	return
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestReadYourWrites: a client that passes the WAL position of its own
// commit reads its write, over RESP (STRATA.GET key MINLSN lsn) and HTTP
// (X-Strata-Min-LSN), even when it asks at once; a malformed position is a
// clear error.
func TestReadYourWrites(t *testing.T) {
	n := startNode(t, itemsResource(t))
	waitFresh(t, n)
	rc := redisClient(t, n, 2)
	ctx := context.Background()
	conn := dbConn(t)
	for i := range 20 {
		if _, err := rc.Get(ctx, "items:2").Result(); err != nil {
			t.Fatal(err)
		}
		lsn := currentLSN(t, conn, "UPDATE items SET version = $1 WHERE id = 2", 1000+i)
		text := pgwal.LSN(lsn).String()
		want := strconv.Itoa(1000 + i)
		if i%2 == 0 {
			v, err := rc.Do(ctx, "STRATA.GET", "items:2", "MINLSN", text).Text()
			if err != nil || v != want {
				t.Fatalf("STRATA.GET items:2 MINLSN %s = %q, %v; want %s", text, v, err, want)
			}
		} else {
			r := httpGet(t, http.DefaultClient, kvURL(n, "items:2"), "X-Strata-Min-LSN", text)
			if r.status != 200 || r.body != want {
				t.Fatalf("GET items:2 with X-Strata-Min-LSN %s = %d %q; want %s", text, r.status, r.body, want)
			}
		}
	}
	if _, err := rc.Do(ctx, "STRATA.GET", "items:2", "MINLSN", "nonsense").Result(); err == nil || !strings.Contains(err.Error(), "MINLSN") {
		t.Errorf("bad MINLSN: %v", err)
	}
	if r := httpGet(t, http.DefaultClient, kvURL(n, "items:2"), "X-Strata-Min-LSN", "zz"); r.status != 400 {
		t.Errorf("bad X-Strata-Min-LSN: %d %s", r.status, r.body)
	}
}
