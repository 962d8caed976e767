package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-cache/strata/internal/cache"
	l2redis "github.com/strata-cache/strata/internal/tier/redis"
)

// openL2 connects the shared L2 when redis.addrs is set (distributed mode).
func (n *Node) openL2(resources []string) (*l2redis.L2, error) {
	if !n.cfg.Distributed() {
		return nil, nil
	}
	r := n.cfg.Redis
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	l, err := l2redis.New(ctx, l2redis.Options{
		Addrs: r.Addrs, Username: r.Username, Password: r.Password, Prefix: r.Prefix,
		Timeout: r.Timeout, FailoverSettle: r.FailoverSettle, ReplayWindow: r.ReplayWindow,
		WatchInterval: r.WatchInterval, FailoverWait: r.FailoverWait, Resources: resources,
		Logger: n.log.With(slog.String("component", "l2")),
	})
	if err != nil {
		return nil, fmt.Errorf("strata: %w", err)
	}
	n.registerL2Metrics(l)
	return l, nil
}

// sharedL2 adapts the Redis L2 to cache.Shared: everything but the
// resource fill calls, whose token type the cache does not know, is the
// L2's own method.
type sharedL2 struct{ *l2redis.L2 }

func (s sharedL2) Read(ctx context.Context, key string) (cache.SharedFetch, error) {
	f, err := s.ReadFill(ctx, key)
	return cache.SharedFetch{Data: f.Data, Found: f.Found, Token: f}, err
}

func (s sharedL2) Store(ctx context.Context, key string, f cache.SharedFetch, data []byte, ttl time.Duration) (bool, error) {
	tok, ok := f.Token.(l2redis.Fetched)
	if !ok {
		return false, nil
	}
	return s.StoreFill(ctx, key, tok, data, ttl)
}

var _ cache.Shared = sharedL2{}

// registerL2Metrics exposes the L2's counters, read at scrape time.
func (n *Node) registerL2Metrics(l *l2redis.L2) {
	counter := func(name, help string, f func(l2redis.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(l.Stats())) })
	}
	n.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_l2_hits_total", Help: "Reads that missed L1 and were answered by the shared L2 (Redis): resource fills and plain keys."},
			func() float64 { return float64(n.l2Stats(l).Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_l2_misses_total", Help: "Reads that missed L1 and found nothing in the shared L2."},
			func() float64 { return float64(n.l2Stats(l).Misses) }),
		counter("strata_l2_errors_total", "L2 operations that failed (timeouts, unreachable shards).", func(s l2redis.Stats) uint64 { return s.Errors }),
		counter("strata_l2_stores_total", "Fills stored in the L2.", func(s l2redis.Stats) uint64 { return s.Stores }),
		counter("strata_l2_stores_rejected_total", "Fills the L2 fence refused: the key was invalidated, on some node, while they queried.", func(s l2redis.Stats) uint64 { return s.StoresRejected }),
		counter("strata_l2_invalidations_total", "Invalidations this node wrote to the L2.", func(s l2redis.Stats) uint64 { return s.Invalidations }),
		counter("strata_l2_pushes_total", "Invalidation pushes received from Redis.", func(s l2redis.Stats) uint64 { return s.PushesReceived }),
		counter("strata_l2_feed_losses_total", "Times the invalidation feed was lost and L1 dropped.", func(s l2redis.Stats) uint64 { return s.FeedLosses }),
		counter("strata_l2_master_changes_total", "Redis master changes (failovers) seen.", func(s l2redis.Stats) uint64 { return s.MasterChanges }),
		counter("strata_l2_replayed_total", "Invalidations replayed after a failover or an outage.", func(s l2redis.Stats) uint64 { return s.Replayed }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_l2_usable", Help: "1 when the L2 is in the read path, 0 while degraded (L1 and PostgreSQL only)."},
			func() float64 {
				if l.Usable() {
					return 1
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_l2_degraded_seconds_total", Help: "Time spent with the L2 out of the read path."},
			func() float64 { return l.Stats().DegradedSeconds }),
	)
}

// L2Stats returns the L2's state, or nil without one.
func (n *Node) L2Stats() *l2redis.Stats {
	if n.l2 == nil {
		return nil
	}
	st := n.l2Stats(n.l2)
	return &st
}

// l2Stats is the L2's counters with the plain-key reads the cache counts
// (resource fills are counted by the L2 itself).
func (n *Node) l2Stats(l *l2redis.L2) l2redis.Stats {
	st := l.Stats()
	if n.cache != nil {
		h, m := n.cache.L2Reads()
		st.Hits += h
		st.Misses += m
	}
	return st
}
