package cache_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
)

func TestRename(t *testing.T) {
	c, clk := newCache(t)
	at := clk.NowNano() + int64(time.Minute)
	mustSet(t, c, "a", "1", cache.SetOptions{ExpireAt: at})
	mustSet(t, c, "b", "2", cache.SetOptions{})

	if _, err := c.Rename("missing", "x", false); !errors.Is(err, cache.ErrNoSuchKey) {
		t.Errorf("RENAME missing: %v, want ErrNoSuchKey", err)
	}
	if ok, err := c.Rename("a", "b", true); ok || err != nil {
		t.Errorf("RENAMENX onto an existing key = %v, %v", ok, err)
	}
	if ok, err := c.Rename("a", "a", false); !ok || err != nil {
		t.Errorf("RENAME a a = %v, %v; want true", ok, err)
	}
	if ok, err := c.Rename("a", "a", true); ok || err != nil {
		t.Errorf("RENAMENX a a = %v, %v; want false", ok, err)
	}
	if ok, err := c.Rename("a", "b", false); !ok || err != nil {
		t.Fatalf("RENAME a b = %v, %v", ok, err)
	}
	if noErr(c.Exists("a")) {
		t.Error("source still exists")
	}
	if e, ok, _ := c.Peek("b"); !ok || string(e.Value) != "1" || e.ExpireAt != at {
		t.Errorf("b = %q at %d, want \"1\" at %d (value and expiry move)", e.Value, e.ExpireAt, at)
	}
	if ok, err := c.Rename("b", "c", true); !ok || err != nil {
		t.Errorf("RENAMENX onto a free key = %v, %v", ok, err)
	}
}

func TestCopy(t *testing.T) {
	c, clk := newCache(t)
	at := clk.NowNano() + int64(time.Minute)
	mustSet(t, c, "a", "1", cache.SetOptions{ExpireAt: at})
	mustSet(t, c, "b", "2", cache.SetOptions{})

	if ok, err := c.Copy("missing", "x", false); ok || err != nil {
		t.Errorf("COPY missing = %v, %v", ok, err)
	}
	if ok, _ := c.Copy("a", "b", false); ok {
		t.Error("COPY onto an existing key without REPLACE = true")
	}
	if v, _ := value(t, c, "b"); v != "2" {
		t.Errorf("b = %q after a refused COPY", v)
	}
	if ok, _ := c.Copy("a", "b", true); !ok {
		t.Error("COPY REPLACE = false")
	}
	if e, ok, _ := c.Peek("b"); !ok || string(e.Value) != "1" || e.ExpireAt != at {
		t.Errorf("b = %q at %d, want \"1\" at %d", e.Value, e.ExpireAt, at)
	}
	if v, ok := value(t, c, "a"); !ok || v != "1" {
		t.Errorf("source changed: %q, %v", v, ok)
	}
}

func TestMSetNX(t *testing.T) {
	c, _ := newCache(t)
	pairs := func(kv ...string) [][]byte {
		out := make([][]byte, len(kv))
		for i, s := range kv {
			out[i] = []byte(s)
		}
		return out
	}
	if ok, err := c.MSetNX(pairs("a", "1", "b", "2")); !ok || err != nil {
		t.Fatalf("MSETNX on free keys = %v, %v", ok, err)
	}
	if ok, _ := c.MSetNX(pairs("c", "3", "a", "x")); ok {
		t.Error("MSETNX with one existing key = true")
	}
	if noErr(c.Exists("c")) {
		t.Error("MSETNX wrote c although a existed")
	}
	if v, _ := value(t, c, "a"); v != "1" {
		t.Errorf("a = %q", v)
	}
	// A repeated key takes the last value, as in Redis.
	if ok, _ := c.MSetNX(pairs("d", "1", "d", "2")); !ok {
		t.Error("MSETNX d d = false")
	}
	if v, _ := value(t, c, "d"); v != "2" {
		t.Errorf("d = %q, want 2", v)
	}
}

func TestScanAndKeys(t *testing.T) {
	c, clk := newCache(t)
	want := map[string]bool{}
	for i := range 500 {
		k := fmt.Sprintf("user:%d", i)
		mustSet(t, c, k, "v", cache.SetOptions{})
		want[k] = true
		mustSet(t, c, fmt.Sprintf("order:%d", i), "v", cache.SetOptions{})
	}
	// Expired keys are never returned.
	mustSet(t, c, "user:expired", "v", cache.SetOptions{ExpireAt: clk.NowNano() + 1})
	clk.Advance(time.Second)

	var got []string
	calls := 0
	for cursor := uint64(0); ; {
		var batch []string
		batch, cursor, _ = c.Scan(cursor, "user:*", 50, nil)
		got = append(got, batch...)
		calls++
		if cursor == 0 {
			break
		}
	}
	if calls < 2 {
		t.Errorf("SCAN COUNT 50 over 1000 keys finished in %d call", calls)
	}
	seen := map[string]bool{}
	for _, k := range got {
		if !want[k] {
			t.Errorf("SCAN MATCH user:* returned %q", k)
		}
		seen[k] = true
	}
	if len(seen) != len(want) {
		t.Errorf("SCAN returned %d distinct keys, want %d", len(seen), len(want))
	}

	// COUNT bounds the work of one call: a large COUNT finishes in one call.
	all, cursor, _ := c.Scan(0, "", 1_000_000, nil)
	if cursor != 0 || len(all) != 1000 {
		t.Errorf("SCAN COUNT 1e6 = %d keys, cursor %d; want 1000, 0", len(all), cursor)
	}
	// Scan appends to dst.
	if out, _, _ := c.Scan(0, "order:1", 1_000_000, []string{"x"}); !slices.Equal(out, []string{"x", "order:1"}) {
		t.Errorf("SCAN into dst = %v", out)
	}

	keys, _ := c.Keys("user:*")
	slices.Sort(keys)
	if len(keys) != 500 || keys[0] != "user:0" {
		t.Errorf("KEYS user:* = %d keys starting %v", len(keys), keys[:min(3, len(keys))])
	}
	if keys, _ := c.Keys("user:4?"); len(keys) != 10 {
		t.Errorf("KEYS user:4? = %v", keys)
	}
	if keys, _ := c.Keys("*"); len(keys) != 1000 {
		t.Errorf("KEYS * = %d keys, want 1000", len(keys))
	}
}

// TestKeysEmptyKey: KEYS * returns the empty key, as Redis does; other
// patterns follow stringmatchlen, which does not match it.
func TestKeysEmptyKey(t *testing.T) {
	c, _ := newCache(t)
	mustSet(t, c, "", "v", cache.SetOptions{})
	if keys, _ := c.Keys("*"); len(keys) != 1 || keys[0] != "" {
		t.Errorf("KEYS * = %q", keys)
	}
	if keys, _ := c.Keys("**"); len(keys) != 0 {
		t.Errorf("KEYS ** = %q, want none (as redis-server)", keys)
	}
	if keys, _ := c.Keys(""); len(keys) != 1 {
		t.Errorf("KEYS \"\" = %q", keys)
	}
}
