package pgwal_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/strata-cache/strata/internal/invalidate/pgwal"
	"github.com/strata-cache/strata/internal/resource"
	pgtest "github.com/strata-cache/strata/internal/testenv/postgres"
	"github.com/strata-cache/strata/internal/testenv/procs"
)

// One PostgreSQL server serves the package; every test has a database of
// its own (publications are per database) and a slot of its own.
var (
	srvOnce sync.Once
	srv     *pgtest.Server
	srvErr  error
	dbSeq   atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if srv != nil {
		if err := srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "postgres: close:", err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func server(t testing.TB) *pgtest.Server {
	t.Helper()
	srvOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		srv, srvErr = pgtest.Start(ctx, pgtest.Options{Settings: map[string]string{
			// Short, so the keepalive test proves status updates work.
			"wal_sender_timeout": "'3s'",
		}})
	})
	procs.Require(t, srvErr)
	return srv
}

// testDB creates a database with schema and returns its name.
func testDB(t *testing.T, schema string) string {
	t.Helper()
	s := server(t)
	name := fmt.Sprintf("wal%d", dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, name, schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dropSlots(ctx, s, name)
	})
	return name
}

const schema = `
CREATE TABLE users (id int8 PRIMARY KEY, name text NOT NULL, version int8 NOT NULL DEFAULT 1);
CREATE TABLE orders (id int8 PRIMARY KEY, user_id int8, total numeric NOT NULL DEFAULT 0);
ALTER TABLE orders REPLICA IDENTITY FULL;
CREATE TABLE audit (id serial PRIMARY KEY, note text);
INSERT INTO users (id, name) SELECT i, 'user' || i FROM generate_series(1, 100) i;
`

// usersResources: users:{id} is bound to users.id and to orders.user_id
// (its query would join the user's orders).
func usersResources(t *testing.T) []*resource.Resource {
	t.Helper()
	s := resource.DefaultSpec()
	s.Name, s.Key, s.TTL = "users", "users:{id}", time.Minute
	s.Query = "SELECT row_to_json(u)::text FROM users u WHERE u.id = $1"
	s.Tables = []resource.TableBinding{{Table: "users", Columns: []string{"id"}}, {Table: "orders", Columns: []string{"user_id"}}}
	r, err := resource.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return []*resource.Resource{r}
}

// recorder is an Invalidator that records what it is asked.
type recorder struct {
	mu        sync.Mutex
	keys      []string
	resources []string
}

func (r *recorder) Invalidate(key string) bool {
	r.mu.Lock()
	r.keys = append(r.keys, key)
	r.mu.Unlock()
	return true
}

func (r *recorder) InvalidateResource(name string) bool {
	r.mu.Lock()
	r.resources = append(r.resources, name)
	r.mu.Unlock()
	return true
}

// take returns and clears what was recorded, keys sorted and deduplicated.
func (r *recorder) take() (keys, resources []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys, resources = r.keys, r.resources
	r.keys, r.resources = nil, nil
	slices.Sort(keys)
	return slices.Compact(keys), resources
}

func newConsumer(t *testing.T, dbname, slot string, inv pgwal.Invalidator, rs []*resource.Resource) *pgwal.Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgwal.New(ctx, pgwal.Options{
		DSN: server(t).DSN(dbname), Slot: slot, Publication: "strata", Resources: rs, Invalidator: inv,
		Heartbeat: 200 * time.Millisecond, StatusInterval: 200 * time.Millisecond, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connect opens a connection to dbname, closed when the test ends.
func connect(t *testing.T, dbname string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server(t).DSN(dbname))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// write runs sql and returns pg_current_wal_lsn() after its commit.
func write(t *testing.T, conn *pgx.Conn, sql string, args ...any) pgwal.LSN {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var lsn pgwal.LSN
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()").Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	return lsn
}

// waitApplied waits, at most 10s, until c applied lsn.
func waitApplied(t *testing.T, c *pgwal.Consumer, lsn pgwal.LSN) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitApplied(ctx, lsn); err != nil {
		t.Fatalf("WaitApplied(%s): %v (status %+v)", lsn, err, c.Status())
	}
}

// dropSlots drops the replication slots of database dbname, terminating
// walsenders that still hold them (max_replication_slots is small).
func dropSlots(ctx context.Context, s *pgtest.Server, dbname string) {
	for ctx.Err() == nil {
		_ = s.Exec(ctx, "postgres", `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active`, dbname)
		_ = s.Exec(ctx, "postgres", `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`, dbname)
		var n int
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			_ = c.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE database = $1`, dbname).Scan(&n)
			c.Close(context.Background())
		}
		if err == nil && n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testLogger logs through t at debug level when STRATA_TEST_LOG is set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
