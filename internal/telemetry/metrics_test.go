package telemetry

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegistry(t *testing.T) {
	reg := NewRegistry()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"strata_build_info", "go_goroutines", "go_memstats_alloc_bytes"} {
		if !names[want] {
			t.Errorf("registry lacks %s", want)
		}
	}
	n, err := testutil.GatherAndCount(reg, "strata_build_info")
	if err != nil || n != 1 {
		t.Fatalf("strata_build_info: %d series, %v", n, err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "strata_build_info" {
			continue
		}
		m := mf.GetMetric()[0]
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		for _, l := range []string{"version", "goversion", "revision"} {
			if labels[l] == "" {
				t.Errorf("strata_build_info has no %s label: %v", l, labels)
			}
		}
		if m.GetGauge().GetValue() != 1 {
			t.Errorf("strata_build_info = %v, want 1", m.GetGauge().GetValue())
		}
	}
}

func TestMetricNamesAndLabels(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	m.Command("get").Observe(50*time.Microsecond, false)
	m.Command("get").Observe(2*time.Millisecond, true)
	m.Command("set").Calls.Inc()
	m.Conn(ProtoRESP).Connected.Inc()
	m.Conn(ProtoRESP).Received.Inc()
	m.Rejected(ProtoRESP, "maxclients").Inc()
	m.ObserveHTTP("/v1/kv/{key}", 200, 3*time.Millisecond)
	m.ObserveHTTP("/v1/kv/{key}", 404, time.Millisecond)

	want := `
# HELP strata_commands_total Commands processed, by command name.
# TYPE strata_commands_total counter
strata_commands_total{cmd="get"} 2
strata_commands_total{cmd="set"} 1
# HELP strata_command_errors_total Commands that replied with an error, by command name.
# TYPE strata_command_errors_total counter
strata_command_errors_total{cmd="get"} 1
strata_command_errors_total{cmd="set"} 0
# HELP strata_connected_clients Client connections currently open, by protocol.
# TYPE strata_connected_clients gauge
strata_connected_clients{proto="http"} 0
strata_connected_clients{proto="resp"} 1
# HELP strata_connections_received_total Client connections accepted, by protocol.
# TYPE strata_connections_received_total counter
strata_connections_received_total{proto="http"} 0
strata_connections_received_total{proto="resp"} 1
# HELP strata_rejected_connections_total Client connections closed on arrival, by protocol and reason (e.g. maxclients).
# TYPE strata_rejected_connections_total counter
strata_rejected_connections_total{proto="resp",reason="maxclients"} 1
# HELP strata_http_requests_total HTTP requests served, by route pattern and status code.
# TYPE strata_http_requests_total counter
strata_http_requests_total{code="200",route="/v1/kv/{key}"} 1
strata_http_requests_total{code="404",route="/v1/kv/{key}"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"strata_commands_total", "strata_command_errors_total", "strata_connected_clients",
		"strata_connections_received_total", "strata_rejected_connections_total",
		"strata_http_requests_total"); err != nil {
		t.Fatal(err)
	}

	// Histograms: one series per label value, with the documented range.
	if n, err := testutil.GatherAndCount(reg, "strata_command_duration_seconds"); err != nil || n != 2 {
		t.Fatalf("strata_command_duration_seconds: %d series, %v; want 2", n, err)
	}
	if n, err := testutil.GatherAndCount(reg, "strata_http_request_duration_seconds"); err != nil || n != 1 {
		t.Fatalf("strata_http_request_duration_seconds: %d series, %v; want 1", n, err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "strata_command_duration_seconds" {
			continue
		}
		b := mf.GetMetric()[0].GetHistogram().GetBucket()
		first, last := b[0].GetUpperBound(), b[len(b)-1].GetUpperBound()
		if first < 9.9e-6 || first > 10.1e-6 || last < 0.99 || last > 1.01 {
			t.Errorf("command buckets span %g..%g, want 10µs..1s", first, last)
		}
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestCommandIsCached(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	if m.Command("get") != m.Command("get") {
		t.Fatal("Command does not cache")
	}
	allocs := testing.AllocsPerRun(100, func() { m.Command("get").Calls.Inc() })
	if allocs != 0 {
		t.Fatalf("cached Command allocates %v times", allocs)
	}
}

func TestCommandNamesAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 400 {
				m.Command(strings.Repeat("x", w+1) + string(rune('a'+i%26)) + string(rune('a'+i/26))).Calls.Inc()
			}
		})
	}
	wg.Wait()
	n := testutil.CollectAndCount(m.commands)
	if n > maxCommandNames+8 {
		t.Fatalf("%d cmd series, want about %d", n, maxCommandNames+1)
	}
	if testutil.ToFloat64(m.commands.WithLabelValues(OtherCommand)) == 0 {
		t.Fatal("overflow names were not counted as other")
	}
}

func TestRegisterTier(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	calls := 0
	l1 := func() TierStats {
		calls++
		return TierStats{Hits: 10, Misses: 3, Evictions: 2, Expirations: 1, Keys: 5, UsedBytes: 4096, MaxBytes: 1 << 30}
	}
	if err := m.RegisterTier(reg, "l1", l1); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterTier(reg, "l2", func() TierStats { return TierStats{Hits: 7} }); err != nil {
		t.Fatal(err)
	}
	err := m.RegisterTier(reg, "l1", l1)
	if are := (prometheus.AlreadyRegisteredError{}); !errors.As(err, &are) {
		t.Fatalf("second l1 registration: %v, want AlreadyRegisteredError", err)
	}

	want := `
# HELP strata_keyspace_hits_total Lookups that found a live entry in the tier.
# TYPE strata_keyspace_hits_total counter
strata_keyspace_hits_total{tier="l1"} 10
strata_keyspace_hits_total{tier="l2"} 7
# HELP strata_keyspace_misses_total Lookups that found no entry in the tier.
# TYPE strata_keyspace_misses_total counter
strata_keyspace_misses_total{tier="l1"} 3
strata_keyspace_misses_total{tier="l2"} 0
# HELP strata_evicted_keys_total Entries evicted from the tier to stay within its memory budget.
# TYPE strata_evicted_keys_total counter
strata_evicted_keys_total{tier="l1"} 2
strata_evicted_keys_total{tier="l2"} 0
# HELP strata_expired_keys_total Entries removed from the tier because their TTL passed.
# TYPE strata_expired_keys_total counter
strata_expired_keys_total{tier="l1"} 1
strata_expired_keys_total{tier="l2"} 0
# HELP strata_keys Entries currently held by the tier.
# TYPE strata_keys gauge
strata_keys{tier="l1"} 5
strata_keys{tier="l2"} 0
# HELP strata_memory_used_bytes Memory accounted to the tier's entries, in bytes.
# TYPE strata_memory_used_bytes gauge
strata_memory_used_bytes{tier="l1"} 4096
strata_memory_used_bytes{tier="l2"} 0
# HELP strata_memory_max_bytes Memory budget of the tier, in bytes; 0 if unbounded or unknown.
# TYPE strata_memory_max_bytes gauge
strata_memory_max_bytes{tier="l1"} 1.073741824e+09
strata_memory_max_bytes{tier="l2"} 0
`
	calls = 0
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"strata_keyspace_hits_total", "strata_keyspace_misses_total", "strata_evicted_keys_total",
		"strata_expired_keys_total", "strata_keys", "strata_memory_used_bytes", "strata_memory_max_bytes"); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("TierStatsFunc called %d times in one scrape, want 1", calls)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

// BenchmarkCommandObserve is the per-command hot path: 0 allocs/op.
func BenchmarkCommandObserve(b *testing.B) {
	m := NewMetrics(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.Command("get").Observe(time.Microsecond, false)
	}
}
