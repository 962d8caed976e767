package pgwal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/strata-cache/strata/internal/resource"
)

// table is one bound table with the bindings that lead from its rows to
// keys.
type table struct {
	name     string // "schema.name", as the Relation message names it
	bindings []binding
	inv      Counter
}

// binding is one resource's table binding.
type binding struct {
	resource string
	tmpl     *resource.Template
	columns  []string
}

// setup resolves the bindings, prepares the publication and the slot. It
// reports whether the slot had been lost and was recreated.
func (c *Consumer) setup(ctx context.Context) (lost bool, err error) {
	conn, err := pgx.Connect(ctx, c.opts.DSN)
	if err != nil {
		return false, fmt.Errorf("pgwal: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if err := c.resolve(ctx, conn); err != nil {
		return false, err
	}
	if len(c.tables) == 0 {
		return false, errors.New("pgwal: no resource binds a table (resources.<name>.tables)")
	}
	if err := c.publication(ctx, conn); err != nil {
		return false, err
	}
	return c.ensureSlot(ctx, conn)
}

// resolve checks every binding: the table exists, the columns exist, and
// the replica identity covers them.
func (c *Consumer) resolve(ctx context.Context, conn *pgx.Conn) error {
	c.tables = map[string]*table{}
	var errs []error
	for _, r := range c.opts.Resources {
		for i, tb := range r.Spec.Tables {
			field := fmt.Sprintf("strata: config: resources.%s.tables[%d]", r.Spec.Name, i)
			var oid uint32
			var schema, name string
			var ident byte
			err := conn.QueryRow(ctx, `SELECT c.oid, n.nspname, c.relname, c.relreplident::text::"char"
				FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')`, tb.Table).Scan(&oid, &schema, &name, &ident)
			if errors.Is(err, pgx.ErrNoRows) {
				errs = append(errs, fmt.Errorf("%s.table: %w: no table %q in the database", field, ErrBinding, tb.Table))
				continue
			}
			if err != nil {
				return fmt.Errorf("pgwal: resolve table %q: %w", tb.Table, err)
			}
			rows, _ := conn.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped`, oid)
			cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("pgwal: columns of %q: %w", tb.Table, err)
			}
			bad := false
			for j, col := range tb.Columns {
				if !slices.Contains(cols, col) {
					errs = append(errs, fmt.Errorf("%s.columns[%d]: %w: table %s.%s has no column %q", field, j, ErrBinding, schema, name, col))
					bad = true
				}
			}
			if bad {
				continue
			}
			qualified := pgx.Identifier{schema, name}.Sanitize()
			var identCols []string
			switch ident {
			case 'f':
				identCols = cols
			case 'd', 'i':
				cond := "i.indisprimary"
				if ident == 'i' {
					cond = "i.indisreplident"
				}
				rows, _ := conn.Query(ctx, `SELECT a.attname FROM pg_index i
					JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
					WHERE i.indrelid = $1 AND `+cond, oid)
				if identCols, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
					return fmt.Errorf("pgwal: replica identity of %q: %w", tb.Table, err)
				}
			}
			var uncovered []string
			for _, col := range tb.Columns {
				if !slices.Contains(identCols, col) {
					uncovered = append(uncovered, col)
				}
			}
			if len(uncovered) > 0 {
				what := map[byte]string{'d': "DEFAULT (the primary key", 'i': "USING INDEX (that index", 'n': "NOTHING (no column"}[ident]
				if ident == 'd' && len(identCols) == 0 {
					what = "DEFAULT (no primary key, so no column"
				}
				errs = append(errs, fmt.Errorf("%s.columns: %w: UPDATE and DELETE on %s would not carry the old value of %s: its REPLICA IDENTITY is %s); "+
					"fix it with: ALTER TABLE %s REPLICA IDENTITY FULL (or bind the resource through key columns)",
					field, ErrBinding, qualified, strings.Join(uncovered, ", "), what, qualified))
				continue
			}
			key := schema + "." + name
			t := c.tables[key]
			if t == nil {
				t = &table{name: key, inv: c.m.Invalidations(key)}
				c.tables[key] = t
			}
			t.bindings = append(t.bindings, binding{resource: r.Spec.Name, tmpl: r.Template, columns: tb.Columns})
		}
	}
	return errors.Join(errs...)
}

// publication creates the publication for the bound tables, or adds the
// missing ones to an existing one.
func (c *Consumer) publication(ctx context.Context, conn *pgx.Conn) error {
	pub := pgx.Identifier{c.opts.Publication}.Sanitize()
	var all bool
	err := conn.QueryRow(ctx, `SELECT puballtables FROM pg_publication WHERE pubname = $1`, c.opts.Publication).Scan(&all)
	if errors.Is(err, pgx.ErrNoRows) {
		var names []string
		for _, t := range c.sortedTables() {
			names = append(names, qualify(t.name))
		}
		if _, err := conn.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR TABLE "+strings.Join(names, ", ")); err != nil {
			return fmt.Errorf("pgwal: create publication %s: %w", c.opts.Publication, err)
		}
		c.log.Info("created publication", "publication", c.opts.Publication, "tables", names)
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgwal: publication %s: %w", c.opts.Publication, err)
	}
	if all {
		return nil
	}
	rows, _ := conn.Query(ctx, `SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1`, c.opts.Publication)
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("pgwal: tables of publication %s: %w", c.opts.Publication, err)
	}
	for _, t := range c.sortedTables() {
		if slices.Contains(have, t.name) {
			continue
		}
		if _, err := conn.Exec(ctx, "ALTER PUBLICATION "+pub+" ADD TABLE "+qualify(t.name)); err != nil {
			return fmt.Errorf("pgwal: add %s to publication %s: %w", t.name, c.opts.Publication, err)
		}
		c.log.Info("added table to publication", "publication", c.opts.Publication, "table", t.name)
	}
	return nil
}

func (c *Consumer) sortedTables() []*table {
	out := make([]*table, 0, len(c.tables))
	for _, t := range c.tables {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *table) int { return strings.Compare(a.name, b.name) })
	return out
}

// qualify quotes "schema.name".
func qualify(name string) string {
	s, n, _ := strings.Cut(name, ".")
	return pgx.Identifier{s, n}.Sanitize()
}

// ensureSlot creates the slot if it does not exist and recreates it if it
// was lost. It reports whether a lost slot was recreated.
func (c *Consumer) ensureSlot(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var plugin string
	var status *string
	err := conn.QueryRow(ctx, `SELECT plugin, wal_status FROM pg_replication_slots WHERE slot_name = $1`, c.opts.Slot).Scan(&plugin, &status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, c.createSlot(ctx, conn)
	case err != nil:
		return false, fmt.Errorf("pgwal: replication slot %s: %w", c.opts.Slot, err)
	case plugin != "pgoutput":
		return false, fmt.Errorf("pgwal: replication slot %s uses plugin %q, not pgoutput: choose another wal.slot or drop it", c.opts.Slot, plugin)
	case status != nil && *status == "lost":
		if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, c.opts.Slot); err != nil {
			return false, fmt.Errorf("pgwal: drop lost replication slot %s: %w", c.opts.Slot, err)
		}
		if err := c.createSlot(ctx, conn); err != nil {
			return false, err
		}
		c.recreated.Add(1)
		c.m.SlotRecreated.Inc()
		return true, nil
	}
	return false, nil
}

func (c *Consumer) createSlot(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, c.opts.Slot); err != nil {
		return fmt.Errorf("pgwal: create replication slot %s: %w", c.opts.Slot, err)
	}
	c.log.Info("created replication slot", "slot", c.opts.Slot)
	return nil
}
