package node

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/invalidate/pgwal"
	l2redis "github.com/strata-cache/strata/internal/tier/redis"
)

// walFleet is the WAL side of a fleet: one consumer for all nodes.
//
// Election: every node tries pg_try_advisory_lock on a session of its own
// (the lock's id is a hash of the slot's name). The node that holds it runs
// the consumer; when its session ends (the node died, or its connection
// broke) PostgreSQL releases the lock and another node takes it within
// about a second, and the new consumer resumes from the slot's confirmed
// position. PostgreSQL also refuses a second START_REPLICATION on an active
// slot, so two consumers never stream at once.
//
// Fan-out: the consumer's invalidations go to the L2 (fleetInvalidator):
// a fence per key in Redis, whose change Redis pushes to every node's
// connection before the script returns. An invalidation that cannot reach
// Redis is retried until it does; the consumer's applied position, and so
// the slot's acknowledgement, waits for it.
//
// Followers' freshness: every wal.heartbeat a follower reads
// pg_current_wal_lsn() at time t0 on its own clock, waits until the
// consumer's published applied position reaches it, then makes one round
// trip on each Redis shard connection (so every push queued before has been
// handled). Then every transaction committed before t0 is invalidated in
// its L1: it is fresh as of t0.
type walFleet struct {
	n   *Node
	w   *walState
	l2  *l2redis.L2
	key int64 // the advisory lock's id

	applied   atomic.Uint64 // the consumer's position, once this node handled the pushes up to it
	freshAsOf atomic.Int64  // Unix ns on this node's clock; 0: not proven
	takeovers atomic.Int64

	mu      sync.Mutex
	lastErr string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// lockID returns the advisory lock id of a slot name.
func lockID(slot string) int64 {
	h := fnv.New64a()
	h.Write([]byte("strata wal consumer " + slot))
	return int64(h.Sum64())
}

func (n *Node) startFleet(w *walState) (*walFleet, error) {
	f := &walFleet{n: n, w: w, l2: n.l2, key: lockID(n.cfg.WAL.Slot)}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	n.walOpts.Invalidator = fleetInvalidator{c: n.cache, l2: n.l2, ctx: f.ctx}
	f.wg.Add(3)
	go f.elect()
	go f.follow()
	go f.publish()
	return f, nil
}

func (f *walFleet) stop() {
	f.cancel()
	f.wg.Wait()
}

func (f *walFleet) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		f.lastErr = ""
		return
	}
	f.lastErr = err.Error()
}

func (f *walFleet) lastError() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

func (f *walFleet) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// elect tries for the lock every second; holding it, it runs the consumer
// and checks the lock's session every second.
func (f *walFleet) elect() {
	defer f.wg.Done()
	log := f.n.log.With(slog.String("component", "wal"))
	interval := time.Second
	for f.ctx.Err() == nil {
		conn, err := f.acquire()
		if err != nil {
			f.setErr(err)
			f.sleep(interval)
			continue
		}
		if conn == nil {
			f.sleep(interval)
			continue
		}
		cctx, cancel := context.WithTimeout(f.ctx, startupTimeout)
		c, err := pgwal.New(cctx, f.n.walOpts)
		cancel()
		if err != nil {
			log.Error("won the WAL consumer election but could not start it; releasing", slog.String("error.message", err.Error()))
			f.setErr(err)
			conn.Close(context.Background())
			f.sleep(5 * interval)
			continue
		}
		f.takeovers.Add(1)
		f.w.cons.Store(c)
		log.Info("this node runs the fleet's WAL consumer", slog.String("wal.slot", f.n.cfg.WAL.Slot))
		for f.sleep(interval) {
			pctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				log.Warn("lost the WAL consumer lock's session; stopping the consumer", slog.String("error.message", err.Error()))
				break
			}
		}
		f.w.cons.Store(nil)
		c.Close()
		conn.Close(context.Background())
	}
}

// acquire returns a connection holding the lock, or nil when another
// node holds it.
func (f *walFleet) acquire() (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, f.n.cfg.Postgres.DSN)
	if err != nil {
		return nil, fmt.Errorf("wal election: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", f.key).Scan(&got); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("wal election: %w", err)
	}
	if !got {
		conn.Close(context.Background())
		return nil, nil
	}
	return conn, nil
}

// publish writes the consumer's applied position to Redis as it moves.
func (f *walFleet) publish() {
	defer f.wg.Done()
	var last uint64
	for f.sleep(10 * time.Millisecond) {
		c := f.w.cons.Load()
		if c == nil {
			last = 0
			continue
		}
		a := uint64(c.Applied())
		if a <= last {
			continue
		}
		if err := f.l2.PublishApplied(f.ctx, a); err == nil {
			last = a
		}
	}
}

// follow proves the follower's freshness every heartbeat (see walFleet).
func (f *walFleet) follow() {
	defer f.wg.Done()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	beat := f.n.cfg.WAL.Heartbeat
	for f.sleep(beat) {
		if f.w.cons.Load() != nil {
			continue // the consumer proves its own freshness
		}
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(f.ctx, f.w.defaultMax)
		err := f.prove(ctx, &conn)
		cancel()
		f.setErr(err)
		if err != nil {
			if conn != nil && conn.IsClosed() {
				conn = nil
			}
			continue
		}
		f.freshAsOf.Store(t0.UnixNano())
	}
}

func (f *walFleet) prove(ctx context.Context, conn **pgx.Conn) error {
	if *conn == nil || (*conn).IsClosed() {
		c, err := pgx.Connect(ctx, f.n.cfg.Postgres.DSN)
		if err != nil {
			return fmt.Errorf("follower freshness: %w", err)
		}
		*conn = c
	}
	var s string
	if err := (*conn).QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		(*conn).Close(context.Background())
		*conn = nil
		return fmt.Errorf("follower freshness: %w", err)
	}
	target, err := pgwal.ParseLSN(s)
	if err != nil {
		return err
	}
	if !f.waitFor(ctx, uint64(target)) {
		return errors.New("follower freshness: the WAL consumer has not applied the current position (is a node running it?)")
	}
	return nil
}

// waitFor waits until the published applied position reaches lsn and the
// pushes queued before are handled, and reports whether that happened.
func (f *walFleet) waitFor(ctx context.Context, lsn uint64) bool {
	for {
		if !f.l2.Usable() {
			return false
		}
		a, err := f.l2.Applied(ctx)
		if err == nil && a >= lsn {
			if f.l2.Sync(ctx) != nil || !f.l2.Usable() {
				return false
			}
			// Every invalidation up to a is now in this node's L1.
			for cur := f.applied.Load(); a > cur && !f.applied.CompareAndSwap(cur, a); cur = f.applied.Load() {
			}
			return true
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// lag is the follower's freshness: time since the last proof.
func (f *walFleet) lag() (time.Duration, bool) {
	at := f.freshAsOf.Load()
	if at == 0 || !f.l2.Usable() {
		return 0, false
	}
	return time.Since(time.Unix(0, at)), true
}

// fleetInvalidator is the consumer's Invalidator in a fleet: this node's
// L1, then the L2 (fences and pushes to every node), retried until Redis
// takes it. It returns only once the invalidation is in Redis (or the node
// is stopping), so the consumer never acknowledges a position whose
// invalidations other nodes could miss.
type fleetInvalidator struct {
	c   *cache.Cache
	l2  *l2redis.L2
	ctx context.Context
}

// The L2 goes first: a fill on this node that read the L2 before the
// invalidation reached it took its local token before the local
// invalidation below, so it is fenced off here too.
func (fi fleetInvalidator) Invalidate(key string) bool {
	fi.retry(func() error { return fi.l2.Invalidate(fi.ctx, key) }, func() error { return fi.l2.InvalidateAgain(fi.ctx, key) })
	fi.c.InvalidateLocal(key)
	return true
}

func (fi fleetInvalidator) InvalidateResource(name string) bool {
	fi.retry(func() error { return fi.l2.InvalidateResource(fi.ctx, name) }, func() error { return fi.l2.InvalidateResourceAgain(fi.ctx, name) })
	fi.c.InvalidateResourceLocal(name)
	return true
}

func (fi fleetInvalidator) retry(first, again func() error) {
	err := first()
	for d := 20 * time.Millisecond; err != nil && fi.ctx.Err() == nil; d = min(2*d, time.Second) {
		t := time.NewTimer(d)
		select {
		case <-fi.ctx.Done():
		case <-t.C:
		}
		t.Stop()
		err = again()
	}
}
