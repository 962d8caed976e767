// Package e2e holds black-box tests of the built strata binary. They start
// `strata serve` as a child process on free loopback ports and talk to it only
// through its public interfaces, with real clients: redis-cli,
// redis-benchmark, go-redis, rueidis, curl, net/http and strata's own CLI
// verbs. Where Redis compatibility is the contract, a real redis-server is
// started next to strata and both get the same commands (differential
// testing).
//
// The binary comes from STRATA_BIN (an absolute path) or is built once by
// TestMain. Tests that need an external tool skip when it is missing, except
// under CI=true, where a missing tool is a failure.
//
// STRATA_E2E_SELFCHECK=1 runs only the differential harness, against two
// redis-servers instead of Redis and strata; it needs no strata binary and
// must report no difference. Use it after editing the command table or the
// normalisers.
package e2e
