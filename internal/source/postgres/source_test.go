package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/resource"
	"github.com/strata-cache/strata/internal/source/postgres"
	pgtest "github.com/strata-cache/strata/internal/testenv/postgres"
	"github.com/strata-cache/strata/internal/testenv/procs"
)

// Resources used across the tests.
var (
	usersSpec = spec("users", "users:{id}", "SELECT row_to_json(u)::text FROM users u WHERE u.id = $1")
	byName    = spec("by_name", "name:{name}", "SELECT row_to_json(u)::text FROM users u WHERE u.name = $1")
	userCols  = spec("user_cols", "uc:{id}", "SELECT id, name, active, created, email FROM users WHERE id = $1;")
	orderSums = spec("order_sums", "orders:{user_id}:{status}",
		"SELECT count(*) AS n, sum(total) AS total, max(placed_at) AS latest FROM orders WHERE user_id = $1 AND status = $2")
	blobData = spec("blob", "blob:{id}", "SELECT data FROM blobs WHERE id = $1")
	blobDoc  = spec("doc", "doc:{id}", "SELECT doc FROM blobs WHERE id = $1")
)

func spec(name, key, query string) resource.Spec {
	s := resource.DefaultSpec()
	s.Name, s.Key, s.Query, s.TTL = name, key, query, time.Minute
	return s
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newSource connects to the test database and prepares specs.
func newSource(t testing.TB, specs ...resource.Spec) *postgres.Source {
	t.Helper()
	s := server(t)
	ctx := testCtx(t)
	src, err := postgres.New(ctx, s.DSN(db), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	for _, sp := range specs {
		if err := src.Prepare(ctx, sp, resource.MustParseTemplate(sp.Key)); err != nil {
			t.Fatalf("Prepare(%s): %v", sp.Name, err)
		}
	}
	return src
}

func load(t *testing.T, src *postgres.Source, name string, params ...string) postgres.Result {
	t.Helper()
	res, err := src.Load(testCtx(t), name, params)
	if err != nil {
		t.Fatalf("Load(%s, %q): %v", name, params, err)
	}
	return res
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("value %q is not a JSON object: %v", b, err)
	}
	return m
}

func TestLoadPointSelect(t *testing.T) {
	src := newSource(t, usersSpec)
	res := load(t, src, "users", "42")
	if !res.Found || res.Duration <= 0 {
		t.Fatalf("Load = %+v", res)
	}
	got := decode(t, res.Value)
	if got["id"] != 42.0 || got["name"] != "user42" || got["active"] != true || got["created"] != "2024-01-02" {
		t.Fatalf("value = %s", res.Value)
	}
}

func TestLoadMultiColumn(t *testing.T) {
	src := newSource(t, userCols, orderSums)
	res := load(t, src, "user_cols", "1001")
	if !res.Found {
		t.Fatal("not found")
	}
	// Columns in query order, encoded by PostgreSQL's JSON functions.
	if want := `{"id":1001,"name":"O'Brien","active":true,"created":"2024-01-02","email":null}`; string(res.Value) != want {
		t.Fatalf("value = %s, want %s", res.Value, want)
	}
	res = load(t, src, "order_sums", "1", "paid")
	if want := `{"n":2,"total":14.75,"latest":"2024-05-02T12:00:00+00:00"}`; string(res.Value) != want {
		t.Fatalf("value = %s, want %s", res.Value, want)
	}
}

func TestLoadBytesAndJSONB(t *testing.T) {
	src := newSource(t, blobData, blobDoc)
	const id = "0b6f2a4e-8f0c-4d36-9a57-3d6b8a1f2c10"
	if res := load(t, src, "blob", id); !res.Found || !bytes.Equal(res.Value, []byte{0x00, 0xff, 0x0a, 0x27}) {
		t.Fatalf("bytea value = %+v", res)
	}
	if res := load(t, src, "doc", id); !res.Found || string(res.Value) != `{"a": "x", "b": [1, 2]}` {
		t.Fatalf("jsonb value = %q", res.Value)
	}
	// A NULL value is a miss.
	if res := load(t, src, "blob", "00000000-0000-0000-0000-000000000000"); res.Found || res.Value != nil {
		t.Fatalf("NULL value: %+v", res)
	}
}

func TestLoadNoRow(t *testing.T) {
	src := newSource(t, usersSpec, orderSums, byName)
	if res := load(t, src, "users", "999999"); res.Found || res.Value != nil {
		t.Fatalf("Load(missing) = %+v", res)
	}
	if res := load(t, src, "by_name", "nobody"); res.Found {
		t.Fatalf("Load(missing) = %+v", res)
	}
}

func TestLoadBadParam(t *testing.T) {
	src := newSource(t, usersSpec, orderSums, blobData)
	for _, tc := range []struct {
		name   string
		params []string
	}{
		{"users", []string{"abc"}},
		{"users", []string{"007"}}, // not canonical: one row, one key
		{"users", []string{"+7"}},
		{"users", []string{"99999999999999999999"}},
		{"users", []string{"1", "2"}},
		{"order_sums", []string{"1", "pa\x00id"}},
		{"order_sums", []string{"1", "\xffpaid"}},
		{"blob", []string{"0B6F2A4E-8F0C-4D36-9A57-3D6B8A1F2C10"}},
	} {
		_, err := src.Load(testCtx(t), tc.name, tc.params)
		if !errors.Is(err, postgres.ErrBadParam) || errors.Is(err, postgres.ErrQuery) || errors.Is(err, postgres.ErrUnavailable) {
			t.Errorf("Load(%s, %q) error = %v, want ErrBadParam only", tc.name, tc.params, err)
		}
	}
}

// SQL-injection-shaped key parameters are bound, never spliced: they match
// only a row that holds exactly that text, or nothing, or are refused
// before a query; the tables are unchanged afterwards.
func TestLoadInjectionShapedParams(t *testing.T) {
	s := server(t)
	src := newSource(t, usersSpec, byName)
	set, err := resource.NewSet(usersSpec, byName)
	if err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		if err := src.Pool().QueryRow(testCtx(t), "SELECT count(*) FROM users").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	for _, tc := range []struct {
		key   string
		found bool
		bad   bool // ErrBadParam
	}{
		{"name:' OR '1'='1", true, false}, // a row holds exactly this text
		{"name:' OR 1=1 --", false, false},
		{"name:x'; DROP TABLE users; --", false, false},
		{"name:O'Brien", true, false},
		{`name:back\slash`, true, false},
		{`name:back\\slash`, false, false},
		{`name:"; SELECT pg_sleep(10); --`, false, false},
		{"name:user1\x00' OR '1'='1", false, true},
		{"name:\xff\xfe", false, true},
		{"users:1;DROP TABLE users--", false, true},
		{"users:1 OR 1=1", false, true},
		{"users:' OR '1'='1", false, true},
		{"users:1\x00", false, true},
	} {
		r, params, ok := set.Lookup(tc.key)
		if !ok {
			t.Fatalf("Lookup(%q) found no resource", tc.key)
		}
		res, err := src.Load(testCtx(t), r.Spec.Name, params)
		switch {
		case tc.bad && !errors.Is(err, postgres.ErrBadParam):
			t.Errorf("Load(%q) = %+v, %v; want ErrBadParam", tc.key, res, err)
		case !tc.bad && err != nil:
			t.Errorf("Load(%q): %v", tc.key, err)
		case res.Found != tc.found:
			t.Errorf("Load(%q) found = %v, want %v", tc.key, res.Found, tc.found)
		}
		if res.Found && decode(t, res.Value)["name"] != params[0] {
			t.Errorf("Load(%q) = %s", tc.key, res.Value)
		}
	}
	if after := count(); after != before {
		t.Fatalf("users has %d rows after the loads, %d before", after, before)
	}
	if err := s.Exec(testCtx(t), db, "SELECT 1 FROM users WHERE id = 1"); err != nil {
		t.Fatalf("users table damaged: %v", err)
	}
}

func TestLoadTimeout(t *testing.T) {
	slow := spec("slow", "slow:{id}", "SELECT row_to_json(u)::text FROM users u, pg_sleep(5) WHERE u.id = $1")
	slow.QueryTimeout = 200 * time.Millisecond
	src := newSource(t, slow, usersSpec)
	start := time.Now()
	res, err := src.Load(testCtx(t), "slow", []string{"1"})
	if !errors.Is(err, postgres.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, postgres.ErrQuery) {
		t.Fatalf("Load(slow) error = %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second || res.Duration < 200*time.Millisecond {
		t.Fatalf("Load(slow) took %v (Result.Duration %v), want about 200ms", el, res.Duration)
	}
	t.Log(err)
	// The pool is still healthy.
	if res := load(t, src, "users", "1"); !res.Found {
		t.Fatal("load after a timeout failed")
	}

	// The caller's own context counts too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Load(ctx, "users", []string{"1"}); !errors.Is(err, postgres.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Load(cancelled ctx) error = %v", err)
	}
}

func TestLoadQueryErrors(t *testing.T) {
	multi := spec("multi", "multi:{id}", "SELECT name FROM users WHERE id >= $1 ORDER BY id")
	div := spec("div", "div:{id}", "SELECT (100 / ($1::int8 - 1))::text")
	write := spec("write", "write:{id}", "SELECT name FROM users WHERE id = $1 FOR UPDATE")
	src := newSource(t, multi, div, write)

	_, err := src.Load(testCtx(t), "multi", []string{"1"})
	if !errors.Is(err, postgres.ErrMultipleRows) || !errors.Is(err, postgres.ErrQuery) {
		t.Errorf("more than one row: %v, want ErrMultipleRows", err)
	}
	if res := load(t, src, "multi", "1003"); string(res.Value) != "' OR '1'='1" {
		t.Errorf("exactly one row: %q", res.Value)
	}
	if res := load(t, src, "div", "2"); string(res.Value) != "100" {
		t.Errorf("div(2) = %q", res.Value)
	}
	if _, err := src.Load(testCtx(t), "div", []string{"1"}); !errors.Is(err, postgres.ErrQuery) || errors.Is(err, postgres.ErrUnavailable) {
		t.Errorf("division by zero: %v, want ErrQuery", err)
	}
	// Sessions are read-only: a query that would lock or write fails.
	if _, err := src.Load(testCtx(t), "write", []string{"1"}); !errors.Is(err, postgres.ErrQuery) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("SELECT FOR UPDATE: %v, want a read-only ErrQuery", err)
	}
	if _, err := src.Load(testCtx(t), "nope", []string{"1"}); !errors.Is(err, postgres.ErrNotPrepared) {
		t.Errorf("unprepared resource: %v", err)
	}
}

func TestPrepareErrors(t *testing.T) {
	src := newSource(t)
	tests := []struct {
		name, key, query string
		want             string
	}{
		{"no_params", "a:{id}", "SELECT name FROM users WHERE id = 1", `has 0 parameter(s) but key template "a:{id}" has 1 ({id})`},
		{"two_params", "a:{id}", "SELECT name FROM users WHERE id = $1 AND name = $2", `has 2 parameter(s) but key template "a:{id}" has 1`},
		{"unknown_table", "a:{id}", "SELECT name FROM userz WHERE id = $1", `does not prepare: relation "userz" does not exist (SQLSTATE 42P01)`},
		{"syntax", "a:{id}", "SELEKT name FROM users WHERE id = $1", `does not prepare: syntax error at or near "SELEKT"`},
		{"two_statements", "a:{id}", "SELECT name FROM users WHERE id = $1; DROP TABLE users", "does not prepare: cannot insert multiple commands into a prepared statement"},
		{"int_column", "a:{id}", "SELECT id FROM users WHERE id = $1", `returns one column "id" of type int8, which is not supported as a value`},
		{"float_param", "a:{x}", "SELECT name FROM users WHERE id::float8 = $1", "parameter $1 ({x}) has type float8, which a key parameter cannot be bound to"},
		{"jsonb_param", "a:{x}", "SELECT name FROM users WHERE $1::jsonb IS NOT NULL LIMIT 1", "parameter $1 ({x}) has type jsonb"},
		{"dup_column", "a:{id}", "SELECT name, email AS name FROM users WHERE id = $1", `returns column "name" twice`},
		{"unnamed_column", "a:{id}", "SELECT name, id + 1 FROM users WHERE id = $1", "column 2 has no name"},
		{"no_columns", "a:{id}", "DELETE FROM users WHERE id = $1", "returns no columns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec(tt.name, tt.key, tt.query)
			err := src.Prepare(testCtx(t), sp, nil)
			if err == nil {
				t.Fatal("Prepare accepted the query")
			}
			prefix := "strata: config: resources." + tt.name + ".query: "
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %q\nwant %q...%q", err, prefix, tt.want)
			}
			var fe *resource.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, postgres.ErrQuery) || !errors.Is(err, resource.ErrInvalid) {
				t.Fatalf("error %v is not a *resource.FieldError wrapping ErrQuery", err)
			}
			if _, err := src.Load(testCtx(t), tt.name, []string{"1"}); !errors.Is(err, postgres.ErrNotPrepared) {
				t.Fatalf("a rejected resource loads: %v", err)
			}
		})
	}
	// The table survived the DELETE and DROP that were only prepared.
	var n int
	if err := src.Pool().QueryRow(testCtx(t), "SELECT count(*) FROM users").Scan(&n); err != nil || n != 1003 {
		t.Fatalf("users: %d rows, %v", n, err)
	}
}

// The database stopped mid-test, as by pg_ctl stop -m immediate, makes
// loads fail fast with ErrUnavailable; started again, the same Source loads
// again.
func TestDatabaseRestart(t *testing.T) {
	s := server(t)
	src := newSource(t, usersSpec)
	ctx := testCtx(t)
	t.Cleanup(func() {
		if err := s.Start(context.Background()); err != nil {
			t.Errorf("restart for the next tests: %v", err)
		}
	})

	// Several pooled connections, all of which the stop will break.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { src.Load(ctx, "users", []string{"1"}) })
	}
	wg.Wait()
	if err := s.Stop(ctx, pgtest.StopImmediate); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		start := time.Now()
		res, err := src.Load(ctx, "users", []string{"1"})
		if !errors.Is(err, postgres.ErrUnavailable) || errors.Is(err, postgres.ErrQuery) || res.Found {
			t.Fatalf("load %d while stopped: %+v, %v; want ErrUnavailable", i, res, err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("load %d while stopped took %v", i, el)
		}
		if i == 0 {
			t.Log(err)
		}
	}
	if err := src.Prepare(ctx, orderSums, nil); !errors.Is(err, postgres.ErrUnavailable) {
		t.Fatalf("Prepare while stopped: %v, want ErrUnavailable", err)
	}

	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if res := load(t, src, "users", "1"); !res.Found {
		t.Fatal("first load after restart: not found")
	}
	for range 20 {
		wg.Go(func() {
			if _, err := src.Load(ctx, "users", []string{"2"}); err != nil {
				t.Errorf("load after restart: %v", err)
			}
		})
	}
	wg.Wait()
}

func TestNewUnavailable(t *testing.T) {
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dsn := "postgres://strata:secret@127.0.0.1:" + strconv.Itoa(port) + "/app?sslmode=disable&connect_timeout=2"
	src, err := postgres.New(testCtx(t), dsn, postgres.Options{})
	if err == nil {
		src.Close()
		t.Fatal("New succeeded without a database")
	}
	if !errors.Is(err, postgres.ErrUnavailable) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("New error = %v, want ErrUnavailable without the password", err)
	}
	if _, err := postgres.New(testCtx(t), "postgres://u:secret@host:notaport/db", postgres.Options{}); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("New(bad dsn) error = %v", err)
	}
}

func TestClose(t *testing.T) {
	src := newSource(t, usersSpec)
	load(t, src, "users", "1")
	src.Close()
	src.Close() // idempotent
	if _, err := src.Load(testCtx(t), "users", []string{"1"}); !errors.Is(err, postgres.ErrClosed) || !errors.Is(err, postgres.ErrUnavailable) {
		t.Fatalf("Load after Close: %v", err)
	}
}

// Loads race with re-preparation; run with -race.
func TestConcurrentLoadAndPrepare(t *testing.T) {
	src := newSource(t, usersSpec)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				id := strconv.Itoa(1 + (g*50+i)%1000)
				res, err := src.Load(ctx, "users", []string{id})
				if err != nil || !res.Found {
					t.Errorf("Load(%s) = %+v, %v", id, res, err)
					return
				}
			}
		})
	}
	for range 5 {
		if err := src.Prepare(ctx, usersSpec, nil); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

// BenchmarkLoad measures a primary-key point select returning row_to_json
// text, over loopback, one load at a time and in parallel. Budget: 20
// allocs/op, about 1.5 KB (mostly pgx's; ours are the timeout context, the
// boxed parameter and the value copy); about 70µs/op serial on 2 cores.
func BenchmarkLoad(b *testing.B) {
	src := newSource(b, usersSpec)
	ctx := context.Background()
	params := []string{"42"}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := src.Load(ctx, "users", params); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := src.Load(ctx, "users", params); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
