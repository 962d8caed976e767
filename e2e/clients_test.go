package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// TestRueidis drives strata with rueidis, which speaks only RESP3: its
// handshake is HELLO 3 plus CLIENT SETINFO, and it probes CLUSTER SLOTS to
// decide between cluster and single-node mode.
func TestRueidis(t *testing.T) {
	t.Parallel()
	_, addr := respTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{addr},
		DisableCache: true, // client-side caching needs CLIENT TRACKING
	})
	if err != nil {
		t.Fatalf("rueidis.NewClient: %v (strata must answer rueidis' handshake: HELLO 3, CLIENT SETINFO, CLUSTER SLOTS with an error naming CLUSTER)", err)
	}
	defer c.Close()

	must := func(what string, r rueidis.RedisResult) rueidis.RedisResult {
		t.Helper()
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			t.Fatalf("%s: %v", what, err)
		}
		return r
	}
	str := func(what string, r rueidis.RedisResult, want string) {
		t.Helper()
		got, err := must(what, r).ToString()
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", what, got, err, want)
		}
	}
	integer := func(what string, r rueidis.RedisResult, want int64) {
		t.Helper()
		got, err := must(what, r).AsInt64()
		if err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", what, got, err, want)
		}
	}

	str("SET k v", c.Do(ctx, c.B().Set().Key("k").Value("v").Build()), "OK")
	str("GET k", c.Do(ctx, c.B().Get().Key("k").Build()), "v")
	if err := c.Do(ctx, c.B().Get().Key("missing").Build()).Error(); !rueidis.IsRedisNil(err) {
		t.Errorf("GET missing: error %v, want a RESP3 null (rueidis.IsRedisNil)", err)
	}
	str("SET bin", c.Do(ctx, c.B().Set().Key("bin\x00key").Value("a\r\nb\x00").Build()), "OK")
	str("GET bin", c.Do(ctx, c.B().Get().Key("bin\x00key").Build()), "a\r\nb\x00")

	str("MSET", c.Do(ctx, c.B().Mset().KeyValue().KeyValue("a", "1").KeyValue("b", "2").Build()), "OK")
	vals, err := must("MGET", c.Do(ctx, c.B().Mget().Key("a", "missing", "b").Build())).ToArray()
	if err != nil || len(vals) != 3 {
		t.Fatalf("MGET a missing b: %v, %v", vals, err)
	}
	if s, _ := vals[0].ToString(); s != "1" {
		t.Errorf("MGET[0] = %q, want 1", s)
	}
	if !vals[1].IsNil() {
		t.Errorf("MGET[1] is not nil")
	}
	if s, _ := vals[2].ToString(); s != "2" {
		t.Errorf("MGET[2] = %q, want 2", s)
	}

	integer("INCR a", c.Do(ctx, c.B().Incr().Key("a").Build()), 2)
	integer("INCRBY a 40", c.Do(ctx, c.B().Incrby().Key("a").Increment(40).Build()), 42)
	if f, err := must("INCRBYFLOAT", c.Do(ctx, c.B().Incrbyfloat().Key("f").Increment(2.5).Build())).AsFloat64(); err != nil || f != 2.5 {
		t.Errorf("INCRBYFLOAT f 2.5 = %v, %v; want 2.5", f, err)
	}
	integer("EXPIRE a 100", c.Do(ctx, c.B().Expire().Key("a").Seconds(100).Build()), 1)
	if ttl, err := must("TTL a", c.Do(ctx, c.B().Ttl().Key("a").Build())).AsInt64(); err != nil || ttl < 90 || ttl > 100 {
		t.Errorf("TTL a = %d, %v; want 90..100", ttl, err)
	}
	integer("TTL missing", c.Do(ctx, c.B().Ttl().Key("missing").Build()), -2)
	integer("DEL a b missing", c.Do(ctx, c.B().Del().Key("a", "b", "missing").Build()), 2)
	integer("EXISTS a", c.Do(ctx, c.B().Exists().Key("a").Build()), 0)

	// A full SCAN over keys written in one DoMulti pipeline.
	var sets rueidis.Commands
	for i := range 100 {
		sets = append(sets, c.B().Set().Key("scan:"+strconv.Itoa(i)).Value("x").Build())
	}
	for i, r := range c.DoMulti(ctx, sets...) {
		str(fmt.Sprintf("pipelined SET #%d", i), r, "OK")
	}
	seen := map[string]bool{}
	var cursor uint64
	for range maxScanCalls {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match("scan:*").Count(10).Build()).AsScanEntry()
		if err != nil {
			t.Fatalf("SCAN %d: %v", cursor, err)
		}
		for _, k := range e.Elements {
			seen[k] = true
		}
		if cursor = e.Cursor; cursor == 0 {
			break
		}
	}
	if len(seen) != 100 {
		t.Errorf("SCAN MATCH scan:* found %d distinct keys, want 100", len(seen))
	}

	// MULTI/EXEC as rueidis sends it: one DoMulti on a dedicated connection.
	rs := c.DoMulti(ctx,
		c.B().Multi().Build(),
		c.B().Set().Key("tx").Value("1").Build(),
		c.B().Incr().Key("tx").Build(),
		c.B().Get().Key("tx").Build(),
		c.B().Exec().Build())
	if len(rs) != 5 {
		t.Fatalf("DoMulti MULTI..EXEC returned %d results", len(rs))
	}
	str("MULTI", rs[0], "OK")
	for i := 1; i <= 3; i++ {
		str("queued command", rs[i], "QUEUED")
	}
	exec, err := must("EXEC", rs[4]).ToArray()
	if err != nil || len(exec) != 3 {
		t.Fatalf("EXEC = %v, %v; want 3 replies", exec, err)
	}
	if s, _ := exec[0].ToString(); s != "OK" {
		t.Errorf("EXEC[0] = %q, want OK", s)
	}
	if v, _ := exec[1].AsInt64(); v != 2 {
		t.Errorf("EXEC[1] = %d, want 2", v)
	}
	if s, _ := exec[2].ToString(); s != "2" {
		t.Errorf("EXEC[2] = %q, want \"2\"", s)
	}

	// rueidis' own transaction helper on a dedicated connection.
	err = c.Dedicated(func(d rueidis.DedicatedClient) error {
		rs := d.DoMulti(ctx,
			d.B().Multi().Build(),
			d.B().Incrby().Key("ctr").Increment(5).Build(),
			d.B().Exec().Build())
		last, err := rs[2].ToArray()
		if err != nil {
			return err
		}
		if v, _ := last[0].AsInt64(); v != 5 {
			return fmt.Errorf("EXEC INCRBY ctr 5 = %d, want 5", v)
		}
		return nil
	})
	if err != nil {
		t.Errorf("dedicated MULTI/EXEC: %v", err)
	}

	// The handshake reported the protocol version strata agreed to.
	hello, err := must("HELLO 3", c.Do(ctx, c.B().Hello().Protover(3).Build())).AsMap()
	if err != nil {
		t.Fatalf("HELLO 3: %v", err)
	}
	proto := hello["proto"]
	if p, _ := proto.AsInt64(); p != 3 {
		t.Errorf("HELLO 3 proto = %d, want 3", p)
	}
}

// TestCommandInfo compares the parts of COMMAND INFO that clients act on
// (arity and key positions, used for routing and validation) with Redis,
// and checks COMMAND, COMMAND COUNT and COMMAND DOCS agree with each other.
func TestCommandInfo(t *testing.T) {
	t.Parallel()
	refAddr := startRedis(t)
	targetName, targetAddr := respTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ref := redis.NewClient(&redis.Options{Addr: refAddr, Protocol: 3})
	defer ref.Close()
	got := redis.NewClient(&redis.Options{Addr: targetAddr, Protocol: 3})
	defer got.Close()

	names := []string{"get", "set", "setnx", "setex", "psetex", "getset", "getdel", "getex", "mget", "mset",
		"msetnx", "append", "strlen", "getrange", "setrange", "incr", "decr", "incrby", "decrby",
		"incrbyfloat", "del", "unlink", "exists", "touch", "type", "rename", "renamenx", "copy",
		"expire", "pexpire", "expireat", "pexpireat", "expiretime", "pexpiretime", "ttl", "pttl",
		"persist", "keys", "scan", "randomkey", "dbsize", "flushdb", "flushall", "select", "ping",
		"echo", "time", "quit", "reset", "hello", "auth", "client", "command", "config", "info",
		"slowlog", "memory", "multi", "exec", "discard"}
	summary := func(c *redis.Client) (map[string]string, error) {
		args := []any{"COMMAND", "INFO"}
		for _, n := range names {
			args = append(args, n)
		}
		v, err := c.Do(ctx, args...).Slice()
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for i, e := range v {
			info, ok := e.([]any)
			if !ok || len(info) < 6 {
				out[names[i]] = fmt.Sprintf("unexpected entry %v", e)
				continue
			}
			// name, arity, first key, last key, key step
			out[names[i]] = fmt.Sprintf("name=%v arity=%v first=%v last=%v step=%v", info[0], info[1], info[3], info[4], info[5])
		}
		return out, nil
	}
	want, err := summary(ref)
	if err != nil {
		t.Fatalf("redis COMMAND INFO: %v", err)
	}
	have, err := summary(got)
	if err != nil {
		t.Fatalf("%s COMMAND INFO: %v", targetName, err)
	}
	for _, n := range names {
		if want[n] != have[n] {
			t.Errorf("COMMAND INFO %s:\n    redis:  %s\n    %s: %s", n, want[n], targetName, have[n])
		}
	}

	// go-redis' own COMMAND parser (used by ClusterClient for routing)
	// must accept strata's COMMAND reply, whose length is COMMAND COUNT.
	cmds, err := got.Command(ctx).Result()
	if err != nil {
		t.Fatalf("go-redis Command(): %v", err)
	}
	count, err := got.Do(ctx, "COMMAND", "COUNT").Int()
	if err != nil {
		t.Fatalf("COMMAND COUNT: %v", err)
	}
	if len(cmds) != count {
		t.Errorf("COMMAND lists %d commands, COMMAND COUNT says %d", len(cmds), count)
	}
	for _, n := range []string{"get", "set", "scan", "multi"} {
		if _, ok := cmds[n]; !ok {
			t.Errorf("COMMAND does not list %q", n)
		}
	}

	docs, err := got.Do(ctx, "COMMAND", "DOCS", "get", "set").Result()
	if err != nil {
		t.Fatalf("COMMAND DOCS get set: %v", err)
	}
	m, ok := docs.(map[any]any)
	if !ok {
		t.Fatalf("COMMAND DOCS over RESP3 is %T, want a map", docs)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, fmt.Sprint(k))
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"get", "set"}) {
		t.Errorf("COMMAND DOCS get set documents %v, want [get set]", keys)
	}
}
