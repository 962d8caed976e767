// Command strata is a caching server in front of PostgreSQL that speaks the
// Redis protocol and HTTP. main only wires: the command tree, flags and every
// component live in internal packages that tests can reach.
package main

import (
	"os"

	"github.com/strata-cache/strata/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}
