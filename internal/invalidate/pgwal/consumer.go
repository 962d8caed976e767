package pgwal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/strata-cache/strata/internal/resource"
)

// Invalidator applies invalidations. *cache.Cache implements it. Both
// methods must have taken effect on every tier when they return: the
// consumer acknowledges the WAL position afterwards.
type Invalidator interface {
	// Invalidate removes key and fences fills of it that started before.
	Invalidate(key string) bool
	// InvalidateResource removes every key of the named resource and
	// fences every fill of it that started before.
	InvalidateResource(name string) bool
}

// Counter, Gauge and Observer are the parts of Prometheus metrics the
// consumer uses.
type (
	Counter  interface{ Inc() }
	Gauge    interface{ Set(float64) }
	Observer interface{ Observe(float64) }
)

// Metrics are the consumer's series; nil fields record nothing.
type Metrics struct {
	// Lag observes, per applied transaction, the seconds from its commit
	// timestamp (PostgreSQL's clock) to the end of its invalidation.
	Lag Observer
	// AppliedLSN, ConfirmedLSN and SlotLagBytes are set as positions move.
	AppliedLSN, ConfirmedLSN, SlotLagBytes Gauge
	// Invalidations returns the counter of invalidations caused by changes
	// to table (schema-qualified); called once per bound table.
	Invalidations func(table string) Counter
	// Reconnects counts replication sessions that ended with an error and
	// were retried; SlotRecreated counts lost slots that were recreated.
	Reconnects, SlotRecreated Counter
}

type nop struct{}

func (nop) Inc()            {}
func (nop) Set(float64)     {}
func (nop) Observe(float64) {}

func (m *Metrics) fill() {
	for _, g := range []*Gauge{&m.AppliedLSN, &m.ConfirmedLSN, &m.SlotLagBytes} {
		if *g == nil {
			*g = nop{}
		}
	}
	for _, c := range []*Counter{&m.Reconnects, &m.SlotRecreated} {
		if *c == nil {
			*c = nop{}
		}
	}
	if m.Lag == nil {
		m.Lag = nop{}
	}
	if m.Invalidations == nil {
		m.Invalidations = func(string) Counter { return nop{} }
	}
}

// Defaults for Options.
const (
	DefaultSlot           = "strata"
	DefaultPublication    = "strata"
	DefaultHeartbeat      = time.Second
	DefaultStatusInterval = time.Second
)

// Options configure a Consumer.
type Options struct {
	// DSN names the database (the one resources load from). The consumer
	// opens one ordinary connection (set-up, heartbeats, slot monitoring)
	// and one replication connection (replication=database is added).
	// The role needs the REPLICATION attribute and must own the bound
	// tables (to create or alter the publication).
	DSN string
	// Slot is the logical replication slot's name. Default DefaultSlot.
	Slot string
	// Publication is the publication's name. Default DefaultPublication.
	Publication string
	// Resources are the resources whose Spec.Tables bind tables. Resources
	// without bindings are ignored.
	Resources []*resource.Resource
	// Invalidator receives the invalidations. Required.
	Invalidator Invalidator
	// Heartbeat is the interval of the heartbeat messages that prove
	// freshness while published tables are idle. Default 1s.
	Heartbeat time.Duration
	// StatusInterval is the interval of standby status updates (the slot's
	// confirmed position). Default 1s.
	StatusInterval time.Duration
	// Logger receives lifecycle events; nil discards them.
	Logger *slog.Logger
	// Metrics are the consumer's series.
	Metrics Metrics
	// ReconnectMin and ReconnectMax bound the reconnect backoff. Defaults
	// 100ms and 5s.
	ReconnectMin, ReconnectMax time.Duration
}

// LSN is a WAL position.
type LSN = pglogrepl.LSN

// ParseLSN parses the text form "16/B374D848".
func ParseLSN(s string) (LSN, error) { return pglogrepl.ParseLSN(s) }

// Status is a snapshot of the consumer's position.
type Status struct {
	// Connected is true while a replication session is streaming.
	Connected bool
	// AppliedLSN: every transaction committed at or before it has been
	// invalidated. ConfirmedLSN: what the slot was last told (<= applied).
	// ServerLSN: pg_current_wal_lsn() at the last heartbeat.
	AppliedLSN, ConfirmedLSN, ServerLSN LSN
	// FreshAsOf: every transaction that committed before it has been
	// invalidated. Zero until the first heartbeat comes back.
	FreshAsOf time.Time
	// LastCommit is the commit timestamp of the last applied transaction.
	LastCommit time.Time
	// SlotLagBytes is the server's WAL position minus the slot's confirmed
	// position, at the last heartbeat.
	SlotLagBytes int64
	// LastError is the last session or heartbeat error, "" after recovery.
	LastError string
	// Reconnects and SlotsRecreated count since start.
	Reconnects, SlotsRecreated int64
}

// Lag returns how far behind the database the consumer may be at now:
// now - FreshAsOf, or a very large duration before the first proof.
func (s Status) Lag(now time.Time) time.Duration {
	if s.FreshAsOf.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return max(0, now.Sub(s.FreshAsOf))
}

// Errors New returns, wrapped with detail.
var (
	// ErrBinding is wrapped by every problem with a resource's tables.
	ErrBinding = errors.New("table binding cannot be served by logical replication")
	// ErrClosed is returned by WaitApplied after Close.
	ErrClosed = errors.New("pgwal: consumer closed")
)

// Consumer streams the WAL and invalidates. Create it with New; Close
// stops it.
type Consumer struct {
	opts   Options
	log    *slog.Logger
	m      Metrics
	tables map[string]*table // by "schema.name"

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu         sync.Mutex
	applied    LSN
	confirmed  LSN
	server     LSN
	freshAsOf  time.Time
	lastCommit time.Time
	slotLag    int64
	lastErr    string
	advanced   chan struct{} // closed and replaced when applied moves
	connected  atomic.Bool
	lost       atomic.Bool // the slot monitor saw wal_status = lost or no slot

	reconnects, recreated atomic.Int64
	kick                  chan struct{}
}

// New checks the bindings against the database, creates or completes the
// publication, creates the slot if it does not exist (or recreates a lost
// one), and starts streaming. It returns an error, without starting
// anything, when a binding cannot be served (a missing table or column, a
// replica identity that does not cover the columns) or the database cannot
// be reached.
func New(ctx context.Context, opts Options) (*Consumer, error) {
	if opts.Invalidator == nil {
		return nil, errors.New("pgwal: Options.Invalidator is required")
	}
	if opts.Slot == "" {
		opts.Slot = DefaultSlot
	}
	if opts.Publication == "" {
		opts.Publication = DefaultPublication
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = DefaultStatusInterval
	}
	if opts.ReconnectMin <= 0 {
		opts.ReconnectMin = 100 * time.Millisecond
	}
	if opts.ReconnectMax < opts.ReconnectMin {
		opts.ReconnectMax = max(5*time.Second, opts.ReconnectMin)
	}
	c := &Consumer{opts: opts, log: opts.Logger, m: opts.Metrics, advanced: make(chan struct{}), kick: make(chan struct{}, 1)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.m.fill()
	lostAtStart, err := c.setup(ctx)
	if err != nil {
		return nil, err
	}
	if lostAtStart {
		c.flushAll("slot recreated at start-up")
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(2)
	go c.stream()
	go c.heartbeat()
	return c, nil
}

// Close stops streaming and heartbeats and waits for them. It is
// idempotent. The slot and publication stay, so a restart resumes.
func (c *Consumer) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.wg.Wait()
		c.connected.Store(false)
		c.mu.Lock()
		close(c.advanced)
		c.advanced = nil
		c.mu.Unlock()
	})
	return nil
}

// Status returns a snapshot of the positions.
func (c *Consumer) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{
		Connected: c.connected.Load(), AppliedLSN: c.applied, ConfirmedLSN: c.confirmed, ServerLSN: c.server,
		FreshAsOf: c.freshAsOf, LastCommit: c.lastCommit, SlotLagBytes: c.slotLag, LastError: c.lastErr,
		Reconnects: c.reconnects.Load(), SlotsRecreated: c.recreated.Load(),
	}
}

// Applied returns the applied position.
func (c *Consumer) Applied() LSN {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied
}

// WaitApplied waits until the applied position is at least lsn, or ctx
// ends (its error is returned), or the consumer closes (ErrClosed). While
// it waits it asks for an early heartbeat, whose message moves the applied
// position past lsn once the stream has caught up, even when no published
// table changes.
func (c *Consumer) WaitApplied(ctx context.Context, lsn LSN) error {
	for {
		c.mu.Lock()
		applied, ch := c.applied, c.advanced
		c.mu.Unlock()
		if applied >= lsn {
			return nil
		}
		if ch == nil {
			return ErrClosed
		}
		select {
		case c.kick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// advance moves the applied position to lsn (never backwards) and, for a
// heartbeat, the freshness proof to fresh. Waiters wake.
func (c *Consumer) advance(lsn LSN, fresh time.Time, commit time.Time) {
	c.mu.Lock()
	moved := false
	if lsn > c.applied {
		c.applied, moved = lsn, true
	}
	if fresh.After(c.freshAsOf) {
		c.freshAsOf = fresh
	}
	if !commit.IsZero() {
		c.lastCommit = commit
	}
	if moved && c.advanced != nil {
		close(c.advanced)
		c.advanced = make(chan struct{})
	}
	c.mu.Unlock()
	if moved {
		c.m.AppliedLSN.Set(float64(lsn))
	}
}

func (c *Consumer) setErr(err error) {
	c.mu.Lock()
	if err == nil {
		c.lastErr = ""
	} else {
		c.lastErr = err.Error()
	}
	c.mu.Unlock()
}

// flushAll invalidates every bound resource, for a lost slot: changes may
// have been missed, so nothing cached can be vouched for.
func (c *Consumer) flushAll(why string) {
	seen := map[string]bool{}
	for _, t := range c.tables {
		for _, b := range t.bindings {
			if !seen[b.resource] {
				seen[b.resource] = true
				c.opts.Invalidator.InvalidateResource(b.resource)
			}
		}
	}
	c.log.Warn("flushed every WAL-invalidated resource", slog.String("reason", why))
}

func (c *Consumer) String() string {
	return fmt.Sprintf("pgwal.Consumer(slot=%s, publication=%s)", c.opts.Slot, c.opts.Publication)
}
