package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/resource"
	"github.com/strata-cache/strata/internal/source/postgres"
	"github.com/strata-cache/strata/internal/telemetry"
)

// startupTimeout bounds connecting to PostgreSQL and preparing every
// resource's query at start-up.
const startupTimeout = 30 * time.Second

// pgLoader adapts a postgres.Source to cache.Loader, translating its error
// classes into the cache's.
type pgLoader struct{ src *postgres.Source }

// Load runs the resource's query.
func (l pgLoader) Load(ctx context.Context, name string, params []string) (cache.LoadResult, error) {
	r, err := l.src.Load(ctx, name, params)
	res := cache.LoadResult{Value: r.Value, Found: r.Found, Duration: r.Duration}
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, postgres.ErrBadParam):
		return res, cache.Classify(cache.ErrSourceBadParam, err)
	case errors.Is(err, postgres.ErrUnavailable):
		return res, cache.Classify(cache.ErrSourceUnavailable, err)
	}
	return res, err
}

// openResources builds the resource set, connects to PostgreSQL and
// prepares every resource's query. With no resources configured it returns
// nil, nil: embedded mode, no database.
func openResources(cfg config.Config, log *slog.Logger) (*resource.Set, *postgres.Source, error) {
	if len(cfg.Resources) == 0 {
		return nil, nil, nil
	}
	set, err := resource.NewSet(cfg.ResourceSpecs()...)
	if err != nil {
		return nil, nil, err // Validate has reported these already
	}
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	src, err := postgres.New(ctx, cfg.Postgres.DSN, postgres.Options{
		MaxConns:       int32(min(cfg.Postgres.MaxConns, 1<<30)),
		ConnectTimeout: cfg.Postgres.ConnectTimeout,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("strata: postgres.dsn: cannot use the database that %d resource(s) load from: %w\n"+
			"check that PostgreSQL is running and reachable from this host, that the DSN's host, port, database, "+
			"user and password are right (postgres.dsn or %s), and that pg_hba.conf admits this client",
			set.Len(), err, config.EnvName("postgres.dsn"))
	}
	var errs []error
	for _, r := range set.All() {
		if err := src.Prepare(ctx, r.Spec, r.Template); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		src.Close()
		return nil, nil, err
	}
	names := make([]string, 0, set.Len())
	for _, r := range set.All() {
		names = append(names, r.Spec.Name)
	}
	log.Info("resources prepared against PostgreSQL", slog.Any("resources", names))
	return set, src, nil
}

// resourceMetrics resolves the cache's per-resource series from telemetry.
func resourceMetrics(m *telemetry.ResourceMetrics) func(string) cache.ResourceMetrics {
	return func(name string) cache.ResourceMetrics {
		s := m.For(name)
		return cache.ResourceMetrics{
			Hits: s.Hits, Misses: s.Misses, NegativeHits: s.NegativeHits, CoalescedWaiters: s.CoalescedWaiters,
			QueriesOK: s.QueriesOK, QueriesNotFound: s.QueriesNotFound, QueriesError: s.QueriesError,
			QueriesUnavailable: s.QueriesUnavailable, QueryDuration: s.QueryDuration,
			StaleRevalidate: s.StaleRevalidate, StaleError: s.StaleError,
			BypassNoCache: s.BypassNoCache, FillsRejected: s.FillsRejected,
			BypassStaleness: m.Bypass(name, cache.BypassStaleness), BypassMinLSN: m.Bypass(name, cache.BypassMinLSN),
		}
	}
}
