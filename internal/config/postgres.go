package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/strata-cache/strata/internal/resource"
)

// PostgresConfig configures the connection to the PostgreSQL database that
// resources load from. It is needed only when resources are configured.
type PostgresConfig struct {
	// DSN names the database, as a URL (postgres://user@host:5432/db) or a
	// key=value string, as libpq and pgx accept. Required with resources;
	// STRATA_POSTGRES_DSN keeps a password out of the file. Default "".
	DSN string `koanf:"dsn" yaml:"dsn"`
	// MaxConns is the connection pool's size. Default 0, which means
	// max(4, 2 × GOMAXPROCS): loads are coalesced per key, so the pool
	// bounds how many distinct cold keys load at once.
	MaxConns int `koanf:"max_conns" yaml:"max_conns"`
	// ConnectTimeout bounds establishing one connection, when the DSN does
	// not set connect_timeout. Default 5s.
	ConnectTimeout time.Duration `koanf:"connect_timeout" yaml:"connect_timeout"`
}

// defaultPostgres is PostgresConfig's defaults, for Default.
func defaultPostgres() PostgresConfig {
	return PostgresConfig{ConnectTimeout: 5 * time.Second}
}

// ResourceSpecs returns the configured resources with their names set,
// sorted by name.
func (c Config) ResourceSpecs() []resource.Spec {
	out := make([]resource.Spec, 0, len(c.Resources))
	for _, name := range slices.Sorted(maps.Keys(c.Resources)) {
		s := c.Resources[name]
		s.Name = name
		out = append(out, s)
	}
	return out
}

// validatePostgres checks the postgres section and the resources without a
// database (package source/postgres checks the queries at start-up).
func (c Config) validatePostgres(p *problems) {
	if c.Postgres.MaxConns < 0 {
		p.add("postgres.max_conns", "must be >= 0, got %d", c.Postgres.MaxConns)
	}
	nonNegative(p, "postgres.connect_timeout", c.Postgres.ConnectTimeout)
	if len(c.Resources) == 0 {
		return
	}
	if c.Postgres.DSN == "" {
		p.add("postgres.dsn", "required when resources are configured (or set %s)", EnvName("postgres.dsn"))
	}
	if _, err := resource.NewSet(c.ResourceSpecs()...); err != nil {
		for _, e := range unjoin(err) {
			var fe *resource.FieldError
			if errors.As(e, &fe) {
				*p = append(*p, &FieldError{Key: fe.Key(), Err: fe.Err})
			} else {
				*p = append(*p, &FieldError{Key: "resources", Err: e})
			}
		}
	}
}

// unjoin flattens errors.Join trees.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// decodeResources sets dst, the resources map at key, from v: a mapping of
// resource names to declarations. Each declaration is decoded onto
// resource.DefaultSpec like a list element, so an unknown or mistyped
// field is an error naming it ("resources.users.ttl"). An empty mapping
// leaves the map nil.
func decodeResources(key string, v any, dst reflect.Value) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want a mapping of resource names to declarations, got %s; resources can only be set in the configuration file", describe(v))
	}
	if len(m) == 0 {
		dst.SetZero()
		return nil
	}
	out := make(map[string]resource.Spec, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		spec := resource.DefaultSpec()
		if err := decodeStruct(key+delim+name, m[name], reflect.ValueOf(&spec).Elem()); err != nil {
			return err
		}
		out[name] = spec
	}
	dst.Set(reflect.ValueOf(out))
	return nil
}
