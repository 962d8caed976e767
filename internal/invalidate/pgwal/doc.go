// Package pgwal invalidates cached resource keys from PostgreSQL's
// write-ahead log, over logical replication with the pgoutput plugin.
//
// A Consumer owns a publication (FOR TABLE the tables that resources bind
// with resource.Spec.Tables) and a named logical replication slot. It
// streams committed transactions, maps every INSERT, UPDATE and DELETE to
// the keys it changes (old and new row both) through the resources' table
// bindings, and calls its Invalidator for each. TRUNCATE, and any change it
// cannot map to keys, invalidates every resource bound to the table:
// recovering safely means flushing, never skipping.
//
// # Positions
//
// The consumer tracks three WAL positions (LSNs):
//
//   - applied: every transaction whose commit record ends at or before it
//     has been invalidated (Commit's end LSN, keepalive positions received
//     outside a transaction, heartbeat messages);
//   - confirmed: what the consumer last reported to the server as flushed;
//     it never exceeds applied, so the slot only lets go of WAL whose
//     invalidations are applied, and a restart replays the rest;
//   - server: pg_current_wal_lsn(), sampled with each heartbeat.
//
// Duplicate delivery after a reconnect is harmless: invalidating twice is
// invalidating.
//
// # Freshness
//
// Every heartbeat interval the consumer writes a non-transactional logical
// message (pg_logical_emit_message) carrying its own clock reading t0. When
// the message comes back through the stream, everything committed before t0
// has been applied, so Status.FreshAsOf = t0. A node is within max_staleness
// when time.Since(FreshAsOf) <= max_staleness; this holds whether the
// published tables are busy or idle, and fails on its own when the stream
// stalls or disconnects. Only strata's clock is involved, so clock skew
// between strata and PostgreSQL does not matter. (The invalidation lag
// histogram does compare PostgreSQL's commit timestamps with strata's clock.)
//
// # Keys
//
// pgoutput sends column values in PostgreSQL's text output format. The
// replication session runs with TimeZone=UTC and DateStyle=ISO, and values
// are converted to the canonical parameter forms of package source/postgres
// (bool "t" -> "true", timestamptz "2024-05-01 12:00:00+00" ->
// "2024-05-01T12:00:00Z", ...), so a row's key is byte for byte the key a
// client reads. A NULL key column names no key. A key column whose new value
// was not sent (an unchanged TOASTed value) and no old value is available
// invalidates the whole resource.
//
// # Replica identity
//
// UPDATE and DELETE carry the old row only as far as the table's REPLICA
// IDENTITY covers it. New refuses a binding whose columns the identity does
// not cover (DEFAULT covers the primary key's columns, USING INDEX the
// index's, FULL all, NOTHING none), naming the statement that fixes it.
package pgwal
