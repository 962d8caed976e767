package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/node/nodetest"

	"github.com/jackc/pgx/v5"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/node"
	"github.com/strata-cache/strata/internal/resource"
	pgtest "github.com/strata-cache/strata/internal/testenv/postgres"
)

// shared is the package's one PostgreSQL server; it starts with the first
// test that needs it.
var shared = &pgtest.Shared{Setup: loadSchema}

const db = "app"

func TestMain(m *testing.M) { pgtest.RunShared(m, shared) }

// server returns the package's server with the schema loaded. A missing
// PostgreSQL installation skips the test, or fails it under CI=true.
func server(t testing.TB) *pgtest.Server {
	t.Helper()
	return shared.Get(t)
}

func loadSchema(ctx context.Context, s *pgtest.Server) error {
	if err := s.CreateDatabase(ctx, db); err != nil {
		return err
	}
	return s.Exec(ctx, db, `
CREATE TABLE users (
	id    int8 PRIMARY KEY,
	name  text NOT NULL,
	email text
);
INSERT INTO users (id, name, email)
	SELECT i, 'user' || i, 'user' || i || '@example.com' FROM generate_series(1, 1000) AS i;
INSERT INTO users (id, name, email) VALUES
	(1001, 'O''Brien', NULL),
	(1002, 'back\slash', NULL),
	(1003, ''' OR ''1''=''1', NULL);
`)
}

// spec returns a resource declaration with the defaults filled in.
func spec(key, query string, ttl time.Duration) resource.Spec {
	s := resource.DefaultSpec()
	s.Key, s.Query, s.TTL = key, query, ttl
	return s
}

// startNode starts an in-process node with both front ends on free
// loopback ports, over the package's database, and stops it when the test
// ends.
func startNode(t *testing.T, resources map[string]resource.Spec) *node.Node {
	t.Helper()
	s := server(t)
	cfg := config.Default()
	cfg.RESP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Shutdown.Timeout = 5 * time.Second
	cfg.Postgres.DSN = s.DSN(db)
	cfg.Resources = resources
	return nodetest.Start(t, cfg, nil)
}

// query runs sql in the test database and returns the first column of the
// first row as an int64.
func queryInt(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, server(t).DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int64
	if err := c.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := server(t).Exec(ctx, db, sql, args...); err != nil {
		t.Fatal(err)
	}
}

// noErr returns v, failing loudly on err: the key-space operations return
// an error only in a fleet (L2 unreachable), which these tests do not run.
func noErr[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
