package node

import (
	"runtime"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/strata-cache/strata/internal/telemetry"
	l2redis "github.com/strata-cache/strata/internal/tier/redis"
)

// Stats is a node's statistics snapshot, served at /v1/stats and printed by
// `strata stats`. Its field names are part of the HTTP API.
type Stats struct {
	Version       string                  `json:"version"`
	Time          time.Time               `json:"time"`
	UptimeSeconds float64                 `json:"uptime_seconds"`
	Ready         bool                    `json:"ready"`
	Tiers         map[string]TierStats    `json:"tiers"`
	Clients       map[string]float64      `json:"clients"`
	Commands      map[string]CommandStats `json:"commands"`
	TotalCommands uint64                  `json:"total_commands"`
	// Resources has one entry per configured resource (absent in embedded
	// mode): its read-through counters.
	Resources map[string]*ResourceStats `json:"resources,omitempty"`
	// Freshness is WAL invalidation's state (absent unless a resource
	// binds tables): positions, lag, and which resources bypass L1 and why.
	Freshness *FreshnessStats `json:"freshness,omitempty"`
	// L2 is the shared tier's state (absent unless redis.addrs is set):
	// whether it is in the read path, why not, and its counters.
	L2         *l2redis.Stats `json:"l2,omitempty"`
	Goroutines int            `json:"goroutines"`
	// Latency is every command's latency histogram merged (latency.go);
	// absent before the first command.
	Latency *LatencyStats `json:"latency,omitempty"`
}

// TierStats are one tier's counters, with the derived hit ratio.
type TierStats struct {
	Hits        uint64  `json:"hits"`
	Misses      uint64  `json:"misses"`
	HitRatio    float64 `json:"hit_ratio"`
	Evictions   uint64  `json:"evictions"`
	Expirations uint64  `json:"expirations"`
	Keys        uint64  `json:"keys"`
	UsedBytes   uint64  `json:"used_bytes"`
	MaxBytes    uint64  `json:"max_bytes"`
}

// ResourceStats are one resource's read-through counters since start, from
// the strata_resource_*, strata_origin_*, strata_stale_served_total,
// strata_negative_hits_total, strata_coalesced_waiters_total,
// strata_bypass_reads_total and strata_fills_rejected_total series.
type ResourceStats struct {
	Hits               uint64            `json:"hits"`
	Misses             uint64            `json:"misses"`
	HitRatio           float64           `json:"hit_ratio"`
	NegativeHits       uint64            `json:"negative_hits"`
	CoalescedWaiters   uint64            `json:"coalesced_waiters"`
	OriginQueries      map[string]uint64 `json:"origin_queries"`
	OriginQuerySeconds float64           `json:"origin_query_seconds_total"`
	StaleServed        map[string]uint64 `json:"stale_served"`
	BypassReads        map[string]uint64 `json:"bypass_reads"`
	FillsRejected      uint64            `json:"fills_rejected"`
}

// CommandStats are one command's counters since start.
type CommandStats struct {
	Calls        uint64  `json:"calls"`
	Errors       uint64  `json:"errors"`
	TotalSeconds float64 `json:"total_seconds"`
}

// Stats returns the node's current statistics.
func (n *Node) Stats() Stats {
	s := n.tierStats()
	ratio := 0.0
	if s.Hits+s.Misses > 0 {
		ratio = float64(s.Hits) / float64(s.Hits+s.Misses)
	}
	ready, _ := n.readiness()
	st := Stats{
		Version:       telemetry.BuildVersion(),
		Time:          time.Now().UTC(),
		UptimeSeconds: time.Since(n.started).Seconds(),
		Ready:         ready,
		Tiers: map[string]TierStats{"L1": {
			Hits: s.Hits, Misses: s.Misses, HitRatio: ratio, Evictions: s.Evictions,
			Expirations: s.Expirations, Keys: s.Keys, UsedBytes: s.UsedBytes, MaxBytes: s.MaxBytes,
		}},
		Clients:    map[string]float64{},
		Commands:   map[string]CommandStats{},
		Goroutines: runtime.NumGoroutine(),
	}
	st.Freshness = n.Freshness()
	st.L2 = n.L2Stats()
	families, err := n.reg.Gather()
	if err != nil {
		n.log.Warn("gathering metrics for stats", "error.message", err.Error())
	}
	res := func(m *dto.Metric) *ResourceStats {
		name := label(m, "resource")
		if st.Resources == nil {
			st.Resources = map[string]*ResourceStats{}
		}
		r := st.Resources[name]
		if r == nil {
			r = &ResourceStats{OriginQueries: map[string]uint64{}, StaleServed: map[string]uint64{}, BypassReads: map[string]uint64{}}
			st.Resources[name] = r
		}
		return r
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			count := uint64(m.GetCounter().GetValue())
			switch f.GetName() {
			case "strata_resource_hits_total":
				res(m).Hits = count
			case "strata_resource_misses_total":
				res(m).Misses = count
			case "strata_negative_hits_total":
				res(m).NegativeHits = count
			case "strata_coalesced_waiters_total":
				res(m).CoalescedWaiters = count
			case "strata_fills_rejected_total":
				res(m).FillsRejected = count
			case "strata_origin_queries_total":
				res(m).OriginQueries[label(m, "outcome")] = count
			case "strata_origin_query_duration_seconds":
				res(m).OriginQuerySeconds = m.GetHistogram().GetSampleSum()
			case "strata_stale_served_total":
				res(m).StaleServed[label(m, "reason")] = count
			case "strata_bypass_reads_total":
				res(m).BypassReads[label(m, "reason")] = count
			}
			switch f.GetName() {
			case "strata_connected_clients":
				st.Clients[label(m, "proto")] = m.GetGauge().GetValue()
			case "strata_commands_total":
				c := st.Commands[label(m, "cmd")]
				c.Calls = uint64(m.GetCounter().GetValue())
				st.Commands[label(m, "cmd")] = c
				st.TotalCommands += c.Calls
			case "strata_command_errors_total":
				c := st.Commands[label(m, "cmd")]
				c.Errors = uint64(m.GetCounter().GetValue())
				st.Commands[label(m, "cmd")] = c
			case "strata_command_duration_seconds":
				c := st.Commands[label(m, "cmd")]
				c.TotalSeconds = m.GetHistogram().GetSampleSum()
				st.Commands[label(m, "cmd")] = c
			}
		}
	}
	st.Latency = commandLatency(families)
	for _, r := range st.Resources {
		if r.Hits+r.Misses > 0 {
			r.HitRatio = float64(r.Hits) / float64(r.Hits+r.Misses)
		}
	}
	return st
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
