package resp

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/strata-cache/strata/internal/cache"
)

// readThrough answers a read of key, a resource key, which may load it
// from the origin. A load can take up to the resource's query timeout, so
// the connection first gives up its shared Isolation lock (resource keys
// cannot be written by MSET or MULTI/EXEC, so nothing is lost): a slow
// database must not stall the exclusive side for every other connection.
// Inside EXEC the exclusive lock is kept, as the transaction requires.
func (c *conn) readThrough(key []byte, opts cache.ReadOptions) {
	r, err := c.read(key, opts)
	switch {
	case err != nil:
		c.errFrom(err)
	case r.Found:
		c.wr.AppendBulk(r.Entry.Value)
	default:
		c.wr.AppendNull()
	}
}

// read is Read with the lock handling described on readThrough.
func (c *conn) read(key []byte, opts cache.ReadOptions) (cache.ReadResult, error) {
	if c.execDepth == 0 {
		c.unlock()
	}
	// The wait is bounded by the resource's query timeout: the shared load
	// has one, and a bypass read too.
	return c.s.cache.Read(context.Background(), view(key), opts)
}

// mgetThrough is MGET over keys of which some are resource keys: plain
// keys are read under the shared lock (so MGET still sees all or none of
// an MSET), then resource keys are read through, in parallel, without it.
func mgetThrough(c *conn, keys [][]byte) {
	type answer struct {
		value []byte
		found bool
		err   error
	}
	out := make([]answer, len(keys))
	var pending []int
	for i, k := range keys {
		if c.s.cache.ResourceOf(view(k)) != nil {
			pending = append(pending, i)
			continue
		}
		e, _, ok, err := c.s.cache.Get(view(k))
		out[i] = answer{value: e.Value, found: ok, err: err}
	}
	if c.execDepth == 0 {
		c.unlock()
	}
	var wg sync.WaitGroup
	for _, i := range pending {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.s.cache.Read(context.Background(), string(keys[i]), cache.ReadOptions{})
			out[i] = answer{value: r.Entry.Value, found: r.Found, err: err}
		}()
	}
	wg.Wait()
	c.wr.AppendArrayLen(len(keys))
	for _, a := range out {
		switch {
		case a.err != nil:
			// An error element, as EXEC replies carry them.
			c.wr.AppendError(errorReply(c, a.err))
		case a.found:
			c.wr.AppendBulk(a.value)
		default:
			c.wr.AppendNull()
		}
	}
}

// cmdStrataGet is STRATA.GET key [NOCACHE] [MINLSN lsn]: GET with
// read-through options. NOCACHE reads a resource key from PostgreSQL
// whatever the cache holds and refreshes the cache with it; on a plain key
// it changes nothing. MINLSN lsn (pg_current_wal_lsn() after the client's
// own commit, e.g. 0/16B3748) reads a WAL-invalidated resource key at
// least that fresh: the node waits, bounded by wal.min_lsn_wait, until it
// has applied lsn, or reads PostgreSQL.
func cmdStrataGet(c *conn, args [][]byte) {
	var opts cache.ReadOptions
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case eqFold(a, "nocache"):
			opts.NoCache = true
		case eqFold(a, "minlsn") && i+1 < len(args):
			lsn, err := cache.ParseLSN(string(args[i+1]))
			if err != nil {
				c.errReply("ERR MINLSN: " + err.Error())
				return
			}
			opts.MinLSN = lsn
			i++
		default:
			c.errReply(errSyntax)
			return
		}
	}
	if c.s.cache.ResourceOf(view(args[1])) == nil {
		cmdGet(c, args[:2])
		return
	}
	c.readThrough(args[1], opts)
}

// cmdStrataExplain is STRATA.EXPLAIN key: what the node knows about the
// key, as a map (RESP3) or a flat array of field names and values (RESP2),
// with the field names of GET /v1/explain/{key}. Absent fields are left
// out; numbers are integers except fill_duration_ms, a string.
func cmdStrataExplain(c *conn, args [][]byte) {
	x := c.s.cache.Explain(string(args[1]))
	type field struct {
		name string
		put  func()
	}
	str := func(s string) func() { return func() { c.wr.AppendBulkString(s) } }
	num := func(n int64) func() { return func() { c.wr.AppendInt(n) } }
	fields := []field{{"key", str(x.Key)}, {"resource", str(x.Resource)}}
	if x.Template != "" {
		fields = append(fields, field{"template", str(x.Template)})
		fields = append(fields, field{"params", func() {
			c.wr.AppendMapLen(len(x.Params))
			for i := range len(x.Params) {
				name := c.s.cache.ResourceOf(x.Key).Template.Param(i)
				c.wr.AppendBulkString(name)
				c.wr.AppendBulkString(x.Params[name])
			}
		}})
	}
	fields = append(fields, field{"tier", str(x.Tier)}, field{"state", str(x.State)})
	if x.AgeMs != nil {
		fields = append(fields, field{"age_ms", num(*x.AgeMs)})
	}
	if x.TTLMs != nil {
		fields = append(fields, field{"ttl_ms", num(*x.TTLMs)})
	}
	if x.ExpiresInMs != nil {
		fields = append(fields, field{"expires_in_ms", num(*x.ExpiresInMs)})
	}
	if x.FilledAt != nil {
		fields = append(fields, field{"filled_at", str(x.FilledAt.Format(time.RFC3339Nano))})
	}
	if x.FillDurationMs != nil {
		fields = append(fields, field{"fill_duration_ms", str(strconv.FormatFloat(*x.FillDurationMs, 'f', 3, 64))})
	}
	if x.FillKind != "" {
		fields = append(fields, field{"fill_kind", str(x.FillKind)})
	}
	if x.Bytes != nil {
		fields = append(fields, field{"bytes", num(int64(*x.Bytes))})
	}
	c.wr.AppendMapLen(len(fields))
	for _, f := range fields {
		c.wr.AppendBulkString(f.name)
		f.put()
	}
}
