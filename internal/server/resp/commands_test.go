package resp

import (
	"strconv"
	"strings"
	"testing"
)

// step is one command of a script and its expected reply, rendered by
// wire.Reply.String ("(nil)", "ERR:...", "[a b]"). A want ending in "*"
// matches by prefix; "~lo..hi" matches an integer in that range (for TTLs,
// which depend on how much time passed between two commands).
type step struct {
	cmd  string
	want string
}

func runScript(t *testing.T, c *client, steps []step) {
	t.Helper()
	for _, st := range steps {
		got := c.do(splitCmd(st.cmd)...)
		if lo, hi, ok := parseRange(st.want); ok {
			if n, err := strconv.ParseInt(got, 10, 64); err != nil || n < lo || n > hi {
				t.Errorf("%s: got %q, want an integer in [%d, %d]", st.cmd, got, lo, hi)
			}
			continue
		}
		if strings.HasSuffix(st.want, "*") {
			if !strings.HasPrefix(got, strings.TrimSuffix(st.want, "*")) {
				t.Errorf("%s: got %q, want prefix %q", st.cmd, got, st.want)
			}
			continue
		}
		if got != st.want {
			t.Errorf("%s: got %q, want %q", st.cmd, got, st.want)
		}
	}
}

// parseRange parses a "~lo..hi" want.
func parseRange(want string) (lo, hi int64, ok bool) {
	a, b, found := strings.Cut(strings.TrimPrefix(want, "~"), "..")
	if !strings.HasPrefix(want, "~") || !found {
		return 0, 0, false
	}
	lo, err1 := strconv.ParseInt(a, 10, 64)
	hi, err2 := strconv.ParseInt(b, 10, 64)
	return lo, hi, err1 == nil && err2 == nil
}

// splitCmd splits on spaces; "”" is an empty argument.
func splitCmd(s string) []string {
	f := strings.Fields(s)
	for i, a := range f {
		if a == "''" {
			f[i] = ""
		}
	}
	return f
}

func TestStringCommands(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	runScript(t, c, []step{
		{"GET k", "(nil)"},
		{"SET k v", "OK"},
		{"get k", "v"},
		{"SET k v2 NX", "(nil)"},
		{"SET k v2 XX GET", "v"},
		{"SET nokey v XX", "(nil)"},
		{"SET k v NX XX", "ERR:ERR syntax error"},
		{"SET k v EX 10 PX 5", "ERR:ERR syntax error"},
		{"SET k v KEEPTTL EX 5", "ERR:ERR syntax error"},
		{"SET k v EX 0", "ERR:ERR invalid expire time in 'set' command"},
		{"SET k v EX abc", "ERR:ERR value is not an integer or out of range"},
		{"SET k v FOO", "ERR:ERR syntax error"},
		{"SET k v EX", "ERR:ERR syntax error"},
		{"SET k v EX 100", "OK"},
		{"TTL k", "~99..100"},
		{"SET k v KEEPTTL", "OK"},
		{"TTL k", "~99..100"},
		{"SET k v", "OK"},
		{"TTL k", "-1"},
		{"SET k v PXAT 1", "OK"},
		{"GET k", "(nil)"},
		{"SETNX n 1", "1"},
		{"SETNX n 2", "0"},
		{"SETEX e 0 v", "ERR:ERR invalid expire time in 'setex' command"},
		{"PSETEX e 5000 v", "OK"},
		{"PTTL e", "~1..5000"},
		{"GETSET n 5", "1"},
		{"GETSET nn 5", "(nil)"},
		{"GETDEL nn", "5"},
		{"GETDEL nn", "(nil)"},
		{"GETEX n EX 50", "5"},
		{"TTL n", "~49..50"},
		{"GETEX n PERSIST", "5"},
		{"TTL n", "-1"},
		{"GETEX n PERSIST EX 5", "ERR:ERR syntax error"},
		{"GETEX missing", "(nil)"},
		{"MSET a 1 b 2", "OK"},
		{"MSET a", "ERR:ERR wrong number of arguments for 'mset' command"},
		{"MSET a 1 b", "ERR:ERR wrong number of arguments for 'mset' command"},
		{"MGET a b c", "[1 2 (nil)]"},
		{"MSETNX a 1 z 2", "0"},
		{"MSETNX y 1 z 2", "1"},
		{"APPEND s hello", "5"},
		{"APPEND s _world", "11"},
		{"STRLEN s", "11"},
		{"STRLEN nope", "0"},
		{"SET r Hello", "OK"},
		{"GETRANGE r 0 -1", "Hello"},
		{"GETRANGE r -3 -1", "llo"},
		{"GETRANGE r 5 10", ""},
		{"GETRANGE r -1 -5", ""},
		{"SUBSTR r 1 2", "el"},
		{"GETRANGE r a b", "ERR:ERR value is not an integer or out of range"},
		{"SETRANGE r 6 World", "11"},
		{"SETRANGE r -1 x", "ERR:ERR offset is out of range"},
		{"SETRANGE fresh 2 x", "3"},
		{"SETRANGE none 5 ''", "0"},
		{"EXISTS none", "0"},
		{"INCR cnt", "1"},
		{"INCRBY cnt 10", "11"},
		{"DECR cnt", "10"},
		{"DECRBY cnt 20", "-10"},
		{"DECRBY cnt -9223372036854775808", "ERR:ERR decrement would overflow"},
		{"INCR r", "ERR:ERR value is not an integer or out of range"},
		{"INCRBY cnt x", "ERR:ERR value is not an integer or out of range"},
		{"SET big 9223372036854775807", "OK"},
		{"INCR big", "ERR:ERR increment or decrement would overflow"},
		{"INCRBYFLOAT f 1.5", "1.5"},
		{"INCRBYFLOAT f 0.1", "1.6"},
		{"INCRBYFLOAT f x", "ERR:ERR value is not a valid float"},
		{"GET", "ERR:ERR wrong number of arguments for 'get' command"},
	})
}

func TestKeyCommands(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	runScript(t, c, []step{
		{"MSET a 1 b 2 c 3", "OK"},
		{"EXISTS a a b x", "3"},
		{"TOUCH a x", "1"},
		{"TYPE a", "string"},
		{"TYPE x", "none"},
		{"DEL a x", "1"},
		{"UNLINK b", "1"},
		{"RENAME nokey x", "ERR:ERR no such key"},
		{"RENAME c d", "OK"},
		{"GET d", "3"},
		{"SET e 5", "OK"},
		{"RENAMENX d e", "0"},
		{"RENAMENX d f", "1"},
		{"COPY f f", "ERR:ERR source and destination objects are the same"},
		{"COPY f g", "1"},
		{"COPY f g", "0"},
		{"COPY f g REPLACE", "1"},
		{"COPY f g DB 1", "ERR:ERR DB index is out of range"},
		{"COPY f g FOO", "ERR:ERR syntax error"},
		{"EXPIRE g 100", "1"},
		{"EXPIRE g 100 NX", "0"},
		{"EXPIRE g 200 XX", "1"},
		{"EXPIRE g 50 GT", "0"},
		{"EXPIRE g 50 LT", "1"},
		{"TTL g", "~49..50"},
		{"EXPIRE e 50 XX LT", "0"},
		{"EXPIRE e 50 LT", "1"},
		{"EXPIRE g 10 NX XX", "ERR:ERR NX and XX, GT or LT options at the same time are not compatible"},
		{"EXPIRE g 10 GT LT", "ERR:ERR GT and LT options at the same time are not compatible"},
		{"EXPIRE g 10 FOO", "ERR:ERR Unsupported option FOO"},
		{"EXPIRE g abc", "ERR:ERR value is not an integer or out of range"},
		{"EXPIRE g 9223372036854775807", "ERR:ERR invalid expire time in 'expire' command"},
		{"EXPIRE nokey 10", "0"},
		{"PEXPIRE g 100000", "1"},
		{"PTTL g", "~1..100000"},
		{"PEXPIREAT g 4102444800000", "1"},
		{"PEXPIRETIME g", "4102444800000"},
		{"EXPIRETIME g", "4102444800"},
		{"EXPIREAT g 4102444800", "1"},
		{"EXPIRETIME nokey", "-2"},
		{"EXPIRETIME f", "-1"},
		{"PERSIST g", "1"},
		{"PERSIST g", "0"},
		{"TTL nokey", "-2"},
		{"EXPIRE g -1", "1"},
		{"EXISTS g", "0"},
		{"KEYS *", "*"},
		{"DBSIZE", "2"},
		{"SELECT 0", "OK"},
		{"SELECT 1", "ERR:ERR DB index is out of range"},
		{"SELECT x", "ERR:ERR value is not an integer or out of range"},
		{"SCAN x", "ERR:ERR invalid cursor"},
		{"SCAN 0 COUNT 0", "ERR:ERR syntax error"},
		{"SCAN 0 TYPE hash", "[0 []]"},
		{"FLUSHALL FOO", "ERR:ERR syntax error"},
		{"FLUSHALL ASYNC", "OK"},
		{"DBSIZE", "0"},
		{"RANDOMKEY", "(nil)"},
		{"LPUSH l a", "ERR:ERR unknown command 'LPUSH', with args beginning with: 'l' 'a' (strata stores strings only)"},
		{"FOO a b", "ERR:ERR unknown command 'FOO', with args beginning with: 'a' 'b' "},
	})
	for i := range 50 {
		c.do("SET", "key:"+itoa(i), "v")
	}
	seen := map[string]bool{}
	cursor := "0"
	for {
		c.send(encode("SCAN", cursor, "MATCH", "key:*", "COUNT", "7"))
		r := c.read()
		cursor = r.Elems[0].Str
		for _, k := range r.Elems[1].Elems {
			seen[k.Str] = true
		}
		if cursor == "0" {
			break
		}
	}
	if len(seen) != 50 {
		t.Fatalf("SCAN saw %d keys, want 50", len(seen))
	}
}
