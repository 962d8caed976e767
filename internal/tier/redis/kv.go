package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Plain keys live in Redis as raw strings at "<prefix>k:<key>" with Redis
// TTLs, so redis-cli shows them as they are and every node reads one value.
// A key's own hash tag ({user1}) still picks its slot: the prefix has no
// braces.

// swapByHash is the value size from which KVSwap sends the old value's
// SHA-1 rather than the value (Redis's Lua has redis.sha1hex).
const swapByHash = 256

var (
	kvGetScript = rueidis.NewLuaScriptReadOnly(`return {redis.call('GET', KEYS[1]), redis.call('PEXPIRETIME', KEYS[1])}`)
	kvDelScript = rueidis.NewLuaScript(`local v = redis.call('GET', KEYS[1])
local e = redis.call('PEXPIRETIME', KEYS[1])
redis.call('DEL', KEYS[1])
return {v, e}`)
	// ARGV: mode (n: absent, v: value, h: sha1 of value), old, old expiry
	// ms (0: none), new value, new expiry ms (0: none), remove (1/0).
	kvSwapScript = rueidis.NewLuaScript(`local cur = redis.call('GET', KEYS[1])
local mode = ARGV[1]
if mode == 'n' then
  if cur then return 0 end
else
  if not cur then return 0 end
  if mode == 'v' then
    if cur ~= ARGV[2] then return 0 end
  elseif redis.sha1hex(cur) ~= ARGV[2] then
    return 0
  end
  local e = redis.call('PEXPIRETIME', KEYS[1])
  if e < 0 then e = 0 end
  if e ~= tonumber(ARGV[3]) then return 0 end
end
if ARGV[6] == '1' then
  redis.call('DEL', KEYS[1])
  return 1
end
if ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PXAT', ARGV[5])
end
return 1`)
)

func (l *L2) kvKey(key string) string { return l.opts.Prefix + "k:" + key }

func (l *L2) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.opts.Timeout)
}

// valueAndExpiry decodes a {value, pexpiretime} reply.
func valueAndExpiry(arr []rueidis.RedisMessage) ([]byte, int64, bool, error) {
	if len(arr) != 2 {
		return nil, 0, false, errors.New("unexpected reply to the read script")
	}
	v, err := arr[0].AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	exp, _ := arr[1].AsInt64()
	if exp < 0 {
		exp = 0
	}
	return v, exp, true, nil
}

// notRun reports whether err proves Redis did not run the command: the
// connection could not be made, or the cluster answered that it cannot
// serve the slot now. A write that failed so may be sent again.
func notRun(err error) bool {
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg := re.Error()
		return re.IsClusterDown() || re.IsTryAgain() || re.IsLoading() ||
			strings.HasPrefix(msg, "MASTERDOWN") || strings.HasPrefix(msg, "READONLY")
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// retry runs op (bounded by redis.timeout each time) until it succeeds,
// ctx ends, redis.failover_wait passes, or it fails in a way that retry
// says not to retry: a failover in progress then costs the caller some
// waiting instead of an error.
func (l *L2) retry(ctx context.Context, again func(error) bool, op func(ctx context.Context) error) error {
	deadline := time.Now().Add(l.opts.FailoverWait)
	for d := 20 * time.Millisecond; ; d = min(2*d, 250*time.Millisecond) {
		octx, cancel := l.bound(ctx)
		err := op(octx)
		cancel()
		if err == nil || rueidis.IsRedisNil(err) {
			return err
		}
		l.errs.Add(1)
		if !again(err) || ctx.Err() != nil || time.Now().Add(d).After(deadline) {
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// always retries any failure: for reads.
func always(err error) bool {
	_, reply := rueidis.IsRedisErr(err)
	return !reply || notRun(err)
}

// KVGet reads a plain key's value and its expiry (Unix ms, 0: none),
// riding out a failover.
func (l *L2) KVGet(ctx context.Context, key string) ([]byte, int64, bool, error) {
	var arr []rueidis.RedisMessage
	err := l.retry(ctx, always, func(ctx context.Context) error {
		var err error
		arr, err = kvGetScript.Exec(ctx, l.c, []string{l.kvKey(key)}, nil).ToArray()
		return err
	})
	if err != nil {
		return nil, 0, false, err
	}
	return valueAndExpiry(arr)
}

// KVSwap replaces a plain key's value if it still holds old.
func (l *L2) KVSwap(ctx context.Context, key string, old []byte, oldExp int64, oldFound bool, value []byte, exp int64, remove bool) (bool, error) {
	mode, cmp := "n", ""
	if oldFound {
		mode, cmp = "v", rueidis.BinaryString(old)
		if len(old) >= swapByHash {
			h := sha1.Sum(old)
			mode, cmp = "h", hex.EncodeToString(h[:])
		}
	}
	rm := "0"
	if remove {
		rm = "1"
	}
	var n int64
	err := l.retry(ctx, notRun, func(ctx context.Context) error {
		var err error
		n, err = kvSwapScript.Exec(ctx, l.c, []string{l.kvKey(key)}, []string{mode, cmp, strconv.FormatInt(oldExp, 10),
			rueidis.BinaryString(value), strconv.FormatInt(exp, 10), rm}).AsInt64()
		return err
	})
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// KVSet stores a plain key unconditionally (SET key value GET [PXAT ms])
// and returns the value it held. A plain command rather than a script, so
// Redis does not echo it back to this node (NOLOOP).
func (l *L2) KVSet(ctx context.Context, key string, value []byte, exp int64) ([]byte, bool, error) {
	var old []byte
	var found bool
	err := l.retry(ctx, notRun, func(ctx context.Context) error {
		var cmd rueidis.Completed
		get := l.c.B().Set().Key(l.kvKey(key)).Value(rueidis.BinaryString(value)).Get()
		if exp > 0 {
			cmd = get.PxatMillisecondsTimestamp(exp).Build()
		} else {
			cmd = get.Build()
		}
		v, err := l.c.Do(ctx, cmd).AsBytes()
		if rueidis.IsRedisNil(err) {
			old, found = nil, false
			return nil
		}
		old, found = v, err == nil
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return old, found, nil
}

// KVDel deletes a plain key and returns what it held.
func (l *L2) KVDel(ctx context.Context, key string) ([]byte, int64, bool, error) {
	var arr []rueidis.RedisMessage
	err := l.retry(ctx, notRun, func(ctx context.Context) error {
		var err error
		arr, err = kvDelScript.Exec(ctx, l.c, []string{l.kvKey(key)}, nil).ToArray()
		return err
	})
	if err != nil {
		return nil, 0, false, err
	}
	return valueAndExpiry(arr)
}

// masterClients returns a client per master, in a stable order (by
// address); one client for a standalone Redis.
func (l *L2) masterClients(ctx context.Context) ([]rueidis.Client, error) {
	if l.c.Mode() != rueidis.ClientModeCluster {
		return []rueidis.Client{l.c}, nil
	}
	topo, err := l.topology(ctx)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, part := range strings.Split(topo, ",") {
		if i := strings.IndexByte(part, '@'); i >= 0 {
			addrs = append(addrs, part[i+1:])
		}
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	nodes := l.c.Nodes()
	out := make([]rueidis.Client, 0, len(addrs))
	for _, a := range addrs {
		nc, ok := nodes[a]
		if !ok {
			return nil, errors.New("redis: master " + a + " is not connected yet; retry")
		}
		out = append(out, nc)
	}
	return out, nil
}

// globEscape escapes the glob characters of s for SCAN MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cursorShift splits a KVScan cursor: the master's index above it, that
// master's SCAN cursor below.
const cursorShift = 48

// KVScan scans the plain keys matching pattern, master by master. The
// cursor is the master's index (in address order) and its SCAN cursor;
// a key present for the whole iteration is returned, as Redis promises,
// unless the masters change meanwhile.
func (l *L2) KVScan(ctx context.Context, cursor uint64, pattern string, count int) ([]string, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*l.opts.Timeout)
	defer cancel()
	masters, err := l.masterClients(ctx)
	if err != nil {
		return nil, 0, err
	}
	idx, cur := int(cursor>>cursorShift), cursor&(1<<cursorShift-1)
	if pattern == "" {
		pattern = "*"
	}
	prefix := l.kvKey("")
	match := globEscape(prefix) + pattern
	var keys []string
	// When a master is done and fewer than count keys came back, go on to
	// the next one, so that one call with a large COUNT covers a small
	// fleet as it would one Redis (COUNT is a hint; clients must still
	// follow the cursor).
	for idx < len(masters) {
		nc := masters[idx]
		e, err := nc.Do(ctx, nc.B().Scan().Cursor(cur).Match(match).Count(int64(count)).Build()).AsScanEntry()
		if err != nil {
			return nil, 0, err
		}
		for _, k := range e.Elements {
			keys = append(keys, strings.TrimPrefix(k, prefix))
		}
		if e.Cursor != 0 {
			// Bounded work per call, as in Redis: one SCAN per master.
			return keys, uint64(idx)<<cursorShift | e.Cursor, nil
		}
		idx, cur = idx+1, 0
		if len(keys) >= count && idx < len(masters) {
			return keys, uint64(idx) << cursorShift, nil
		}
	}
	return keys, 0, nil
}

// KVSize counts the plain keys (a full SCAN: O(keys)).
func (l *L2) KVSize(ctx context.Context) (int, error) {
	n := 0
	var cursor uint64
	for {
		keys, next, err := l.KVScan(ctx, cursor, "", 1000)
		if err != nil {
			return 0, err
		}
		n += len(keys)
		if next == 0 {
			return n, nil
		}
		cursor = next
	}
}

// KVRandomKey returns a plain key from a random master.
func (l *L2) KVRandomKey(ctx context.Context) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*l.opts.Timeout)
	defer cancel()
	masters, err := l.masterClients(ctx)
	if err != nil {
		return "", false, err
	}
	prefix := l.kvKey("")
	for _, i := range rand.Perm(len(masters)) {
		nc := masters[i]
		var cur uint64
		for range 16 {
			e, err := nc.Do(ctx, nc.B().Scan().Cursor(cur).Match(globEscape(prefix)+"*").Count(100).Build()).AsScanEntry()
			if err != nil {
				return "", false, err
			}
			if len(e.Elements) > 0 {
				return strings.TrimPrefix(e.Elements[rand.IntN(len(e.Elements))], prefix), true, nil
			}
			if e.Cursor == 0 {
				break
			}
			cur = e.Cursor
		}
	}
	return "", false, nil
}

// KVFlush deletes every plain key.
func (l *L2) KVFlush(ctx context.Context) error {
	var cursor uint64
	for {
		keys, next, err := l.KVScan(ctx, cursor, "", 1000)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			cmds := make(rueidis.Commands, 0, len(keys))
			for _, k := range keys {
				cmds = append(cmds, l.c.B().Unlink().Key(l.kvKey(k)).Build())
			}
			for _, r := range l.c.DoMulti(ctx, cmds...) {
				if err := r.Error(); err != nil {
					return err
				}
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
