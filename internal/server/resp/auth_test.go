package resp

import (
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/gateway"
)

// The keys of the gateway tests: one per outcome.
const (
	keyAdmin = "sk_test-admin"
	keyApp   = "sk_test-app"   // read+write on users: only
	keyRO    = "sk_test-ro"    // read only
	keySlow  = "sk_test-rated" // read+write, 1 request a second, burst 2
)

// authGateway builds the gateway the tests run behind.
func authGateway(t testing.TB, now func() time.Time) *gateway.Gateway {
	t.Helper()
	g, err := gateway.New(config.GatewayConfig{Keys: []config.KeyConfig{
		{Name: "ops", Hash: gateway.HashKey(keyAdmin), Scopes: []string{"read", "write", "admin"}},
		{Name: "app", Hash: gateway.HashKey(keyApp), Scopes: []string{"read", "write"}, Prefixes: []string{"users:"}},
		{Name: "ro", Hash: gateway.HashKey(keyRO), Scopes: []string{"read"}},
		{Name: "rated", Hash: gateway.HashKey(keySlow), Scopes: []string{"read", "write"}, Rate: 1, Burst: 2},
	}}, gateway.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const (
	noAuth    = "ERR:NOAUTH Authentication required."
	wrongPass = "ERR:WRONGPASS invalid username-password pair or user is disabled."
	noPermKey = "ERR:NOPERM No permissions to access a key"
)

func TestAuthOutcomes(t *testing.T) {
	ts := startServer(t, Options{Gateway: authGateway(t, nil)})
	// A value the unauthenticated commands below must not be able to touch.
	ts.cache.Set("users:1", []byte("v1"), cache.SetOptions{})

	t.Run("no key", func(t *testing.T) {
		c := ts.dial(t)
		runScript(t, c, []step{
			{"GET users:1", noAuth},
			{"SET users:1 hacked", noAuth},
			{"DEL users:1", noAuth},
			{"FLUSHALL", noAuth},
			{"CONFIG SET maxmemory 1", noAuth},
			{"MULTI", noAuth},
			{"PING", noAuth},
			{"HELLO 3", "ERR:NOAUTH HELLO must be called*"},
			{"CLIENT SETNAME x", noAuth},
			// Redis answers unknown commands and wrong arities first.
			{"NOSUCH", "ERR:ERR unknown command*"},
			{"GET", "ERR:ERR wrong number of arguments for 'get' command"},
		})
	})
	t.Run("wrong key", func(t *testing.T) {
		c := ts.dial(t)
		runScript(t, c, []step{
			{"AUTH sk_wrong", wrongPass},
			{"AUTH ops sk_wrong", wrongPass},
			{"AUTH app " + keyAdmin, wrongPass}, // a valid key under another key's name
			{"HELLO 3 AUTH default sk_wrong", wrongPass},
			{"GET users:1", noAuth},
		})
	})
	t.Run("right key", func(t *testing.T) {
		c := ts.dial(t)
		runScript(t, c, []step{
			{"AUTH " + keyAdmin, "OK"},
			{"GET users:1", "v1"},
			{"AUTH sk_wrong", wrongPass},
			{"GET users:1", "v1"}, // a failed AUTH keeps the connection's principal
			{"RESET", "RESET"},
			{"GET users:1", noAuth}, // RESET forgets it
			{"AUTH ops " + keyAdmin, "OK"},
			{"CONFIG GET maxclients", "*"},
		})
		c2 := ts.dial(t)
		if got := c2.do("HELLO", "3", "AUTH", "default", keyRO, "SETNAME", "n"); !strings.Contains(got, "proto") {
			t.Fatalf("HELLO 3 AUTH: %q", got)
		}
		if got := c2.do("GET", "users:1"); got != "v1" {
			t.Fatalf("GET after HELLO AUTH: %q", got)
		}
	})
	t.Run("read-only key writing", func(t *testing.T) {
		c := ts.dial(t)
		runScript(t, c, []step{
			{"AUTH " + keyRO, "OK"},
			{"GET users:1", "v1"},
			{"SET users:1 x", "ERR:NOPERM User ro has no permissions to run the 'set' command"},
			{"DEL users:1", "ERR:NOPERM User ro has no permissions to run the 'del' command"},
			{"INCR users:n", "ERR:NOPERM User ro has no permissions to run the 'incr' command"},
			{"GET users:1", "v1"},
		})
	})
	t.Run("prefix-limited key on another prefix", func(t *testing.T) {
		c := ts.dial(t)
		runScript(t, c, []step{
			{"AUTH app " + keyApp, "OK"},
			{"SET users:2 ok", "OK"},
			{"SET orders:1 x", noPermKey},
			{"GET orders:1", noPermKey},
			{"KEYS *", "ERR:NOPERM*"},
			{"SCAN 0", "ERR:NOPERM*"},
		})
		if noErr(ts.cache.Exists("orders:1")) {
			t.Fatal("orders:1 was written by a key limited to users:")
		}
	})
	t.Run("admin command without admin", func(t *testing.T) {
		c := ts.dial(t)
		runScript(t, c, []step{
			{"AUTH " + keyApp, "OK"},
			{"FLUSHALL", "ERR:NOPERM User app has no permissions to run the 'flushall' command"},
			{"CONFIG SET slowlog-max-len 1", "ERR:NOPERM User app has no permissions to run the 'config|set' command"},
			{"CLIENT KILL ID 1", "ERR:NOPERM*"},
			{"SLOWLOG RESET", "ERR:NOPERM*"},
			{"CLIENT GETNAME", "(nil)"}, // connection commands need no scope
		})
		if !noErr(ts.cache.Exists("users:1")) {
			t.Fatal("FLUSHALL ran without the admin scope")
		}
	})
	t.Run("multi-key command with one forbidden key", func(t *testing.T) {
		c := ts.dial(t)
		runScript(t, c, []step{
			{"AUTH " + keyApp, "OK"},
			{"MSET users:3 a orders:3 b", noPermKey},
			{"DEL users:1 orders:9", noPermKey},
			{"MGET users:1 orders:1", noPermKey},
		})
		if noErr(ts.cache.Exists("users:3")) {
			t.Fatal("MSET wrote its permitted key although another key was refused")
		}
		if !noErr(ts.cache.Exists("users:1")) {
			t.Fatal("DEL deleted its permitted key although another key was refused")
		}
	})
	t.Run("MULTI queueing a forbidden command", func(t *testing.T) {
		c := ts.dial(t)
		runScript(t, c, []step{
			{"AUTH " + keyApp, "OK"},
			{"MULTI", "OK"},
			{"SET users:4 a", "QUEUED"},
			{"SET orders:4 b", noPermKey},
			{"FLUSHALL", "ERR:NOPERM*"},
			{"EXEC", "ERR:EXECABORT Transaction discarded because of previous errors."},
		})
		if noErr(ts.cache.Exists("users:4")) {
			t.Fatal("EXEC ran a transaction with a refused command")
		}
	})
	t.Run("EXEC rechecks after a queued AUTH", func(t *testing.T) {
		c := ts.dial(t)
		runScript(t, c, []step{
			{"AUTH " + keyAdmin, "OK"},
			{"MULTI", "OK"},
			{"AUTH " + keyRO, "QUEUED"},
			{"SET users:5 a", "QUEUED"}, // allowed for ops when queued
			{"EXEC", "*"},
		})
		if noErr(ts.cache.Exists("users:5")) {
			t.Fatal("a command queued by ops ran as ro after a queued AUTH")
		}
	})
	t.Run("nothing runs before auth", func(t *testing.T) {
		c := ts.dial(t)
		// A pipeline: none of the commands before AUTH may have an effect,
		// those after it run.
		c.send(encode("SET", "users:6", "x") + encode("INCR", "users:n") + encode("AUTH", keyApp) + encode("SET", "users:7", "y"))
		for i, want := range []string{noAuth, noAuth, "OK", "OK"} {
			if got := c.read().String(); got != want {
				t.Fatalf("reply %d: %q, want %q", i, got, want)
			}
		}
		if noErr(ts.cache.Exists("users:6")) {
			t.Fatal("SET ran before AUTH")
		}
		if noErr(ts.cache.Exists("users:n")) {
			t.Fatal("INCR ran before AUTH")
		}
		if !noErr(ts.cache.Exists("users:7")) {
			t.Fatal("SET after AUTH did not run")
		}
	})
}

func TestAuthPreAuthBudget(t *testing.T) {
	ts := startServer(t, Options{Gateway: authGateway(t, nil)})
	for _, tt := range []struct{ name, raw, want string }{
		{"11 arguments", encode("GET", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"), "ERR:ERR Protocol error: unauthenticated multibulk length"},
		{"argument over 16 KiB", encode("AUTH", strings.Repeat("x", 16<<10+1)), "ERR:ERR Protocol error: unauthenticated bulk length"},
		{"huge declared array", "*20000000\r\n", "ERR:ERR Protocol error: unauthenticated multibulk length"},
		{"huge declared bulk", "*2\r\n$4\r\nAUTH\r\n$536870912\r\n", "ERR:ERR Protocol error: unauthenticated bulk length"},
		{"inline argument over 16 KiB", "AUTH " + strings.Repeat("x", 16<<10+1) + "\r\n", "ERR:ERR Protocol error: unauthenticated bulk length"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			c.send(tt.raw)
			if got := c.read().String(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			c.expectClosed()
		})
	}
	t.Run("after auth the usual limits apply", func(t *testing.T) {
		c := ts.dial(t)
		if got := c.do("AUTH", keyAdmin); got != "OK" {
			t.Fatal(got)
		}
		big := strings.Repeat("v", 100<<10)
		if got := c.do("SET", "k", big); got != "OK" {
			t.Fatalf("SET of 100 KiB after AUTH: %q", got)
		}
		if got := c.do("MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6"); got != "OK" {
			t.Fatalf("MSET of 13 arguments after AUTH: %q", got)
		}
		if got := c.do("RESET"); got != "RESET" {
			t.Fatal(got)
		}
		c.send(encode("GET", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"))
		if got := c.read().String(); !strings.Contains(got, "unauthenticated multibulk") {
			t.Fatalf("after RESET the budget applies again: got %q", got)
		}
	})
}

func TestAuthRateLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	ts := startServer(t, Options{Gateway: authGateway(t, func() time.Time { return now })})
	c := ts.dial(t)
	runScript(t, c, []step{
		{"AUTH " + keySlow, "OK"},
		{"SET a 1", "OK"},
		{"GET a", "1"},
		{"GET a", "ERR:RATELIMITED rate limit exceeded for 'rated' (1/s, burst 2); retry after 1s"},
		{"PING", "PONG"},              // not a data command
		{"CLIENT GETNAME", "(nil)"},   // nor this
		{"GET a", "ERR:RATELIMITED*"}, // still refused: the clock has not moved
	})
	if got := c.do("GET", "a"); !strings.HasPrefix(got, "ERR:RATELIMITED") {
		t.Fatal(got)
	}
}

func TestNoGatewayKeepsRedisAuth(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	runScript(t, c, []step{
		{"GET a", "(nil)"},
		{"AUTH pw", "ERR:ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"},
		{"AUTH default anything", "OK"},
		{"AUTH bob pw", wrongPass},
	})
}

// noErr returns v, failing loudly on err: the key-space operations return
// an error only in a fleet (L2 unreachable), which these tests do not run.
func noErr[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
