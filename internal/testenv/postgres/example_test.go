package postgres_test

import (
	"context"
	"fmt"
	"os"

	"github.com/strata-cache/strata/internal/testenv/postgres"
	"github.com/strata-cache/strata/internal/testenv/procs"
)

// This shows how a package shares one server across its tests from
// TestMain (rename the function to TestMain(m *testing.M) and call m.Run
// where run is called). A missing PostgreSQL skips the package, except
// under CI=true.
func Example_testMain() {
	run := func() int { return 0 } // m.Run in a real TestMain

	srv, err := postgres.Start(context.Background(), postgres.Options{})
	if procs.IsNotInstalled(err) && !procs.InCI() {
		fmt.Println("skipping:", err)
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := run() // tests reach the server through a package-level variable or a helper
	srv.Close()
	os.Exit(code)
}
