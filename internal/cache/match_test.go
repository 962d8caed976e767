package cache_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/cache"
)

// matchTests were checked against redis-server 7.0.15 with KEYS (see
// TestMatchAgainstRedis).
var matchTests = []struct {
	pattern, s string
	want       bool
}{
	{"", "", true},
	{"", "a", false},
	{"*", "", true}, // KEYS * short-cuts the pattern
	{"**", "", false},
	{"?", "", false},
	{"*", "anything", true},
	{"a*", "a", true},
	{"a*", "abc", true},
	{"a*", "ba", false},
	{"*a", "ba", true},
	{"*a", "ab", false},
	{"a*b", "ab", true},
	{"a*b", "axxb", true},
	{"a*b", "axxbx", false},
	{"a**b", "axb", true},
	{"a*b*c", "abc", true},
	{"a*b*c", "aXbYc", true},
	{"a*b*c", "acb", false},
	{"h?llo", "hello", true},
	{"h?llo", "hllo", false},
	{"h??llo", "heello", true},
	{"h[ae]llo", "hello", true},
	{"h[ae]llo", "hallo", true},
	{"h[ae]llo", "hillo", false},
	{"h[^e]llo", "hallo", true},
	{"h[^e]llo", "hello", false},
	{"h[a-b]llo", "hbllo", true},
	{"h[a-b]llo", "hcllo", false},
	{"h[b-a]llo", "hallo", true}, // reversed range
	{"[a-]", "-", false},         // "a-]" is the range ']'..'a'
	{"[a-]", "]", true},
	{"[a-]", "^", true},
	{"[a-]", "b", false},
	{"[]", "]", false},
	{"[]]", "]", false}, // "[]" is an empty class: a ']' cannot open one
	{"[]]", "x]", false},
	{"[]a]", "]", false},
	{"[\\]]", "]", true},
	{"[\\-]", "-", true},
	{"[a\\-z]", "b", false},
	{"[a\\-z]", "-", true},
	{"[\\", "\\", true},
	{"[abc", "b", true}, // unterminated class ends at the end
	{"[abc", "bx", false},
	{"[abc", "d", false},
	{"[", "a", false},
	{"[", "", false},
	{"[^", "a", true},
	{"[^", "ab", false},
	{"[^a", "b", true},
	{"[^a", "a", false},
	{"x[", "x", false},
	{"[a-", "-", true},
	{"[a-", "b", false},
	{"\\*", "*", true},
	{"\\*", "a", false},
	{"\\?", "?", true},
	{"\\[a]", "[a]", true},
	{"a\\", "a\\", true},
	{"a\\", "a", false},
	{"\\a", "a", true},
	{"*\\", "x\\", true},
	{"user:*:name", "user:42:name", true},
	{"user:*:name", "user:42:email", false},
	{"*/*", "a/b", true},
	{"a*", "a\x00b", true},
	{"a\x00*", "a\x00b", true},
	{"[^]]", "a", false}, // "[^]" matches any byte, then a literal ']'
	{"[^]]", "a]", true},
	{"[^]]", "]]", true},
	{"*[", "ab", false},
	{"a*[^", "ab", true},
	{"*?", "a", true},
	{"*?*?", "a", false},
	{"*?*?", "ab", true},
	{"a*a*a*a*a*a*a*a*b", strings.Repeat("a", 40), false},
	{"a*a*a*a*a*a*a*a*b", strings.Repeat("a", 40) + "b", true},
	{"[A-Z]*", "Key", true},
	{"[A-Z]*", "key", false},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		if got := cache.Match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// TestMatchHostilePatterns: patterns that make a backtracking matcher take
// exponential time finish at once.
func TestMatchHostilePatterns(t *testing.T) {
	s := strings.Repeat("a", 10_000)
	for _, p := range []string{
		strings.Repeat("a*", 100) + "b",
		strings.Repeat("*a", 100) + "b",
		strings.Repeat("*?", 200) + "b",
		strings.Repeat("*[a-z]", 100) + "b",
		strings.Repeat("*", 5000) + "b",
	} {
		start := time.Now()
		if cache.Match(p, s) {
			t.Errorf("Match(%.20q..., a*10000) = true", p)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Match(%.20q..., a*10000) took %v", p, d)
		}
	}
}

// TestMatchAgainstRedis compares Match with a real redis-server's KEYS on the
// table above and on random patterns and keys. It needs a disposable server:
// STRATA_TEST_REDIS_ADDR=127.0.0.1:port (the test runs FLUSHALL there).
func TestMatchAgainstRedis(t *testing.T) {
	addr := os.Getenv("STRATA_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("STRATA_TEST_REDIS_ADDR is not set")
	}
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	redisMatch := func(pattern, s string) bool {
		t.Helper()
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(ctx, s, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		keys, err := rdb.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys) == 1
	}
	for _, tt := range matchTests {
		if got := redisMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("redis KEYS %q on %q = %v, table says %v", tt.pattern, tt.s, got, tt.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab*?[]^-\\"
	randString := func(chars string, n int) string {
		b := make([]byte, rng.IntN(n+1))
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		return string(b)
	}
	for range 3000 {
		p, s := randString(alphabet, 8), randString("ab]-\\^", 5)
		if got, want := cache.Match(p, s), redisMatch(p, s); got != want {
			t.Errorf("Match(%q, %q) = %v, redis KEYS says %v", p, s, got, want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.pattern, tt.s)
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 1000 || len(s) > 1000 {
			return
		}
		start := time.Now()
		got := cache.Match(pattern, s)
		// Time is O(len(pattern) * len(s)): a million steps at most here.
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("Match(%q, %q) took %v", pattern, s, d)
		}
		// Properties that hold whatever the pattern.
		if pattern == s && !strings.ContainsAny(s, "*?[\\") && !got {
			t.Fatalf("Match(%q, %q): a literal pattern does not match itself", pattern, s)
		}
		if got && !strings.ContainsAny(pattern, "*?[\\") && pattern != s {
			t.Fatalf("Match(%q, %q): a literal pattern matched another string", pattern, s)
		}
		// Every byte escaped is a literal pattern for any string.
		if !cache.Match(quote(s), s) {
			t.Fatalf("Match(%q, %q) = false for the quoted string", quote(s), s)
		}
		if !cache.Match("*"+quote(s), pattern+s) {
			t.Fatalf("Match(%q, %q) = false for a suffix", "*"+quote(s), pattern+s)
		}
	})
}

// quote escapes every byte of s.
func quote(s string) string {
	var b strings.Builder
	for i := range len(s) {
		b.WriteByte('\\')
		b.WriteByte(s[i])
	}
	return b.String()
}
