package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/node"
)

// resourceCounts sums the items resource's hits and misses over nodes.
func resourceCounts(nodes []*node.Node) (hits, misses uint64) {
	for _, n := range nodes {
		if r := n.Stats().Resources["items"]; r != nil {
			hits += r.Hits
			misses += r.Misses
		}
	}
	return hits, misses
}

// readers reads random resource keys on every node of a fleet and counts
// the reads and the errors.
type readers struct {
	reads, errs atomic.Int64
	first       atomic.Value // the first error, described
}

func (r *readers) fail(format string, args ...any) {
	r.errs.Add(1)
	r.first.CompareAndSwap(nil, fmt.Sprintf(format, args...))
}

// start runs two RESP readers per node, and two HTTP readers with
// withHTTP, until ctx ends; wg waits for them.
func (r *readers) start(ctx context.Context, t *testing.T, wg *sync.WaitGroup, nodes []*node.Node, withHTTP bool) {
	for _, n := range nodes {
		cl := redisClient(t, n, 4)
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
		t.Cleanup(hc.CloseIdleConnections)
		for range 2 {
			wg.Go(func() {
				for ctx.Err() == nil {
					key := "items:" + strconv.Itoa(1+rand.IntN(itemRows))
					if _, err := cl.Get(context.Background(), key).Result(); err != nil {
						r.fail("RESP GET %s: %v", key, err)
					}
					r.reads.Add(1)
				}
			})
			if !withHTTP {
				continue
			}
			wg.Go(func() {
				for ctx.Err() == nil {
					key := "items:" + strconv.Itoa(1+rand.IntN(itemRows))
					resp, err := hc.Get(kvURL(n, key))
					if err == nil {
						body := readAll(resp)
						if resp.StatusCode != 200 {
							err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
						}
					}
					if err != nil {
						r.fail("HTTP GET %s: %v", key, err)
					}
					r.reads.Add(1)
				}
			})
		}
	}
}

// TestFleetRedisMasterKilled: three nodes read resource keys under load
// over both front ends while a Redis master is killed with SIGKILL. Its
// replica is promoted; meanwhile the nodes serve from L1 and PostgreSQL and
// no client sees an error. It reports the window in which the L2 was out
// of the read path and the hit ratio 10 s after the promotion.
func TestFleetRedisMasterKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	nodes, rc := startFleet(t, 3, itemsResource(t), "fleet_failover")
	consumer(t, nodes, all)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rd readers
	var wg sync.WaitGroup
	rd.start(ctx, t, &wg, nodes, true)
	// Plain keys too: they live in Redis only, so reads and writes of the
	// killed master's keys wait for the promotion (redis.failover_wait).
	var plainReads, plainReadErrs, plainWrites, plainWriteErrs atomic.Int64
	for i, n := range nodes {
		cl := redisClient(t, n, 4)
		for k := range 100 {
			if err := cl.Set(context.Background(), "plain:"+strconv.Itoa(k), "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				key := "plain:" + strconv.Itoa(rand.IntN(100))
				if _, err := cl.Get(context.Background(), key).Result(); err != nil {
					plainReadErrs.Add(1)
					rd.first.CompareAndSwap(nil, fmt.Sprintf("plain GET %s: %v", key, err))
				}
				plainReads.Add(1)
			}
		})
		wg.Go(func() {
			for ctx.Err() == nil {
				key := "plain:" + strconv.Itoa(rand.IntN(100))
				if err := cl.Set(context.Background(), key, "w"+strconv.Itoa(i), 0).Err(); err != nil {
					plainWriteErrs.Add(1)
					t.Logf("plain SET %s: %v", key, err)
				}
				plainWrites.Add(1)
				time.Sleep(time.Millisecond)
			}
		})
	}
	time.Sleep(3 * time.Second) // warm: every key in L1 and L2

	// Sample, every 20 ms, whether any node keeps the L2 out of its path.
	var degraded atomic.Int64 // ms with at least one node degraded
	sampler := make(chan struct{})
	go func() {
		defer close(sampler)
		for ctx.Err() == nil {
			for _, n := range nodes {
				if st := n.L2Stats(); !st.Usable {
					degraded.Add(20)
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	masters, err := rc.Masters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	victim := masters[rand.IntN(len(masters))]
	killed := time.Now()
	if err := rc.Kill(victim); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if err := rc.WaitHealthy(wctx); err != nil {
		t.Fatal(err)
	}
	promoted := time.Since(killed)
	time.Sleep(10 * time.Second)
	h0, m0 := resourceCounts(nodes)
	time.Sleep(time.Second)
	h1, m1 := resourceCounts(nodes)
	cancel()
	wg.Wait()
	<-sampler

	ratio := float64(h1-h0) / float64(max(1, h1-h0+m1-m0))
	t.Logf("killed master %s: promoted after %v; L2 out of some node's read path for %v in total; %d reads, %d errors; hit ratio 10 s after promotion %.3f",
		victim, promoted.Round(time.Millisecond), time.Duration(degraded.Load())*time.Millisecond, rd.reads.Load(), rd.errs.Load(), ratio)
	for i, n := range nodes {
		t.Logf("node %d L2: %+v", i, n.L2Stats())
	}
	t.Logf("plain keys: %d reads, %d errors; %d writes, %d errors (a write in flight on the killed master's connection cannot be known to have run or not: it fails, as with Redis)",
		plainReads.Load(), plainReadErrs.Load(), plainWrites.Load(), plainWriteErrs.Load())
	if rd.errs.Load() > 0 || plainReadErrs.Load() > 0 {
		t.Fatalf("%d resource and %d plain read errors, first: %v", rd.errs.Load(), plainReadErrs.Load(), rd.first.Load())
	}
	if plainWriteErrs.Load() > int64(len(nodes)) {
		t.Errorf("%d plain write errors: more than the writes that can have been in flight when the master died", plainWriteErrs.Load())
	}
	for i, n := range nodes {
		if st := n.L2Stats(); !st.Usable || st.FeedLosses == 0 {
			t.Errorf("node %d after the failover: %+v (want usable again, and the lost feed counted)", i, st)
		}
	}
	if err := rc.Restart(context.Background(), victim); err != nil {
		t.Fatal(err)
	}
}

// TestFleetRedisClusterDown: every Redis process is killed. The nodes keep
// answering resource keys from L1 and PostgreSQL, with no client error;
// when Redis is back they use it again by themselves.
func TestFleetRedisClusterDown(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	nodes, rc := startFleet(t, 3, itemsResource(t), "fleet_down")
	consumer(t, nodes, all)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rd readers
	var wg sync.WaitGroup
	rd.start(ctx, t, &wg, nodes, false)
	time.Sleep(2 * time.Second)
	addrs := rc.Running()
	for _, a := range addrs {
		if err := rc.Kill(a); err != nil {
			t.Fatal(err)
		}
	}
	// Down long enough for every node to notice and serve without Redis.
	deadline := time.Now().Add(30 * time.Second)
	for {
		down := 0
		for _, n := range nodes {
			if !n.L2Stats().Usable {
				down++
			}
		}
		if down == len(nodes) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the nodes never noticed that Redis is gone")
		}
		time.Sleep(20 * time.Millisecond)
	}
	during := rd.reads.Load()
	time.Sleep(3 * time.Second)
	during = rd.reads.Load() - during
	for _, a := range addrs {
		if err := rc.Restart(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if err := rc.WaitHealthy(wctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for i, n := range nodes {
		for !n.L2Stats().Usable {
			if time.Since(back) > 60*time.Second {
				t.Fatalf("node %d never used Redis again: %+v", i, n.L2Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	recovered := time.Since(back)
	cancel()
	wg.Wait()
	if err := redisClient(t, nodes[0], 1).Set(context.Background(), "after", "1", 0).Err(); err != nil {
		t.Fatalf("plain SET after Redis came back: %v", err)
	}
	t.Logf("Redis Cluster down: %d reads served in 3 s without it; %d reads in all, %d errors; every node used Redis again %v after the cluster was healthy",
		during, rd.reads.Load(), rd.errs.Load(), recovered.Round(time.Millisecond))
	if rd.errs.Load() > 0 {
		t.Fatalf("%d client errors, first: %v", rd.errs.Load(), rd.first.Load())
	}
	if during == 0 {
		t.Fatal("no read was served while Redis was down")
	}
}

// TestFleetHotKey: every client of three nodes reads one key. Each node's
// L1 serves it: the nodes read the L2 for it at most a few times (after a
// dropped L1), not per read. It also reports the commands Redis itself
// counted on the master that owns the key's entry (INFO commandstats),
// which include the fleet's background traffic there (health checks, the
// consumer publishing its position).
func TestFleetHotKey(t *testing.T) {
	nodes, rc := startFleet(t, 3, itemsResource(t), "fleet_hot")
	consumer(t, nodes, all)
	const key = "items:1"
	for _, n := range nodes {
		httpGet(t, http.DefaultClient, kvURL(n, key))
	}
	l2reads := func() (total uint64) {
		for _, n := range nodes {
			st := n.L2Stats()
			total += st.Hits + st.Misses
		}
		return total
	}
	owner := func() string {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs()})
		defer c.Close()
		// The entry's key: prefix, "r", the hash tag; the tag decides.
		m, err := c.MasterForKey(context.Background(), "fleet_hot:r"+hashTag(key))
		if err != nil {
			t.Fatal(err)
		}
		return m.Options().Addr
	}()
	calls := func() int64 {
		c := redis.NewClient(&redis.Options{Addr: owner})
		defer c.Close()
		info, err := c.Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, line := range strings.Split(info, "\n") {
			if _, f, ok := strings.Cut(line, ":calls="); ok && strings.HasPrefix(line, "cmdstat_") {
				n, _ := strconv.ParseInt(strings.Split(f, ",")[0], 10, 64)
				total += n
			}
		}
		return total
	}
	beforeL2, beforeRedis := l2reads(), calls()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var reads atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, n := range nodes {
		cl := redisClient(t, n, 8)
		for range 8 {
			wg.Go(func() {
				for ctx.Err() == nil {
					if err := cl.Get(context.Background(), key).Err(); err == nil {
						reads.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	l2, redisCalls := l2reads()-beforeL2, calls()-beforeRedis
	t.Logf("hot key %s: %d reads (%.0f/s) over 3 nodes; the nodes read the L2 for it %d times; its Redis master counted %d commands (%.1f/s), background included",
		key, reads.Load(), float64(reads.Load())/elapsed.Seconds(), l2, redisCalls, float64(redisCalls)/elapsed.Seconds())
	if reads.Load() == 0 {
		t.Fatal("no read succeeded")
	}
	if l2 > 9 {
		t.Errorf("the nodes read the L2 %d times for one key: L1 is not serving it", l2)
	}
}

// hashTag is tier/redis's hash tag of a key: its xxHash in hex, in braces.
func hashTag(key string) string {
	return "{" + strconv.FormatUint(xxhash.Sum64String(key), 16) + "}"
}
