package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/testenv/freshcheck"
	"github.com/strata-cache/strata/internal/testenv/nginx"
	pgtest "github.com/strata-cache/strata/internal/testenv/postgres"
	"github.com/strata-cache/strata/internal/testenv/rediscluster"
)

// A fleet, end to end: several `strata serve` processes started from one
// config file that sets redis.addrs (a real Redis Cluster, three masters
// and three replicas, as the shared L2) and, with resources, binds tables
// to one replication slot, so that the nodes elect one WAL consumer among
// themselves through a PostgreSQL advisory lock. NGINX, running the shipped
// deploy/nginx/strata-http.conf, can be put in front.

// fleetItems is the number of rows of the items table.
const fleetItems = 200

// fleetOpts configures startStrataFleet.
type fleetOpts struct {
	// nodes is the number of strata processes.
	nodes int
	// resources starts PostgreSQL with an items table and binds the items
	// resource to it (WAL invalidation, one consumer per fleet). Without
	// it the nodes have plain keys only.
	resources bool
}

// strataFleet is a running fleet of strata binaries.
type strataFleet struct {
	pg    *pgtest.Server // nil without resources
	dsn   string
	rc    *rediscluster.Cluster
	cfg   string // the config file every node runs with
	nodes []*strataNode
}

// startStrataFleet starts PostgreSQL (with resources), a Redis Cluster and
// the nodes, all on free loopback ports, and stops them when the test ends
// (nodes first: t.Cleanup runs last-registered first).
func startStrataFleet(t *testing.T, o fleetOpts) *strataFleet {
	t.Helper()
	requireStrata(t)
	f := &strataFleet{}
	ctx := context.Background()
	var yaml strings.Builder
	if o.resources {
		f.pg = pgtest.New(t, pgtest.Options{})
		if err := f.pg.CreateDatabase(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		if err := f.pg.Exec(ctx, "app", fmt.Sprintf(`CREATE TABLE items (id int8 PRIMARY KEY, version int8 NOT NULL);
INSERT INTO items SELECT i, 1 FROM generate_series(1, %d) i`, fleetItems)); err != nil {
			t.Fatal(err)
		}
		f.dsn = f.pg.DSN("app")
		fmt.Fprintf(&yaml, `postgres:
  dsn: %s
resources:
  items:
    key: "items:{id}"
    query: "SELECT version::text FROM items WHERE id = $1"
    ttl: 1h
    tables: [{table: items, columns: [id]}]
# One slot for the whole fleet: only the elected node streams from it.
wal:
  slot: strata_fleet
  publication: strata_fleet
  heartbeat: 200ms
  status_interval: 200ms
  # Generous: the test asserts freshness by WAL position, not by time, and
  # a follower that cannot prove it within this bound reads PostgreSQL.
  max_staleness: 5s
`, f.dsn)
	}
	f.rc = rediscluster.New(t, rediscluster.Options{})
	addrs, _ := json.Marshal(f.rc.Addrs())
	fmt.Fprintf(&yaml, `redis:
  addrs: %s
  prefix: "strata:"
  failover_settle: 1s
`, addrs)
	f.cfg = writeFile(t, "strata-fleet.yaml", yaml.String())
	for range o.nodes {
		f.nodes = append(f.nodes, startStrataWith(t, strataOpts{args: []string{"--config", f.cfg}}))
	}
	return f
}

// fleetStats is the part of /v1/stats these tests read.
type fleetStats struct {
	L2 *struct {
		Usable         bool   `json:"usable"`
		Mode           string `json:"mode"`
		Reason         string `json:"reason"`
		Hits           uint64 `json:"hits"`
		Misses         uint64 `json:"misses"`
		Errors         uint64 `json:"errors"`
		Stores         uint64 `json:"stores"`
		Invalidations  uint64 `json:"invalidations"`
		PushesReceived uint64 `json:"pushes_received"`
		FeedLosses     uint64 `json:"feed_losses"`
	} `json:"l2"`
	Freshness *struct {
		Connected  bool              `json:"connected"`
		AppliedLSN string            `json:"applied_lsn"`
		LagSeconds float64           `json:"lag_seconds"`
		Bypassing  map[string]string `json:"bypassing"`
		LastError  string            `json:"last_error"`
		Role       string            `json:"role"`
		Takeovers  int64             `json:"takeovers"`
	} `json:"freshness"`
}

// applied returns the node's applied WAL position from its stats.
func (s fleetStats) applied() (pglogrepl.LSN, error) {
	if s.Freshness == nil {
		return 0, errors.New("/v1/stats has no freshness object")
	}
	return pglogrepl.ParseLSN(s.Freshness.AppliedLSN)
}

func (s fleetStats) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// getStats reads a node's /v1/stats.
func getStats(c *http.Client, n *strataNode) (fleetStats, error) {
	var st fleetStats
	resp, err := c.Get(n.BaseURL() + "/v1/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/v1/stats: %s: %s", resp.Status, b)
	}
	return st, json.Unmarshal(b, &st)
}

// waitFleet waits until, among the nodes alive says are running, the L2 is
// usable on each, and (with wal) exactly one runs the WAL consumer and every
// one has proven its freshness (no resource bypasses the cache). It returns
// the consumer's index (-1 without wal) and fails the test after 90s.
func waitFleet(t *testing.T, c *http.Client, nodes []*strataNode, alive func(int) bool, wal bool) int {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		consumer, ready, want := -1, 0, 0
		var why []string
		for i, n := range nodes {
			if !alive(i) {
				continue
			}
			want++
			st, err := getStats(c, n)
			switch {
			case err != nil:
				why = append(why, fmt.Sprintf("node %d: %v", i, err))
				continue
			case st.L2 == nil || !st.L2.Usable:
				why = append(why, fmt.Sprintf("node %d: L2 not usable: %s", i, st))
				continue
			case !wal:
				ready++
				continue
			case st.Freshness == nil:
				why = append(why, fmt.Sprintf("node %d: no freshness: %s", i, st))
				continue
			}
			if st.Freshness.Role == "consumer" {
				if consumer >= 0 {
					t.Fatalf("two nodes report role consumer: %d and %d", consumer, i)
				}
				consumer = i
			}
			if st.Freshness.LagSeconds < 0 || len(st.Freshness.Bypassing) > 0 {
				why = append(why, fmt.Sprintf("node %d: freshness not proven: %s", i, st))
				continue
			}
			ready++
		}
		if ready == want && (!wal || consumer >= 0) {
			return consumer
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fleet did not settle within 90s (want every node's L2 usable, one consumer, all fresh):\n%s", strings.Join(why, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fleetNginx starts NGINX with the shipped deploy/nginx/strata-http.conf in
// an http block; only the three upstream server addresses and the listen
// port are replaced (as deploy/nginx_test.go does).
func fleetNginx(t *testing.T, nodes []*strataNode) *nginx.Server {
	t.Helper()
	const path = "../deploy/nginx/strata-http.conf"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	if strings.Contains(conf, "{{") {
		t.Fatalf("%s contains {{, which text/template would take for an action", path)
	}
	replace := func(old, repl string) {
		t.Helper()
		if n := strings.Count(conf, old); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once", path, old, n)
		}
		conf = strings.Replace(conf, old, repl, 1)
	}
	if len(nodes) != 3 {
		t.Fatalf("the shipped upstream has 3 servers; got %d nodes", len(nodes))
	}
	for i, n := range nodes {
		replace(fmt.Sprintf("server 127.0.0.1:%d ", 8081+i), "server "+n.HTTPAddr+" ")
	}
	replace("listen 80;", "listen {{.Listen}};")
	tmpl := "{{.Main}}\nevents { worker_connections 1024; }\nhttp {\n{{.HTTP}}\n" + conf + "\n}\n"
	return nginx.New(t, nginx.Options{Config: tmpl})
}

// kvGet reads a key over HTTP and returns the status, the body and the
// X-Cache header.
func kvGet(c *http.Client, base, key string) (int, string, string, error) {
	resp, err := c.Get(base + "/v1/kv/" + escapeKey(key))
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("X-Cache"), err
}

// kvPut stores a key over HTTP.
func kvPut(c *http.Client, base, key, value string) error {
	req, err := http.NewRequest(http.MethodPut, base+"/v1/kv/"+escapeKey(key), strings.NewReader(value))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("PUT %s: %s: %s", key, resp.Status, b)
	}
	return nil
}

// escapeKey percent-encodes the bytes of a key that a URL path segment
// cannot hold as they are (the test keys are ASCII).
func escapeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// eventually calls check until it returns nil or the deadline passes, and
// then fails the test with the last error.
func eventually(t *testing.T, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v: %v", what, within, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// durationQuantiles sorts d and returns p50, p99 and max.
func durationQuantiles(d []time.Duration) (p50, p99, maxD time.Duration) {
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100], d[len(d)-1]
}

func fleetRedis(n *strataNode) *redis.Client {
	// No retries: a client error must be counted, not hidden.
	return redis.NewClient(&redis.Options{Addr: n.RESPAddr, MaxRetries: -1, PoolSize: 4,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
}

// currentLSN returns pg_current_wal_lsn().
func currentLSN(t *testing.T, conn *pgx.Conn) pglogrepl.LSN {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		t.Fatal(err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// waitApplied waits until the node's /v1/stats says it applied lsn.
func waitApplied(t *testing.T, c *http.Client, n *strataNode, lsn pglogrepl.LSN) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("node %s applies %s", n.HTTPAddr, lsn), func() error {
		st, err := getStats(c, n)
		if err != nil {
			return err
		}
		a, err := st.applied()
		if err != nil {
			return err
		}
		if a < lsn {
			return fmt.Errorf("applied %s < %s: %s", a, lsn, st)
		}
		return nil
	})
}

// TestFleetE2E runs three strata binaries as a fleet: a Redis Cluster (3
// masters, 3 replicas) as the shared L2, one PostgreSQL whose items table
// is bound to one replication slot for the whole fleet, and NGINX in front
// with the shipped configuration. It shows that
//
//   - plain keys written through one node, over RESP and HTTP, are read
//     through every other node and through NGINX, and reports how long a
//     SET on one node takes until every node returns the new value;
//   - a row updated by SQL is served fresh by every node once the node has
//     applied the commit, over both front ends, and a key one node loaded
//     is answered from the L2 by another (X-Cache: L2);
//   - /v1/stats shows the L2 usable on every node, one node with the WAL
//     consumer's role and the others following it.
func TestFleetE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	f := startStrataFleet(t, fleetOpts{nodes: 3, resources: true})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer hc.CloseIdleConnections()
	all := func(int) bool { return true }
	consumer := waitFleet(t, hc, f.nodes, all, true)
	ng := fleetNginx(t, f.nodes)
	ctx := context.Background()
	rcs := make([]*redis.Client, len(f.nodes))
	for i, n := range f.nodes {
		rcs[i] = fleetRedis(n)
		defer rcs[i].Close()
	}

	// (a) Plain keys. Each is read first where nobody holds it, which
	// takes it from the L2; later reads may come from a node's L1, which
	// the L2's invalidation pushes keep coherent.
	readEverywhere := func(key, want string) {
		t.Helper()
		for i, n := range f.nodes {
			eventually(t, 20*time.Second, fmt.Sprintf("node %d RESP GET %s", i, key), func() error {
				v, err := rcs[i].Get(ctx, key).Result()
				if err != nil || v != want {
					return fmt.Errorf("got %q, %v; want %q", v, err, want)
				}
				return nil
			})
			eventually(t, 20*time.Second, fmt.Sprintf("node %d HTTP GET %s", i, key), func() error {
				code, body, _, err := kvGet(hc, n.BaseURL(), key)
				if err != nil || code != http.StatusOK || body != want {
					return fmt.Errorf("got %d %q, %v; want 200 %q", code, body, err, want)
				}
				return nil
			})
		}
		eventually(t, 20*time.Second, "NGINX GET "+key, func() error {
			code, body, _, err := kvGet(hc, ng.URL(), key)
			if err != nil || code != http.StatusOK || body != want {
				return fmt.Errorf("got %d %q, %v; want 200 %q", code, body, err, want)
			}
			return nil
		})
	}
	if err := kvPut(hc, f.nodes[0].BaseURL(), "fleet:http", "written over HTTP on node 0"); err != nil {
		t.Fatal(err)
	}
	readEverywhere("fleet:http", "written over HTTP on node 0")
	if err := rcs[1].Set(ctx, "fleet:resp", "written over RESP on node 1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	readEverywhere("fleet:resp", "written over RESP on node 1")
	if err := kvPut(hc, ng.URL(), "fleet:nginx", "written through NGINX"); err != nil {
		t.Fatal(err)
	}
	readEverywhere("fleet:nginx", "written through NGINX")
	// Overwrites, now that every node holds the keys in its L1.
	if err := rcs[2].Set(ctx, "fleet:http", "overwritten over RESP on node 2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	readEverywhere("fleet:http", "overwritten over RESP on node 2")
	if err := kvPut(hc, f.nodes[1].BaseURL(), "fleet:resp", "overwritten over HTTP on node 1"); err != nil {
		t.Fatal(err)
	}
	readEverywhere("fleet:resp", "overwritten over HTTP on node 1")

	// SET on node i (RESP and HTTP in turn) -> GET returns the new value on
	// every node. Reported, not asserted: only convergence within a
	// generous deadline is.
	const rounds = 240
	const key = "fleet:latency"
	if err := rcs[0].Set(ctx, key, "start", 0).Err(); err != nil {
		t.Fatal(err)
	}
	readEverywhere(key, "start")
	lat := make([]time.Duration, 0, rounds)
	for round := range rounds {
		w := round % len(f.nodes)
		want := "v" + strconv.Itoa(round)
		start := time.Now()
		var err error
		if round%2 == 0 {
			err = rcs[w].Set(ctx, key, want, 0).Err()
		} else {
			err = kvPut(hc, f.nodes[w].BaseURL(), key, want)
		}
		if err != nil {
			t.Fatalf("round %d: write on node %d: %v", round, w, err)
		}
		for i := range f.nodes {
			for {
				v, err := rcs[i].Get(ctx, key).Result()
				if err == nil && v == want {
					break
				}
				if time.Since(start) > 30*time.Second {
					st, _ := getStats(hc, f.nodes[i])
					t.Fatalf("round %d: 30s after the write on node %d, node %d answers %q, %v; want %q (stats %s)", round, w, i, v, err, want, st)
				}
			}
		}
		lat = append(lat, time.Since(start))
	}
	p50, p99, maxLat := durationQuantiles(lat)
	t.Logf("plain key: SET on node i (RESP or HTTP) -> GET returns it on all 3 nodes, %d writes: p50 %v, p99 %v, max %v",
		rounds, p50.Round(time.Microsecond), p99.Round(time.Microsecond), maxLat.Round(time.Microsecond))
	readEverywhere(key, "v"+strconv.Itoa(rounds-1))
	// DEL on one node removes the key from every node.
	if n, err := rcs[2].Del(ctx, key).Result(); err != nil || n != 1 {
		t.Fatalf("DEL %s = %d, %v", key, n, err)
	}
	for i, n := range append(slices.Clone(f.nodes), nil) {
		base, who := ng.URL(), "NGINX"
		if n != nil {
			base, who = n.BaseURL(), fmt.Sprintf("node %d", i)
		}
		eventually(t, 20*time.Second, who+" answers 404 after DEL on node 2", func() error {
			code, body, _, err := kvGet(hc, base, key)
			if err != nil || code != http.StatusNotFound {
				return fmt.Errorf("got %d %q, %v", code, body, err)
			}
			return nil
		})
	}

	// (b) Resources. items:7 was never read: node 0 loads it from
	// PostgreSQL, node 1 then finds it in the L2, and its L1 after that.
	// Every node must have proven its freshness first, or it would read
	// PostgreSQL instead (correct, but not what this shows).
	waitFleet(t, hc, f.nodes, all, true)
	conn, err := pgx.Connect(ctx, f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v7 int64
	if err := conn.QueryRow(ctx, "UPDATE items SET version = version + 1 WHERE id = 7 RETURNING version").Scan(&v7); err != nil {
		t.Fatal(err)
	}
	lsn := currentLSN(t, conn)
	for _, n := range f.nodes {
		waitApplied(t, hc, n, lsn)
	}
	for _, c := range []struct {
		node   int
		xcache string
	}{{0, "origin"}, {1, "L2"}, {1, "L1"}, {2, "L2"}} {
		code, body, xc, err := kvGet(hc, f.nodes[c.node].BaseURL(), "items:7")
		if err != nil || code != http.StatusOK || body != strconv.FormatInt(v7, 10) || xc != c.xcache {
			st, _ := getStats(hc, f.nodes[c.node])
			t.Fatalf("node %d GET items:7 = %d %q X-Cache %q, %v; want 200 %q X-Cache %s (stats %s)",
				c.node, code, body, xc, err, strconv.FormatInt(v7, 10), c.xcache, st)
		}
		t.Logf("node %d GET items:7: X-Cache %s", c.node, xc)
	}
	// Every node and NGINX now hold the first few rows; each SQL update is
	// served by every node, over both front ends, as soon as the node has
	// applied its commit: no polling of the value, one read.
	for id := 1; id <= 10; id++ {
		k := "items:" + strconv.Itoa(id)
		for i := range f.nodes {
			if err := rcs[i].Get(ctx, k).Err(); err != nil {
				t.Fatalf("node %d GET %s: %v", i, k, err)
			}
		}
		if code, _, _, err := kvGet(hc, ng.URL(), k); err != nil || code != http.StatusOK {
			t.Fatalf("NGINX GET %s: %d, %v", k, code, err)
		}
	}
	var applyLat []time.Duration
	for round := range 30 {
		id := 1 + round%10
		k := "items:" + strconv.Itoa(id)
		var v int64
		if err := conn.QueryRow(ctx, "UPDATE items SET version = version + 1 WHERE id = $1 RETURNING version", id).Scan(&v); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		lsn := currentLSN(t, conn)
		want := strconv.FormatInt(v, 10)
		for i, n := range f.nodes {
			waitApplied(t, hc, n, lsn)
			var got string
			var err error
			if (round+i)%2 == 0 {
				got, err = rcs[i].Get(ctx, k).Result()
			} else {
				var code int
				code, got, _, err = kvGet(hc, n.BaseURL(), k)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("status %d", code)
				}
			}
			if err != nil || got != want {
				st, _ := getStats(hc, n)
				t.Fatalf("update %d of %s to %s: node %d (consumer: node %d) applied %s and answers %q, %v (stats %s)",
					round, k, want, i, consumer, lsn, got, err, st)
			}
		}
		applyLat = append(applyLat, time.Since(start))
		// NGINX routes the key to one node; it is fresh there too.
		code, body, _, err := kvGet(hc, ng.URL(), k)
		if err != nil || code != http.StatusOK || body != want {
			t.Fatalf("NGINX GET %s = %d %q, %v; want %s", k, code, body, err, want)
		}
	}
	p50, p99, maxLat = durationQuantiles(applyLat)
	t.Logf("resource: SQL UPDATE committed -> applied (and served) on all 3 nodes, 30 updates: p50 %v, p99 %v, max %v",
		p50.Round(time.Microsecond), p99.Round(time.Microsecond), maxLat.Round(time.Microsecond))

	// (c) Stats: the L2 on every node, one consumer, two followers.
	roles := map[string]int{}
	for i, n := range f.nodes {
		st, err := getStats(hc, n)
		if err != nil {
			t.Fatal(err)
		}
		if st.L2 == nil || !st.L2.Usable || st.L2.Mode != "cluster" {
			t.Errorf("node %d: l2 = %s; want usable, mode cluster", i, st)
		}
		if st.Freshness == nil {
			t.Fatalf("node %d: no freshness object: %s", i, st)
		}
		roles[st.Freshness.Role]++
		if (i == consumer) != (st.Freshness.Role == "consumer") {
			t.Errorf("node %d: role %q; node %d was the consumer", i, st.Freshness.Role, consumer)
		}
		t.Logf("node %d: role %s, applied %s, lag %.3fs, l2 hits %d misses %d stores %d invalidations %d pushes %d errors %d",
			i, st.Freshness.Role, st.Freshness.AppliedLSN, st.Freshness.LagSeconds,
			st.L2.Hits, st.L2.Misses, st.L2.Stores, st.L2.Invalidations, st.L2.PushesReceived, st.L2.Errors)
	}
	if roles["consumer"] != 1 || roles["follower"] != 2 {
		t.Errorf("roles %v; want 1 consumer and 2 followers", roles)
	}
}

// TestFleetWALLeaderKill is the randomized freshness test over a fleet of
// binaries: writers bump versions by SQL, readers read through all three
// nodes over HTTP and RESP, and midway the node whose /v1/stats says role
// "consumer" is killed with SIGKILL. Before each read a reader takes its
// node's applied WAL position from /v1/stats; the read must not return a
// version older than the newest write whose commit that position includes
// (the rule of internal/node's TestFleetFreshnessLeaderStopped). It asserts
// no violation, no client error on the surviving nodes, that another node
// becomes the consumer, and that after the writers stop every surviving
// node answers every row as it is in the database; it reports the time
// from the kill until another node reports the consumer role.
func TestFleetWALLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const phase = 6 * time.Second // of load on each side of the kill
	f := startStrataFleet(t, fleetOpts{nodes: 3, resources: true})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer hc.CloseIdleConnections()
	var killed atomic.Int32
	killed.Store(-1)
	alive := func(i int) bool { return int(killed.Load()) != i }
	leader := waitFleet(t, hc, f.nodes, alive, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		log     freshcheck.Log
		nreads  [3][2]atomic.Int64 // per node, [RESP, HTTP]
		errs    atomic.Int64
		nwrites atomic.Int64
		errMu   sync.Mutex
		errList []string
	)
	fail := func(format string, args ...any) {
		errs.Add(1)
		errMu.Lock()
		if len(errList) < 10 {
			errList = append(errList, fmt.Sprintf(format, args...))
		}
		errMu.Unlock()
	}

	var writers sync.WaitGroup
	for range 3 {
		conn, err := pgx.Connect(ctx, f.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		writers.Go(func() {
			for ctx.Err() == nil {
				id := 1 + rand.IntN(fleetItems)
				var v int64
				var s string
				if err := conn.QueryRow(context.Background(), "UPDATE items SET version = version + 1 WHERE id = $1 RETURNING version", id).Scan(&v); err != nil {
					fail("writer: %v", err)
					continue
				}
				// At or after the commit's end: a node that applied this
				// position has applied the commit.
				if err := conn.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
					fail("writer: %v", err)
					continue
				}
				lsn, err := pglogrepl.ParseLSN(s)
				if err != nil {
					fail("writer: %v", err)
					continue
				}
				nwrites.Add(1)
				log.Write(id, uint64(lsn), uint64(v))
				time.Sleep(time.Millisecond)
			}
		})
	}

	var readers sync.WaitGroup
	for i, n := range f.nodes {
		rc := fleetRedis(n)
		defer rc.Close()
		for r := range 4 {
			proto := r % 2 // two readers over RESP, two over HTTP
			readers.Go(func() {
				for ctx.Err() == nil && alive(i) {
					id := 1 + rand.IntN(fleetItems)
					k := "items:" + strconv.Itoa(id)
					st, err := getStats(hc, n)
					var applied pglogrepl.LSN
					if err == nil {
						applied, err = st.applied()
					}
					var val string
					if err == nil {
						if proto == 0 {
							val, err = rc.Get(context.Background(), k).Result()
						} else {
							var code int
							code, val, _, err = kvGet(hc, n.BaseURL(), k)
							if err == nil && code != http.StatusOK {
								err = fmt.Errorf("status %d: %s", code, val)
							}
						}
					}
					if !alive(i) {
						return // the node died under this read: not counted
					}
					if err != nil {
						fail("node %d %s: %v", i, []string{"RESP", "HTTP"}[proto], err)
						continue
					}
					v, err := strconv.ParseInt(val, 10, 64)
					if err != nil {
						fail("node %d: GET %s = %q", i, k, val)
						continue
					}
					nreads[i][proto].Add(1)
					log.Read(id, uint64(applied), uint64(v))
				}
			})
		}
	}

	time.Sleep(phase)
	// Kill the node that says it is the consumer (it may have changed
	// since waitFleet, so ask again).
	victim := -1
	for i, n := range f.nodes {
		if st, err := getStats(hc, n); err == nil && st.Freshness != nil && st.Freshness.Role == "consumer" {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("no node reports role consumer before the kill (node %d did at start)", leader)
	}
	killed.Store(int32(victim))
	killedAt := time.Now()
	f.nodes[victim].kill()
	t.Logf("node %d (pid %d), the WAL consumer, killed with SIGKILL", victim, f.nodes[victim].PID())
	next := -1
	var lastStats []string
	for deadline := time.Now().Add(90 * time.Second); next < 0; {
		lastStats = lastStats[:0]
		for i, n := range f.nodes {
			if !alive(i) {
				continue
			}
			st, err := getStats(hc, n)
			if err == nil && st.Freshness != nil && st.Freshness.Role == "consumer" {
				next = i
			}
			lastStats = append(lastStats, fmt.Sprintf("node %d: %s %v", i, st, err))
		}
		if next < 0 && time.Now().After(deadline) {
			cancel()
			t.Fatalf("90s after the kill no surviving node runs the WAL consumer:\n%s", strings.Join(lastStats, "\n"))
		}
		if next < 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	takeover := time.Since(killedAt)
	time.Sleep(phase)
	cancel()
	writers.Wait()
	readers.Wait()

	fresh := log.Check(func(id int) string { return "items:" + strconv.Itoa(id) })
	for _, e := range fresh.Examples {
		t.Error(e)
	}
	violations, checked, total := fresh.Violations, fresh.Checked, fresh.Reads

	// After the writers stopped: the survivors catch up with the server's
	// position and answer every row as it is (no invalidation lost across
	// the takeover).
	conn, err := pgx.Connect(context.Background(), f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	target := currentLSN(t, conn)
	rows := map[string]string{}
	res, err := conn.Query(context.Background(), "SELECT id, version::text FROM items")
	if err != nil {
		t.Fatal(err)
	}
	for res.Next() {
		var id int64
		var v string
		if err := res.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		rows["items:"+strconv.FormatInt(id, 10)] = v
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	stale := 0
	for i, n := range f.nodes {
		if !alive(i) {
			continue
		}
		waitApplied(t, hc, n, target)
		rc := fleetRedis(n)
		defer rc.Close()
		for k, want := range rows {
			got, err := rc.Get(context.Background(), k).Result()
			if err != nil || got != want {
				stale++
				if stale <= 5 {
					t.Errorf("node %d after catching up: %s = %q, %v; database %s", i, k, got, err, want)
				}
			}
		}
	}
	roles := map[string]int{}
	for i, n := range f.nodes {
		if !alive(i) {
			continue
		}
		st, err := getStats(hc, n)
		if err != nil || st.Freshness == nil || st.L2 == nil {
			t.Errorf("node %d: stats %s, %v", i, st, err)
			continue
		}
		roles[st.Freshness.Role]++
		if !st.L2.Usable {
			t.Errorf("node %d: L2 not usable at the end: %s", i, st)
		}
	}
	if roles["consumer"] != 1 || roles["follower"] != 1 {
		t.Errorf("surviving roles %v; want 1 consumer and 1 follower", roles)
	}

	perNode := make([]string, len(f.nodes))
	for i := range f.nodes {
		perNode[i] = fmt.Sprintf("node %d: %d RESP + %d HTTP", i, nreads[i][0].Load(), nreads[i][1].Load())
	}
	t.Logf("%d SQL writes; %d reads (%s), %d checked against an applied write; %d violations, %d client errors on surviving nodes; %d rows compared on each survivor after catch-up, %d stale",
		nwrites.Load(), total, strings.Join(perNode, ", "), checked, violations, errs.Load(), len(rows), stale)
	t.Logf("node %d (consumer) SIGKILLed; node %d reported role consumer %v later", victim, next, takeover.Round(time.Millisecond))
	if violations > 0 {
		t.Errorf("%d violations", violations)
	}
	if checked == 0 {
		t.Error("no read was checked against a write")
	}
	if errs.Load() > 0 {
		t.Errorf("%d client errors, first ones:\n%s", errs.Load(), strings.Join(errList, "\n"))
	}
}
