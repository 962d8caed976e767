package telemetry

import "github.com/prometheus/client_golang/prometheus"

// Outcomes of strata_origin_queries_total.
const (
	OutcomeOK          = "ok"
	OutcomeNotFound    = "not_found"
	OutcomeError       = "error"
	OutcomeUnavailable = "unavailable"
)

// ResourceMetrics are the read-through metrics. Every series has a resource
// label whose values are the configured resource names, a bounded set.
type ResourceMetrics struct {
	hits, misses, negative, waiters *prometheus.CounterVec
	queries, stale, bypass          *prometheus.CounterVec
	rejected                        *prometheus.CounterVec
	duration                        *prometheus.HistogramVec
}

// ResourceSeries are one resource's pre-resolved series.
type ResourceSeries struct {
	Hits, Misses, NegativeHits, CoalescedWaiters                 prometheus.Counter
	QueriesOK, QueriesNotFound, QueriesError, QueriesUnavailable prometheus.Counter
	QueryDuration                                                prometheus.Observer
	StaleRevalidate, StaleError                                  prometheus.Counter
	BypassNoCache                                                prometheus.Counter
	FillsRejected                                                prometheus.Counter
}

// NewResourceMetrics creates the read-through metrics and registers them on
// reg:
//
//	strata_resource_hits_total{resource}                   counter
//	strata_resource_misses_total{resource}                 counter
//	strata_negative_hits_total{resource}                   counter
//	strata_coalesced_waiters_total{resource}               counter
//	strata_origin_queries_total{resource,outcome}          counter: ok, not_found, error, unavailable
//	strata_origin_query_duration_seconds{resource}         histogram, 100µs..10s
//	strata_stale_served_total{resource,reason}             counter: revalidate, error
//	strata_bypass_reads_total{resource,reason}             counter: no_cache, staleness, min_lsn
//	strata_fills_rejected_total{resource}                  counter: fills fenced off by an invalidation
func NewResourceMetrics(reg prometheus.Registerer) *ResourceMetrics {
	res := []string{"resource"}
	m := &ResourceMetrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_resource_hits_total",
			Help: "Resource-key reads answered from the cache (fresh, or stale within a window), by resource.",
		}, res),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_resource_misses_total",
			Help: "Resource-key reads that needed a load from the origin, by resource.",
		}, res),
		negative: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_negative_hits_total",
			Help: "Resource-key reads answered 'no such key' from a cached miss (negative_ttl), by resource.",
		}, res),
		waiters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_coalesced_waiters_total",
			Help: "Reads that waited for another read's load of the same key instead of querying, by resource.",
		}, res),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_origin_queries_total",
			Help: "Queries sent to PostgreSQL to load resource keys, by resource and outcome (ok, not_found, error, unavailable).",
		}, []string{"resource", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_origin_query_duration_seconds",
			Help:    "Duration of origin queries, including waiting for a connection, by resource.",
			Buckets: prometheus.ExponentialBucketsRange(100e-6, 10, 11),
		}, res),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_stale_served_total",
			Help: "Stale resource entries served, by resource and reason (revalidate: within stale_while_revalidate; error: origin unavailable, within stale_if_error).",
		}, []string{"resource", "reason"}),
		bypass: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_bypass_reads_total",
			Help: "Resource reads that bypassed the cache and read PostgreSQL, by resource and reason (no_cache: the client asked; staleness: not provably within max_staleness; min_lsn: the client's WAL position not applied in time).",
		}, []string{"resource", "reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_fills_rejected_total",
			Help: "Loads whose result was not stored because their key was invalidated while they queried (stale sets prevented), by resource.",
		}, res),
	}
	reg.MustRegister(m.hits, m.misses, m.negative, m.waiters, m.queries, m.duration, m.stale, m.bypass, m.rejected)
	return m
}

// For returns the series of the named resource, creating them so that they
// are exported (as 0) from the first scrape. Call it once per configured
// resource.
func (m *ResourceMetrics) For(name string) ResourceSeries {
	return ResourceSeries{
		Hits:               m.hits.WithLabelValues(name),
		Misses:             m.misses.WithLabelValues(name),
		NegativeHits:       m.negative.WithLabelValues(name),
		CoalescedWaiters:   m.waiters.WithLabelValues(name),
		QueriesOK:          m.queries.WithLabelValues(name, OutcomeOK),
		QueriesNotFound:    m.queries.WithLabelValues(name, OutcomeNotFound),
		QueriesError:       m.queries.WithLabelValues(name, OutcomeError),
		QueriesUnavailable: m.queries.WithLabelValues(name, OutcomeUnavailable),
		QueryDuration:      m.duration.WithLabelValues(name),
		StaleRevalidate:    m.stale.WithLabelValues(name, "revalidate"),
		StaleError:         m.stale.WithLabelValues(name, "error"),
		BypassNoCache:      m.bypass.WithLabelValues(name, "no_cache"),
		FillsRejected:      m.rejected.WithLabelValues(name),
	}
}
