package resp

import (
	"math"
	"strconv"

	"github.com/strata-cache/strata/internal/cache"
)

// cmdDel is DEL and UNLINK. A resource key is invalidated (removed, and
// fenced against loads in flight), not merely deleted.
func cmdDel(c *conn, args [][]byte) {
	n := int64(0)
	for _, k := range args[1:] {
		if c.s.cache.ResourceOf(view(k)) != nil {
			if c.s.cache.Invalidate(string(k)) {
				n++
			}
			continue
		}
		ok, err := c.s.cache.Delete(view(k))
		if err != nil {
			c.errFrom(err)
			return
		}
		if ok {
			n++
		}
	}
	c.wr.AppendInt(n)
}

func cmdExists(c *conn, args [][]byte) {
	n := int64(0)
	for _, k := range args[1:] {
		ok, err := c.s.cache.Exists(view(k))
		if err != nil {
			c.errFrom(err)
			return
		}
		if ok {
			n++
		}
	}
	c.wr.AppendInt(n)
}

func cmdTouch(c *conn, args [][]byte) {
	n := int64(0)
	for _, k := range args[1:] {
		ok, err := c.s.cache.Touch(view(k))
		if err != nil {
			c.errFrom(err)
			return
		}
		if ok {
			n++
		}
	}
	c.wr.AppendInt(n)
}

func cmdType(c *conn, args [][]byte) {
	ok, err := c.s.cache.Exists(view(args[1]))
	if err != nil {
		c.errFrom(err)
		return
	}
	if ok {
		c.wr.AppendSimple("string")
	} else {
		c.wr.AppendSimple("none")
	}
}

// cmdRename is RENAME and RENAMENX; it runs under the exclusive lock.
func cmdRename(c *conn, args [][]byte) {
	nx := len(args[0]) == 8
	ok, err := c.s.cache.Rename(string(args[1]), string(args[2]), nx)
	switch {
	case err != nil:
		c.errFrom(err)
	case nx:
		c.wr.AppendInt(b2i(ok))
	default:
		c.wr.AppendOK()
	}
}

// cmdCopy is COPY source destination [DB 0] [REPLACE].
func cmdCopy(c *conn, args [][]byte) {
	replace := false
	for j := 3; j < len(args); j++ {
		switch {
		case eqFold(args[j], "replace"):
			replace = true
		case eqFold(args[j], "db") && j+1 < len(args):
			db, ok := parseInt(args[j+1])
			if !ok {
				c.errReply(errNotInteger)
				return
			}
			if db != 0 {
				c.errReply(errDBIndex)
				return
			}
			j++
		default:
			c.errReply(errSyntax)
			return
		}
	}
	if string(args[1]) == string(args[2]) {
		c.errReply("ERR source and destination objects are the same")
		return
	}
	ok, err := c.s.cache.Copy(view(args[1]), string(args[2]), replace)
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendInt(b2i(ok))
}

// cmdExpire is EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT, following Redis
// 7.0's expireGenericCommand step by step.
func cmdExpire(c *conn, args [][]byte) {
	name := c.cur.name
	var nx, xx, gt, lt bool
	for _, a := range args[3:] {
		switch {
		case eqFold(a, "nx"):
			nx = true
		case eqFold(a, "xx"):
			xx = true
		case eqFold(a, "gt"):
			gt = true
		case eqFold(a, "lt"):
			lt = true
		default:
			c.errReply("ERR Unsupported option " + string(a))
			return
		}
	}
	if nx && (xx || gt || lt) {
		c.errReply("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if gt && lt {
		c.errReply("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInteger)
		return
	}
	if name == "expire" || name == "expireat" {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			c.errReply(invalidExpire(name))
			return
		}
		when *= 1000
	}
	if name == "expire" || name == "pexpire" {
		base := c.s.cache.Now() / 1e6
		if when > math.MaxInt64-base {
			c.errReply(invalidExpire(name))
			return
		}
		when += base
	}
	mode := cache.ExpireAlways
	switch {
	case nx:
		mode = cache.ExpireNX
	case xx && lt:
		mode = cache.ExpireXXLT
	case gt: // GT already requires an existing expiry, so XX adds nothing
		mode = cache.ExpireGT
	case lt:
		mode = cache.ExpireLT
	case xx:
		mode = cache.ExpireXX
	}
	at := msToNanos(when)
	if at <= 0 {
		at = 1 // in the past: the cache deletes the key
	}
	c.intReply(c.s.cache.Expire(string(args[1]), at, mode))
}

// cmdTTL is TTL, PTTL, EXPIRETIME and PEXPIRETIME.
func cmdTTL(c *conn, args [][]byte) {
	e, ok, err := c.s.cache.Peek(view(args[1]))
	switch {
	case err != nil:
		c.errFrom(err)
		return
	case !ok:
		c.wr.AppendInt(-2)
		return
	case e.ExpireAt == 0:
		c.wr.AppendInt(-1)
		return
	}
	atMs := e.ExpireAt / 1e6
	switch c.cur.name {
	case "pexpiretime":
		c.wr.AppendInt(atMs)
	case "expiretime":
		c.wr.AppendInt((atMs + 500) / 1000)
	case "pttl":
		c.wr.AppendInt(max(atMs-c.s.cache.Now()/1e6, 0))
	default:
		c.wr.AppendInt((max(atMs-c.s.cache.Now()/1e6, 0) + 500) / 1000)
	}
}

func cmdPersist(c *conn, args [][]byte) {
	c.intReply(c.s.cache.Persist(string(args[1])))
}

func cmdKeys(c *conn, args [][]byte) {
	keys, err := c.s.cache.Keys(string(args[1]))
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendArrayLen(len(keys))
	for _, k := range keys {
		c.wr.AppendBulkString(k)
	}
}

// cmdScan is SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. Every key
// is a string, so a TYPE other than "string" matches nothing (the cursor
// still advances, as in Redis).
func cmdScan(c *conn, args [][]byte) {
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		c.errReply("ERR invalid cursor")
		return
	}
	pattern, count, onlyNone := "", 10, false
	for j := 2; j < len(args); j += 2 {
		if j+1 >= len(args) {
			c.errReply(errSyntax)
			return
		}
		switch {
		case eqFold(args[j], "match"):
			pattern = string(args[j+1])
			if pattern == "*" {
				pattern = ""
			}
		case eqFold(args[j], "count"):
			n, ok := parseInt(args[j+1])
			if !ok {
				c.errReply(errNotInteger)
				return
			}
			if n < 1 {
				c.errReply(errSyntax)
				return
			}
			count = int(min(n, math.MaxInt32))
		case eqFold(args[j], "type"):
			onlyNone = !eqFold(args[j+1], "string")
		default:
			c.errReply(errSyntax)
			return
		}
	}
	keys, next, err := c.s.cache.Scan(cursor, pattern, count, nil)
	if err != nil {
		c.errFrom(err)
		return
	}
	if onlyNone {
		keys = keys[:0]
	}
	c.wr.AppendArrayLen(2)
	c.wr.AppendBulkString(strconv.FormatUint(next, 10))
	c.wr.AppendArrayLen(len(keys))
	for _, k := range keys {
		c.wr.AppendBulkString(k)
	}
}

func cmdRandomKey(c *conn, _ [][]byte) {
	k, ok, err := c.s.cache.RandomKey()
	if err != nil {
		c.errFrom(err)
		return
	}
	if ok {
		c.wr.AppendBulkString(k)
		return
	}
	c.wr.AppendNull()
}

func cmdDBSize(c *conn, _ [][]byte) {
	n, err := c.s.cache.DBSize()
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendInt(int64(n))
}

// cmdFlush is FLUSHDB and FLUSHALL [ASYNC|SYNC]; both flush synchronously.
func cmdFlush(c *conn, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !eqFold(args[1], "async") && !eqFold(args[1], "sync")) {
		c.errReply(errSyntax)
		return
	}
	err := c.s.cache.Flush()
	c.s.watch.touchAll()
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendOK()
}

func cmdSelect(c *conn, args [][]byte) {
	db, ok := parseInt(args[1])
	switch {
	case !ok:
		c.errReply(errNotInteger)
	case db != 0:
		c.errReply(errDBIndex)
	default:
		c.wr.AppendOK()
	}
}

// intReply answers 1 or 0 for ok, or the error.
func (c *conn) intReply(ok bool, err error) {
	if err != nil {
		c.errFrom(err)
		return
	}
	c.wr.AppendInt(b2i(ok))
}
