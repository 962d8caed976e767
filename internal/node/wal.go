package node

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/invalidate/pgwal"
	"github.com/strata-cache/strata/internal/resource"
	"github.com/strata-cache/strata/internal/telemetry"
)

// walState is the node's WAL invalidation: the consumer (when this node
// runs it), and the cache's freshness oracle over it (cache.Freshness).
//
// Alone, a node runs its own consumer. In a fleet (redis.addrs set) the
// nodes elect one consumer through a PostgreSQL advisory lock held on a
// session (walfleet.go); the others follow: their oracle reads the
// leader's applied position from Redis.
type walState struct {
	cons       atomic.Pointer[pgwal.Consumer] // nil while this node does not run it
	defaultMax time.Duration
	minWait    time.Duration
	fleet      *walFleet // nil when the node runs alone
}

// startWAL starts WAL invalidation when a resource binds tables. Without
// bindings it does nothing: no slot, no publication, L1 answers as before.
func (n *Node) startWAL() error {
	if !n.cfg.WALEnabled() || n.cache.Resources() == nil {
		return nil
	}
	w := &walState{defaultMax: n.cfg.WAL.MaxStaleness, minWait: n.cfg.WAL.MinLSNWait}
	m := telemetry.NewWALMetrics(n.reg, func() (bool, float64) {
		lag, ok := w.Lag()
		if !ok {
			return w.connected(), math.Inf(1)
		}
		return w.connected(), min(lag.Seconds(), math.MaxFloat64)
	})
	n.walOpts = pgwal.Options{
		DSN:            n.cfg.Postgres.DSN,
		Slot:           n.cfg.WAL.Slot,
		Publication:    n.cfg.WAL.Publication,
		Resources:      n.cache.Resources().All(),
		Invalidator:    n.cache,
		Heartbeat:      n.cfg.WAL.Heartbeat,
		StatusInterval: n.cfg.WAL.StatusInterval,
		Logger:         n.log.With(slog.String("component", "wal")),
		Metrics: pgwal.Metrics{
			Lag: m.Lag, AppliedLSN: m.AppliedLSN, ConfirmedLSN: m.ConfirmedLSN, SlotLagBytes: m.SlotLag,
			Invalidations: func(table string) pgwal.Counter { return m.Invalidations.WithLabelValues(table) },
			Reconnects:    m.Reconnects, SlotRecreated: m.SlotRecreated,
		},
	}
	if n.l2 != nil {
		f, err := n.startFleet(w)
		if err != nil {
			return fmt.Errorf("strata: wal: %w", err)
		}
		w.fleet = f
		n.wal = w
		n.cache.SetFreshness(w)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	c, err := pgwal.New(ctx, n.walOpts)
	if err != nil {
		return fmt.Errorf("strata: wal: %w", err)
	}
	w.cons.Store(c)
	n.wal = w
	n.cache.SetFreshness(w)
	return nil
}

// stopWAL stops the consumer (and the election); reads of bound resources
// then go to PostgreSQL (the node can no longer show it is fresh).
func (n *Node) stopWAL() {
	if n.wal == nil {
		return
	}
	if n.wal.fleet != nil {
		n.wal.fleet.stop()
	}
	if c := n.wal.cons.Swap(nil); c != nil {
		c.Close()
	}
}

// connected reports whether this node's view of the WAL is live: its own
// consumer streams, or (following) the leader's position reached it lately.
func (w *walState) connected() bool {
	if c := w.cons.Load(); c != nil {
		return c.Status().Connected
	}
	if w.fleet != nil {
		_, ok := w.fleet.lag()
		return ok
	}
	return false
}

// Lag implements cache.Freshness.
func (w *walState) Lag() (time.Duration, bool) {
	if c := w.cons.Load(); c != nil {
		st := c.Status()
		if !st.Connected || st.FreshAsOf.IsZero() {
			return 0, false
		}
		return st.Lag(time.Now()), true
	}
	if w.fleet != nil {
		return w.fleet.lag()
	}
	return 0, false
}

// MaxStaleness implements cache.Freshness.
func (w *walState) MaxStaleness(r *resource.Resource) time.Duration {
	if r.Spec.MaxStaleness > 0 {
		return r.Spec.MaxStaleness
	}
	return w.defaultMax
}

// WaitApplied implements cache.Freshness.
func (w *walState) WaitApplied(ctx context.Context, lsn uint64) bool {
	c := w.cons.Load()
	if c != nil && c.Applied() >= pgwal.LSN(lsn) {
		return true
	}
	if w.minWait <= 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, w.minWait)
	defer cancel()
	if c != nil {
		return c.WaitApplied(ctx, pgwal.LSN(lsn)) == nil
	}
	if w.fleet != nil {
		return w.fleet.waitFor(ctx, lsn)
	}
	return false
}

var _ cache.Freshness = (*walState)(nil)

// FreshnessStats is the freshness object of /v1/stats.
type FreshnessStats struct {
	Connected    bool    `json:"connected"`
	AppliedLSN   string  `json:"applied_lsn"`
	ConfirmedLSN string  `json:"confirmed_lsn"`
	ServerLSN    string  `json:"server_lsn"`
	LagSeconds   float64 `json:"lag_seconds"` // -1: not proven
	SlotLagBytes int64   `json:"slot_lag_bytes"`
	// Bypassing lists the bound resources whose reads currently skip L1,
	// with why.
	Bypassing      map[string]string `json:"bypassing,omitempty"`
	LastError      string            `json:"last_error,omitempty"`
	Reconnects     int64             `json:"reconnects"`
	SlotsRecreated int64             `json:"slots_recreated"`
	// Role is "consumer" on the node that runs the WAL consumer and
	// "follower" on the others of a fleet, which learn the consumer's
	// applied position through Redis.
	Role string `json:"role"`
	// Takeovers counts the times this node became the fleet's consumer.
	Takeovers int64 `json:"takeovers,omitempty"`
}

// Freshness returns the WAL invalidation state, or nil when no resource
// binds tables.
func (n *Node) Freshness() *FreshnessStats {
	if n.wal == nil {
		return nil
	}
	var fs *FreshnessStats
	var st pgwal.Status
	if c := n.wal.cons.Load(); c != nil {
		st = c.Status()
		fs = &FreshnessStats{
			Connected: st.Connected, AppliedLSN: st.AppliedLSN.String(), ConfirmedLSN: st.ConfirmedLSN.String(),
			ServerLSN: st.ServerLSN.String(), LagSeconds: -1, SlotLagBytes: st.SlotLagBytes, LastError: st.LastError,
			Reconnects: st.Reconnects, SlotsRecreated: st.SlotsRecreated, Role: "consumer",
		}
	} else {
		st.Connected = n.wal.connected()
		fs = &FreshnessStats{Connected: st.Connected, LagSeconds: -1, Role: "follower"}
		if f := n.wal.fleet; f != nil {
			fs.AppliedLSN = pgwal.LSN(f.applied.Load()).String()
			fs.LastError = f.lastError()
		}
	}
	if f := n.wal.fleet; f != nil {
		fs.Takeovers = f.takeovers.Load()
	}
	lag, ok := n.wal.Lag()
	if ok {
		fs.LagSeconds = lag.Seconds()
	}
	for _, r := range n.cache.Resources().All() {
		if len(r.Spec.Tables) == 0 {
			continue
		}
		switch max := n.wal.MaxStaleness(r); {
		case !st.Connected:
			fs.setBypass(r.Spec.Name, "WAL consumer disconnected")
		case !ok:
			fs.setBypass(r.Spec.Name, "freshness not proven yet")
		case lag > max:
			fs.setBypass(r.Spec.Name, fmt.Sprintf("lag %s > max_staleness %s", lag.Round(time.Millisecond), max))
		}
	}
	return fs
}

func (fs *FreshnessStats) setBypass(name, why string) {
	if fs.Bypassing == nil {
		fs.Bypassing = map[string]string{}
	}
	fs.Bypassing[name] = why
}

// walReasons are /readyz's reasons about freshness. The node stays ready
// while it bypasses: its answers are correct (read through), only slower.
func (n *Node) walReasons() []string {
	fs := n.Freshness()
	if fs == nil || len(fs.Bypassing) == 0 {
		return nil
	}
	var out []string
	for name, why := range fs.Bypassing {
		out = append(out, "resource "+name+" reads bypass the cache: "+why)
	}
	slices.Sort(out)
	return out
}

// AppliedLSN returns the WAL position up to which every committed
// transaction has been invalidated, or 0 without WAL invalidation.
func (n *Node) AppliedLSN() uint64 {
	if n.wal == nil {
		return 0
	}
	if c := n.wal.cons.Load(); c != nil {
		return uint64(c.Applied())
	}
	if n.wal.fleet != nil {
		return n.wal.fleet.applied.Load()
	}
	return 0
}
