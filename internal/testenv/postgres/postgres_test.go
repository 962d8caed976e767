package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-cache/strata/internal/testenv/postgres"
)

func TestServer(t *testing.T) {
	srv := postgres.New(t, postgres.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if err := srv.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, "app", "CREATE TABLE users (id int PRIMARY KEY, name text)"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, "app", "INSERT INTO users VALUES ($1, $2)", 1, "ada"); err != nil {
		t.Fatal(err)
	}

	c, err := pgx.Connect(ctx, srv.DSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var name, walLevel string
	if err := c.QueryRow(ctx, "SELECT name FROM users WHERE id = 1").Scan(&name); err != nil || name != "ada" {
		t.Fatalf("select: %q, %v", name, err)
	}
	if err := c.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel); err != nil || walLevel != "logical" {
		t.Fatalf("wal_level = %q, %v; want logical", walLevel, err)
	}
	var ext int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'").Scan(&ext); err != nil || ext != 1 {
		t.Fatalf("pg_stat_statements in new database: %d, %v", ext, err)
	}
	if _, err := c.Exec(ctx, "SELECT count(*) FROM pg_stat_statements"); err != nil {
		t.Fatalf("pg_stat_statements not preloaded: %v", err)
	}
	var slot string
	if err := c.QueryRow(ctx, "SELECT slot_name FROM pg_create_logical_replication_slot('strata_test', 'pgoutput')").Scan(&slot); err != nil {
		t.Fatalf("create logical slot: %v", err)
	}

	// A replication connection is accepted (pg_hba allows it).
	rc, err := pgx.Connect(ctx, srv.ReplicationDSN("app"))
	if err != nil {
		t.Fatalf("replication connection: %v", err)
	}
	rc.Close(ctx)
	c.Close(ctx)

	// Restart on the same data directory and port after a crash-like stop;
	// committed data and the slot survive.
	port := srv.Port()
	if err := srv.Stop(ctx, postgres.StopImmediate); err != nil {
		t.Fatal(err)
	}
	if srv.Running() {
		t.Fatal("still running after Stop")
	}
	if err := srv.Exec(ctx, "app", "SELECT 1"); err == nil {
		t.Fatal("Exec succeeded while stopped")
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if srv.Port() != port {
		t.Fatalf("port changed across restart: %d -> %d", port, srv.Port())
	}
	c2, err := pgx.Connect(ctx, srv.DSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(ctx)
	var n int
	if err := c2.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'strata_test'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("slot after restart: %d, %v", n, err)
	}
}
