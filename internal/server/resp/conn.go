package resp

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-cache/strata/internal/gateway"
	"github.com/strata-cache/strata/internal/server/resp/wire"
)

// Lock states of a connection on the cache's Isolation lock.
const (
	unlocked = iota
	sharedLock
	exclusiveLock
)

// conn is one client connection. Its fields are owned by its goroutine,
// except those under mu or atomic, which CLIENT LIST and KILL read from
// other connections.
type conn struct {
	s    *Server
	nc   net.Conn
	id   uint64
	rd   *wire.Reader
	wr   *wire.Writer
	addr string
	// laddr is the local address.
	laddr   string
	created time.Time

	lock   int // unlocked, sharedLock or exclusiveLock
	stripe int // the Isolation stripe held when lock == sharedLock

	// Per-command state.
	cur    *command // the command running, for logs
	clock  int64    // Server.mono when the next command starts
	failed bool     // the running command replied with an error
	quit   bool     // close after writing the replies

	// MULTI state.
	inMulti   bool
	multiErr  bool       // a queued command was rejected: EXEC aborts
	queue     [][][]byte // copies of the queued commands
	execDepth int        // >0 while EXEC runs queued commands

	// Gateway state (auth.go): the session, whether it needs checks at all
	// (keys are configured), whether the reader has the pre-auth budget,
	// and the principal the MULTI queue was checked against.
	sess     *gateway.Session
	gated    bool
	preAuth  bool
	queuedAs *gateway.Principal

	// Watched keys, and whether one was modified since WATCH.
	watched []string
	dirty   atomic.Bool

	// Pending per-command statistics, merged into the server's at each
	// write, so that the hot path touches no shared cache line.
	pend      []cmdPending
	pendDirty []int32

	// Fields read by other connections.
	mu         sync.Mutex
	name       string
	libName    string
	libVer     string
	lastActive atomic.Int64 // Server.mono of the last command
	lastCmd    atomic.Int32 // index of the last command, -1 if none
	multiLen   atomic.Int32 // queued commands, -1 outside MULTI
	proto      atomic.Int32
	noEvict    atomic.Bool
	noTouch    atomic.Bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		s:       s,
		nc:      nc,
		id:      s.nextID.Add(1),
		rd:      wire.NewReader(nc, s.opts.Limits),
		wr:      wire.NewWriter(nc),
		addr:    addrString(nc.RemoteAddr()),
		laddr:   addrString(nc.LocalAddr()),
		created: time.Now(),
		pend:    make([]cmdPending, len(s.table.list)),
	}
	c.lastActive.Store(s.mono())
	c.lastCmd.Store(-1)
	c.multiLen.Store(-1)
	c.proto.Store(2)
	c.initGateway()
	return c
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// info returns the connection's identity for an AllowFunc.
func (c *conn) info() ConnInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ConnInfo{ID: c.id, RemoteAddr: c.addr, Name: c.name}
}

// serve runs the connection until it closes.
func (c *conn) serve() {
	defer c.recoverPanic()
	for {
		args, err := c.rd.Next()
		if err != nil {
			// A protocol error: the stream cannot be framed any more, so
			// answer it and close, as Redis does.
			c.wr.AppendError(err.Error())
			c.unlock()
			_ = c.flush()
			return
		}
		if args == nil {
			// The read buffer is drained: write the replies, then block.
			c.unlock()
			if c.flush() != nil {
				return
			}
			if !c.waitInput() {
				return
			}
			continue
		}
		c.exec(args)
		c.syncLimits()
		if c.quit {
			c.unlock()
			_ = c.flush()
			return
		}
		if c.wr.Len() >= flushAt {
			if c.wr.Len() > c.s.opts.OutputLimit {
				c.s.log.Warn("resp: closing client over the output limit",
					slog.Uint64("client.id", c.id), slog.String("client.address", c.addr),
					slog.Int("reply.bytes", c.wr.Len()), slog.Int("limit", c.s.opts.OutputLimit))
				c.unlock()
				return
			}
			c.unlock()
			if c.flush() != nil {
				return
			}
		}
	}
}

// waitInput reads more input, and reports whether the connection should go
// on. It returns false at EOF, on errors, and when the server is shutting
// down (after the buffered commands have run).
func (c *conn) waitInput() bool {
	if d := c.s.opts.IdleTimeout; d > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
	}
	// Checked after setting our deadline: Shutdown sets closing before it
	// sets its own deadline, so either we see closing here or its deadline
	// replaces ours and interrupts the read.
	if c.s.closing.Load() {
		return false
	}
	n := c.rd.Buffered()
	err := c.rd.Fill()
	c.clock = c.s.mono()
	c.s.netIn.Add(uint64(c.rd.Buffered() - n))
	if err == nil {
		return true
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !c.s.closing.Load() {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.s.log.Debug("resp: closing idle client", slog.Uint64("client.id", c.id))
		} else {
			c.s.log.Debug("resp: read failed", slog.Uint64("client.id", c.id), slog.Any("error", err))
		}
	}
	return false
}

// flush writes the buffered replies and merges pending statistics.
func (c *conn) flush() error {
	c.mergeStats()
	n := c.wr.Len()
	if n == 0 {
		return nil
	}
	c.s.netOut.Add(uint64(n))
	c.writeDeadline()
	err := c.wr.Flush()
	c.clock = c.s.mono()
	if err != nil && !c.s.closing.Load() {
		c.s.log.Debug("resp: write failed", slog.Uint64("client.id", c.id), slog.Any("error", err))
	}
	return err
}

// lockShared takes the shared side of the cache's Isolation lock, unless
// the connection already holds a side.
func (c *conn) lockShared() {
	if c.lock == unlocked {
		c.stripe = c.s.cache.Isolation.RLock(c.id)
		c.lock = sharedLock
	}
}

// lockExclusive takes the exclusive side, dropping the shared side first.
func (c *conn) lockExclusive() {
	if c.lock == exclusiveLock {
		return
	}
	c.unlock()
	c.s.cache.Isolation.Lock()
	c.lock = exclusiveLock
}

// unlock releases whichever side is held.
func (c *conn) unlock() {
	switch c.lock {
	case sharedLock:
		c.s.cache.Isolation.RUnlock(c.stripe)
	case exclusiveLock:
		c.s.cache.Isolation.Unlock()
	}
	c.lock = unlocked
}

// recoverPanic turns a panic in a command into an error reply and a closed
// connection, so that one bad command cannot take the process down.
func (c *conn) recoverPanic() {
	r := recover()
	if r == nil {
		return
	}
	c.unlock()
	name := ""
	if c.cur != nil {
		name = c.cur.name
	}
	c.s.panics.Add(1)
	c.s.log.Error("resp: panic in command; closing the connection",
		slog.String("command", name), slog.Uint64("client.id", c.id),
		slog.String("client.address", c.addr), slog.Any("panic", r),
		slog.String("stack", string(debug.Stack())))
	if c.cur != nil {
		c.pendAdd(c.cur, 0, true)
	}
	c.wr.AppendError("ERR internal error")
	_ = c.flush()
}

// reply helpers.

// errReply answers an error and marks the command failed.
func (c *conn) errReply(msg string) {
	c.failed = true
	c.wr.AppendError(msg)
}

// errFrom answers err through the one error table.
func (c *conn) errFrom(err error) {
	c.errReply(errorReply(c, err))
}
