package resp

import (
	"bytes"
	"math"
	"unsafe"

	"github.com/strata-cache/strata/internal/cache"
)

// view returns b as a string without copying. Use it only for keys the
// cache does not retain (Get, Peek, Delete lookups): the bytes belong to the
// read buffer and are overwritten by the next command. Anything that may
// store a key (Set, Compute-based writes) must use string(b).
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// keyValue copies a key and a value into one allocation, for SET: the cache
// retains both, and they live and die together.
func keyValue(k, v []byte) (string, []byte) {
	buf := make([]byte, len(k)+len(v))
	copy(buf, k)
	copy(buf[len(k):], v)
	return unsafe.String(unsafe.SliceData(buf), len(k)), buf[len(k):len(buf):len(buf)]
}

// cloneBytes copies a value the cache will retain.
func cloneBytes(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }

// eqFold reports whether b equals the lower-case ASCII word s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// parseInt parses a Redis integer argument.
func parseInt(b []byte) (int64, bool) {
	n, err := cache.ParseInt(b)
	return n, err == nil
}

// msToNanos converts Unix milliseconds to the cache's Unix nanoseconds,
// saturating: times past year 2262 are stored as the largest time the
// cache can hold.
func msToNanos(ms int64) int64 {
	if ms > math.MaxInt64/nsPerMs {
		return math.MaxInt64
	}
	if ms < math.MinInt64/nsPerMs {
		return math.MinInt64
	}
	return ms * nsPerMs
}

// nsPerMs converts the cache's nanoseconds to Redis's milliseconds.
const nsPerMs = int64(1e6)

// Expiry argument forms.
const (
	unitSeconds = iota
	unitMillis
)

// expireArg turns a SET-family expiry argument into an absolute time in
// Unix nanoseconds, aligned to milliseconds as Redis keeps expiries. It
// answers Redis's errors itself and reports whether it succeeded.
func (c *conn) expireArg(arg []byte, unit int, absolute bool, cmd string) (int64, bool) {
	v, ok := parseInt(arg)
	if !ok {
		c.errReply(errNotInteger)
		return 0, false
	}
	if v <= 0 || (unit == unitSeconds && v > math.MaxInt64/1000) {
		c.errReply(invalidExpire(cmd))
		return 0, false
	}
	if unit == unitSeconds {
		v *= 1000
	}
	if !absolute {
		now := c.s.cache.Now() / 1e6
		if v > math.MaxInt64-now {
			c.errReply(invalidExpire(cmd))
			return 0, false
		}
		v += now
	}
	return msToNanos(v), true
}

func cmdGet(c *conn, args [][]byte) {
	if c.s.cache.ResourceOf(view(args[1])) != nil {
		c.readThrough(args[1], cache.ReadOptions{})
		return
	}
	e, _, ok, err := c.s.cache.Get(view(args[1]))
	switch {
	case err != nil:
		c.errFrom(err)
	case ok:
		c.wr.AppendBulk(e.Value)
	default:
		c.wr.AppendNull()
	}
}

// SET option bits, as in Redis's parseExtendedStringArgumentsOrReply.
const (
	optNX = 1 << iota
	optXX
	optGet
	optKeepTTL
	optPersist
	optEX
	optPX
	optEXAT
	optPXAT
	optExpire = optEX | optPX | optEXAT | optPXAT
)

// parseSetOptions parses the options of SET (isSet) or GETEX from args,
// returning the option bits and the expiry argument. It answers syntax
// errors itself.
func (c *conn) parseSetOptions(args [][]byte, isSet bool) (int, []byte, bool) {
	flags := 0
	var expire []byte
	for j := 0; j < len(args); j++ {
		a := args[j]
		hasNext := j+1 < len(args)
		switch {
		case isSet && eqFold(a, "nx") && flags&optXX == 0:
			flags |= optNX
		case isSet && eqFold(a, "xx") && flags&optNX == 0:
			flags |= optXX
		case isSet && eqFold(a, "get"):
			flags |= optGet
		case isSet && eqFold(a, "keepttl") && flags&(optPersist|optExpire) == 0:
			flags |= optKeepTTL
		case !isSet && eqFold(a, "persist") && flags&(optExpire|optKeepTTL) == 0:
			flags |= optPersist
		case eqFold(a, "ex") && flags&(optKeepTTL|optPersist|optExpire) == 0 && hasNext:
			flags |= optEX
			expire, j = args[j+1], j+1
		case eqFold(a, "px") && flags&(optKeepTTL|optPersist|optExpire) == 0 && hasNext:
			flags |= optPX
			expire, j = args[j+1], j+1
		case eqFold(a, "exat") && flags&(optKeepTTL|optPersist|optExpire) == 0 && hasNext:
			flags |= optEXAT
			expire, j = args[j+1], j+1
		case eqFold(a, "pxat") && flags&(optKeepTTL|optPersist|optExpire) == 0 && hasNext:
			flags |= optPXAT
			expire, j = args[j+1], j+1
		default:
			c.errReply(errSyntax)
			return 0, nil, false
		}
	}
	return flags, expire, true
}

// expireFromFlags converts the parsed expiry option to an absolute time.
func (c *conn) expireFromFlags(flags int, expire []byte, cmd string) (int64, bool) {
	switch {
	case flags&optEX != 0:
		return c.expireArg(expire, unitSeconds, false, cmd)
	case flags&optPX != 0:
		return c.expireArg(expire, unitMillis, false, cmd)
	case flags&optEXAT != 0:
		return c.expireArg(expire, unitSeconds, true, cmd)
	case flags&optPXAT != 0:
		return c.expireArg(expire, unitMillis, true, cmd)
	}
	return 0, true
}

func cmdSet(c *conn, args [][]byte) {
	flags, expire, ok := 0, []byte(nil), true
	if len(args) > 3 {
		if flags, expire, ok = c.parseSetOptions(args[3:], true); !ok {
			return
		}
	}
	at, ok := c.expireFromFlags(flags, expire, "set")
	if !ok {
		return
	}
	opts := cache.SetOptions{ExpireAt: at, KeepTTL: flags&optKeepTTL != 0}
	switch {
	case flags&optNX != 0:
		opts.Mode = cache.SetNX
	case flags&optXX != 0:
		opts.Mode = cache.SetXX
	}
	key, value := keyValue(args[1], args[2])
	r, err := c.s.cache.Set(key, value, opts)
	switch {
	case err != nil:
		c.errFrom(err)
	case flags&optGet != 0 && r.HadOld:
		c.wr.AppendBulk(r.Old.Value)
	case flags&optGet != 0, !r.Written:
		c.wr.AppendNull()
	default:
		c.wr.AppendOK()
	}
}

func cmdSetNX(c *conn, args [][]byte) {
	key, value := keyValue(args[1], args[2])
	r, err := c.s.cache.Set(key, value, cache.SetOptions{Mode: cache.SetNX})
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendInt(b2i(r.Written))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// cmdSetEX is SETEX and PSETEX.
func cmdSetEX(c *conn, args [][]byte) {
	unit, name := unitSeconds, "setex"
	if len(args[0]) == 6 {
		unit, name = unitMillis, "psetex"
	}
	at, ok := c.expireArg(args[2], unit, false, name)
	if !ok {
		return
	}
	key, value := keyValue(args[1], args[3])
	if _, err := c.s.cache.Set(key, value, cache.SetOptions{ExpireAt: at}); err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendOK()
}

func cmdGetSet(c *conn, args [][]byte) {
	key, value := keyValue(args[1], args[2])
	r, err := c.s.cache.Set(key, value, cache.SetOptions{})
	switch {
	case err != nil:
		c.errFrom(err)
	case r.HadOld:
		c.wr.AppendBulk(r.Old.Value)
	default:
		c.wr.AppendNull()
	}
}

func cmdGetDel(c *conn, args [][]byte) {
	e, ok, err := c.s.cache.GetDel(view(args[1]))
	switch {
	case err != nil:
		c.errFrom(err)
	case ok:
		c.wr.AppendBulk(e.Value)
	default:
		c.wr.AppendNull()
	}
}

func cmdGetEX(c *conn, args [][]byte) {
	flags, expire, ok := c.parseSetOptions(args[2:], false)
	if !ok {
		return
	}
	at, ok := c.expireFromFlags(flags, expire, "getex")
	if !ok {
		return
	}
	key := view(args[1])
	if at != 0 || flags&optPersist != 0 {
		key = string(args[1]) // GetEx may rewrite the entry, retaining the key
	}
	e, found, err := c.s.cache.GetEx(key, at, flags&optPersist != 0)
	if err != nil {
		c.errFrom(err)
		return
	}
	if !found {
		c.wr.AppendNull()
		return
	}
	c.wr.AppendBulk(e.Value)
}

func cmdMGet(c *conn, args [][]byte) {
	if c.s.cache.Resources() != nil {
		for _, k := range args[1:] {
			if c.s.cache.ResourceOf(view(k)) != nil {
				mgetThrough(c, args[1:])
				return
			}
		}
	}
	if _, local := c.s.cache.L2(); !local {
		// In a fleet a key may have to be read from Redis, which can fail:
		// read them all before answering.
		vals := make([][]byte, len(args)-1)
		found := make([]bool, len(args)-1)
		for i, k := range args[1:] {
			e, _, ok, err := c.s.cache.Get(view(k))
			if err != nil {
				c.errFrom(err)
				return
			}
			vals[i], found[i] = e.Value, ok
		}
		c.wr.AppendArrayLen(len(vals))
		for i, v := range vals {
			if found[i] {
				c.wr.AppendBulk(v)
			} else {
				c.wr.AppendNull()
			}
		}
		return
	}
	c.wr.AppendArrayLen(len(args) - 1)
	for _, k := range args[1:] {
		if e, _, ok, _ := c.s.cache.Get(view(k)); ok {
			c.wr.AppendBulk(e.Value)
		} else {
			c.wr.AppendNull()
		}
	}
}

func cmdMSet(c *conn, args [][]byte) {
	if len(args)%2 == 0 {
		c.errReply("ERR wrong number of arguments for 'mset' command")
		return
	}
	for i := 1; i < len(args); i += 2 {
		if err := c.s.cache.CheckKey(view(args[i])); err != nil {
			c.errFrom(err)
			return
		}
		if err := c.s.cache.CheckValue(len(args[i+1])); err != nil {
			c.errFrom(err)
			return
		}
	}
	for i := 1; i < len(args); i += 2 {
		key, value := keyValue(args[i], args[i+1])
		if _, err := c.s.cache.Set(key, value, cache.SetOptions{}); err != nil {
			c.errFrom(err)
			return
		}
	}
	c.wr.AppendOK()
}

func cmdMSetNX(c *conn, args [][]byte) {
	if len(args)%2 == 0 {
		c.errReply("ERR wrong number of arguments for 'msetnx' command")
		return
	}
	pairs := make([][]byte, 0, len(args)-1)
	for i := 1; i < len(args); i += 2 {
		pairs = append(pairs, bytes.Clone(args[i]), cloneBytes(args[i+1]))
	}
	ok, err := c.s.cache.MSetNX(pairs)
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendInt(b2i(ok))
}

func cmdAppend(c *conn, args [][]byte) {
	n, err := c.s.cache.Append(string(args[1]), args[2])
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendInt(int64(n))
}

func cmdStrlen(c *conn, args [][]byte) {
	e, _, err := c.s.cache.Peek(view(args[1]))
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendInt(int64(len(e.Value)))
}

// cmdGetRange is GETRANGE and SUBSTR, with Redis 7.0's index rules.
func cmdGetRange(c *conn, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.errReply(errNotInteger)
		return
	}
	e, _, _, err := c.s.cache.Get(view(args[1]))
	if err != nil {
		c.errFrom(err)
		return
	}
	n := int64(len(e.Value))
	if start < 0 && end < 0 && start > end {
		c.wr.AppendBulk(nil)
		return
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		c.wr.AppendBulk(nil)
		return
	}
	c.wr.AppendBulk(e.Value[start : end+1])
}

func cmdSetRange(c *conn, args [][]byte) {
	off, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInteger)
		return
	}
	if off < 0 {
		c.errReply("ERR offset is out of range")
		return
	}
	// Redis's proto-max-bulk-len check, before anything is allocated.
	if len(args[3]) > 0 && off > c.s.maxBulk()-int64(len(args[3])) { // no overflow near MaxInt64
		c.errReply("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
		return
	}
	n, err := c.s.cache.SetRange(string(args[1]), int(off), args[3])
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendInt(int64(n))
}

// cmdIncr is INCR, DECR, INCRBY and DECRBY.
func cmdIncr(c *conn, args [][]byte) {
	delta := int64(1)
	if len(args) == 3 {
		var ok bool
		if delta, ok = parseInt(args[2]); !ok {
			c.errReply(errNotInteger)
			return
		}
	}
	if args[0][0]|0x20 == 'd' {
		if delta == math.MinInt64 {
			c.errReply("ERR decrement would overflow")
			return
		}
		delta = -delta
	}
	n, err := c.s.cache.IncrBy(string(args[1]), delta)
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendInt(n)
}

func cmdIncrByFloat(c *conn, args [][]byte) {
	delta, err := cache.ParseFloat(args[2])
	if err != nil {
		c.errReply(errNotFloat)
		return
	}
	if math.IsInf(delta, 0) {
		c.errFrom(cache.ErrNaN)
		return
	}
	v, err := c.s.cache.IncrByFloat(string(args[1]), delta)
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendBulk(v)
}
