package redisserver_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/testenv/redisserver"
)

func TestServer(t *testing.T) {
	srv := redisserver.New(t, redisserver.Options{Config: []string{"maxmemory 64mb"}})
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: 2, DisableIdentity: true})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET k = %q, %v", v, err)
	}
	if v, err := c.ConfigGet(ctx, "maxmemory").Result(); err != nil || v["maxmemory"] != "67108864" {
		t.Fatalf("CONFIG GET maxmemory = %v, %v", v, err)
	}
	if v, err := c.ConfigGet(ctx, "save").Result(); err != nil || v["save"] != "" {
		t.Fatalf("CONFIG GET save = %v, %v; want persistence off", v, err)
	}
}
