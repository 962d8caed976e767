// Package config defines strata's configuration: a documented Config struct,
// its defaults (Default), how it is read (Load) and how it is checked
// (Validate).
//
// Values come from four layers; a later layer overrides an earlier one key
// by key:
//
//  1. the defaults returned by Default;
//  2. an optional YAML file (snake_case keys, one mapping per section);
//  3. environment variables STRATA_<SECTION>_<FIELD>, see EnvName;
//  4. command-line flags registered by BindFlags, but only those the user
//     actually set.
//
// Config is strict on purpose: an unknown key in the file or an unknown
// STRATA_* variable is an error that names it, because a silently ignored
// typo ("max_memroy") is a production incident waiting to happen.
//
// Every error this package returns reads "strata: config: <key>: <problem>",
// where <key> is the dotted path of the field, e.g.
// "strata: config: cache.max_memory: must be > 0".
//
// Adding a section is adding a field of struct type to Config with a koanf
// tag, its defaults to Default and its checks to Validate; the key set,
// environment names and unknown-key detection are derived from the struct.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/strata-cache/strata/internal/resource"
)

// Config is the whole configuration of a strata node. The zero value is not
// useful; start from Default.
type Config struct {
	// RESP configures the Redis-protocol front end.
	RESP RESPConfig `koanf:"resp" yaml:"resp"`
	// HTTP configures the REST front end, /metrics and the health endpoints.
	HTTP HTTPConfig `koanf:"http" yaml:"http"`
	// Cache configures the in-process (L1) cache tier.
	Cache CacheConfig `koanf:"cache" yaml:"cache"`
	// Slowlog configures the SLOWLOG command's log of slow commands.
	Slowlog SlowlogConfig `koanf:"slowlog" yaml:"slowlog"`
	// Log configures the process log on stdout.
	Log LogConfig `koanf:"log" yaml:"log"`
	// Shutdown configures graceful shutdown on SIGTERM/SIGINT.
	Shutdown ShutdownConfig `koanf:"shutdown" yaml:"shutdown"`
	// Gateway configures authentication, scopes, per-key rate limits and
	// trusted proxies, on both front ends.
	Gateway GatewayConfig `koanf:"gateway" yaml:"gateway"`
	// TLS configures TLS on both listeners.
	TLS TLSConfig `koanf:"tls" yaml:"tls"`
	// Postgres configures the database resources load from.
	Postgres PostgresConfig `koanf:"postgres" yaml:"postgres"`
	// Resources declares resource keys by name (see resource.Spec): keys
	// that read through to PostgreSQL. Each is decoded onto
	// resource.DefaultSpec. Default none: embedded mode, no database.
	Resources map[string]resource.Spec `koanf:"resources" yaml:"resources"`
	// WAL configures invalidation from PostgreSQL's WAL (wal.go), used
	// when a resource binds tables.
	WAL WALConfig `koanf:"wal" yaml:"wal"`
	// Redis configures the shared L2 on Redis Cluster (redis.go):
	// distributed mode. Default none: one node, L1 only.
	Redis RedisConfig `koanf:"redis" yaml:"redis"`
}

// RESPConfig configures the RESP (Redis protocol) listener. The limits
// protect the server from a client that announces huge requests.
type RESPConfig struct {
	// Addr is the host:port to listen on. Default "127.0.0.1:6380" (next to
	// a local Redis on 6379). The empty string disables the RESP listener.
	Addr string `koanf:"addr" yaml:"addr"`
	// MaxBulkLen is the largest bulk string a client may send, in bytes, like
	// Redis' proto-max-bulk-len. Default 512MiB.
	MaxBulkLen Bytes `koanf:"max_bulk_len" yaml:"max_bulk_len"`
	// MaxMultibulkLen is the largest number of elements in one request
	// array (command plus arguments). Default 1048576, as in Redis.
	MaxMultibulkLen int `koanf:"max_multibulk_len" yaml:"max_multibulk_len"`
	// MaxInlineLen is the longest inline (non-array) command line, in bytes.
	// Default 64KiB, as in Redis.
	MaxInlineLen Bytes `koanf:"max_inline_len" yaml:"max_inline_len"`
	// IdleTimeout closes a client connection idle for this long, like Redis'
	// timeout. Default 0, which means never.
	IdleTimeout time.Duration `koanf:"idle_timeout" yaml:"idle_timeout"`
	// WriteTimeout closes a client that does not accept its replies for
	// this long (a client that stopped reading). Default 60s; 0 means
	// never.
	WriteTimeout time.Duration `koanf:"write_timeout" yaml:"write_timeout"`
	// OutputLimit is the largest reply buffer one client may make the
	// server build between writes, in bytes; a client over it is
	// disconnected. Default 256MiB.
	OutputLimit Bytes `koanf:"output_limit" yaml:"output_limit"`
	// MaxClients bounds open RESP connections, like Redis' maxclients; one
	// more is answered "-ERR max number of clients reached" and closed.
	// Default 10000.
	MaxClients int `koanf:"max_clients" yaml:"max_clients"`
}

// HTTPConfig configures the HTTP listener.
type HTTPConfig struct {
	// Addr is the host:port to listen on. Default "127.0.0.1:8080". The
	// empty string disables the HTTP listener (and with it /metrics).
	Addr string `koanf:"addr" yaml:"addr"`
	// MaxBody is the largest request body accepted, in bytes; larger bodies
	// get 413. Default 64MiB: large enough for any sensible cached value,
	// small enough that a handful of concurrent uploads cannot exhaust
	// memory. Raise it together with cache.max_value_size if you store
	// bigger values over HTTP.
	MaxBody Bytes `koanf:"max_body" yaml:"max_body"`
	// ReadHeaderTimeout bounds how long a client may take to send request
	// headers (http.Server.ReadHeaderTimeout). Default 10s; 0 means no limit.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout" yaml:"read_header_timeout"`
	// IdleTimeout closes keep-alive connections idle for this long
	// (http.Server.IdleTimeout). Default 120s; 0 means no limit.
	IdleTimeout time.Duration `koanf:"idle_timeout" yaml:"idle_timeout"`
	// ReadTimeout bounds the time to read a whole request, body included
	// (http.Server.ReadTimeout), against clients that trickle a body.
	// Default 60s; 0 means no limit.
	ReadTimeout time.Duration `koanf:"read_timeout" yaml:"read_timeout"`
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the response (http.Server.WriteTimeout), against clients
	// that do not read. Default 60s; 0 means no limit.
	WriteTimeout time.Duration `koanf:"write_timeout" yaml:"write_timeout"`
	// MaxHeaderBytes bounds the request line and headers; more gets 431.
	// Default 256KiB, room for a 64 KiB key percent-encoded.
	MaxHeaderBytes Bytes `koanf:"max_header_bytes" yaml:"max_header_bytes"`
	// MaxBatchKeys bounds the keys of one POST /v1/mget; more gets 413.
	// Default 1000.
	MaxBatchKeys int `koanf:"max_batch_keys" yaml:"max_batch_keys"`
}

// CacheConfig configures the in-process cache tier.
type CacheConfig struct {
	// MaxMemory is the memory budget of the L1 tier, in bytes; beyond it
	// entries are evicted. Default 1GiB. Must be > 0.
	MaxMemory Bytes `koanf:"max_memory" yaml:"max_memory"`
	// MaxKeySize is the longest key accepted, in bytes. Default 64KiB.
	MaxKeySize Bytes `koanf:"max_key_size" yaml:"max_key_size"`
	// MaxValueSize is the largest value accepted, in bytes. Default 512MiB,
	// like Redis. A value larger than MaxMemory can never be cached, so the
	// effective limit is the smaller of the two.
	MaxValueSize Bytes `koanf:"max_value_size" yaml:"max_value_size"`
}

// SlowlogConfig configures the slow-command log, as in Redis.
type SlowlogConfig struct {
	// LogSlowerThan records commands that take longer than this. Default
	// 10ms (Redis' slowlog-log-slower-than 10000 µs). 0 records every
	// command; a negative value disables the slow log.
	LogSlowerThan time.Duration `koanf:"log_slower_than" yaml:"log_slower_than"`
	// MaxLen is how many entries the slow log keeps. Default 128, as in
	// Redis.
	MaxLen int `koanf:"max_len" yaml:"max_len"`
}

// Log levels and formats accepted in LogConfig.
const (
	LevelDebug = "debug"
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"

	// FormatECS is Elastic Common Schema JSON, one object per line.
	FormatECS = "ecs"
	// FormatText is log/slog's key=value text, for humans at a terminal.
	FormatText = "text"
)

// LogConfig configures the process log.
type LogConfig struct {
	// Level is the minimum level logged: debug, info, warn or error.
	// Default info.
	Level string `koanf:"level" yaml:"level"`
	// Format is ecs (Elastic Common Schema JSON lines, for Filebeat) or text.
	// Default ecs.
	Format string `koanf:"format" yaml:"format"`
}

// SlogLevel returns Level as a slog.Level. It returns slog.LevelInfo for a
// value Validate would reject.
func (l LogConfig) SlogLevel() slog.Level {
	switch l.Level {
	case LevelDebug:
		return slog.LevelDebug
	case LevelWarn:
		return slog.LevelWarn
	case LevelError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// ShutdownConfig configures graceful shutdown.
type ShutdownConfig struct {
	// Timeout is how long SIGTERM waits for in-flight requests and
	// background work to finish before the process exits anyway.
	// Default 10s; 0 means do not wait.
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	// DrainDelay is how long the node keeps serving after /readyz turned
	// 503 and before it stops accepting, so that load balancers and
	// Kubernetes endpoints notice first. Default 0; 5s suits Kubernetes.
	// It counts against Timeout.
	DrainDelay time.Duration `koanf:"drain_delay" yaml:"drain_delay"`
}

// Default returns the configuration used when nothing is configured: an
// embedded node listening on loopback only.
func Default() Config {
	return Config{
		RESP: RESPConfig{
			Addr:            "127.0.0.1:6380",
			MaxBulkLen:      512 * MiB,
			MaxMultibulkLen: 1024 * 1024,
			MaxInlineLen:    64 * KiB,
			IdleTimeout:     0,
			WriteTimeout:    60 * time.Second,
			OutputLimit:     256 * MiB,
			MaxClients:      10000,
		},
		HTTP: HTTPConfig{
			Addr:              "127.0.0.1:8080",
			MaxBody:           64 * MiB,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      60 * time.Second,
			MaxHeaderBytes:    256 * KiB,
			MaxBatchKeys:      1000,
		},
		Cache: CacheConfig{
			MaxMemory:    1 * GiB,
			MaxKeySize:   64 * KiB,
			MaxValueSize: 512 * MiB,
		},
		Slowlog: SlowlogConfig{
			LogSlowerThan: 10 * time.Millisecond,
			MaxLen:        128,
		},
		Log: LogConfig{
			Level:  LevelInfo,
			Format: FormatECS,
		},
		Shutdown: ShutdownConfig{
			Timeout: 10 * time.Second,
		},
		Postgres: defaultPostgres(),
		WAL:      defaultWAL(),
		Redis:    defaultRedis(),
		Gateway: GatewayConfig{
			ProtectedMode: true,
		},
	}
}

// ErrInvalid is wrapped by every problem Validate reports, so callers can
// tell a bad configuration (exit status 2, say) from an I/O error.
var ErrInvalid = errors.New("invalid configuration")

// FieldError is one problem with one configuration key.
type FieldError struct {
	// Key is the dotted path of the field, e.g. "cache.max_memory", or the
	// environment variable name for a problem with one.
	Key string
	// Err describes the problem.
	Err error
}

// Error returns "strata: config: <key>: <problem>".
func (e *FieldError) Error() string {
	return "strata: config: " + e.Key + ": " + e.Err.Error()
}

// Unwrap returns the underlying problem.
func (e *FieldError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalid: every FieldError is one.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// problems collects FieldErrors for errors.Join.
type problems []error

// add records a problem with key, formatted as by fmt.Errorf.
func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &FieldError{Key: key, Err: fmt.Errorf(format, args...)})
}

// Validate checks every field and returns all problems at once, joined
// with errors.Join, each a *FieldError reading
// "strata: config: <key>: <problem>". It returns nil for a usable Config.
func (c Config) Validate() error {
	var p problems

	checkAddr(&p, "resp.addr", c.RESP.Addr)
	positive(&p, "resp.max_bulk_len", c.RESP.MaxBulkLen)
	if c.RESP.MaxMultibulkLen <= 0 {
		p.add("resp.max_multibulk_len", "must be > 0, got %d", c.RESP.MaxMultibulkLen)
	}
	positive(&p, "resp.max_inline_len", c.RESP.MaxInlineLen)
	nonNegative(&p, "resp.idle_timeout", c.RESP.IdleTimeout)
	c.validateLimits(&p)

	checkAddr(&p, "http.addr", c.HTTP.Addr)
	positive(&p, "http.max_body", c.HTTP.MaxBody)
	nonNegative(&p, "http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	nonNegative(&p, "http.idle_timeout", c.HTTP.IdleTimeout)

	positive(&p, "cache.max_memory", c.Cache.MaxMemory)
	positive(&p, "cache.max_key_size", c.Cache.MaxKeySize)
	positive(&p, "cache.max_value_size", c.Cache.MaxValueSize)

	// slowlog.log_slower_than: every value is meaningful (negative disables).
	if c.Slowlog.MaxLen < 0 {
		p.add("slowlog.max_len", "must be >= 0, got %d", c.Slowlog.MaxLen)
	}

	switch c.Log.Level {
	case LevelDebug, LevelInfo, LevelWarn, LevelError:
	default:
		p.add("log.level", "must be one of debug, info, warn, error; got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case FormatECS, FormatText:
	default:
		p.add("log.format", "must be one of ecs, text; got %q", c.Log.Format)
	}

	nonNegative(&p, "shutdown.timeout", c.Shutdown.Timeout)
	nonNegative(&p, "shutdown.drain_delay", c.Shutdown.DrainDelay)

	c.Gateway.validate(&p)
	c.TLS.validate(&p)
	c.validatePostgres(&p)
	c.validateWAL(&p)
	c.validateRedis(&p)

	return errors.Join(p...)
}

// checkAddr accepts "" (listener disabled) or host:port with a numeric port
// in 0..65535; the host may be empty (all interfaces), a name or an IP.
func checkAddr(p *problems, key, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(key, "must be host:port or empty, got %q", addr)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.add(key, "port must be a number in 0..65535, got %q", port)
	}
}

// positive reports a zero size.
func positive(p *problems, key string, b Bytes) {
	if b == 0 {
		p.add(key, "must be > 0")
	}
}

// nonNegative reports a negative duration.
func nonNegative(p *problems, key string, d time.Duration) {
	if d < 0 {
		p.add(key, "must be >= 0, got %s", d)
	}
}
