package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// TierStats is what a cache tier reports at scrape time. Counters (Hits,
// Misses, Evictions, Expirations) count since the tier was created and never
// decrease; Keys, UsedBytes and MaxBytes are current values.
type TierStats struct {
	// Hits counts lookups that found a live entry.
	Hits uint64
	// Misses counts lookups that found none.
	Misses uint64
	// Evictions counts entries removed to stay within MaxBytes.
	Evictions uint64
	// Expirations counts entries removed because their TTL passed.
	Expirations uint64
	// Keys is the number of entries now held.
	Keys uint64
	// UsedBytes is the memory the entries account for, in bytes.
	UsedBytes uint64
	// MaxBytes is the tier's memory budget, in bytes; 0 if unbounded or
	// unknown (a Redis Cluster, say).
	MaxBytes uint64
}

// TierStatsFunc reports a tier's statistics. It is called once per scrape,
// possibly concurrently with the tier's work, so it must be cheap and safe
// for concurrent use (reading striped or atomic counters, typically).
type TierStatsFunc func() TierStats

// RegisterTier registers on reg a collector that calls f at each scrape and
// exports, with the label tier set to tier (e.g. "l1", "l2"):
//
//	strata_keyspace_hits_total{tier}     counter
//	strata_keyspace_misses_total{tier}   counter
//	strata_evicted_keys_total{tier}      counter
//	strata_expired_keys_total{tier}      counter
//	strata_keys{tier}                    gauge
//	strata_memory_used_bytes{tier}       gauge
//	strata_memory_max_bytes{tier}        gauge
//
// The tier pays nothing per operation for these. Registering the same tier
// name twice on one registry returns a prometheus.AlreadyRegisteredError.
func (m *Metrics) RegisterTier(reg prometheus.Registerer, tier string, f TierStatsFunc) error {
	return reg.Register(newTierCollector(tier, f))
}

// tierCollector is the prometheus.Collector behind RegisterTier. The tier
// is a constant label of its descriptors, which is what lets one registry
// hold a collector per tier under the same metric names.
type tierCollector struct {
	stats TierStatsFunc

	hits, misses, evictions, expirations *prometheus.Desc
	keys, used, max                      *prometheus.Desc
}

// newTierCollector returns the collector for tier, reading f.
func newTierCollector(tier string, f TierStatsFunc) *tierCollector {
	labels := prometheus.Labels{"tier": tier}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, nil, labels)
	}
	return &tierCollector{
		stats:       f,
		hits:        desc("strata_keyspace_hits_total", "Lookups that found a live entry in the tier."),
		misses:      desc("strata_keyspace_misses_total", "Lookups that found no entry in the tier."),
		evictions:   desc("strata_evicted_keys_total", "Entries evicted from the tier to stay within its memory budget."),
		expirations: desc("strata_expired_keys_total", "Entries removed from the tier because their TTL passed."),
		keys:        desc("strata_keys", "Entries currently held by the tier."),
		used:        desc("strata_memory_used_bytes", "Memory accounted to the tier's entries, in bytes."),
		max:         desc("strata_memory_max_bytes", "Memory budget of the tier, in bytes; 0 if unbounded or unknown."),
	}
}

// Describe implements prometheus.Collector.
func (c *tierCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hits, c.misses, c.evictions, c.expirations, c.keys, c.used, c.max} {
		ch <- d
	}
}

// Collect implements prometheus.Collector; it calls the TierStatsFunc once.
func (c *tierCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(c.hits, s.Hits)
	counter(c.misses, s.Misses)
	counter(c.evictions, s.Evictions)
	counter(c.expirations, s.Expirations)
	gauge(c.keys, s.Keys)
	gauge(c.used, s.UsedBytes)
	gauge(c.max, s.MaxBytes)
}
