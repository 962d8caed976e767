package postgres_test

import (
	"context"
	"testing"

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
	id      int8 PRIMARY KEY,
	name    text NOT NULL,
	email   text,
	active  bool NOT NULL DEFAULT true,
	created date NOT NULL DEFAULT '2024-01-02'
);
INSERT INTO users (id, name, email)
	SELECT i, 'user' || i, 'user' || i || '@example.com' FROM generate_series(1, 1000) AS i;
INSERT INTO users (id, name, email) VALUES
	(1001, 'O''Brien', NULL),
	(1002, 'back\slash', 'b@example.com'),
	(1003, ''' OR ''1''=''1', NULL);

CREATE TABLE orders (
	id        int8 PRIMARY KEY,
	user_id   int8 NOT NULL REFERENCES users,
	status    text NOT NULL,
	total     numeric(10, 2) NOT NULL,
	placed_at timestamptz NOT NULL
);
INSERT INTO orders VALUES
	(1, 1, 'paid', 10.50, '2024-05-01T12:00:00Z'),
	(2, 1, 'paid', 4.25, '2024-05-02T12:00:00Z'),
	(3, 1, 'open', 99.99, '2024-05-03T12:00:00Z'),
	(4, 2, 'paid', 1.00, '2024-05-04T12:00:00Z');

CREATE TABLE blobs (
	id   uuid PRIMARY KEY,
	data bytea,
	doc  jsonb
);
INSERT INTO blobs VALUES
	('0b6f2a4e-8f0c-4d36-9a57-3d6b8a1f2c10', '\x00ff0a27'::bytea, '{"b": [1, 2], "a": "x"}'),
	('00000000-0000-0000-0000-000000000000', NULL, NULL);
`)
}
