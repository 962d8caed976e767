package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/node"
	"github.com/strata-cache/strata/internal/node/nodetest"
	"github.com/strata-cache/strata/internal/resource"
	"github.com/strata-cache/strata/internal/testenv/freshcheck"
	"github.com/strata-cache/strata/internal/testenv/rediscluster"
)

// startFleet starts n nodes over the package's database and one Redis
// Cluster, sharing resources, a replication slot of their own and the L2.
func startFleet(t *testing.T, n int, resources map[string]resource.Spec, slot string) ([]*node.Node, *rediscluster.Cluster) {
	t.Helper()
	rc := rediscluster.New(t, rediscluster.Options{})
	var nodes []*node.Node
	for range n {
		cfg := config.Default()
		cfg.RESP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Shutdown.Timeout = 5 * time.Second
		if resources != nil {
			cfg.Postgres.DSN = server(t).DSN(db)
			cfg.Resources = resources
		}
		cfg.WAL.Slot, cfg.WAL.Publication = slot, slot
		cfg.WAL.Heartbeat = 200 * time.Millisecond
		cfg.Redis.Addrs = rc.Addrs()
		cfg.Redis.Prefix = slot + ":"
		cfg.Redis.FailoverSettle = time.Second
		cfg.Redis.FailoverWait = 10 * time.Second // above a failover here (~3 s), with room for -race
		nodes = append(nodes, nodetest.Start(t, cfg, nil))
	}
	return nodes, rc
}

// consumer waits until exactly one of the running nodes runs the WAL
// consumer and every running node has proven its freshness, and returns
// the consumer's index.
func consumer(t *testing.T, nodes []*node.Node, running func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		idx, fresh := -1, 0
		for i, n := range nodes {
			if !running(i) {
				continue
			}
			fs := n.Freshness()
			if fs.Role == "consumer" {
				if idx >= 0 {
					t.Fatalf("two consumers: nodes %d and %d", idx, i)
				}
				idx = i
			}
			if fs.LagSeconds >= 0 && len(fs.Bypassing) == 0 {
				fresh++
			}
		}
		want := 0
		for i := range nodes {
			if running(i) {
				want++
			}
		}
		if idx >= 0 && fresh == want {
			return idx
		}
		if time.Now().After(deadline) {
			for i, n := range nodes {
				t.Logf("node %d: %+v l2 %+v", i, n.Freshness(), n.L2Stats())
			}
			t.Fatal("the fleet never settled on one fresh consumer")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func all(int) bool { return true }

// TestFleetSharesL2AndInvalidates: three nodes, one Redis Cluster. A key
// loaded by one node is served by the others from L2; a row updated by SQL
// is invalidated on every node by the one WAL consumer; DEL on one node
// evicts every node's copy.
func TestFleetSharesL2AndInvalidates(t *testing.T) {
	nodes, _ := startFleet(t, 3, itemsResource(t), "fleet_share")
	consumer(t, nodes, all)
	ctx := context.Background()
	exec(t, "UPDATE items SET version = 1 WHERE id = 5")
	conn := dbConn(t)
	for _, n := range nodes {
		waitNodeApplied(t, n, currentLSN(t, conn, ""))
	}

	if r := httpGet(t, http.DefaultClient, kvURL(nodes[0], "items:5")); r.body != "1" || r.header.Get("X-Cache") != "origin" {
		t.Fatalf("node 0: %q X-Cache %s; want 1 from origin", r.body, r.header.Get("X-Cache"))
	}
	if r := httpGet(t, http.DefaultClient, kvURL(nodes[1], "items:5")); r.body != "1" || r.header.Get("X-Cache") != "L2" {
		t.Fatalf("node 1: %q X-Cache %s; want 1 from L2", r.body, r.header.Get("X-Cache"))
	}
	if r := httpGet(t, http.DefaultClient, kvURL(nodes[1], "items:5")); r.header.Get("X-Cache") != "L1" {
		t.Fatalf("node 1 again: X-Cache %s; want L1", r.header.Get("X-Cache"))
	}

	// Every node sees each SQL update; the time until the last one does
	// is the fleet's invalidation latency for this key.
	var lat []time.Duration
	for i := range 30 {
		var v int
		if err := conn.QueryRow(ctx, "UPDATE items SET version = version + 1 WHERE id = 5 RETURNING version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		want := strconv.Itoa(v)
		for j, n := range nodes {
			for {
				if r := httpGet(t, http.DefaultClient, kvURL(n, "items:5")); r.body == want {
					break
				}
				if time.Since(start) > 20*time.Second {
					t.Fatalf("update %d: node %d never served version %s", i, j, want)
				}
				time.Sleep(time.Millisecond)
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("SQL update -> new value on all 3 nodes: p50 %v, p99 %v, max %v", lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])

	// DEL through one node removes the key from every node's L1.
	for _, n := range nodes {
		httpGet(t, http.DefaultClient, kvURL(n, "items:6"))
	}
	if err := redisClient(t, nodes[2], 1).Del(ctx, "items:6").Err(); err != nil {
		t.Fatal(err)
	}
	for j, n := range nodes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			x := n.Cache().Explain("items:6")
			if x.Tier == "none" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d still holds items:6 after DEL on node 2: %+v", j, x)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i, n := range nodes {
		if st := n.L2Stats(); st == nil || !st.Usable || st.Errors != 0 {
			t.Errorf("node %d L2: %+v", i, st)
		}
	}
}

// TestFleetFreshnessLeaderStopped is the randomized freshness test over a
// fleet: writers bump versions by SQL, readers read through all three nodes
// over both front ends, and midway the node that runs the WAL consumer
// stops. A read that begins after its node applied (for a follower: handled
// every push up to) a write's commit must not return an older version. It
// reports the time until another node took over. Duration:
// STRATA_FRESHNESS_SECONDS (default 5) on each side of the stop.
func TestFleetFreshnessLeaderStopped(t *testing.T) {
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
	nodes, _ := startFleet(t, 3, itemsResource(t), "fleet_fresh")
	var stopped atomic.Int32
	stopped.Store(-1)
	running := func(i int) bool { return int(stopped.Load()) != i }
	leader := consumer(t, nodes, running)

	var (
		log    freshcheck.Log
		errs   atomic.Int64
		nreads atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 3 {
		conn := dbConn(t)
		wg.Go(func() {
			for ctx.Err() == nil {
				id, v, lsn, err := bumpItem(conn)
				if err != nil {
					errs.Add(1)
					continue
				}
				log.Write(id, uint64(lsn), v)
				time.Sleep(time.Millisecond)
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
	var readers sync.WaitGroup
	for i, n := range nodes {
		rc := redisClient(t, n, 2)
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
		defer hc.CloseIdleConnections()
		for range 2 {
			readers.Go(func() {
				for ctx.Err() == nil && running(i) {
					id := 1 + rand.IntN(itemRows)
					applied := n.AppliedLSN()
					v, err := rc.Get(context.Background(), "items:"+strconv.Itoa(id)).Result()
					if !running(i) {
						return
					}
					record(id, applied, v, err)
				}
			})
			readers.Go(func() {
				for ctx.Err() == nil && running(i) {
					id := 1 + rand.IntN(itemRows)
					applied := n.AppliedLSN()
					resp, err := hc.Get(kvURL(n, "items:"+strconv.Itoa(id)))
					var body string
					if err == nil {
						body = readAll(resp)
						if resp.StatusCode != 200 {
							err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
						}
					}
					if !running(i) {
						return
					}
					record(id, applied, body, err)
				}
			})
		}
	}

	time.Sleep(dur)
	stopped.Store(int32(leader))
	stopAt := time.Now()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := nodes[leader].Shutdown(sctx); err != nil {
		t.Errorf("stopping the consumer node: %v", err)
	}
	scancel()
	var next int
	deadline := time.Now().Add(60 * time.Second)
	for next = -1; next < 0; {
		for i, n := range nodes {
			if running(i) && n.Freshness().Role == "consumer" {
				next = i
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no node took over the WAL consumer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	takeover := time.Since(stopAt)
	time.Sleep(dur)
	cancel()
	wg.Wait()
	readers.Wait()

	res := log.Check(func(id int) string { return "items:" + strconv.Itoa(id) })
	for _, e := range res.Examples {
		t.Error(e)
	}
	violations, checked := res.Violations, res.Checked
	t.Logf("%d reads over 3 nodes (%d checked against an applied write), %d errors, %d violations; node %d stopped, node %d took over the WAL consumer in %v",
		nreads.Load(), checked, errs.Load(), violations, leader, next, takeover.Round(time.Millisecond))
	if violations > 0 {
		t.Fatalf("%d violations", violations)
	}
	if checked == 0 {
		t.Fatal("no read was checked against a write")
	}
	if errs.Load() > 0 {
		t.Errorf("%d errors", errs.Load())
	}
}
