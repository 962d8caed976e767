package node

import (
	dto "github.com/prometheus/client_model/go"
)

// LatencyStats is the node's command latency: the
// strata_command_duration_seconds histograms of every command merged into
// one, with p50 and p99 since start. Counts are cumulative and only grow, so
// a client that polls /v1/stats gets the latency of any window by
// subtracting two snapshots and estimating as Quantile does (Prometheus's
// histogram_quantile); the console draws p50/p99 per second this way.
type LatencyStats struct {
	// BucketsSeconds are the buckets' upper bounds in seconds, increasing;
	// a last, implicit bucket is +Inf.
	BucketsSeconds []float64 `json:"buckets_seconds"`
	// Counts[i] is the number of commands that took at most
	// BucketsSeconds[i]; Count is all of them (the +Inf bucket).
	Counts     []uint64 `json:"counts"`
	Count      uint64   `json:"count"`
	SumSeconds float64  `json:"sum_seconds"`
	// P50Seconds and P99Seconds are estimated from the buckets since start;
	// 0 before the first command.
	P50Seconds float64 `json:"p50_seconds"`
	P99Seconds float64 `json:"p99_seconds"`
}

// commandLatency merges the strata_command_duration_seconds histograms
// found in families; nil when there are none (no command has run yet).
func commandLatency(families []*dto.MetricFamily) *LatencyStats {
	var l *LatencyStats
	for _, f := range families {
		if f.GetName() != "strata_command_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			if l == nil {
				l = &LatencyStats{}
				for _, b := range h.GetBucket() {
					l.BucketsSeconds = append(l.BucketsSeconds, b.GetUpperBound())
				}
				l.Counts = make([]uint64, len(l.BucketsSeconds))
			}
			for i, b := range h.GetBucket() {
				if i < len(l.Counts) { // every command has the same buckets
					l.Counts[i] += b.GetCumulativeCount()
				}
			}
			l.Count += h.GetSampleCount()
			l.SumSeconds += h.GetSampleSum()
		}
	}
	if l != nil {
		l.P50Seconds = Quantile(0.5, l.BucketsSeconds, l.Counts, l.Count)
		l.P99Seconds = Quantile(0.99, l.BucketsSeconds, l.Counts, l.Count)
	}
	return l
}

// Quantile estimates the q-quantile (0 < q < 1) of a histogram with upper
// bounds and cumulative counts, total observations in all, by linear
// interpolation inside the bucket that holds it, as Prometheus's
// histogram_quantile does. A quantile in the +Inf bucket is reported as the
// highest finite bound. It returns 0 for an empty histogram.
func Quantile(q float64, bounds []float64, counts []uint64, total uint64) float64 {
	if total == 0 || len(bounds) == 0 {
		return 0
	}
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for i, c := range counts {
		if float64(c) >= rank {
			in := c - below
			if in == 0 {
				return bounds[i]
			}
			return lower + (bounds[i]-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = bounds[i], c
	}
	return bounds[len(bounds)-1]
}
