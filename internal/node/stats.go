package node

import (
	"runtime"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/strata-cache/strata/internal/telemetry"
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
	Goroutines    int                     `json:"goroutines"`
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
	families, err := n.reg.Gather()
	if err != nil {
		n.log.Warn("gathering metrics for stats", "error.message", err.Error())
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
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
