package node

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/invalidate/pgwal"
	"github.com/strata-cache/strata/internal/resource"
	"github.com/strata-cache/strata/internal/telemetry"
)

// walState is the node's WAL invalidation: the consumer, and the cache's
// freshness oracle over it (cache.Freshness).
type walState struct {
	c          *pgwal.Consumer
	defaultMax time.Duration
	minWait    time.Duration
}

// startWAL starts WAL invalidation when a resource binds tables. Without
// bindings it does nothing: no slot, no publication, L1 answers as before.
func (n *Node) startWAL() error {
	if !n.cfg.WALEnabled() || n.cache.Resources() == nil {
		return nil
	}
	w := &walState{defaultMax: n.cfg.WAL.MaxStaleness, minWait: n.cfg.WAL.MinLSNWait}
	m := telemetry.NewWALMetrics(n.reg, func() (bool, float64) {
		if w.c == nil {
			return false, math.Inf(1)
		}
		st := w.c.Status()
		return st.Connected, min(st.Lag(time.Now()).Seconds(), math.MaxFloat64)
	})
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	c, err := pgwal.New(ctx, pgwal.Options{
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
	})
	if err != nil {
		return fmt.Errorf("strata: wal: %w", err)
	}
	w.c = c
	n.wal = w
	n.cache.SetFreshness(w)
	return nil
}

// stopWAL stops the consumer; reads of bound resources then go to
// PostgreSQL (the node can no longer show it is fresh).
func (n *Node) stopWAL() {
	if n.wal != nil {
		n.wal.c.Close()
	}
}

// Lag implements cache.Freshness.
func (w *walState) Lag() (time.Duration, bool) {
	st := w.c.Status()
	if !st.Connected || st.FreshAsOf.IsZero() {
		return 0, false
	}
	return st.Lag(time.Now()), true
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
	if w.c.Applied() >= pgwal.LSN(lsn) {
		return true
	}
	if w.minWait <= 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, w.minWait)
	defer cancel()
	return w.c.WaitApplied(ctx, pgwal.LSN(lsn)) == nil
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
}

// Freshness returns the WAL invalidation state, or nil when no resource
// binds tables.
func (n *Node) Freshness() *FreshnessStats {
	if n.wal == nil {
		return nil
	}
	st := n.wal.c.Status()
	fs := &FreshnessStats{
		Connected: st.Connected, AppliedLSN: st.AppliedLSN.String(), ConfirmedLSN: st.ConfirmedLSN.String(),
		ServerLSN: st.ServerLSN.String(), LagSeconds: -1, SlotLagBytes: st.SlotLagBytes, LastError: st.LastError,
		Reconnects: st.Reconnects, SlotsRecreated: st.SlotsRecreated,
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
	return uint64(n.wal.c.Applied())
}
