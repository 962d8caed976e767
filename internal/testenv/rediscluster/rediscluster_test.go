package rediscluster_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/testenv/rediscluster"
)

func TestClusterFailover(t *testing.T) {
	start := time.Now()
	c := rediscluster.New(t, rediscluster.Options{})
	t.Logf("cluster up in %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if got := len(c.Addrs()); got != 6 {
		t.Fatalf("Addrs: %d nodes, want 6", got)
	}
	masters, err := c.Masters(ctx)
	if err != nil || len(masters) != 3 {
		t.Fatalf("Masters = %v, %v; want 3", masters, err)
	}
	replicas, err := c.Replicas(ctx)
	if err != nil || len(replicas) != 3 {
		t.Fatalf("Replicas = %v, %v; want 3", replicas, err)
	}

	cl := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:           c.Addrs(),
		Protocol:        2,
		DisableIdentity: true,
		MaxRedirects:    16,
	})
	defer cl.Close()
	for i := range 50 { // enough keys to hit every master
		k := fmt.Sprintf("key:%d", i)
		if err := cl.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		if v, err := cl.Get(ctx, k).Result(); err != nil || v != k {
			t.Fatalf("GET %s = %q, %v", k, v, err)
		}
	}

	victim := masters[0]
	killed := time.Now()
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("no failover: %v", err)
	}
	t.Logf("failover in %v", time.Since(killed))
	masters, err = c.Masters(ctx)
	if err != nil || len(masters) != 3 || slices.Contains(masters, victim) {
		t.Fatalf("Masters after failover = %v, %v; want 3 without %s", masters, err, victim)
	}
	// The client learns the new topology lazily; a write that lands on the
	// dead master's slots may fail until it has reloaded its slot map.
	cl.ReloadState(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		err := cl.Set(ctx, fmt.Sprintf("key:%d", i%50), "after failover", 0).Err()
		if err == nil && i >= 50 {
			break
		}
		if err != nil && time.Now().After(deadline) {
			t.Fatalf("SET after failover: %v", err)
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}

	restarted := time.Now()
	if err := c.Restart(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	t.Logf("rejoined in %v", time.Since(restarted))
	replicas, err = c.Replicas(ctx)
	if err != nil || !slices.Contains(replicas, victim) {
		t.Fatalf("Replicas after restart = %v, %v; want %s among them", replicas, err, victim)
	}
}
