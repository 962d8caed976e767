// Package telemetry provides strata's observability plumbing: structured
// logs in Elastic Common Schema (ECS) JSON, and Prometheus metrics on a
// private registry. Nothing here is global: callers create a logger with
// NewLogger, a registry with NewRegistry and the metric set with NewMetrics,
// and pass them down.
//
// # Logs
//
// NewLogger with format "ecs" writes one JSON object per line, built by
// log/slog's JSONHandler, for Filebeat to ship to Elasticsearch:
//
//	{"@timestamp":"2025-01-02T03:04:05.123456789Z","log.level":"info","message":"listening",
//	 "ecs.version":"8.11.0","service.name":"strata","server.address":"127.0.0.1:6380"}
//
// ECS field names are written as dotted keys ("http.request.method"), never
// as nested objects. This is the ecs-logging convention (its own
// "log.level" and "ecs.version" are dotted), Elasticsearch expands dotted
// names into objects when indexing, and Filebeat's ndjson parser does the
// same with expand_keys: true. Dotted keys also keep every attribute
// independent: two nested "http" objects in one line would be duplicate
// JSON keys. So log ECS attributes as slog.String("url.path", p), and do
// not use Logger.WithGroup, which would nest.
//
// # Metrics
//
// NewRegistry returns a registry with the Go runtime and process
// collectors and strata_build_info. NewMetrics registers the request and
// connection metrics that the front ends update; RegisterTier exports a
// cache tier's own counters, read at scrape time. Metric and label names
// are a contract with dashboards and alert rules in deploy/: do not rename
// them.
package telemetry

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// ECSVersion is the Elastic Common Schema version the logs follow.
const ECSVersion = "8.11.0"

// ServiceName is the ECS service.name of every log line.
const ServiceName = "strata"

// Log formats accepted by NewLogger.
const (
	// FormatECS is ECS JSON, one object per line.
	FormatECS = "ecs"
	// FormatText is log/slog's key=value text, for a human at a terminal.
	FormatText = "text"
)

// timestampLayout is RFC 3339 in UTC with a fixed nine-digit fraction, so
// lines sort lexically and keep their order within a millisecond.
const timestampLayout = "2006-01-02T15:04:05.000000000Z"

// NewLogger returns a logger writing to w at level and above, in format
// FormatText, or FormatECS for any other value (config.Validate rejects
// other values before they get here).
//
// In ECS format every line carries @timestamp (UTC, nanoseconds), log.level
// (lower-case: debug, info, warn, error), message, ecs.version and
// service.name. Attribute values are written by JSONHandler: a
// time.Duration as integer nanoseconds (what ECS wants in event.duration),
// an error as its message.
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	if format == FormatText {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: ecsAttr,
	})
	return slog.New(h.WithAttrs([]slog.Attr{
		slog.String("ecs.version", ECSVersion),
		slog.String("service.name", ServiceName),
	}))
}

// ecsAttr renames slog's built-in keys to their ECS names.
func ecsAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		if t, ok := a.Value.Any().(time.Time); ok {
			return slog.String("@timestamp", t.UTC().Format(timestampLayout))
		}
		a.Key = "@timestamp"
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String("log.level", levelName(l))
		}
		a.Key = "log.level"
	case slog.MessageKey:
		a.Key = "message"
	case slog.SourceKey:
		a.Key = "log.origin"
	}
	return a
}

// levelName returns the ECS log.level for l: "debug", "info", "warn" or
// "error", and slog's lower-cased form ("info+2") for levels in between.
func levelName(l slog.Level) string {
	switch l {
	case slog.LevelDebug:
		return "debug"
	case slog.LevelInfo:
		return "info"
	case slog.LevelWarn:
		return "warn"
	case slog.LevelError:
		return "error"
	}
	return strings.ToLower(l.String())
}

// Err returns err as the ECS attribute error.message. A nil err gives an
// empty attribute, which slog omits.
func Err(err error) slog.Attr {
	if err == nil {
		return slog.Attr{}
	}
	return slog.String("error.message", err.Error())
}

// AccessDataset is the ECS event.dataset of HTTP access log lines, for
// filtering them from the rest of the log.
const AccessDataset = "strata.access"

// Access describes one served HTTP request for the access log.
type Access struct {
	// Method is the request method, e.g. "GET".
	Method string
	// Path is the request path without the query, e.g. "/v1/kv/users:42".
	Path string
	// Status is the response status code.
	Status int
	// Bytes is the size of the response body written, in bytes.
	Bytes int64
	// Duration is the time from reading the request to writing the last
	// byte of the response.
	Duration time.Duration
	// ClientIP is the client's address without the port.
	ClientIP string
	// RequestID is the request id (X-Request-Id) the gateway assigned.
	RequestID string
	// UserAgent is the User-Agent header; optional.
	UserAgent string
	// UserName is the name of the API key the request authenticated with
	// (user.name); optional.
	UserName string
}

// AccessAttrs returns a's fields as ECS attributes: http.request.method,
// url.path, http.response.status_code, http.response.body.bytes,
// event.duration (nanoseconds), client.ip, http.request.id,
// user_agent.original (if set) and event.dataset "strata.access".
func AccessAttrs(a Access) []slog.Attr {
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("event.dataset", AccessDataset),
		slog.String("http.request.method", a.Method),
		slog.String("url.path", a.Path),
		slog.Int("http.response.status_code", a.Status),
		slog.Int64("http.response.body.bytes", a.Bytes),
		slog.Int64("event.duration", a.Duration.Nanoseconds()),
		slog.String("client.ip", a.ClientIP),
		slog.String("http.request.id", a.RequestID),
	)
	if a.UserAgent != "" {
		attrs = append(attrs, slog.String("user_agent.original", a.UserAgent))
	}
	if a.UserName != "" {
		attrs = append(attrs, slog.String("user.name", a.UserName))
	}
	return attrs
}

// AccessLog writes one access log line for a at level info, with the
// message "METHOD path status" and the attributes of AccessAttrs.
func AccessLog(ctx context.Context, logger *slog.Logger, a Access) {
	if !logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	msg := a.Method + " " + a.Path + " " + strconv.Itoa(a.Status)
	logger.LogAttrs(ctx, slog.LevelInfo, msg, AccessAttrs(a)...)
}
