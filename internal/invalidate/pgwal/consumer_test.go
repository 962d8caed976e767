package pgwal_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/invalidate/pgwal"
	"github.com/strata-cache/strata/internal/resource"
)

// TestChangesInvalidateKeys: INSERT, UPDATE (including one that moves an
// order to another user: old and new row both), DELETE and TRUNCATE reach
// the invalidator as the right keys, and changes to unbound tables are
// ignored.
func TestChangesInvalidateKeys(t *testing.T) {
	db := testDB(t, schema)
	rec := &recorder{}
	c := newConsumer(t, db, "s_changes", rec, usersResources(t))
	conn := connect(t, db)

	for _, tc := range []struct {
		sql       string
		keys      []string
		resources []string
	}{
		{"INSERT INTO users (id, name) VALUES (1000, 'new')", []string{"users:1000"}, nil},
		{"UPDATE users SET name = 'x' WHERE id = 7", []string{"users:7"}, nil},
		{"UPDATE users SET id = 2000 WHERE id = 8", []string{"users:2000", "users:8"}, nil},
		{"DELETE FROM users WHERE id = 9", []string{"users:9"}, nil},
		{"INSERT INTO orders (id, user_id) VALUES (1, 10), (2, 11), (3, NULL)", []string{"users:10", "users:11"}, nil},
		{"UPDATE orders SET user_id = 12 WHERE id = 1", []string{"users:10", "users:12"}, nil},
		{"UPDATE orders SET total = 5 WHERE id = 2", []string{"users:11"}, nil},
		{"DELETE FROM orders WHERE id = 2", []string{"users:11"}, nil},
		{"INSERT INTO audit (note) VALUES ('unbound')", nil, nil},
		{"TRUNCATE orders", nil, []string{"users"}},
		{"BEGIN; UPDATE users SET name = 'a' WHERE id = 20; UPDATE users SET name = 'b' WHERE id = 21; COMMIT", []string{"users:20", "users:21"}, nil},
		{"BEGIN; UPDATE users SET name = 'rolled back' WHERE id = 22; ROLLBACK", nil, nil},
	} {
		lsn := write(t, conn, tc.sql)
		waitApplied(t, c, lsn)
		keys, res := rec.take()
		if !slices.Equal(keys, tc.keys) || !slices.Equal(res, tc.resources) {
			t.Errorf("%s:\n invalidated keys %v, resources %v\n want keys %v, resources %v", tc.sql, keys, res, tc.keys, tc.resources)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	st := c.Status()
	for (st.FreshAsOf.IsZero() || st.ConfirmedLSN == 0 || st.ServerLSN == 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		st = c.Status()
	}
	if !st.Connected || st.AppliedLSN == 0 || st.FreshAsOf.IsZero() || st.ConfirmedLSN == 0 || st.ServerLSN == 0 {
		t.Errorf("status %+v", st)
	}
}

// TestRefusesUncoveredReplicaIdentity: a binding through a non-key column
// of a table whose REPLICA IDENTITY is DEFAULT is refused at start-up, with
// the fix in the message; a missing table or column is refused too.
func TestRefusesUncoveredReplicaIdentity(t *testing.T) {
	db := testDB(t, schema+"ALTER TABLE orders REPLICA IDENTITY DEFAULT;")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := resource.DefaultSpec()
	spec.Name, spec.Key, spec.TTL, spec.Query = "users", "users:{id}", time.Minute, "SELECT 'x'"
	for _, tc := range []struct {
		tables []resource.TableBinding
		want   []string
	}{
		{[]resource.TableBinding{{Table: "orders", Columns: []string{"user_id"}}},
			[]string{"resources.users.tables[0].columns", "ALTER TABLE \"public\".\"orders\" REPLICA IDENTITY FULL", "user_id"}},
		{[]resource.TableBinding{{Table: "nope", Columns: []string{"id"}}}, []string{"resources.users.tables[0].table", `no table "nope"`}},
		{[]resource.TableBinding{{Table: "users", Columns: []string{"uid"}}}, []string{"resources.users.tables[0].columns[0]", `no column "uid"`}},
	} {
		s := spec
		s.Tables = tc.tables
		r, err := resource.New(s)
		if err != nil {
			t.Fatal(err)
		}
		c, err := pgwal.New(ctx, pgwal.Options{DSN: server(t).DSN(db), Slot: "s_refuse", Resources: []*resource.Resource{r}, Invalidator: &recorder{}})
		if err == nil {
			c.Close()
			t.Fatalf("%v: New succeeded", tc.tables)
		}
		if !errors.Is(err, pgwal.ErrBinding) {
			t.Errorf("%v: error %v is not ErrBinding", tc.tables, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", tc.tables, err, w)
			}
		}
	}
}

// TestResumesFromSlot: a change committed while no consumer runs is
// delivered by the next consumer on the same slot (nothing is skipped), and
// the slot's confirmed position follows the applied one.
func TestResumesFromSlot(t *testing.T) {
	db := testDB(t, schema)
	rec := &recorder{}
	c1 := newConsumer(t, db, "s_resume", rec, usersResources(t))
	conn := connect(t, db)
	waitApplied(t, c1, write(t, conn, "UPDATE users SET name = 'one' WHERE id = 1"))
	// Let a status update report the position.
	deadline := time.Now().Add(60 * time.Second)
	for c1.Status().ConfirmedLSN < c1.Status().AppliedLSN && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	c1.Close()
	rec.take()

	lsn := write(t, conn, "UPDATE users SET name = 'while down' WHERE id = 2")
	rec2 := &recorder{}
	var c2 *pgwal.Consumer
	// The old walsender may hold the slot for a moment; New succeeds and
	// the session retries.
	c2 = newConsumer(t, db, "s_resume", rec2, usersResources(t))
	waitApplied(t, c2, lsn)
	keys, _ := rec2.take()
	if !slices.Contains(keys, "users:2") {
		t.Fatalf("after restart, invalidated %v; want users:2 (changed while down)", keys)
	}
}

// TestKeepalivesKeepSessionAlive: with wal_sender_timeout = 3s on the
// server and no writes for 7s, the session stays up (status updates and
// heartbeats answer the walsender), freshness keeps being proven, and the
// slot's lag stays small.
func TestKeepalivesKeepSessionAlive(t *testing.T) {
	db := testDB(t, schema)
	c := newConsumer(t, db, "s_keepalive", &recorder{}, usersResources(t))
	waitApplied(t, c, write(t, connect(t, db), "SELECT 1"))
	time.Sleep(7 * time.Second)
	st := c.Status()
	if !st.Connected || st.Reconnects != 0 {
		t.Fatalf("after 7s idle: %+v", st)
	}
	if lag := st.Lag(time.Now()); lag > time.Second {
		t.Errorf("freshness lag %v while idle, want <= 1s (heartbeat 200ms)", lag)
	}
	if st.SlotLagBytes > 1<<20 {
		t.Errorf("slot lag %d bytes while idle", st.SlotLagBytes)
	}
	t.Logf("idle status: lag %v, slot lag %d bytes, applied %s, confirmed %s", st.Lag(time.Now()), st.SlotLagBytes, st.AppliedLSN, st.ConfirmedLSN)
}

// TestLostSlotIsRecreatedAndFlushes: the slot dropped under the consumer
// (as when PostgreSQL invalidates it) is recreated, every bound resource is
// flushed, it is counted, and invalidation continues.
func TestLostSlotIsRecreatedAndFlushes(t *testing.T) {
	db := testDB(t, schema)
	rec := &recorder{}
	c := newConsumer(t, db, "s_lost", rec, usersResources(t))
	conn := connect(t, db)
	waitApplied(t, c, write(t, conn, "UPDATE users SET name = 'a' WHERE id = 1"))
	rec.take()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Terminate the walsender and drop the slot before it reconnects.
	for {
		_ = server(t).Exec(ctx, db, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 's_lost' AND active`)
		if err := server(t).Exec(ctx, db, `SELECT pg_drop_replication_slot('s_lost')`); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("could not drop the slot")
		}
	}
	for c.Status().SlotsRecreated == 0 {
		if ctx.Err() != nil {
			t.Fatalf("slot not recreated: %+v", c.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitApplied(t, c, write(t, conn, "UPDATE users SET name = 'b' WHERE id = 3"))
	keys, res := rec.take()
	if !slices.Contains(res, "users") || !slices.Contains(keys, "users:3") {
		t.Fatalf("after the slot was lost: keys %v, resources %v; want a flush of users and users:3", keys, res)
	}
}

// TestSlotLagBoundedWithBusyUnpublishedTables: the bound tables are idle
// while an unbound table takes a heavy write load; heartbeats and
// keepalives keep the slot's confirmed position moving, so the slot lag
// (server position minus confirmed) stays bounded.
func TestSlotLagBoundedWithBusyUnpublishedTables(t *testing.T) {
	db := testDB(t, schema)
	c := newConsumer(t, db, "s_lag", &recorder{}, usersResources(t))
	conn := connect(t, db)
	walPos := func() int64 {
		var b int64
		if err := conn.QueryRow(context.Background(), "SELECT (pg_current_wal_lsn() - '0/0')::int8").Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	startPos := walPos()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var maxLag int64
	var samples int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			st := c.Status()
			maxLag = max(maxLag, st.SlotLagBytes)
			samples++
		}
	}()
	writes := 0
	for ctx.Err() == nil {
		if _, err := conn.Exec(context.Background(), "INSERT INTO audit (note) SELECT repeat('x', 200) FROM generate_series(1, 100)"); err != nil {
			t.Fatal(err)
		}
		writes++
	}
	<-done
	rate := float64(walPos()-startPos) / 5 // WAL bytes per second
	st := c.Status()
	t.Logf("%d transactions of 100 rows on an unpublished table in 5s (%.1f MB/s of WAL): max slot lag %.1f MB (%.2f s of WAL) over %d samples; final %.1f MB; freshness lag %v",
		writes, rate/1e6, float64(maxLag)/1e6, float64(maxLag)/rate, samples, float64(st.SlotLagBytes)/1e6, st.Lag(time.Now()))
	// Bounded: a few seconds of WAL (the walsender must read and decode
	// every record, published or not), not growing with the run.
	if float64(maxLag) > 3*rate+16e6 {
		t.Errorf("slot lag reached %d bytes, more than 3 s of WAL", maxLag)
	}
	if st.Lag(time.Now()) > 2*time.Second {
		t.Errorf("freshness lag %v with idle bound tables", st.Lag(time.Now()))
	}
}
