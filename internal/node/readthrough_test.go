package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/node"
	"github.com/strata-cache/strata/internal/resource"
	pgtest "github.com/strata-cache/strata/internal/testenv/postgres"
)

const usersQuery = "SELECT row_to_json(u)::text FROM users u WHERE u.id = $1"

func usersResource(ttl time.Duration) map[string]resource.Spec {
	return map[string]resource.Spec{
		"users":   spec("users:{id}", usersQuery, ttl),
		"by_name": spec("name:{name}", "SELECT row_to_json(u)::text FROM users u WHERE u.name = $1", ttl),
	}
}

func redisClient(t *testing.T, n *node.Node, pool int) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: n.RESPAddr(), PoolSize: pool, MaxRetries: -1, Protocol: 2})
	t.Cleanup(func() { c.Close() })
	return c
}

type httpResult struct {
	status int
	header http.Header
	body   string
}

func httpGet(t *testing.T, cl *http.Client, u string, hdr ...string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, resp.Header, string(b)}
}

func kvURL(n *node.Node, key string) string {
	return "http://" + n.HTTPAddr() + "/v1/kv/" + url.PathEscape(key)
}

// TestStampedeOneQuery: 1,000 concurrent reads of one cold resource key,
// over both front ends, cause exactly one query, counted by PostgreSQL
// itself (pg_stat_statements). The query sleeps 200 ms so that every read
// arrives while it runs.
func TestStampedeOneQuery(t *testing.T) {
	slow := spec("slow:{id}", "SELECT row_to_json(u)::text FROM users u, pg_sleep(0.2) WHERE u.id = $1", time.Minute)
	// The test is about coalescing, not timeouts: under -race with 1,000
	// readers on a busy 2-core machine, getting a pool connection alone
	// can take longer than the 2s default.
	slow.QueryTimeout = time.Minute
	n := startNode(t, map[string]resource.Spec{"slow_users": slow})
	queryInt(t, "SELECT count(*) FROM (SELECT pg_stat_statements_reset()) r")
	rc := redisClient(t, n, 500)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 500, MaxConnsPerHost: 500}}
	defer hc.CloseIdleConnections()

	const readers = 1000
	start := make(chan struct{})
	var wg sync.WaitGroup
	var wrong atomic.Int64
	var firstErr atomic.Value
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var v string
			var err error
			if i%2 == 0 {
				v, err = rc.Get(context.Background(), "slow:42").Result()
			} else {
				var resp *http.Response
				resp, err = hc.Get(kvURL(n, "slow:42"))
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					v = string(b)
					if resp.StatusCode != http.StatusOK {
						err = errors.New(resp.Status + ": " + v)
					}
				}
			}
			if err != nil || !strings.Contains(v, `"id":42`) {
				wrong.Add(1)
				firstErr.CompareAndSwap(nil, errors.Join(err, errors.New(v)))
			}
		}()
	}
	close(start)
	wg.Wait()
	if w := wrong.Load(); w != 0 {
		t.Fatalf("%d of %d reads failed; first: %v", w, readers, firstErr.Load())
	}
	// pg_stat_statements normalises constants: the text reads pg_sleep($2).
	calls := queryInt(t, "SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_statements WHERE query LIKE '%FROM users u, pg_sleep(%' AND query NOT LIKE '%pg_stat_statements%'")
	t.Logf("%d concurrent reads (half RESP, half HTTP) of one cold key: %d query execution(s) on PostgreSQL", readers, calls)
	if calls != 1 {
		t.Fatalf("pg_stat_statements counts %d executions of the load query, want exactly 1", calls)
	}
	var st node.Stats
	if err := json.Unmarshal([]byte(httpGet(t, hc, "http://"+n.HTTPAddr()+"/v1/stats").body), &st); err != nil {
		t.Fatal(err)
	}
	rs := st.Resources["slow_users"]
	if rs == nil || rs.OriginQueries["ok"] != 1 || rs.CoalescedWaiters == 0 {
		t.Fatalf("/v1/stats resources.slow_users = %+v", rs)
	}
}

// TestOriginOutage: PostgreSQL stopped with -m immediate while a load runs,
// then started again. Nothing panics; a cached key is served within
// stale_if_error; a miss is 503 + Retry-After over HTTP and TRYAGAIN over
// RESP; after the restart, loading resumes without restarting strata.
func TestOriginOutage(t *testing.T) {
	s := server(t)
	users := spec("users:{id}", usersQuery, 300*time.Millisecond)
	users.StaleIfError = time.Minute
	users.QueryTimeout = 3 * time.Second
	slow := spec("slow:{id}", "SELECT row_to_json(u)::text FROM users u, pg_sleep(2) WHERE u.id = $1", time.Minute)
	n := startNode(t, map[string]resource.Spec{"users": users, "slow_users": slow})
	rc := redisClient(t, n, 4)
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	ctx := context.Background()

	if r := httpGet(t, hc, kvURL(n, "users:1")); r.status != 200 || r.header.Get("X-Cache") != "origin" {
		t.Fatalf("first read: %d %v %s", r.status, r.header.Get("X-Cache"), r.body)
	}
	// A load in flight when the database goes away.
	midLoad := make(chan error, 1)
	go func() { _, err := rc.Get(ctx, "slow:5").Result(); midLoad <- err }()
	time.Sleep(300 * time.Millisecond)

	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Stop(stopCtx, pgtest.StopImmediate); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = s.Start(context.Background())
		}
	}()
	if err := <-midLoad; err == nil || !strings.HasPrefix(err.Error(), "TRYAGAIN origin unavailable (PostgreSQL)") {
		t.Fatalf("the load cut off mid-query answered %v, want TRYAGAIN origin unavailable", err)
	}
	time.Sleep(400 * time.Millisecond) // users:1 is now past its TTL

	r := httpGet(t, hc, kvURL(n, "users:1"))
	if r.status != 200 || r.header.Get("X-Cache") != "stale" || !strings.Contains(r.body, `"id":1`) {
		t.Fatalf("cached key during the outage: %d X-Cache=%q %s", r.status, r.header.Get("X-Cache"), r.body)
	}
	if v, err := rc.Get(ctx, "users:1").Result(); err != nil || !strings.Contains(v, `"id":1`) {
		t.Fatalf("cached key over RESP during the outage: %q, %v", v, err)
	}
	r = httpGet(t, hc, kvURL(n, "users:2"))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" ||
		r.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.body, "origin-unavailable") {
		t.Fatalf("miss during the outage: %d Retry-After=%q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	_, err := rc.Get(ctx, "users:2").Result()
	if err == nil || !strings.HasPrefix(err.Error(), "TRYAGAIN origin unavailable (PostgreSQL): ") || !strings.HasSuffix(err.Error(), "; retry in 1s") {
		t.Fatalf("miss over RESP during the outage: %v", err)
	}
	t.Logf("RESP error during the outage: %v", err)

	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := httpGet(t, hc, kvURL(n, "users:2"))
		if r.status == 200 && strings.Contains(r.body, `"id":2`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("loading did not resume after the restart: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v, err := rc.Get(ctx, "users:3").Result(); err != nil || !strings.Contains(v, `"id":3`) {
		t.Fatalf("RESP after the restart: %q, %v", v, err)
	}
}

// TestInjectionShapedParams: key parameters shaped like SQL injection, or
// not text at all, are bound as parameters: they change nothing and are
// answered as misses (or a clear 400 for an unusable URL), over both front
// ends.
func TestInjectionShapedParams(t *testing.T) {
	n := startNode(t, usersResource(time.Minute))
	rc := redisClient(t, n, 4)
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	ctx := context.Background()
	before := queryInt(t, "SELECT count(*) FROM users")

	params := []string{
		"' OR '1'='1", "1 OR 1=1", "1;DROP TABLE users--", "1'; DROP TABLE users;--", `"; DROP TABLE users; --`,
		`\`, `\\'`, "a\x00b", "\x00", "\xff\xfe", "1\x00", "$1", "1 UNION SELECT 1",
	}
	for _, p := range params {
		keys := []string{"users:" + p}
		if p != "' OR '1'='1" { // a real user's name: checked below
			keys = append(keys, "name:"+p)
		}
		for _, key := range keys {
			v, err := rc.Get(ctx, key).Result()
			if !errors.Is(err, redis.Nil) {
				t.Errorf("RESP GET %q = %q, %v; want nil (a miss)", key, v, err)
			}
			if r := httpGet(t, hc, kvURL(n, key)); r.status != http.StatusNotFound {
				t.Errorf("HTTP GET %q = %d %s; want 404", key, r.status, r.body)
			}
		}
		u := "http://" + n.HTTPAddr() + "/v1/r/users/" + url.PathEscape(p)
		if r := httpGet(t, hc, u); r.status != http.StatusNotFound && r.status != http.StatusBadRequest {
			t.Errorf("HTTP GET /v1/r/users/%q = %d %s; want 404 or 400", p, r.status, r.body)
		}
	}
	// Names that look like injection but are real rows come back exactly.
	for name, id := range map[string]string{"O'Brien": "1001", `back\slash`: "1002", "' OR '1'='1": "1003"} {
		v, err := rc.Get(ctx, "name:"+name).Result()
		if err != nil || !strings.Contains(v, `"id":`+id+",") {
			t.Errorf("GET name:%s = %q, %v; want user %s", name, v, err, id)
		}
		r := httpGet(t, hc, "http://"+n.HTTPAddr()+"/v1/r/by_name/"+url.PathEscape(name))
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" || !strings.Contains(r.body, `"id":`+id+",") {
			t.Errorf("GET /v1/r/by_name/%s = %d %s", name, r.status, r.body)
		}
	}
	if after := queryInt(t, "SELECT count(*) FROM users"); after != before {
		t.Fatalf("users has %d rows, had %d", after, before)
	}
}

// TestResourceKeysOverBothFrontEnds covers the rest of the contract: writes
// refused, DEL invalidates, MGET mixes, bypass reads, explain.
func TestResourceKeysOverBothFrontEnds(t *testing.T) {
	n := startNode(t, usersResource(time.Minute))
	rc := redisClient(t, n, 4)
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	ctx := context.Background()
	exec(t, "UPDATE users SET email = 'a@example.com' WHERE id = 7")

	if v, err := rc.Get(ctx, "users:7").Result(); err != nil || !strings.Contains(v, "a@example.com") {
		t.Fatalf("GET users:7 = %q, %v", v, err)
	}
	// Writes are refused.
	err := rc.Set(ctx, "users:7", "x", 0).Err()
	want := "ERR key 'users:7' belongs to resource 'users' and is read-only (the database owns it); DEL invalidates it"
	if err == nil || err.Error() != want {
		t.Fatalf("SET users:7 = %v, want %q", err, want)
	}
	for _, cmd := range [][]any{{"incr", "users:7"}, {"append", "users:7", "x"}, {"expire", "users:7", "10"},
		{"mset", "a", "1", "users:8", "x"}, {"rename", "users:7", "z"}, {"getdel", "users:7"}} {
		if err := rc.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "is read-only") {
			t.Errorf("%v = %v, want the read-only error", cmd, err)
		}
	}
	req, _ := http.NewRequest(http.MethodPut, kvURL(n, "users:7"), strings.NewReader("x"))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("PUT users:7 = %d, want 409", resp.StatusCode)
	}

	// A change in the database is not seen until invalidation or bypass.
	exec(t, "UPDATE users SET email = 'b@example.com' WHERE id = 7")
	if v, _ := rc.Get(ctx, "users:7").Result(); !strings.Contains(v, "a@example.com") {
		t.Fatalf("cached GET = %q", v)
	}
	if v, err := rc.Do(ctx, "strata.get", "users:7", "nocache").Text(); err != nil || !strings.Contains(v, "b@example.com") {
		t.Fatalf("STRATA.GET NOCACHE = %q, %v", v, err)
	}
	if v, _ := rc.Get(ctx, "users:7").Result(); !strings.Contains(v, "b@example.com") {
		t.Fatalf("GET after the bypass refreshed L1 = %q", v)
	}
	exec(t, "UPDATE users SET email = 'c@example.com' WHERE id = 7")
	r := httpGet(t, hc, kvURL(n, "users:7"), "Cache-Control", "no-cache")
	if r.status != 200 || r.header.Get("X-Cache") != "origin" || !strings.Contains(r.body, "c@example.com") {
		t.Fatalf("HTTP no-cache read = %d %q %s", r.status, r.header.Get("X-Cache"), r.body)
	}
	exec(t, "UPDATE users SET email = 'd@example.com' WHERE id = 7")
	if n, err := rc.Del(ctx, "users:7").Result(); err != nil || n != 1 {
		t.Fatalf("DEL users:7 = %d, %v", n, err)
	}
	r = httpGet(t, hc, kvURL(n, "users:7"))
	if r.status != 200 || r.header.Get("X-Cache") != "origin" || !strings.Contains(r.body, "d@example.com") {
		t.Fatalf("read after DEL = %d %q %s", r.status, r.header.Get("X-Cache"), r.body)
	}
	r = httpGet(t, hc, kvURL(n, "users:7"))
	if r.header.Get("X-Cache") != "L1" || r.header.Get("Etag") == "" {
		t.Fatalf("second read: X-Cache %q", r.header.Get("X-Cache"))
	}
	del, _ := http.NewRequest(http.MethodDelete, kvURL(n, "users:7"), nil)
	if resp, err := hc.Do(del); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("HTTP DELETE users:7 = %v, %v", resp, err)
	}

	// MGET mixes plain and resource keys.
	if err := rc.Set(ctx, "plain", "p", 0).Err(); err != nil {
		t.Fatal(err)
	}
	vals, err := rc.MGet(ctx, "plain", "users:8", "users:99999", "missing").Result()
	if err != nil || vals[0] != "p" || !strings.Contains(vals[1].(string), `"id":8`) || vals[2] != nil || vals[3] != nil {
		t.Fatalf("MGET = %v, %v", vals, err)
	}
	body := strings.NewReader(`{"keys": ["plain", "users:9"]}`)
	resp, err = hc.Post("http://"+n.HTTPAddr()+"/v1/mget", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `\"id\":9`) || !strings.Contains(string(b), `"source":"origin"`) {
		t.Fatalf("POST /v1/mget = %s", b)
	}

	// /v1/r/ is the same value as JSON.
	r = httpGet(t, hc, "http://"+n.HTTPAddr()+"/v1/r/users/8")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Cache") != "L1" {
		t.Fatalf("/v1/r/users/8 = %d %v %s", r.status, r.header, r.body)
	}
	if r := httpGet(t, hc, "http://"+n.HTTPAddr()+"/v1/r/nosuch/8"); r.status != 404 || !strings.Contains(r.body, "unknown-resource") {
		t.Fatalf("/v1/r/nosuch/8 = %d %s", r.status, r.body)
	}

	// Explain, over HTTP and RESP.
	r = httpGet(t, hc, "http://"+n.HTTPAddr()+"/v1/explain/users:8")
	var x struct {
		Resource, Tier, State, FillKind string
		Params                          map[string]string
		TTLMs                           *int64 `json:"ttl_ms"`
	}
	x.FillKind = ""
	if err := json.Unmarshal([]byte(r.body), &x); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	json.Unmarshal([]byte(r.body), &raw)
	if x.Resource != "users" || x.Tier != "L1" || x.State != "fresh" || raw["fill_kind"] != "origin" || x.Params["id"] != "8" || x.TTLMs == nil {
		t.Fatalf("/v1/explain/users:8 = %s", r.body)
	}
	ex, err := rc.Do(ctx, "strata.explain", "users:8").Slice()
	if err != nil || len(ex) < 10 || ex[0] != "key" || ex[1] != "users:8" || ex[2] != "resource" || ex[3] != "users" {
		t.Fatalf("STRATA.EXPLAIN = %v, %v", ex, err)
	}
	if ex, err := rc.Do(ctx, "strata.explain", "plain").Slice(); err != nil || ex[3] != "plain" {
		t.Fatalf("STRATA.EXPLAIN plain = %v, %v", ex, err)
	}
	// KEYS and SCAN cover what L1 holds.
	if keys, _ := rc.Keys(ctx, "users:*").Result(); len(keys) == 0 {
		t.Fatal("KEYS users:* is empty")
	}
}

// TestStartRefusesUnreachableDatabase: a node with resources does not start
// without its database, and says what to check.
func TestStartRefusesUnreachableDatabase(t *testing.T) {
	cfg := config.Default()
	cfg.RESP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Postgres.DSN = "postgres://strata@127.0.0.1:1/app?sslmode=disable"
	cfg.Postgres.ConnectTimeout = time.Second
	cfg.Resources = usersResource(time.Minute)
	_, err := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "postgres.dsn") || !strings.Contains(err.Error(), "check that PostgreSQL is running") {
		t.Fatalf("New with an unreachable database = %v", err)
	}
}

// TestStartRefusesBadQuery: a query that does not fit its template names
// the resource and the field.
func TestStartRefusesBadQuery(t *testing.T) {
	s := server(t)
	cfg := config.Default()
	cfg.RESP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Postgres.DSN = s.DSN(db)
	cfg.Resources = map[string]resource.Spec{
		"users": spec("users:{id}", "SELECT row_to_json(u)::text FROM users u WHERE u.uid = $1", time.Minute),
	}
	_, err := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "resources.users.query: ") || !strings.Contains(err.Error(), "uid") {
		t.Fatalf("New with a bad query = %v", err)
	}
}
