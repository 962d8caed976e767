package telemetry

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Version and Revision identify the build in strata_build_info. They are
// meant to be set at link time:
//
//	go build -ldflags "-X github.com/strata-cache/strata/internal/telemetry.Version=v1.2.3 \
//	  -X github.com/strata-cache/strata/internal/telemetry.Revision=$(git rev-parse HEAD)"
//
// When empty, NewRegistry falls back to the module version and VCS revision
// recorded by the Go toolchain (runtime/debug.ReadBuildInfo), then to
// "unknown". Nothing else in strata writes them.
var (
	Version  string
	Revision string
)

// Label values of strata_connected_clients and friends.
const (
	ProtoRESP = "resp"
	ProtoHTTP = "http"
)

// NewRegistry returns a new registry holding the Go runtime collector, the
// process collector and strata_build_info{version,goversion,revision} = 1.
// strata never uses prometheus.DefaultRegisterer.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	version, revision := buildVersion()
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strata_build_info",
		Help: "A metric with a constant '1' value labeled by the version, Go version and VCS revision strata was built from.",
		ConstLabels: prometheus.Labels{
			"version":   version,
			"goversion": runtime.Version(),
			"revision":  revision,
		},
	})
	info.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		info,
	)
	return reg
}

// BuildVersion returns the version strata reports: Version if set at link
// time, else the module version the Go build recorded, else "unknown".
func BuildVersion() string {
	v, _ := buildVersion()
	return v
}

// buildVersion resolves Version and Revision as documented on them.
func buildVersion() (version, revision string) {
	version, revision = Version, Revision
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && revision == "" {
				revision = s.Value
			}
		}
	}
	if version == "" {
		version = "unknown"
	}
	if revision == "" {
		revision = "unknown"
	}
	return version, revision
}

// maxCommandNames bounds the distinct cmd label values Command hands out;
// beyond it, names share the "other" series. It protects Prometheus from a
// caller that passes client-supplied names without checking them.
const maxCommandNames = 256

// OtherCommand is the cmd label used once maxCommandNames distinct names
// have been seen.
const OtherCommand = "other"

// Metrics holds the request and connection metrics of the front ends. It is
// safe for concurrent use. Create it with NewMetrics.
type Metrics struct {
	commands         *prometheus.CounterVec
	commandErrors    *prometheus.CounterVec
	commandDuration  *prometheus.HistogramVec
	connectedClients *prometheus.GaugeVec
	connsReceived    *prometheus.CounterVec
	connsRejected    *prometheus.CounterVec
	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec

	// byName caches *CommandMetrics by command name so the hot path does
	// no label hashing; names counts its entries for maxCommandNames.
	byName sync.Map
	names  atomic.Int32
}

// CommandMetrics are the pre-resolved series of one command. Updating them
// costs an atomic add, no label lookup.
type CommandMetrics struct {
	// Calls counts calls: strata_commands_total{cmd}.
	Calls prometheus.Counter
	// Errors counts calls that replied with an error:
	// strata_command_errors_total{cmd}.
	Errors prometheus.Counter
	// Duration observes call latency in seconds:
	// strata_command_duration_seconds{cmd}.
	Duration prometheus.Observer
}

// Observe records one call that took d and failed if failed is true.
func (c *CommandMetrics) Observe(d time.Duration, failed bool) {
	c.Calls.Inc()
	if failed {
		c.Errors.Inc()
	}
	c.Duration.Observe(d.Seconds())
}

// ConnMetrics are the pre-resolved connection series of one protocol.
type ConnMetrics struct {
	// Connected is strata_connected_clients{proto}: increment on accept,
	// decrement on close.
	Connected prometheus.Gauge
	// Received is strata_connections_received_total{proto}: every accepted
	// connection, including ones later rejected.
	Received prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg:
//
//	strata_commands_total{cmd}                  counter
//	strata_command_errors_total{cmd}            counter
//	strata_command_duration_seconds{cmd}        histogram, 10µs..1s
//	strata_connected_clients{proto}             gauge, proto = resp | http
//	strata_connections_received_total{proto}    counter
//	strata_rejected_connections_total{proto,reason} counter
//	strata_http_requests_total{route,code}      counter
//	strata_http_request_duration_seconds{route} histogram, 100µs..10s
//
// It panics if they are already registered on reg, as MustRegister does:
// that is a wiring bug, not a runtime condition.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_commands_total",
			Help: "Commands processed, by command name.",
		}, []string{"cmd"}),
		commandErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_command_errors_total",
			Help: "Commands that replied with an error, by command name.",
		}, []string{"cmd"}),
		commandDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "strata_command_duration_seconds",
			Help: "Time to execute a command, from parsed request to queued reply, by command name.",
			// Half-decade exponential buckets (factor √10): 10µs..1s, for
			// commands served from memory.
			Buckets: prometheus.ExponentialBucketsRange(10e-6, 1, 11),
		}, []string{"cmd"}),
		connectedClients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_connected_clients",
			Help: "Client connections currently open, by protocol.",
		}, []string{"proto"}),
		connsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_connections_received_total",
			Help: "Client connections accepted, by protocol.",
		}, []string{"proto"}),
		connsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_rejected_connections_total",
			Help: "Client connections closed on arrival, by protocol and reason (e.g. maxclients).",
		}, []string{"proto", "reason"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "strata_http_request_duration_seconds",
			Help: "Time to serve an HTTP request, by route pattern.",
			// 100µs..10s, factor √10: HTTP includes the network and
			// read-through loads from PostgreSQL.
			Buckets: prometheus.ExponentialBucketsRange(100e-6, 10, 11),
		}, []string{"route"}),
	}
	reg.MustRegister(
		m.commands, m.commandErrors, m.commandDuration,
		m.connectedClients, m.connsReceived, m.connsRejected,
		m.httpRequests, m.httpDuration,
	)
	// Export both protocols from the first scrape, so dashboards show 0
	// rather than no data before the first client.
	m.Conn(ProtoRESP)
	m.Conn(ProtoHTTP)
	return m
}

// Command returns the series of the named command, creating them on first
// use. Pass the canonical lower-case name ("get", "set") of a command the
// server knows, and a fixed name such as "unknown" for the rest: each
// distinct name is a set of time series. After maxCommandNames distinct
// names (give or take a few under concurrency) every new name is counted
// as OtherCommand.
//
// The result is cached; callers on a hot path may also keep it.
func (m *Metrics) Command(name string) *CommandMetrics {
	if c, ok := m.byName.Load(name); ok {
		return c.(*CommandMetrics)
	}
	label := name
	if m.names.Load() >= maxCommandNames {
		if name == OtherCommand {
			label = OtherCommand
		} else {
			return m.Command(OtherCommand)
		}
	}
	c := &CommandMetrics{
		Calls:    m.commands.WithLabelValues(label),
		Errors:   m.commandErrors.WithLabelValues(label),
		Duration: m.commandDuration.WithLabelValues(label),
	}
	if prev, loaded := m.byName.LoadOrStore(name, c); loaded {
		return prev.(*CommandMetrics)
	}
	m.names.Add(1)
	return c
}

// Conn returns the connection series of proto (ProtoRESP or ProtoHTTP).
// Resolve it once per listener.
func (m *Metrics) Conn(proto string) *ConnMetrics {
	return &ConnMetrics{
		Connected: m.connectedClients.WithLabelValues(proto),
		Received:  m.connsReceived.WithLabelValues(proto),
	}
}

// Rejected returns strata_rejected_connections_total{proto,reason}. Use a
// small fixed set of reasons, e.g. "maxclients", "tls", "auth".
func (m *Metrics) Rejected(proto, reason string) prometheus.Counter {
	return m.connsRejected.WithLabelValues(proto, reason)
}

// ObserveHTTP records one served HTTP request. route must be the route
// pattern ("/v1/kv/{key}"), never the raw path, to bound cardinality.
func (m *Metrics) ObserveHTTP(route string, code int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}
