package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/strata-cache/strata/internal/resource"
)

// rawColumnTypes are the types whose value a single-column query yields as
// is.
var rawColumnTypes = map[uint32]bool{
	pgtype.TextOID:    true,
	pgtype.VarcharOID: true,
	pgtype.BPCharOID:  true,
	pgtype.NameOID:    true,
	pgtype.JSONOID:    true,
	pgtype.JSONBOID:   true,
	pgtype.ByteaOID:   true,
}

// wrapAlias names the subquery a multi-column query is wrapped in.
const wrapAlias = "strata_row"

// Prepare checks the resource's query against the database and makes it
// available to Load under spec.Name, replacing an earlier preparation of
// the same name. tmpl is the parsed spec.Key (nil: Prepare parses it).
//
// The query must prepare; it must have exactly one parameter per template
// parameter, of a type a key parameter can be converted to (see the
// package documentation); and it must return one column of a raw type or
// several uniquely named columns. Problems are *resource.FieldError values
// reading "strata: config: resources.<name>.query: ...". A database that
// cannot be reached is an error wrapping ErrUnavailable; one that rejects
// the query, an error wrapping ErrQuery.
func (s *Source) Prepare(ctx context.Context, spec resource.Spec, tmpl *resource.Template) error {
	fieldErr := func(field string, err error) error {
		return &resource.FieldError{Resource: spec.Name, Field: field, Err: err}
	}
	if tmpl == nil {
		t, err := resource.ParseTemplate(spec.Key)
		if err != nil {
			return fieldErr("key", err)
		}
		tmpl = t
	}
	if s.closed.Load() {
		return fieldErr("query", fmt.Errorf("cannot check against the database: %w", ErrClosed))
	}
	sql := trimQuery(spec.Query)
	if sql == "" {
		return fieldErr("query", errors.New("required"))
	}

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fieldErr("query", fmt.Errorf("cannot check against the database: %w: %w", ErrUnavailable, err))
	}
	defer conn.Release()
	pc := conn.Conn().PgConn()
	describe := func(sql string) (*pgconn.StatementDescription, error) {
		// The unnamed statement describes without leaving a server-side
		// prepared statement behind.
		desc, err := pc.Prepare(ctx, "", sql, nil)
		if err == nil {
			return desc, nil
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && !unavailableCode(pgErr.Code) {
			return nil, fieldErr("query", fmt.Errorf("%w: does not prepare: %s", ErrQuery, describePgError(pgErr)))
		}
		return nil, fieldErr("query", fmt.Errorf("cannot check against the database: %w: %w", ErrUnavailable, err))
	}

	desc, err := describe(sql)
	if err != nil {
		return err
	}
	if n, want := len(desc.ParamOIDs), tmpl.NumParams(); n != want {
		return fieldErr("query", fmt.Errorf("%w: has %d parameter(s) but key template %q has %d (%s); $1..$%d bind the key's parameters in template order",
			ErrQuery, n, tmpl.String(), want, strings.Join(braced(tmpl.Params()), ", "), want))
	}
	st := &statement{name: spec.Name, sql: sql, timeout: spec.Timeout()}
	for i, oid := range desc.ParamOIDs {
		p := param{name: tmpl.Param(i), kind: paramKindFor(oid), pgType: typeName(ctx, conn.Conn(), oid)}
		if p.kind == 0 {
			return fieldErr("query", fmt.Errorf("%w: parameter $%d ({%s}) has type %s, which a key parameter cannot be bound to (supported: %s)",
				ErrQuery, i+1, p.name, p.pgType, supportedParamTypes))
		}
		st.params = append(st.params, p)
	}

	switch fields := desc.Fields; len(fields) {
	case 0:
		return fieldErr("query", fmt.Errorf("%w: returns no columns; a resource query is a SELECT that returns the value", ErrQuery))
	case 1:
		if f := fields[0]; !rawColumnTypes[f.DataTypeOID] {
			return fieldErr("query", fmt.Errorf("%w: returns one column %q of type %s, which is not supported as a value: a single column must be text, varchar, char, name, json, jsonb or bytea; cast it (e.g. %s::text) or return several columns to get a JSON object",
				ErrQuery, f.Name, typeName(ctx, conn.Conn(), f.DataTypeOID), f.Name))
		}
	default:
		seen := make(map[string]bool, len(fields))
		for i, f := range fields {
			if f.Name == "?column?" {
				return fieldErr("query", fmt.Errorf("%w: column %d has no name, but several columns become a JSON object keyed by column name; name it with AS", ErrQuery, i+1))
			}
			if seen[f.Name] {
				return fieldErr("query", fmt.Errorf("%w: returns column %q twice, but several columns become a JSON object keyed by column name; rename one with AS", ErrQuery, f.Name))
			}
			seen[f.Name] = true
		}
		// PostgreSQL builds the object, so every type is encoded exactly as
		// its JSON functions do. The newline ends a trailing -- comment.
		st.sql = "SELECT row_to_json(" + wrapAlias + ")::text FROM (\n" + sql + "\n) AS " + wrapAlias
		if _, err := describe(st.sql); err != nil {
			return err
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(*s.stmts.Load())
	next[spec.Name] = st
	s.stmts.Store(&next)
	return nil
}

// trimQuery removes surrounding space and trailing semicolons, which a
// query copied from psql often has.
func trimQuery(q string) string {
	q = strings.TrimSpace(q)
	for strings.HasSuffix(q, ";") {
		q = strings.TrimSpace(strings.TrimSuffix(q, ";"))
	}
	return q
}

func braced(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "{" + n + "}"
	}
	return out
}

func describePgError(e *pgconn.PgError) string {
	msg := e.Message + " (SQLSTATE " + e.Code + ")"
	if e.Hint != "" {
		msg += "; hint: " + e.Hint
	}
	return msg
}

// typeName returns a readable name for a type OID, asking the database for
// types pgx does not know (domains, enums, extension types).
func typeName(ctx context.Context, conn *pgx.Conn, oid uint32) string {
	if t, ok := conn.TypeMap().TypeForOID(oid); ok {
		return t.Name
	}
	var name string
	if err := conn.QueryRow(ctx, "SELECT format_type($1::oid, NULL)", oid).Scan(&name); err != nil {
		return fmt.Sprintf("oid %d", oid)
	}
	return name
}
