// Package resource describes resource keys: keys of the shared key space
// whose values are loaded from PostgreSQL by a configured query rather than
// written by clients.
//
// A resource is declared in the config file as a Spec: a key template such
// as "users:{id}", a query whose $1..$n bind the template's parameters in
// order, and its caching policy (TTL, stale windows, negative caching). The
// package parses and validates declarations, and a Set answers the hot-path
// question "which resource, if any, owns this key, and with which
// parameters?" without allocating for the plain keys that belong to none.
//
// The package is pure Go; checking a query against the database is the
// loader's job (package source/postgres).
package resource

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults for Spec fields.
const (
	// DefaultQueryTimeout bounds one load query when Spec.QueryTimeout is 0.
	DefaultQueryTimeout = 2 * time.Second
	// DefaultTTLJitter is the TTL jitter fraction DefaultSpec sets.
	DefaultTTLJitter = 0.1
)

// Spec declares one resource, as written in the config file under
// resources.<name>. Start from DefaultSpec: a zero Spec has no TTL jitter.
type Spec struct {
	// Name identifies the resource in config paths, logs and metric labels;
	// it is the key under "resources:" in the config file. Letters, digits,
	// '_' and '-'.
	Name string `koanf:"-" yaml:"-"`
	// Key is the key template, e.g. "users:{id}" (see ParseTemplate and
	// Template for the matching rule). Required.
	Key string `koanf:"key" yaml:"key"`
	// Query is the SQL that loads one key. Its parameters $1..$n are the
	// template's parameters in template order, bound as query parameters
	// (never spliced into the SQL text). It must return at most one row:
	// one text, varchar, json, jsonb or bytea column is the value as is;
	// several named columns become a JSON object keyed by column name; no
	// row is a miss. Required.
	Query string `koanf:"query" yaml:"query"`
	// TTL is how long a loaded value is fresh. Required, > 0.
	TTL time.Duration `koanf:"ttl" yaml:"ttl"`
	// StaleWhileRevalidate is how long after TTL an entry may still be
	// served while one background load refreshes it. Default 0 (off).
	StaleWhileRevalidate time.Duration `koanf:"stale_while_revalidate" yaml:"stale_while_revalidate"`
	// StaleIfError is how long after TTL an entry may still be served when
	// the database is unavailable or too slow. Default 0 (off).
	StaleIfError time.Duration `koanf:"stale_if_error" yaml:"stale_if_error"`
	// NegativeTTL is how long a miss (the query returned no row, or a key
	// parameter that cannot name a row) is cached. Default 0 (misses are not
	// cached).
	NegativeTTL time.Duration `koanf:"negative_ttl" yaml:"negative_ttl"`
	// QueryTimeout bounds one load query, including waiting for a
	// connection. 0 means DefaultQueryTimeout (2s).
	QueryTimeout time.Duration `koanf:"query_timeout" yaml:"query_timeout"`
	// TTLJitter spreads expiry: each entry's TTL is shortened by a random
	// fraction in [0, TTLJitter) so keys filled together do not expire
	// together. A fraction in [0, 1); DefaultSpec sets DefaultTTLJitter
	// (0.1), 0 disables jitter.
	TTLJitter float64 `koanf:"ttl_jitter" yaml:"ttl_jitter"`
	// Tables lists the tables whose changes invalidate this resource, for
	// WAL-driven invalidation. Optional.
	Tables []TableBinding `koanf:"tables" yaml:"tables"`
	// MaxStaleness bounds how far behind the database's write-ahead log
	// this resource may be served from cache. 0 means the global default.
	MaxStaleness time.Duration `koanf:"max_staleness" yaml:"max_staleness"`
}

// TableBinding says how a row of one table leads to the keys of a
// resource, for WAL-driven invalidation: a change to a row of Table
// invalidates the key Template.Expand(row[Columns[0]], row[Columns[1]], ...)
// for both the old and the new row.
type TableBinding struct {
	// Table is the table name, optionally schema-qualified ("public.users").
	Table string `koanf:"table" yaml:"table"`
	// Columns names, for each template parameter in template order, the
	// column of Table that holds its value. Its length equals the number of
	// template parameters.
	Columns []string `koanf:"columns" yaml:"columns"`
}

// DefaultSpec returns a Spec with every default filled in, for the config
// loader to decode a resources.<name> mapping onto.
func DefaultSpec() Spec {
	return Spec{TTLJitter: DefaultTTLJitter}
}

// Timeout returns the effective query timeout: QueryTimeout, or
// DefaultQueryTimeout when it is 0.
func (s *Spec) Timeout() time.Duration {
	if s.QueryTimeout > 0 {
		return s.QueryTimeout
	}
	return DefaultQueryTimeout
}

// ErrInvalid is matched (errors.Is) by every *FieldError.
var ErrInvalid = errors.New("invalid resource")

// FieldError is a problem with one field of a resource declaration. It
// reads "strata: config: resources.<name>.<field>: <problem>", the form of
// package config's errors, so the config loader can return it as is.
type FieldError struct {
	// Resource is the resource's name.
	Resource string
	// Field is the field's config path below the resource, e.g. "key",
	// "query" or "tables[1].columns".
	Field string
	// Err describes the problem.
	Err error
}

// Key returns the field's dotted config path, "resources.<name>.<field>".
func (e *FieldError) Key() string {
	if e.Field == "" {
		return "resources." + e.Resource
	}
	return "resources." + e.Resource + "." + e.Field
}

// Error returns "strata: config: resources.<name>.<field>: <problem>".
func (e *FieldError) Error() string {
	return "strata: config: " + e.Key() + ": " + e.Err.Error()
}

// Unwrap returns the underlying problem.
func (e *FieldError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalid: every FieldError is one.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Validate checks the declaration without a database and returns every
// problem at once, joined with errors.Join, each a *FieldError naming the
// field. It returns nil for a usable Spec.
func (s *Spec) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Resource: s.Name, Field: field, Err: fmt.Errorf(format, args...)})
	}
	if err := checkName(s.Name); err != nil {
		errs = append(errs, &FieldError{Resource: s.Name, Err: err})
	}
	var tmpl *Template
	if s.Key == "" {
		add("key", "required, e.g. \"%s:{id}\"", s.Name)
	} else if t, err := ParseTemplate(s.Key); err != nil {
		errs = append(errs, &FieldError{Resource: s.Name, Field: "key", Err: err})
	} else {
		tmpl = t
	}
	if s.Query == "" {
		add("query", "required: the SQL that loads one key, with $1..$n bound to the key's parameters")
	}
	if s.TTL <= 0 {
		add("ttl", "must be > 0, got %v", s.TTL)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"stale_while_revalidate", s.StaleWhileRevalidate},
		{"stale_if_error", s.StaleIfError},
		{"negative_ttl", s.NegativeTTL},
		{"query_timeout", s.QueryTimeout},
		{"max_staleness", s.MaxStaleness},
	} {
		if d.v < 0 {
			add(d.field, "must be >= 0, got %v", d.v)
		}
	}
	if math.IsNaN(s.TTLJitter) || s.TTLJitter < 0 || s.TTLJitter >= 1 {
		add("ttl_jitter", "must be a fraction in [0, 1), got %v", s.TTLJitter)
	}
	for i, tb := range s.Tables {
		field := fmt.Sprintf("tables[%d]", i)
		if tb.Table == "" {
			add(field+".table", "required")
		}
		if tmpl != nil && len(tb.Columns) != tmpl.NumParams() {
			add(field+".columns", "needs one column per key parameter %v, got %d", tmpl.names, len(tb.Columns))
		}
		for j, c := range tb.Columns {
			if c == "" {
				add(fmt.Sprintf("%s.columns[%d]", field, j), "must not be empty")
			}
		}
	}
	return errors.Join(errs...)
}

func checkName(name string) error {
	if name == "" {
		return errors.New("resource name must not be empty")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return fmt.Errorf("resource name %q: only letters, digits, '_' and '-' are allowed", name)
		}
	}
	return nil
}
