package cache_test

import (
	"errors"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
)

func TestSet(t *testing.T) {
	sec := int64(time.Second)
	tests := []struct {
		name      string
		stored    string // "" means absent
		storedTTL int64  // seconds from now, 0 for none
		opts      func(now int64) cache.SetOptions
		written   bool
		want      string // "" means absent afterwards
		wantTTL   int64  // seconds from now, 0 for none
	}{
		{"plain new", "", 0, func(int64) cache.SetOptions { return cache.SetOptions{} }, true, "v", 0},
		{"plain over", "old", 5, func(int64) cache.SetOptions { return cache.SetOptions{} }, true, "v", 0},
		{"NX absent", "", 0, func(int64) cache.SetOptions { return cache.SetOptions{Mode: cache.SetNX} }, true, "v", 0},
		{"NX present", "old", 0, func(int64) cache.SetOptions { return cache.SetOptions{Mode: cache.SetNX} }, false, "old", 0},
		{"XX absent", "", 0, func(int64) cache.SetOptions { return cache.SetOptions{Mode: cache.SetXX} }, false, "", 0},
		{"XX present", "old", 0, func(int64) cache.SetOptions { return cache.SetOptions{Mode: cache.SetXX} }, true, "v", 0},
		{"EX", "", 0, func(now int64) cache.SetOptions { return cache.SetOptions{ExpireAt: now + 10*sec} }, true, "v", 10},
		{"KEEPTTL", "old", 7, func(int64) cache.SetOptions { return cache.SetOptions{KeepTTL: true} }, true, "v", 7},
		{"KEEPTTL absent", "", 0, func(int64) cache.SetOptions { return cache.SetOptions{KeepTTL: true} }, true, "v", 0},
		{"KEEPTTL persistent", "old", 0, func(int64) cache.SetOptions { return cache.SetOptions{KeepTTL: true} }, true, "v", 0},
		{"past expiry deletes", "old", 0, func(now int64) cache.SetOptions { return cache.SetOptions{ExpireAt: now - 1} }, true, "", 0},
		{"expiry now deletes", "old", 0, func(now int64) cache.SetOptions { return cache.SetOptions{ExpireAt: now} }, true, "", 0},
		{"past expiry absent", "", 0, func(now int64) cache.SetOptions { return cache.SetOptions{ExpireAt: now - 1} }, true, "", 0},
		{"IfMatch hit", "old", 0, func(int64) cache.SetOptions { return cache.SetOptions{IfMatch: cache.ETag([]byte("old"))} }, true, "v", 0},
		{"IfMatch miss", "old", 0, func(int64) cache.SetOptions { return cache.SetOptions{IfMatch: cache.ETag([]byte("other"))} }, false, "old", 0},
		{"IfMatch absent", "", 0, func(int64) cache.SetOptions { return cache.SetOptions{IfMatch: cache.ETag([]byte("old"))} }, false, "", 0},
		{"NX and IfMatch", "old", 0, func(int64) cache.SetOptions {
			return cache.SetOptions{Mode: cache.SetNX, IfMatch: cache.ETag([]byte("old"))}
		}, false, "old", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newCache(t)
			now := clk.NowNano()
			if tt.stored != "" {
				var at int64
				if tt.storedTTL != 0 {
					at = now + tt.storedTTL*sec
				}
				mustSet(t, c, "k", tt.stored, cache.SetOptions{ExpireAt: at})
			}
			r := mustSet(t, c, "k", "v", tt.opts(now))
			if r.Written != tt.written {
				t.Errorf("Written = %v, want %v", r.Written, tt.written)
			}
			if r.HadOld != (tt.stored != "") || string(r.Old.Value) != tt.stored {
				t.Errorf("Old = %q (HadOld %v), want %q", r.Old.Value, r.HadOld, tt.stored)
			}
			e, ok, _ := c.Peek("k")
			if got := string(e.Value); ok != (tt.want != "") || got != tt.want {
				t.Fatalf("value %q (exists %v), want %q", got, ok, tt.want)
			}
			var wantAt int64
			if tt.wantTTL != 0 {
				wantAt = now + tt.wantTTL*sec
			}
			if ok && e.ExpireAt != wantAt {
				t.Errorf("ExpireAt = %d, want %d", e.ExpireAt, wantAt)
			}
		})
	}
}

func TestSetExpires(t *testing.T) {
	c, clk := newCache(t)
	mustSet(t, c, "k", "v", cache.SetOptions{ExpireAt: clk.NowNano() + int64(time.Second)})
	clk.Advance(time.Second - 1)
	if _, ok := value(t, c, "k"); !ok {
		t.Fatal("key gone before its expiry")
	}
	clk.Advance(1)
	if _, ok := value(t, c, "k"); ok {
		t.Fatal("key still there at its expiry")
	}
	if noErr(c.Exists("k")) {
		t.Fatal("EXISTS sees an expired key")
	}
	// SET NX treats the expired key as absent.
	if r := mustSet(t, c, "k", "new", cache.SetOptions{Mode: cache.SetNX}); !r.Written || r.HadOld {
		t.Fatalf("SET NX over an expired key: %+v", r)
	}
}

func TestSetLimits(t *testing.T) {
	clk := newFakeClock()
	c := cache.New(cache.Options{L1: newTier(t, clk), Clock: clk.NowNano, MaxKeySize: 4, MaxValueSize: 4})
	if _, err := c.Set("12345", []byte("v"), cache.SetOptions{}); !errors.Is(err, cache.ErrKeyTooLarge) {
		t.Errorf("long key: %v", err)
	}
	if _, err := c.Set("k", []byte("12345"), cache.SetOptions{}); !errors.Is(err, cache.ErrValueTooLarge) {
		t.Errorf("long value: %v", err)
	}
}

func TestExpire(t *testing.T) {
	sec := int64(time.Second)
	tests := []struct {
		name    string
		ttl     int64 // of the stored key, seconds; 0 for none
		at      int64 // new expiry, seconds from now
		mode    cache.ExpireMode
		set     bool
		wantTTL int64 // seconds; 0 for none, -1 for deleted
	}{
		{"always", 0, 10, cache.ExpireAlways, true, 10},
		{"NX none", 0, 10, cache.ExpireNX, true, 10},
		{"NX has", 5, 10, cache.ExpireNX, false, 5},
		{"XX none", 0, 10, cache.ExpireXX, false, 0},
		{"XX has", 5, 10, cache.ExpireXX, true, 10},
		{"GT none", 0, 10, cache.ExpireGT, false, 0}, // no expiry counts as infinite
		{"GT later", 5, 10, cache.ExpireGT, true, 10},
		{"GT earlier", 15, 10, cache.ExpireGT, false, 15},
		{"GT equal", 10, 10, cache.ExpireGT, false, 10},
		{"LT none", 0, 10, cache.ExpireLT, true, 10},
		{"LT earlier", 15, 10, cache.ExpireLT, true, 10},
		{"LT later", 5, 10, cache.ExpireLT, false, 5},
		{"LT equal", 10, 10, cache.ExpireLT, false, 10},
		{"past deletes", 0, -1, cache.ExpireAlways, true, -1},
		{"now deletes", 5, 0, cache.ExpireAlways, true, -1},
		{"past GT kept", 0, -1, cache.ExpireGT, false, 0},
		{"past LT deletes", 5, -1, cache.ExpireLT, true, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newCache(t)
			now := clk.NowNano()
			var at int64
			if tt.ttl != 0 {
				at = now + tt.ttl*sec
			}
			mustSet(t, c, "k", "v", cache.SetOptions{ExpireAt: at})
			if got, _ := c.Expire("k", now+tt.at*sec, tt.mode); got != tt.set {
				t.Errorf("Expire = %v, want %v", got, tt.set)
			}
			e, ok, _ := c.Peek("k")
			switch {
			case tt.wantTTL == -1:
				if ok {
					t.Errorf("key kept, want deleted")
				}
			case !ok:
				t.Errorf("key deleted")
			case tt.wantTTL == 0 && e.ExpireAt != 0:
				t.Errorf("ExpireAt %d, want none", e.ExpireAt)
			case tt.wantTTL != 0 && e.ExpireAt != now+tt.wantTTL*sec:
				t.Errorf("TTL %ds, want %ds", (e.ExpireAt-now)/sec, tt.wantTTL)
			}
		})
	}
	c, clk := newCache(t)
	if noErr(c.Expire("missing", clk.NowNano()+sec, cache.ExpireAlways)) {
		t.Error("Expire on a missing key reported true")
	}
	if noErr(c.Exists("missing")) {
		t.Error("Expire created a key")
	}
}

func TestExpireRemovesAtDeadline(t *testing.T) {
	c, clk := newCache(t)
	mustSet(t, c, "k", "v", cache.SetOptions{})
	c.Expire("k", clk.NowNano()+int64(time.Minute), cache.ExpireAlways)
	clk.Advance(time.Minute)
	if noErr(c.Exists("k")) {
		t.Fatal("key outlived the expiry EXPIRE gave it")
	}
}

func TestPersist(t *testing.T) {
	c, clk := newCache(t)
	mustSet(t, c, "ttl", "v", cache.SetOptions{ExpireAt: clk.NowNano() + int64(time.Second)})
	mustSet(t, c, "plain", "v", cache.SetOptions{})
	if !noErr(c.Persist("ttl")) {
		t.Error("PERSIST on a volatile key = false")
	}
	if noErr(c.Persist("plain")) || noErr(c.Persist("missing")) {
		t.Error("PERSIST on a persistent or missing key = true")
	}
	clk.Advance(time.Hour)
	if e, ok, _ := c.Peek("ttl"); !ok || e.ExpireAt != 0 {
		t.Errorf("persisted key: %+v, %v", e, ok)
	}
}

func TestGetEx(t *testing.T) {
	sec := int64(time.Second)
	c, clk := newCache(t)
	now := clk.NowNano()
	mustSet(t, c, "k", "v", cache.SetOptions{ExpireAt: now + 5*sec})

	if e, ok, _ := c.GetEx("k", 0, false); !ok || string(e.Value) != "v" || e.ExpireAt != now+5*sec {
		t.Errorf("plain GETEX = %+v, %v", e, ok)
	}
	if _, ok, _ := c.GetEx("k", now+20*sec, false); !ok {
		t.Error("GETEX EX: missing")
	}
	if e, _, _ := c.Peek("k"); e.ExpireAt != now+20*sec {
		t.Errorf("after GETEX EX 20: ExpireAt %d", e.ExpireAt)
	}
	if _, ok, _ := c.GetEx("k", 0, true); !ok {
		t.Error("GETEX PERSIST: missing")
	}
	if e, _, _ := c.Peek("k"); e.ExpireAt != 0 {
		t.Errorf("after GETEX PERSIST: ExpireAt %d", e.ExpireAt)
	}
	// A time in the past returns the value and deletes the key.
	if e, ok, _ := c.GetEx("k", now-1, false); !ok || string(e.Value) != "v" {
		t.Errorf("GETEX EXAT past = %+v, %v", e, ok)
	}
	if noErr(c.Exists("k")) {
		t.Error("GETEX EXAT past kept the key")
	}
	if _, ok, _ := c.GetEx("missing", now+sec, false); ok {
		t.Error("GETEX on a missing key found it")
	}
	if noErr(c.Exists("missing")) {
		t.Error("GETEX created a key")
	}
}

func TestGetDelAndDelete(t *testing.T) {
	c, _ := newCache(t)
	mustSet(t, c, "k", "v", cache.SetOptions{})
	if e, ok, _ := c.GetDel("k"); !ok || string(e.Value) != "v" {
		t.Errorf("GETDEL = %q, %v", e.Value, ok)
	}
	if noErr(c.Delete("k")) {
		t.Error("DEL after GETDEL = true")
	}
}
