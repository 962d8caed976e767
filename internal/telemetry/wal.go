package telemetry

import "github.com/prometheus/client_golang/prometheus"

// Bypass returns the strata_bypass_reads_total series of a resource and
// reason: no_cache (the client asked), staleness (the node could not show
// it was within max_staleness), min_lsn (the client's WAL position was not
// applied within the wait).
func (m *ResourceMetrics) Bypass(name, reason string) prometheus.Counter {
	return m.bypass.WithLabelValues(name, reason)
}

// WALMetrics are the WAL consumer's series (package invalidate/pgwal):
//
//	strata_invalidation_lag_seconds                histogram: commit timestamp to invalidation applied
//	strata_wal_applied_lsn                         gauge: the applied WAL position, as a number
//	strata_wal_confirmed_lsn                       gauge: the position last confirmed to the slot
//	strata_replication_slot_lag_bytes              gauge: server WAL position minus the slot's confirmed position
//	strata_invalidations_total{table}              counter: invalidations by table (bound tables only)
//	strata_wal_reconnects_total                    counter: replication sessions that ended and were retried
//	strata_wal_slot_recreated_total                counter: lost slots recreated (with a flush)
//	strata_wal_connected                           gauge: 1 while streaming
//	strata_wal_freshness_lag_seconds               gauge: how far behind the database the node may be (see docs)
type WALMetrics struct {
	Lag                               prometheus.Histogram
	AppliedLSN, ConfirmedLSN, SlotLag prometheus.Gauge
	Invalidations                     *prometheus.CounterVec
	Reconnects, SlotRecreated         prometheus.Counter
	Connected, FreshnessLag           prometheus.Gauge
}

// NewWALMetrics creates the WAL consumer's series and registers them on
// reg; state is read at each scrape for the connected and freshness gauges.
func NewWALMetrics(reg prometheus.Registerer, state func() (connected bool, freshnessLag float64)) *WALMetrics {
	m := &WALMetrics{
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_invalidation_lag_seconds",
			Help:    "Time from a transaction's commit (PostgreSQL's clock) to its invalidations being applied.",
			Buckets: prometheus.ExponentialBucketsRange(100e-6, 30, 16),
		}),
		AppliedLSN: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_wal_applied_lsn", Help: "WAL position up to which every committed transaction has been invalidated."}),
		ConfirmedLSN: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_wal_confirmed_lsn", Help: "WAL position last confirmed to the replication slot (never beyond applied)."}),
		SlotLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_replication_slot_lag_bytes", Help: "pg_current_wal_lsn() minus the slot's confirmed_flush_lsn, sampled every heartbeat."}),
		Invalidations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_invalidations_total", Help: "Invalidations applied from the WAL, by table."}, []string{"table"}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_wal_reconnects_total", Help: "Replication sessions that ended with an error and were retried."}),
		SlotRecreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_wal_slot_recreated_total", Help: "Replication slots found lost and recreated (every bound resource flushed)."}),
	}
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "strata_wal_connected", Help: "1 while the WAL consumer is streaming."}, func() float64 {
		if c, _ := state(); c {
			return 1
		}
		return 0
	})
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "strata_wal_freshness_lag_seconds", Help: "Age of the newest freshness proof: every write committed before it has been invalidated."},
		func() float64 { _, l := state(); return l })
	reg.MustRegister(m.Lag, m.AppliedLSN, m.ConfirmedLSN, m.SlotLag, m.Invalidations, m.Reconnects, m.SlotRecreated, connected, lag)
	return m
}
