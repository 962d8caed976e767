package resp

import (
	"strings"
	"sync/atomic"
	"time"
)

// cmdFlags describe a command, as Redis's command flags do.
type cmdFlags uint16

const (
	flagWrite     cmdFlags = 1 << iota // modifies the key space
	flagReadonly                       // reads the key space only
	flagDenyOOM                        // may grow memory
	flagFast                           // O(1) or O(log n)
	flagAdmin                          // administrative
	flagLoading                        // allowed while loading (reported only)
	flagStale                          // allowed with stale data (reported only)
	flagExclusive                      // runs under Isolation's exclusive side
	flagMultiCtl                       // runs at once inside MULTI, never queued
)

// flagNames are the Redis names of the reported flags, for COMMAND.
var flagNames = []struct {
	f    cmdFlags
	name string
}{
	{flagWrite, "write"}, {flagReadonly, "readonly"}, {flagDenyOOM, "denyoom"},
	{flagAdmin, "admin"}, {flagLoading, "loading"}, {flagStale, "stale"}, {flagFast, "fast"},
}

// command is one entry of the command table.
type command struct {
	name  string // lower case
	arity int    // Redis convention: n exact, -n at least n
	flags cmdFlags
	// Key positions, Redis convention: first, last (-1 = last argument) and
	// step; 0, 0, 0 for commands without keys.
	firstKey, lastKey, step int
	fn                      func(c *conn, args [][]byte)
	// subs are the subcommands (lower case) and their arities.
	subs map[string]int
	// categories are the ACL categories reported by COMMAND.
	categories []string
	idx        int // position in the table, indexing statistics
	// readOnlyCheck is set for write commands with keys, except DEL and
	// UNLINK (which invalidate): they are refused on resource keys.
	readOnlyCheck bool
}

// arityOK reports whether n arguments (the name included) fit the arity.
func arityOK(arity, n int) bool {
	if arity >= 0 {
		return n == arity
	}
	return n >= -arity
}

// commandTable is the server's command table: built once per Server, read
// only afterwards.
type commandTable struct {
	list   []*command
	byName map[string]*command
}

// maxCommandName is the longest command name looked up; longer names are
// unknown without a map access.
const maxCommandName = 32

// lookup finds the command named by name, case-insensitively, without
// allocating: the lower-cased copy lives on the stack and the map index
// expression with a string conversion does not allocate.
func (t *commandTable) lookup(name []byte) *command {
	if len(name) > maxCommandName {
		return nil
	}
	var buf [maxCommandName]byte
	for i, ch := range name {
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return t.byName[string(buf[:len(name)])]
}

// cmdStats are the server-wide counters of one command, read by INFO
// commandstats.
type cmdStats struct {
	calls, nanos, failed, rejected atomic.Uint64
}

// cmdPending accumulates one connection's counters between writes.
type cmdPending struct {
	calls, nanos, failed, rejected uint64
	dirty                          bool
}

func (c *conn) pendTouch(cmd *command) *cmdPending {
	p := &c.pend[cmd.idx]
	if !p.dirty {
		p.dirty = true
		c.pendDirty = append(c.pendDirty, int32(cmd.idx))
	}
	return p
}

// pendAdd counts one call of cmd that took d.
func (c *conn) pendAdd(cmd *command, d time.Duration, failed bool) {
	p := c.pendTouch(cmd)
	p.calls++
	p.nanos += uint64(d)
	if failed {
		p.failed++
	}
}

// pendReject counts a call of cmd refused before it ran.
func (c *conn) pendReject(cmd *command) {
	c.pendTouch(cmd).rejected++
}

// mergeStats adds the pending counters to the server's and to Prometheus.
func (c *conn) mergeStats() {
	if len(c.pendDirty) == 0 {
		return
	}
	s := c.s
	var total uint64
	for _, i := range c.pendDirty {
		p := &c.pend[i]
		st := &s.stats[i]
		if p.calls > 0 {
			st.calls.Add(p.calls)
			st.nanos.Add(p.nanos)
			total += p.calls
		}
		if p.failed > 0 {
			st.failed.Add(p.failed)
		}
		if p.rejected > 0 {
			st.rejected.Add(p.rejected)
		}
		if s.cmdm != nil {
			m := s.cmdm[i]
			if p.calls > 0 {
				m.Calls.Add(float64(p.calls))
			}
			if p.failed+p.rejected > 0 {
				m.Errors.Add(float64(p.failed + p.rejected))
			}
		}
		*p = cmdPending{}
	}
	s.totalCmds.Add(total)
	c.pendDirty = c.pendDirty[:0]
}

// exec runs one command read from the client: it looks the command up,
// checks its arity, queues it inside MULTI, asks the gateway seam, and
// calls it.
func (c *conn) exec(args [][]byte) {
	cmd := c.s.table.lookup(args[0])
	if cmd == nil {
		c.errReply(unknownCommand(args))
		if c.inMulti {
			c.multiErr = true
		}
		return
	}
	if !arityOK(cmd.arity, len(args)) {
		msg := "wrong number of arguments for '" + cmd.name + "' command"
		c.pendReject(cmd)
		if c.inMulti && cmd.name == "exec" {
			// Redis's execCommandAbort: a rejected EXEC ends the transaction.
			c.errReply("EXECABORT Transaction discarded because of: " + msg)
			c.discardMulti()
			c.s.watch.unwatchAll(c)
			return
		}
		c.errReply("ERR " + msg)
		if c.inMulti {
			c.multiErr = true
		}
		return
	}
	if c.inMulti && cmd.flags&flagMultiCtl == 0 {
		if msg := c.checkSubcommand(cmd, args); msg != "" {
			c.errReply(msg)
			c.pendReject(cmd)
			c.multiErr = true
			return
		}
		if msg := c.gate(cmd, args); msg != "" {
			c.errReply(msg)
			c.pendReject(cmd)
			c.multiErr = true
			return
		}
		c.queuedAs = c.sess.Principal()
		c.queueCommand(args)
		return
	}
	if msg := c.gate(cmd, args); msg != "" {
		c.errReply(msg)
		c.pendReject(cmd)
		return
	}
	if allow := c.s.opts.Allow; allow != nil {
		if msg := allow(c.info(), cmd.name, args); msg != "" {
			c.errReply(msg)
			c.pendReject(cmd)
			return
		}
	}
	c.call(cmd, args)
}

// checkSubcommand validates a subcommand's name and arity, returning the
// error reply or "".
func (c *conn) checkSubcommand(cmd *command, args [][]byte) string {
	if cmd.subs == nil || len(args) < 2 {
		return ""
	}
	sub := strings.ToLower(string(args[1]))
	arity, ok := cmd.subs[sub]
	if !ok {
		return "ERR unknown subcommand '" + truncate(string(args[1]), 128) + "'. Try " + strings.ToUpper(cmd.name) + " HELP."
	}
	if !arityOK(arity, len(args)) {
		return "ERR wrong number of arguments for '" + cmd.name + "|" + sub + "' command"
	}
	return ""
}

// call runs cmd under the right side of the Isolation lock, and records its
// statistics and slow-log entry. Inside EXEC the lock is already held.
func (c *conn) call(cmd *command, args [][]byte) {
	if msg := c.checkSubcommand(cmd, args); msg != "" {
		c.errReply(msg)
		c.pendReject(cmd)
		return
	}
	if cmd.readOnlyCheck && c.refuseResourceWrite(cmd, args) {
		c.pendReject(cmd)
		return
	}
	if c.execDepth == 0 {
		if cmd.flags&flagExclusive != 0 {
			c.lockExclusive()
		} else {
			if c.lock == exclusiveLock {
				c.unlock() // do not keep others out after an exclusive command
			}
			c.lockShared()
		}
	}
	c.cur = cmd
	c.failed = false
	// One clock read per command: a command starts when the previous one
	// (or the last read or write) ended. Reading the clock costs more than
	// a cache hit on some virtual machines, so this halves a GET's clock cost
	// at the price of counting the parsing of each command in its duration.
	start := c.clock
	cmd.fn(c, args)
	end := c.s.mono()
	c.clock = end
	d := time.Duration(end - start)
	c.cur = nil
	if cmd.flags&flagWrite != 0 && !c.failed && c.s.watch.active() {
		c.s.watch.touchCommand(cmd, args)
	}
	c.pendAdd(cmd, d, c.failed)
	c.lastActive.Store(end)
	c.lastCmd.Store(int32(cmd.idx))
	if c.s.slow.Slow(d) {
		c.s.slow.Add(c.s.wall(start), d, args, c.addr, c.getName())
	}
	if c.s.cmdm != nil {
		c.s.cmdm[cmd.idx].Duration.Observe(d.Seconds())
	}
}

// refuseResourceWrite answers the read-only error and reports true if one
// of a write command's keys belongs to a resource: the database owns those.
func (c *conn) refuseResourceWrite(cmd *command, args [][]byte) bool {
	if c.s.cache.Resources() == nil {
		return false
	}
	last := cmd.lastKey
	if last < 0 {
		last = len(args) + last
	}
	for i := cmd.firstKey; i <= last && i < len(args); i += cmd.step {
		if err := c.s.cache.CheckWrite(view(args[i])); err != nil {
			c.errFrom(err) // the reply copies the key before the buffer is reused
			return true
		}
	}
	return false
}

func (c *conn) getName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// unknownCommand words Redis's unknown-command error, naming why for the
// commands strata deliberately does not have.
func unknownCommand(args [][]byte) string {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.WriteString(truncate(string(args[0]), 128))
	b.WriteString("', with args beginning with: ")
	used := 0
	for _, a := range args[1:] {
		if used >= 128 {
			break
		}
		s := truncate(string(a), 128-used)
		used += len(s)
		b.WriteString("'")
		b.WriteString(s)
		b.WriteString("' ")
	}
	if why, ok := unsupported[strings.ToLower(string(args[0]))]; ok {
		b.WriteString("(" + why + ")")
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// The reasons strata gives for commands it does not implement.
const (
	whyStrings   = "strata stores strings only"
	whyNoSupport = "not supported by strata"
)

// unsupported names the Redis commands strata leaves out on purpose: those
// of other data types, pub/sub, scripting, cluster, persistence and
// replication. They get Redis's unknown-command error with a reason.
var unsupported = func() map[string]string {
	m := map[string]string{}
	for _, n := range strings.Fields(`lpush rpush lpushx rpushx lpop rpop lrange llen lindex lset lrem ltrim
		linsert lpos lmove blmove blpop brpop brpoplpush rpoplpush lmpop blmpop
		hset hget hmset hmget hgetall hdel hexists hincrby hincrbyfloat hkeys hvals hlen hsetnx hstrlen hscan hrandfield
		sadd srem smembers sismember smismember scard spop srandmember sinter sinterstore sunion sunionstore
		sdiff sdiffstore smove sscan sintercard
		zadd zrem zrange zrangebyscore zrevrange zrank zrevrank zscore zcard zcount zincrby zscan zpopmin zpopmax
		bzpopmin bzpopmax zrangestore zunionstore zinterstore zdiff zdiffstore zunion zinter zmscore zrandmember
		zlexcount zrangebylex zrevrangebylex zremrangebyrank zremrangebyscore zremrangebylex zrevrangebyscore
		zmpop bzmpop zintercard
		xadd xrange xrevrange xlen xread xreadgroup xgroup xack xpending xclaim xautoclaim xdel xtrim xinfo xsetid
		pfadd pfcount pfmerge geoadd geodist geohash geopos georadius georadius_ro georadiusbymember
		georadiusbymember_ro geosearch geosearchstore
		setbit getbit bitcount bitpos bitop bitfield bitfield_ro lcs sort sort_ro`) {
		m[n] = whyStrings
	}
	for _, n := range strings.Fields(`subscribe unsubscribe psubscribe punsubscribe publish pubsub ssubscribe
		sunsubscribe spublish eval evalsha eval_ro evalsha_ro script fcall fcall_ro function
		cluster readonly readwrite asking module dump restore migrate move swapdb object wait waitaof
		save bgsave bgrewriteaof lastsave shutdown replicaof slaveof sync psync monitor debug failover
		acl lolwut`) {
		m[n] = whyNoSupport
	}
	return m
}()
