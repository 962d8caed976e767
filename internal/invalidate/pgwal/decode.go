package pgwal

import (
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"
)

// maxTxnKeys bounds the keys one transaction collects; beyond it the
// transaction's remaining changes flush their resources instead (a bulk
// UPDATE of millions of rows must not hold millions of keys).
const maxTxnKeys = 200_000

// decoder applies one session's pgoutput messages.
type decoder struct {
	c     *Consumer
	rels  map[uint32]*relation
	inTxn bool
	xid   uint32
	// The current transaction's invalidations, applied at its COMMIT once
	// the transaction is visible (see visible).
	keys    map[string]*table
	flushes map[string]*table // resource -> the table that caused it
	// visible waits until transaction xid is visible to new snapshots.
	visible func(xid uint32) error
}

// relation is a Relation message resolved against the bindings.
type relation struct {
	t *table // nil: not bound
	// cols[i][j] is the index of binding i's j'th column in the tuple, or
	// -1 when the relation no longer has that column (a schema change):
	// then every change flushes the resource.
	cols  [][]int
	types []uint32
}

func (d *decoder) handle(x pglogrepl.XLogData) error {
	m, err := pglogrepl.Parse(x.WALData)
	if err != nil {
		return fmt.Errorf("decode pgoutput at %s: %w", x.WALStart, err)
	}
	switch m := m.(type) {
	case *pglogrepl.BeginMessage:
		d.inTxn, d.xid = true, m.Xid
	case *pglogrepl.CommitMessage:
		if err := d.commit(); err != nil {
			return err
		}
		d.inTxn = false
		d.c.advance(m.TransactionEndLSN, time.Time{}, m.CommitTime)
		d.c.m.Lag.Observe(time.Since(m.CommitTime).Seconds())
	case *pglogrepl.RelationMessage:
		d.rels[m.RelationID] = d.resolve(m)
	case *pglogrepl.InsertMessage:
		d.change(m.RelationID, nil, m.Tuple)
	case *pglogrepl.UpdateMessage:
		d.change(m.RelationID, m.OldTuple, m.NewTuple)
	case *pglogrepl.DeleteMessage:
		d.change(m.RelationID, m.OldTuple, nil)
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			d.flush(id)
		}
	case *pglogrepl.LogicalDecodingMessage:
		if m.Prefix == heartbeatPrefix && !m.Transactional && !d.inTxn {
			if t0, ok := parseHeartbeat(m.Content); ok {
				// Every commit before t0 precedes this record in the WAL,
				// so it has been decoded, sent and applied.
				d.c.advance(m.LSN, t0, time.Time{})
			}
		}
	}
	return nil
}

func (d *decoder) resolve(m *pglogrepl.RelationMessage) *relation {
	r := &relation{t: d.c.tables[m.Namespace+"."+m.RelationName]}
	if r.t == nil {
		return r
	}
	idx := make(map[string]int, len(m.Columns))
	r.types = make([]uint32, len(m.Columns))
	for i, col := range m.Columns {
		idx[col.Name] = i
		r.types[i] = col.DataType
	}
	for _, b := range r.t.bindings {
		cols := make([]int, len(b.columns))
		for j, name := range b.columns {
			if i, ok := idx[name]; ok {
				cols[j] = i
			} else {
				cols[j] = -1
			}
		}
		r.cols = append(r.cols, cols)
	}
	return r
}

// flush invalidates every resource bound to the relation (TRUNCATE), or
// every bound resource when the relation is unknown.
func (d *decoder) flush(id uint32) {
	r := d.rels[id]
	if r == nil {
		d.c.flushAll(fmt.Sprintf("change to unknown relation %d", id))
		return
	}
	if r.t == nil {
		return
	}
	for _, b := range r.t.bindings {
		d.flushes[b.resource] = r.t
	}
}

// commit applies the transaction's invalidations. The commit record
// reaches the stream as soon as it is flushed, a moment before PostgreSQL
// makes the transaction visible to other sessions; a fill fenced by this
// invalidation could otherwise still read the old row in that moment and
// store it. So commit first waits until the transaction is visible.
func (d *decoder) commit() error {
	if len(d.keys) == 0 && len(d.flushes) == 0 {
		return nil
	}
	if err := d.visible(d.xid); err != nil {
		return err
	}
	for res, t := range d.flushes {
		d.c.opts.Invalidator.InvalidateResource(res)
		t.inv.Inc()
	}
	for key, t := range d.keys {
		d.c.opts.Invalidator.Invalidate(key)
		t.inv.Inc()
	}
	clear(d.keys)
	clear(d.flushes)
	return nil
}

func (d *decoder) add(key string, t *table, res string) {
	if _, ok := d.flushes[res]; ok {
		return
	}
	if len(d.keys) >= maxTxnKeys {
		d.flushes[res] = t
		return
	}
	d.keys[key] = t
}

// change invalidates the keys of the old and the new row.
func (d *decoder) change(id uint32, old, new *pglogrepl.TupleData) {
	r := d.rels[id]
	if r == nil {
		d.c.flushAll(fmt.Sprintf("change to unknown relation %d", id))
		return
	}
	if r.t == nil {
		return // published by someone else's choice, bound by no resource
	}
	for i, b := range r.t.bindings {
		cols := r.cols[i]
		params := make([]string, len(cols))
		for _, tup := range []*pglogrepl.TupleData{old, new} {
			if tup == nil {
				continue
			}
			switch d.params(r, cols, tup, old, params) {
			case keyOK:
				d.add(b.tmpl.Expand(params...), r.t, b.resource)
			case keyNone:
			case keyUnknown:
				d.flushes[b.resource] = r.t
			}
		}
	}
}

type keyOutcome int

const (
	keyOK      keyOutcome = iota
	keyNone               // a NULL or non-canonical value: the row has no key
	keyUnknown            // the value is not known: flush the resource
)

// params fills params from tup's columns. An unchanged TOASTed value is
// taken from old when old has it.
func (d *decoder) params(r *relation, cols []int, tup, old *pglogrepl.TupleData, params []string) keyOutcome {
	for j, ci := range cols {
		if ci < 0 || ci >= len(tup.Columns) {
			return keyUnknown
		}
		col := tup.Columns[ci]
		if col.DataType == pglogrepl.TupleDataTypeToast && old != nil && ci < len(old.Columns) {
			col = old.Columns[ci]
		}
		switch col.DataType {
		case pglogrepl.TupleDataTypeText:
			v, ok := canonical(r.types[ci], string(col.Data))
			if !ok {
				return keyNone
			}
			params[j] = v
		case pglogrepl.TupleDataTypeNull:
			return keyNone
		default: // unchanged TOAST without an old value, or binary
			return keyUnknown
		}
	}
	return keyOK
}

// canonical converts a value in PostgreSQL's text output (TimeZone UTC,
// DateStyle ISO) to the canonical key parameter form of package
// source/postgres. ok is false for values no key can hold (infinity, BC
// dates).
func canonical(oid uint32, v string) (string, bool) {
	switch oid {
	case pgtype.BoolOID:
		switch v {
		case "t":
			return "true", true
		case "f":
			return "false", true
		}
		return "", false
	case pgtype.TimestamptzOID:
		for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999-07:00:00"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC().Format("2006-01-02T15:04:05.999999Z"), true
			}
		}
		return "", false
	case pgtype.TimestampOID:
		t, err := time.Parse("2006-01-02 15:04:05.999999", v)
		if err != nil {
			return "", false
		}
		return t.Format("2006-01-02T15:04:05.999999"), true
	case pgtype.DateOID:
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return "", false
		}
		return t.Format(time.DateOnly), true
	}
	return v, true
}
