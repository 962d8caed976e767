package node_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestFleetPlainKeys: plain keys live in the L2, so every node answers
// with one value: a write on one node is read on the others, counters
// incremented on all nodes at once lose nothing, expiry, SCAN, DBSIZE and
// FLUSHALL see the whole fleet. It reports how long a write on one node
// takes to reach the L1 of the others.
func TestFleetPlainKeys(t *testing.T) {
	nodes, _ := startFleet(t, 3, nil, "fleet_kv")
	ctx := context.Background()
	cl := make([]*redis.Client, len(nodes))
	for i, n := range nodes {
		cl[i] = redisClient(t, n, 8)
	}
	for i, n := range nodes {
		deadline := time.Now().Add(30 * time.Second)
		for st := n.L2Stats(); !st.Usable; st = n.L2Stats() {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: L2 never usable: %+v", i, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	if err := cl[0].Set(ctx, "greeting", "hello", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range cl {
		if v, err := cl[i].Get(ctx, "greeting").Result(); err != nil || v != "hello" {
			t.Fatalf("node %d GET greeting = %q, %v", i, v, err)
		}
	}

	// Each node now holds the key in L1; a write on one is seen by every
	// other within the measured time.
	var lat []time.Duration
	for round := range 100 {
		w := round % len(cl)
		want := "v" + strconv.Itoa(round)
		start := time.Now()
		if err := cl[w].Set(ctx, "greeting", want, 0).Err(); err != nil {
			t.Fatal(err)
		}
		for i := range cl {
			for {
				v, err := cl[i].Get(ctx, "greeting").Result()
				if err == nil && v == want {
					break
				}
				if time.Since(start) > 10*time.Second {
					for j, n := range nodes {
						t.Logf("node %d: %+v", j, n.L2Stats())
					}
					t.Fatalf("round %d: node %d still answers %q, %v; want %q", round, i, v, err, want)
				}
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("plain SET on one node -> read back on all 3: p50 %v, p99 %v, max %v", lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])

	// INCR from every node at once: no lost update.
	const perClient = 200
	var wg sync.WaitGroup
	for i := range cl {
		for range 4 {
			wg.Go(func() {
				for range perClient {
					if err := cl[i].Incr(ctx, "counter").Err(); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for i := range cl {
		if v, err := cl[i].Get(ctx, "counter").Int(); err != nil || v != 3*4*perClient {
			t.Fatalf("node %d: counter = %d, %v; want %d", i, v, err, 3*4*perClient)
		}
	}

	// String commands behave as in Redis, across nodes.
	if n, err := cl[1].Append(ctx, "greeting", "!").Result(); err != nil || n != 4 {
		t.Fatalf("APPEND = %d, %v", n, err)
	}
	if v, _ := cl[2].Get(ctx, "greeting").Result(); v != "v99!" {
		t.Fatalf("after APPEND on node 1, node 2 reads %q", v)
	}
	if ok, err := cl[0].SetNX(ctx, "greeting", "x", 0).Result(); err != nil || ok {
		t.Fatalf("SETNX of an existing key = %v, %v", ok, err)
	}
	if err := cl[0].Set(ctx, "ttl", "1", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if d, err := cl[2].TTL(ctx, "ttl").Result(); err != nil || d < 59*time.Minute || d > time.Hour {
		t.Fatalf("TTL on another node = %v, %v", d, err)
	}
	if err := cl[1].Persist(ctx, "ttl").Err(); err != nil {
		t.Fatal(err)
	}
	if d, _ := cl[0].TTL(ctx, "ttl").Result(); d != -1 {
		t.Fatalf("after PERSIST on node 1, TTL on node 0 = %v", d)
	}
	if err := cl[0].Set(ctx, "short", "1", 200*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	for i := range cl {
		if _, err := cl[i].Get(ctx, "short").Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("node %d: expired key answered %v", i, err)
		}
	}
	if err := cl[2].MSet(ctx, "m1", "a", "m2", "b", "m3", "c").Err(); err != nil {
		t.Fatal(err)
	}
	if vs, err := cl[0].MGet(ctx, "m1", "m2", "m3", "nope").Result(); err != nil || vs[0] != "a" || vs[2] != "c" || vs[3] != nil {
		t.Fatalf("MGET = %v, %v", vs, err)
	}
	if err := cl[1].Rename(ctx, "m1", "m9").Err(); err != nil {
		t.Fatal(err)
	}
	if v, _ := cl[0].Get(ctx, "m9").Result(); v != "a" {
		t.Fatalf("after RENAME on node 1, node 0 reads m9 = %q", v)
	}
	if n, _ := cl[2].Exists(ctx, "m1").Result(); n != 0 {
		t.Fatal("m1 survived RENAME")
	}

	want := []string{"counter", "greeting", "m2", "m3", "m9", "ttl"}

	// WATCH sees writes made on other nodes: the transaction aborts.
	if err := cl[0].Set(ctx, "w", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err := cl[0].Watch(ctx, func(tx *redis.Tx) error {
		if err := cl[1].Set(ctx, "w", "2", 0).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "w", "3", 0)
			return nil
		})
		return err
	}, "w")
	if !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("EXEC after another node wrote a watched key: %v; want the transaction aborted", err)
	}
	if v, _ := cl[2].Get(ctx, "w").Result(); v != "2" {
		t.Fatalf("w = %q after the aborted transaction, want 2", v)
	}
	if err := cl[1].Set(ctx, "only-l2", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if x := nodes[0].Cache().Explain("only-l2"); x.Tier != "L2" || x.State != "present" {
		t.Fatalf("explain on node 0 of a key only node 1 wrote: %+v; want present in L2", x)
	}
	if _, err := cl[1].Del(ctx, "only-l2").Result(); err != nil {
		t.Fatal(err)
	}
	if n, err := cl[2].MemoryUsage(ctx, "m2").Result(); err != nil || n <= 0 {
		t.Fatalf("MEMORY USAGE of a key in the L2 only = %d, %v", n, err)
	}
	want = append(want, "w")
	slices.Sort(want)

	// SCAN walks every master; DBSIZE counts the fleet's keys.
	var got []string
	var cursor uint64
	for {
		keys, next, err := cl[1].Scan(ctx, cursor, "*", 2).Result()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, keys...)
		if next == 0 {
			break
		}
		cursor = next
	}
	slices.Sort(got)
	got = slices.Compact(got)
	if !slices.Equal(got, want) {
		t.Fatalf("SCAN = %v, want %v", got, want)
	}
	if n, err := cl[0].DBSize(ctx).Result(); err != nil || n != int64(len(want)) {
		t.Fatalf("DBSIZE = %d, %v", n, err)
	}
	if err := cl[2].FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range cl {
		if n, _ := cl[i].Exists(ctx, want...).Result(); n != 0 {
			t.Fatalf("node %d: %d keys survived FLUSHALL on node 2", i, n)
		}
	}
}
