package resp

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// queueCommand copies a command into the MULTI queue (the read buffer is
// reused, so the queue cannot point into it) and answers +QUEUED.
func (c *conn) queueCommand(args [][]byte) {
	size := 0
	for _, a := range args {
		size += len(a)
	}
	buf := make([]byte, 0, size)
	cp := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		cp[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	c.queue = append(c.queue, cp)
	c.multiLen.Store(int32(len(c.queue)))
	c.wr.AppendSimple("QUEUED")
}

func (c *conn) discardMulti() {
	c.inMulti, c.multiErr = false, false
	c.queue = nil
	c.multiLen.Store(-1)
}

func cmdMulti(c *conn, _ [][]byte) {
	if c.inMulti {
		c.errReply("ERR MULTI calls can not be nested")
		return
	}
	c.inMulti = true
	c.multiLen.Store(0)
	c.wr.AppendOK()
}

func cmdDiscard(c *conn, _ [][]byte) {
	if !c.inMulti {
		c.errReply("ERR DISCARD without MULTI")
		return
	}
	c.discardMulti()
	c.s.watch.unwatchAll(c)
	c.wr.AppendOK()
}

// cmdExec runs the queued commands under the exclusive side of the
// Isolation lock (EXEC is flagged exclusive), so that no other command
// interleaves with them.
func cmdExec(c *conn, _ [][]byte) {
	if !c.inMulti {
		c.errReply("ERR EXEC without MULTI")
		return
	}
	queue, aborted := c.queue, c.multiErr
	c.discardMulti()
	if len(c.watched) > 0 && !aborted {
		// In a fleet: let every write other nodes made before EXEC reach
		// the watchers first. (The transaction itself is atomic for this
		// node's clients only; see architecture.md.)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.s.cache.SyncRemote(ctx)
		cancel()
		if err != nil {
			c.s.watch.unwatchAll(c)
			c.errFrom(err)
			return
		}
	}
	dirty := c.dirty.Load()
	c.s.watch.unwatchAll(c)
	if aborted {
		c.errReply("EXECABORT Transaction discarded because of previous errors.")
		return
	}
	if dirty {
		c.wr.AppendNullArray()
		return
	}
	c.wr.AppendArrayLen(len(queue))
	exec := c.cur
	c.execDepth++
	for _, args := range queue {
		cmd := c.s.table.lookup(args[0])
		if msg := c.gateQueued(cmd, args); msg != "" {
			c.errReply(msg)
			c.pendReject(cmd)
			continue
		}
		c.call(cmd, args)
	}
	c.execDepth--
	// EXEC itself is counted as failed only when it did not run, as Redis.
	c.cur, c.failed = exec, false
}

func cmdWatch(c *conn, args [][]byte) {
	if c.inMulti {
		c.errReply("ERR WATCH inside MULTI is not allowed")
		return
	}
	for _, k := range args[1:] {
		c.s.watch.watch(c, string(k))
	}
	c.wr.AppendOK()
}

func cmdUnwatch(c *conn, _ [][]byte) {
	c.s.watch.unwatchAll(c)
	c.wr.AppendOK()
}

// watchRegistry tracks WATCHed keys. A command that may modify keys marks
// every connection watching one of them dirty, and EXEC on a dirty
// connection fails. As in Redis, a write that leaves a value unchanged
// still counts; unlike Redis, expiry and eviction in the L1 do not (they
// happen inside the tier, which has no hook for it).
type watchRegistry struct {
	n    atomic.Int64 // watched (key, conn) pairs; the hot-path check
	mu   sync.Mutex
	keys map[string]map[*conn]struct{}
}

func (w *watchRegistry) init() { w.keys = make(map[string]map[*conn]struct{}) }

// active reports whether any key is watched.
func (w *watchRegistry) active() bool { return w.n.Load() > 0 }

func (w *watchRegistry) watch(c *conn, key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	set := w.keys[key]
	if set == nil {
		set = make(map[*conn]struct{})
		w.keys[key] = set
	}
	if _, ok := set[c]; ok {
		return
	}
	set[c] = struct{}{}
	c.watched = append(c.watched, key)
	w.n.Add(1)
}

func (w *watchRegistry) unwatchAll(c *conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range c.watched {
		if set := w.keys[k]; set != nil {
			delete(set, c)
			w.n.Add(-1)
			if len(set) == 0 {
				delete(w.keys, k)
			}
		}
	}
	c.watched = nil
	c.dirty.Store(false)
}

// touchCommand marks the watchers of cmd's keys dirty.
func (w *watchRegistry) touchCommand(cmd *command, args [][]byte) {
	if cmd.firstKey == 0 {
		return
	}
	last := cmd.lastKey
	if last < 0 {
		last = len(args) + last
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := cmd.firstKey; i <= last && i < len(args); i += cmd.step {
		for c := range w.keys[view(args[i])] {
			c.dirty.Store(true)
		}
	}
}

// touchKey marks the watchers of key dirty.
func (w *watchRegistry) touchKey(key string) {
	if !w.active() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.keys[key] {
		c.dirty.Store(true)
	}
}

// touchAll marks every watcher dirty (FLUSHALL, FLUSHDB).
func (w *watchRegistry) touchAll() {
	if !w.active() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, set := range w.keys {
		for c := range set {
			c.dirty.Store(true)
		}
	}
}
