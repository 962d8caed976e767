// Package postgres loads resource values from PostgreSQL over a pgx pool.
//
// A Source is created once per node with New. At start-up Prepare checks
// each resource's query against the database (it prepares; its parameter
// count and types agree with the key template; its result columns can be
// turned into a value) and remembers how to run it. On a cache miss, Load
// runs the query with the key's parameters bound as query parameters,
// never spliced into the SQL text, and classifies what went wrong so the
// cache can branch: ErrUnavailable (serve stale, or 503), ErrQuery (a
// broken query or data problem), ErrBadParam (the key cannot name a row: a
// miss).
//
// # Values
//
// A query returning one column of type text, varchar, char, name, json,
// jsonb or bytea yields that column's bytes as the value (json and jsonb as
// JSON text, bytea as the raw bytes). A query returning several columns
// yields a JSON object keyed by column name, built by PostgreSQL's
// row_to_json, so every column type is supported there and encoded as
// PostgreSQL encodes it to JSON; column names must be unique and explicit
// (give expressions a name with AS). A single column of another type is
// refused at Prepare: cast it (count(*)::text) or return several columns.
//
// A query returning no row, or one row whose single column is NULL, is a
// miss (Found false). A query returning more than one row is an ErrQuery
// error rather than an arbitrary pick of the first: a key names one value,
// and a query that can return several rows is a configuration bug that
// would otherwise show up as values that change from load to load.
//
// # Key parameters
//
// Each key parameter is converted to the type PostgreSQL inferred for its
// query parameter, and must be in that type's canonical text form, so that
// one row has exactly one key (WAL-driven invalidation computes a row's key
// from its columns; "users:007" must not cache the row of "users:7" where
// invalidation would never find it). The forms accepted:
//
//   - text, varchar, char, name: any valid UTF-8 without NUL bytes (which
//     PostgreSQL cannot store in text);
//   - int2, int4, int8: decimal in range, no sign '+', no leading zeros,
//     not "-0";
//   - numeric: -?(0|[1-9][0-9]*)(\.[0-9]+)?, at most 1000 characters;
//   - uuid: lower-case 8-4-4-4-12 hex;
//   - bool: "true" or "false";
//   - date: YYYY-MM-DD (years 0001-9999);
//   - timestamptz: RFC 3339 in UTC with "Z", at most 6 fractional digits
//     and no trailing zeros ("2024-05-01T12:00:00Z");
//   - timestamp: the same without "Z".
//
// Anything else is ErrBadParam before any query is sent.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Error classes. Every error Load returns matches exactly one of them with
// errors.Is, and also wraps the underlying error (a *pgconn.PgError, a
// network error, context.DeadlineExceeded, ...).
var (
	// ErrUnavailable means the database could not answer: connection
	// refused or lost, the pool could not connect, the server is starting
	// or shutting down (including an administrator's shutdown), too many
	// connections, or the query timed out or was cancelled. Retrying later
	// may succeed; a cache serves stale data within stale_if_error or
	// answers "origin unavailable".
	ErrUnavailable = errors.New("database unavailable")
	// ErrQuery means the database answered with an error for the query
	// itself (a SQL error, a data error, a read-only violation), or the
	// query returned more than one row. Retrying will not help until the
	// query or the data changes.
	ErrQuery = errors.New("query failed")
	// ErrBadParam means a key parameter cannot be bound to its query
	// parameter (e.g. "abc" for an int8, a NUL byte or invalid UTF-8 for
	// text). No query was sent; to a client the key simply does not exist.
	ErrBadParam = errors.New("key parameter cannot name a row")
)

// Sentinels more specific than the classes above; each also matches its
// class.
var (
	// ErrMultipleRows means a load query returned more than one row. It is
	// an ErrQuery.
	ErrMultipleRows = fmt.Errorf("%w: returned more than one row; a resource query must return at most one (aggregate with json_agg, or add LIMIT 1)", ErrQuery)
	// ErrNotPrepared means Load was called for a resource Prepare has not
	// accepted. It is an ErrQuery.
	ErrNotPrepared = fmt.Errorf("%w: resource was not prepared", ErrQuery)
	// ErrClosed means the Source was closed. It is an ErrUnavailable.
	ErrClosed = fmt.Errorf("%w: source closed", ErrUnavailable)
)

// Options tunes a Source. The zero value is ready to use.
type Options struct {
	// MaxConns is the pool's size. Default max(4, 2*GOMAXPROCS): loads are
	// coalesced per key, so the pool bounds how many distinct cold keys
	// are loaded at once, not how many clients wait.
	MaxConns int32
	// MinConns connections are kept open even when idle. Default 0.
	MinConns int32
	// ConnectTimeout bounds establishing one connection, when the DSN does
	// not set connect_timeout. Default 5s.
	ConnectTimeout time.Duration
	// MaxConnLifetime closes connections older than this. Default 1h.
	MaxConnLifetime time.Duration
	// MaxConnIdleTime closes connections idle longer than this. Default
	// 30m.
	MaxConnIdleTime time.Duration
	// HealthCheckPeriod is how often idle connections are checked, so that
	// connections broken by a database restart are dropped before a load
	// needs them. Default 15s.
	HealthCheckPeriod time.Duration
	// ExecMode is how queries are sent. Default: the DSN's
	// default_query_exec_mode, which defaults to
	// pgx.QueryExecModeCacheStatement (each connection prepares a query
	// once and reuses it). Use QueryExecModeCacheDescribe, DescribeExec or
	// Exec behind a transaction-pooling PgBouncer. QueryExecModeSimpleProtocol
	// is refused: it interpolates parameters into the SQL text on the
	// client.
	ExecMode pgx.QueryExecMode
	// AllowWrites lets load queries write. By default every session sets
	// default_transaction_read_only=on, so a resource query can never
	// modify the database (a query that tries fails with ErrQuery). Set it
	// when a connection pooler refuses that startup parameter; a DSN that
	// sets default_transaction_read_only itself is left alone.
	AllowWrites bool
}

// Result is the outcome of one load.
type Result struct {
	// Value is the loaded value when Found. The caller owns it.
	Value []byte
	// Found is false when the query returned no row (or a NULL value).
	Found bool
	// Duration is how long the load took, including waiting for a
	// connection.
	Duration time.Duration
}

// Source loads resource values from one PostgreSQL database. It is safe
// for concurrent use.
type Source struct {
	pool      *pgxpool.Pool
	closed    atomic.Bool
	closeOnce sync.Once

	mu    sync.Mutex                            // serialises writers of stmts
	stmts atomic.Pointer[map[string]*statement] // copy-on-write: Load never locks
}

// statement is a prepared resource: how to run its query and convert its
// key parameters.
type statement struct {
	name    string
	sql     string // what Load runs: the query, or it wrapped in row_to_json
	params  []param
	timeout time.Duration
}

// New connects a pool to the database named by dsn (a URL or key=value
// connection string, as pgx accepts) and checks that the database answers.
// An unreachable database is an error wrapping ErrUnavailable. The caller
// must Close the Source.
func New(ctx context.Context, dsn string, opts Options) (*Source, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password from its message.
		return nil, fmt.Errorf("strata: postgres: invalid dsn: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = int32(max(4, 2*runtime.GOMAXPROCS(0)))
	}
	cfg.MinConns = max(0, min(opts.MinConns, cfg.MaxConns))
	if opts.ConnectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	} else if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.MaxConnLifetime = durationOr(opts.MaxConnLifetime, time.Hour)
	cfg.MaxConnIdleTime = durationOr(opts.MaxConnIdleTime, 30*time.Minute)
	cfg.HealthCheckPeriod = durationOr(opts.HealthCheckPeriod, 15*time.Second)
	if opts.ExecMode != 0 {
		cfg.ConnConfig.DefaultQueryExecMode = opts.ExecMode
	}
	if cfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeSimpleProtocol {
		return nil, errors.New("strata: postgres: the simple protocol exec mode is not supported: it splices parameters into the SQL text")
	}
	if _, set := cfg.ConnConfig.RuntimeParams["default_transaction_read_only"]; !set && !opts.AllowWrites {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = "strata"
	}

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("strata: postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("strata: postgres: connect to %s: %w: %w", cfg.ConnConfig.Host, ErrUnavailable, err)
	}
	s := &Source{pool: pool}
	s.stmts.Store(&map[string]*statement{})
	return s, nil
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Close closes every connection, waiting for loads in flight to give their
// connection back. It is idempotent; Load after Close returns ErrClosed.
func (s *Source) Close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.pool.Close()
	})
}

// Pool returns the underlying pool, for health checks and tests.
func (s *Source) Pool() *pgxpool.Pool { return s.pool }

// Load runs the query of the named resource with params, the key's
// parameter values in template order (as resource.Template.Match returns
// them), bounded by ctx and the resource's query timeout.
//
// Every error matches exactly one of ErrUnavailable, ErrQuery and
// ErrBadParam. A caller's cancelled or expired ctx, like the query
// timeout, counts as ErrUnavailable. Result.Duration is set whenever a
// query was attempted, on errors too; it is 0 when the parameters were
// refused before any query.
func (s *Source) Load(ctx context.Context, name string, params []string) (Result, error) {
	start := time.Now()
	st := (*s.stmts.Load())[name]
	if st == nil {
		return Result{}, fmt.Errorf("strata: postgres: load %s: %w", name, ErrNotPrepared)
	}
	if len(params) != len(st.params) {
		return Result{}, fmt.Errorf("strata: postgres: load %s: %w: got %d parameters, want %d", name, ErrBadParam, len(params), len(st.params))
	}
	var argv [4]any
	args := argv[:0]
	for i, p := range params {
		if err := st.params[i].check(p); err != nil {
			return Result{}, fmt.Errorf("strata: postgres: load %s: %w: {%s}: %w", name, ErrBadParam, st.params[i].name, err)
		}
		args = append(args, p) // text format: PostgreSQL parses the validated string
	}
	if s.closed.Load() {
		return Result{}, fmt.Errorf("strata: postgres: load %s: %w", name, ErrClosed)
	}

	qctx, cancel := context.WithTimeout(ctx, st.timeout)
	defer cancel()
	value, found, err := s.query(qctx, st, args)
	if err != nil && pgconn.SafeToRetry(err) && qctx.Err() == nil {
		// Nothing reached the server: typically a connection that died
		// with a database restart. Another connection may work.
		value, found, err = s.query(qctx, st, args)
	}
	res := Result{Value: value, Found: found, Duration: time.Since(start)}
	if err != nil {
		return res, s.classify(ctx, qctx, name, st, err)
	}
	return res, nil
}

func (s *Source) query(ctx context.Context, st *statement, args []any) ([]byte, bool, error) {
	rows, err := s.pool.Query(ctx, st.sql, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, false, rows.Err()
	}
	var v []byte
	if err := rows.Scan(&v); err != nil {
		return nil, false, err
	}
	if rows.Next() {
		return nil, false, ErrMultipleRows
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	return v, v != nil, nil
}

// classify wraps err with its class. ctx is the caller's context, qctx the
// load's own, which adds the query timeout.
func (s *Source) classify(ctx, qctx context.Context, name string, st *statement, err error) error {
	class := ErrUnavailable
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, ErrQuery):
		return fmt.Errorf("strata: postgres: load %s: %w", name, err)
	case s.closed.Load():
		class = ErrClosed
	case errors.As(err, &pgErr):
		if !unavailableCode(pgErr.Code) {
			class = ErrQuery
		} else if pgErr.Code == "57014" && qctx.Err() != nil {
			// query_canceled because our context ended: say why.
			err = fmt.Errorf("%w: %w", context.Cause(qctx), err)
		}
	case errors.As(err, new(pgx.ScanArgError)):
		class = ErrQuery
	}
	if class == ErrUnavailable && qctx.Err() != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("strata: postgres: load %s: %w: caller gave up: %w", name, class, err)
		}
		return fmt.Errorf("strata: postgres: load %s: %w: timed out after %v: %w", name, class, st.timeout, err)
	}
	return fmt.Errorf("strata: postgres: load %s: %w: %w", name, class, err)
}

// unavailableCode reports whether a SQLSTATE means the server could not
// answer now, rather than that the query is wrong.
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"): // connection_exception
		return true
	case strings.HasPrefix(code, "53"): // insufficient_resources, too_many_connections
		return true
	case strings.HasPrefix(code, "58"): // system_error (I/O)
		return true
	case strings.HasPrefix(code, "57P"): // admin_shutdown, crash_shutdown, cannot_connect_now, ...
		return true
	case code == "57014": // query_canceled: statement_timeout or our cancel
		return true
	case code == "40001", code == "40P01": // serialization_failure, deadlock_detected: transient
		return true
	}
	return false
}
