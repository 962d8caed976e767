package postgres

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/strata-cache/strata/internal/testenv/procs"
)

// Shared is one server for a whole test package: it starts with the first
// test that asks for it and is closed by RunShared after the last. Starting
// PostgreSQL (initdb) takes seconds, so packages share one server.
type Shared struct {
	// Setup, if set, runs once after the server starts (create databases,
	// load a schema).
	Setup func(ctx context.Context, s *Server) error

	once sync.Once
	srv  *Server
	err  error
}

// Get returns the started server. A missing PostgreSQL installation skips
// the test, or fails it under CI=true.
func (sh *Shared) Get(t testing.TB) *Server {
	t.Helper()
	sh.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sh.srv, sh.err = Start(ctx, Options{})
		if sh.err == nil && sh.Setup != nil {
			sh.err = sh.Setup(ctx, sh.srv)
		}
	})
	procs.Require(t, sh.err)
	return sh.srv
}

// RunShared runs the package's tests, closes the shared server if one was
// started, checks that no goroutine leaked, and exits. Call it from
// TestMain.
func RunShared(m *testing.M, sh *Shared) {
	code := m.Run()
	if sh.srv != nil {
		if err := sh.srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "postgres: close:", err)
			code = 1
		}
	}
	if code == 0 {
		// rueidis closes the connections a topology refresh replaced five
		// seconds later, and runs a delayed topology refresh, on goroutines
		// Close does not wait for; they end by themselves. Every goroutine
		// of strata's own is still checked.
		if err := goleak.Find(
			goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
			goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
