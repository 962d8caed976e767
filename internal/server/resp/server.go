// Package resp is strata's Redis-protocol front end. It serves the string
// commands, key-space commands and the administrative commands that Redis
// clients and tools send on connect (HELLO, CLIENT, COMMAND, CONFIG GET,
// INFO, SLOWLOG), over the one key space in package cache.
//
// Each connection has one goroutine. It parses every command already in its
// read buffer, executes them, appends the replies to one buffer and writes
// that buffer once the read buffer is drained, so a pipeline of n commands
// costs one read and one write, not n. Replies are written synchronously: a
// client that stops reading stalls only its own goroutine (TCP backpressure
// bounds what the server holds for it), and a single reply larger than
// Options.OutputLimit disconnects the client.
package resp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/gateway"
	"github.com/strata-cache/strata/internal/server/resp/wire"
	"github.com/strata-cache/strata/internal/slowlog"
	"github.com/strata-cache/strata/internal/telemetry"
)

// Defaults of Options.
const (
	// DefaultOutputLimit is the default Options.OutputLimit: 256 MiB. Redis's
	// normal clients have no output limit (client-output-buffer-limit normal
	// 0 0 0); strata bounds the one reply it must hold in memory so that a
	// KEYS or MGET over a huge key space cannot exhaust it.
	DefaultOutputLimit = 256 << 20
	// DefaultMaxClients is the default Options.MaxClients, Redis's maxclients.
	DefaultMaxClients = 10000
	// RedisVersion is the Redis version strata reports where clients look for
	// one (HELLO, INFO redis_version): the release whose semantics it follows.
	RedisVersion = "7.0.0"
)

// flushAt is the reply-buffer size at which a connection writes even though
// more pipelined commands are buffered, bounding its memory.
const flushAt = 64 << 10

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("resp: server closed")

// InfoFunc returns what the node knows about itself, for INFO server. It is
// called on every INFO, so it should be cheap.
type InfoFunc func() NodeInfo

// NodeInfo are the node-level fields of INFO server.
type NodeInfo struct {
	// Version is strata's version (strata_version).
	Version string
	// RunID identifies this process (run_id); 40 hex characters in Redis.
	RunID string
	// Started is when the node started (uptime_in_seconds).
	Started time.Time
	// ConfigFile is the path of the configuration file, "" if none.
	ConfigFile string
	// TCPPort and HTTPPort are the RESP and HTTP ports.
	TCPPort  int
	HTTPPort int
}

// AllowFunc decides whether a command may run on a connection. It is the
// seam for the gateway (authentication, scopes, rate limits): it returns ""
// to allow the command, or the error reply to send instead (e.g.
// "NOAUTH Authentication required."). It is called for every command, so it
// must be fast.
type AllowFunc func(conn ConnInfo, name string, args [][]byte) string

// ConnInfo identifies a connection to an AllowFunc.
type ConnInfo struct {
	ID         uint64
	RemoteAddr string
	Name       string
}

// Options configures a Server.
type Options struct {
	// Cache is the key space. Required.
	Cache *cache.Cache
	// Logger receives connection errors and recovered panics; nil discards.
	Logger *slog.Logger
	// Metrics receives per-command and connection metrics; nil disables them
	// (INFO's own counters are always kept).
	Metrics *telemetry.Metrics
	// Limits bounds requests; zero fields take wire's defaults.
	Limits wire.Limits
	// IdleTimeout closes a connection that sends nothing for this long; 0
	// means never (Redis's timeout 0).
	IdleTimeout time.Duration
	// OutputLimit is the largest reply buffer, in bytes, a connection may
	// build between writes (default DefaultOutputLimit); a reply that
	// exceeds it closes the connection.
	OutputLimit int
	// MaxClients bounds open connections (default DefaultMaxClients); one
	// more is answered "-ERR max number of clients reached" and closed.
	MaxClients int
	// SlowLog records slow commands; nil creates a private one with Redis's
	// defaults.
	SlowLog *slowlog.Log
	// Info supplies INFO server's node-level fields; nil reports defaults.
	Info InfoFunc
	// Allow decides whether each command may run; nil allows everything.
	// It is asked after Gateway.
	Allow AllowFunc
	// Gateway authenticates connections and checks every command's scope,
	// keys and rate limit (see auth.go). Nil, or a Gateway without keys,
	// runs every connection as gateway.Anonymous.
	Gateway *gateway.Gateway
	// WriteTimeout disconnects a client that does not accept its replies
	// for this long (a slow or stalled reader); 0 means never.
	WriteTimeout time.Duration
}

// Server serves RESP connections. Create it with New.
type Server struct {
	cache  *cache.Cache
	log    *slog.Logger
	opts   Options
	slow   *slowlog.Log
	table  *commandTable
	stats  []cmdStats // indexed by command.idx
	cmdm   []*telemetry.CommandMetrics
	connm  *telemetry.ConnMetrics
	reject prometheus.Counter

	started     time.Time // also the base of mono
	nextID      atomic.Uint64
	totalConns  atomic.Uint64
	rejected    atomic.Uint64
	panics      atomic.Uint64
	totalCmds   atomic.Uint64
	netIn       atomic.Uint64
	netOut      atomic.Uint64
	statsResetN atomic.Int64 // CONFIG RESETSTAT time, Unix ns

	watch watchRegistry

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	done      chan struct{} // closed by Shutdown
	wg        sync.WaitGroup
}

// New returns a Server for opts.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OutputLimit <= 0 {
		opts.OutputLimit = DefaultOutputLimit
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.SlowLog == nil {
		opts.SlowLog = slowlog.New(slowlog.DefaultThreshold, slowlog.DefaultMaxLen)
	}
	opts.Gateway = openGateway(opts.Gateway)
	s := &Server{
		cache:     opts.Cache,
		log:       opts.Logger,
		opts:      opts,
		slow:      opts.SlowLog,
		table:     buildTable(),
		started:   time.Now(),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		done:      make(chan struct{}),
	}
	s.stats = make([]cmdStats, len(s.table.list))
	s.watch.init()
	// In a fleet, writes on other nodes reach this one as invalidations:
	// they dirty WATCHers like local writes ("" means some may have been
	// missed: all of them).
	s.cache.OnRemoteWrite(func(key string) {
		if key == "" {
			s.watch.touchAll()
			return
		}
		s.watch.touchKey(key)
	})
	if m := opts.Metrics; m != nil {
		s.cmdm = make([]*telemetry.CommandMetrics, len(s.table.list))
		for i, cmd := range s.table.list {
			s.cmdm[i] = m.Command(cmd.name)
		}
		s.connm = m.Conn(telemetry.ProtoRESP)
		s.reject = m.Rejected(telemetry.ProtoRESP, "maxclients")
	}
	return s
}

// mono returns the nanoseconds since the server started, from the
// monotonic clock only (time.Now reads the wall clock as well, which costs a
// second system clock read).
func (s *Server) mono() int64 { return int64(time.Since(s.started)) }

// wall converts a mono reading to wall-clock time.
func (s *Server) wall(mono int64) time.Time { return s.started.Add(time.Duration(mono)) }

// Addr returns the address of the first listener being served, or nil.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		return ln.Addr()
	}
	return nil
}

// Serve accepts connections on ln until Shutdown, and then returns
// ErrServerClosed. It closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: back off as
				// net/http does rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("resp: accept failed; retrying", slog.Any("error", err), slog.Duration("backoff", backoff))
				select {
				case <-time.After(backoff):
				case <-s.done:
					return ErrServerClosed
				}
				continue
			}
			return err
		}
		backoff = 0
		s.accept(nc)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// accept registers nc and starts its goroutine, or rejects it.
func (s *Server) accept(nc net.Conn) {
	s.totalConns.Add(1)
	if s.connm != nil {
		s.connm.Received.Inc()
	}
	s.mu.Lock()
	if s.closing.Load() || len(s.conns) >= s.opts.MaxClients {
		closing := s.closing.Load()
		s.mu.Unlock()
		if !closing {
			s.rejected.Add(1)
			if s.reject != nil {
				s.reject.Inc()
			}
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = nc.Write([]byte("-ERR max number of clients reached\r\n"))
		}
		nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	if s.connm != nil {
		s.connm.Connected.Inc()
	}
	go func() {
		defer s.wg.Done()
		defer s.release(c)
		c.serve()
	}()
}

func (s *Server) release(c *conn) {
	c.nc.Close()
	s.watch.unwatchAll(c)
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if s.connm != nil {
		s.connm.Connected.Dec()
	}
}

// Shutdown stops accepting connections and lets every connection finish the
// commands it has already read, write their replies and close. If ctx ends
// first, it closes the remaining connections at once and returns ctx's
// error. It waits for every goroutine the Server started, and is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing.Swap(true) {
		close(s.done)
	}
	for ln := range s.listeners {
		ln.Close()
	}
	// A read deadline in the past interrupts a connection blocked reading;
	// the connection sees closing and ends after its buffered commands.
	for c := range s.conns {
		_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	<-finished
	return ctx.Err()
}

// connList returns the open connections, for CLIENT LIST and KILL.
func (s *Server) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// connectedClients returns the number of open connections.
func (s *Server) connectedClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
