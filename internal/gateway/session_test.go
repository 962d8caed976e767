package gateway

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/config"
)

// cmd splits a command line on spaces into RESP arguments.
func cmd(line string) [][]byte {
	var args [][]byte
	for _, f := range strings.Fields(line) {
		args = append(args, []byte(f))
	}
	return args
}

func TestKeySpecKeys(t *testing.T) {
	tests := []struct {
		line string
		want string
	}{
		{"GET a", "a"},
		{"MGET a b c", "a b c"},
		{"MSET a 1 b 2 c 3", "a b c"},
		{"DEL a b", "a b"},
		{"RENAME a b", "a b"},
		{"COPY a b REPLACE", "a b"},
		{"SET a v EX 10", "a"},
		{"MEMORY USAGE a SAMPLES 5", "a"},
		{"PING", ""},
		{"KEYS *", ""},
		{"WATCH a b", "a b"},
	}
	for _, tt := range tests {
		var got []string
		args := cmd(tt.line)
		Classify(args).Keys.Keys(args, func(k []byte) bool { got = append(got, string(k)); return true })
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s: keys %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		line     string
		name     string
		scope    Scope
		noAuth   bool
		keyspace bool
		data     bool
	}{
		{"GET k", "get", ScopeRead, false, false, true},
		{"get k", "get", ScopeRead, false, false, true},
		{"SET k v", "set", ScopeWrite, false, false, true},
		{"SET k v EX 10 GET", "set", ScopeRead | ScopeWrite, false, false, true},
		{"GETSET k v", "getset", ScopeRead | ScopeWrite, false, false, true},
		{"INCR k", "incr", ScopeRead | ScopeWrite, false, false, true},
		{"DEL a b", "del", ScopeWrite, false, false, true},
		{"KEYS *", "keys", ScopeRead, false, true, true},
		{"FLUSHALL", "flushall", ScopeAdmin, false, true, false},
		{"CONFIG SET maxmemory 1", "config|set", ScopeAdmin, false, false, false},
		{"CONFIG GET maxmemory", "config|get", ScopeAdmin, false, false, false},
		{"CONFIG HELP", "config|help", 0, false, false, false},
		{"CLIENT KILL ID 1", "client|kill", ScopeAdmin, false, false, false},
		{"CLIENT SETNAME x", "client|setname", 0, false, false, false},
		{"SLOWLOG RESET", "slowlog|reset", ScopeAdmin, false, false, false},
		{"COMMAND", "command", 0, false, false, false},
		{"COMMAND DOCS get", "command|docs", 0, false, false, false},
		{"MEMORY USAGE k", "memory|usage", ScopeRead, false, false, true},
		{"PING", "ping", 0, false, false, false},
		{"INFO", "info", 0, false, false, false},
		{"AUTH pw", "auth", 0, true, false, false},
		{"HELLO 3", "hello", 0, true, false, false},
		{"QUIT", "quit", 0, true, false, false},
		{"RESET", "reset", 0, true, false, false},
		{"MULTI", "multi", 0, false, false, false},
		{"NEWCOMMAND x", "newcommand", ScopeAdmin, false, false, false},
		{"CONFIG NEWSUB", "config|newsub", ScopeAdmin, false, false, false},
	}
	for _, tt := range tests {
		c := Classify(cmd(tt.line))
		if c.Name != tt.name || c.Scope != tt.scope || c.NoAuth != tt.noAuth || c.Keyspace != tt.keyspace || c.Data != tt.data {
			t.Errorf("Classify(%s) = %+v, want name %s scope %s noauth %v keyspace %v data %v",
				tt.line, c, tt.name, tt.scope, tt.noAuth, tt.keyspace, tt.data)
		}
	}
	if sc, ks := CommandScope("mset"); sc != ScopeWrite || ks != (KeySpec{1, -1, 2}) {
		t.Errorf("CommandScope(mset) = %v, %v", sc, ks)
	}
	if sc, _ := CommandScope("nope"); sc != ScopeAdmin {
		t.Errorf("CommandScope(nope) = %v, want admin", sc)
	}
}

// TestSession plays scripts of commands through a RESP session and checks
// each reply: the gateway part of every auth and scope outcome on RESP.
func TestSession(t *testing.T) {
	g := newTestGateway(t, testConfig(), Options{})
	type step struct {
		line string
		want string // "" allowed, else the reply's prefix
	}
	scripts := map[string][]step{
		"nothing runs before auth": {
			{"GET k", ReplyNoAuth},
			{"PING", ReplyNoAuth},
			{"SET k v", ReplyNoAuth},
			{"MULTI", ReplyNoAuth},
			{"CLIENT SETNAME x", ReplyNoAuth},
			{"COMMAND", ReplyNoAuth},
			{"CONFIG GET *", ReplyNoAuth},
			{"FLUSHALL", ReplyNoAuth},
			{"HELLO 3", ReplyHelloNoAuth},
			{"HELLO 3 SETNAME x", ReplyHelloNoAuth},
			{"HELLO 3 AUTH app " + keyApp, ""},
			{"QUIT", ""},
			{"RESET", ""},
			{"AUTH " + keyApp, "ok"},
			{"SET k v", ""},
		},
		"read-only key": {
			{"AUTH ro " + keyRO, "ok"},
			{"GET k", ""},
			{"MGET a b", ""},
			{"SET k v", "NOPERM User ro has no permissions to run the 'set' command"},
			{"SET k v GET", "NOPERM User ro has no permissions to run the 'set' command"},
			{"INCR k", "NOPERM User ro has no permissions to run the 'incr' command"},
			{"FLUSHALL", "NOPERM User ro has no permissions to run the 'flushall' command"},
			{"CONFIG SET x y", "NOPERM User ro has no permissions to run the 'config|set' command"},
			{"CLIENT KILL ID 3", "NOPERM User ro has no permissions to run the 'client|kill' command"},
			{"SLOWLOG RESET", "NOPERM User ro has no permissions to run the 'slowlog|reset' command"},
			{"PING", ""},
			{"CLIENT SETNAME x", ""},
			{"KEYS *", ""},
		},
		"admin key": {
			{"AUTH " + keyAdmin, "ok"},
			{"FLUSHALL", ""},
			{"CONFIG SET x y", ""},
			{"GET k", "NOPERM User ops has no permissions to run the 'get' command"},
		},
		"prefix key": {
			{"AUTH users " + keyUsers, "ok"},
			{"GET users:1", ""},
			{"MGET users:1 session:2", ""},
			{"MGET users:1 orders:2", ReplyNoPermKey},
			{"MSET users:1 orders:x session:2 v", ""}, // values are not keys
			{"MSET users:1 v orders:2 v", ReplyNoPermKey},
			{"DEL session:1 users:2 x", ReplyNoPermKey},
			{"RENAME users:1 orders:1", ReplyNoPermKey},
			{"RENAME users:1 users:2", ""},
			{"WATCH orders:1", ReplyNoPermKey},
			{"MEMORY USAGE orders:1", ReplyNoPermKey},
			{"KEYS users:*", "NOPERM User users has no permissions to run the 'keys' command"},
			{"SCAN 0", "NOPERM User users has no permissions to run the 'scan' command"},
			{"DBSIZE", "NOPERM User users has no permissions to run the 'dbsize' command"},
		},
		"failed auth keeps the session": {
			{"AUTH " + keyRO, "ok"},
			{"AUTH wrong", ReplyWrongPass},
			{"GET k", ""},
			{"RESET", ""},
			{"GET k", ReplyNoAuth},
		},
		"wrong credentials": {
			{"AUTH wrong", ReplyWrongPass},
			{"AUTH app " + keyRO, ReplyWrongPass},
			{"AUTH default " + keyRO, "ok"},
		},
	}
	for name, script := range scripts {
		t.Run(name, func(t *testing.T) {
			s := g.NewSession()
			for _, st := range script {
				args := cmd(st.line)
				var got string
				if strings.EqualFold(string(args[0]), "auth") {
					// What the AUTH command itself does, after Check let it run.
					if got = s.Check(args); got == "" {
						user, pass := []byte(nil), args[1]
						if len(args) == 3 {
							user, pass = args[1], args[2]
						}
						if got = s.Auth(user, pass); got == "" {
							got = "ok"
						}
					}
				} else {
					got = s.Check(args)
					if strings.EqualFold(string(args[0]), "reset") {
						s.Reset()
					}
				}
				if st.want == "" && got != "" || !strings.HasPrefix(got, st.want) {
					t.Fatalf("%s: reply %q, want %q", st.line, got, st.want)
				}
			}
		})
	}
}

func TestSessionNoKeys(t *testing.T) {
	g := newTestGateway(t, config.GatewayConfig{}, Options{})
	s := g.NewSession()
	if !s.Authenticated() || s.Principal() != Anonymous {
		t.Fatal("session not authenticated as Anonymous")
	}
	if _, ok := s.PreAuth(); ok {
		t.Fatal("pre-auth limits apply with no keys")
	}
	for _, line := range []string{"FLUSHALL", "SET k v", "CONFIG SET a b", "KEYS *"} {
		if got := s.Check(cmd(line)); got != "" {
			t.Errorf("%s: %q", line, got)
		}
	}
	// Redis without requirepass.
	if got := s.Auth(nil, []byte("x")); got != ReplyNoPassword {
		t.Errorf("AUTH x = %q", got)
	}
	if got := s.Auth([]byte("default"), []byte("x")); got != "" {
		t.Errorf("AUTH default x = %q", got)
	}
	if got := s.Auth([]byte("app"), []byte("x")); got != ReplyWrongPass {
		t.Errorf("AUTH app x = %q", got)
	}
}

func TestSessionPreAuth(t *testing.T) {
	g := newTestGateway(t, testConfig(), Options{})
	s := g.NewSession()
	lim, ok := s.PreAuth()
	if !ok || lim != (PreAuthLimits{MaxMultibulkLen: 10, MaxBulkLen: 16384}) {
		t.Fatalf("PreAuth() = %+v, %v; want Redis's 10 arguments of 16 KiB", lim, ok)
	}
	if s.Auth(nil, []byte(keyApp)) != "" {
		t.Fatal("auth failed")
	}
	if _, ok := s.PreAuth(); ok {
		t.Fatal("pre-auth limits still apply after AUTH")
	}
	custom := newTestGateway(t, testConfig(), Options{PreAuth: PreAuthLimits{MaxMultibulkLen: 5, MaxBulkLen: 100}})
	if lim, _ := custom.NewSession().PreAuth(); lim.MaxMultibulkLen != 5 || lim.MaxBulkLen != 100 {
		t.Fatalf("Options.PreAuth ignored: %+v", lim)
	}
}

func TestSessionRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.Keys[0].Rate, cfg.Keys[0].Burst = 10, 2
	clock := time.Unix(1_700_000_000, 0)
	g := newTestGateway(t, cfg, Options{Now: func() time.Time { return clock }})
	s := g.NewSession()
	s.Auth(nil, []byte(keyApp))
	for range 2 {
		if got := s.Check(cmd("GET k")); got != "" {
			t.Fatal(got)
		}
	}
	// Connection and introspection commands are not data: not limited.
	for range 5 {
		if got := s.Check(cmd("PING")); got != "" {
			t.Fatal(got)
		}
	}
	got := s.Check(cmd("SET k v"))
	if want := "RATELIMITED rate limit exceeded for 'app' (10/s, burst 2); retry after 100ms"; got != want {
		t.Fatalf("reply %q, want %q", got, want)
	}
	_, err := s.Authorize(cmd("GET k"))
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) || rl.RetryAfter != 100*time.Millisecond {
		t.Fatalf("Authorize = %v", err)
	}
	clock = clock.Add(rl.RetryAfter)
	if got := s.Check(cmd("GET k")); got != "" {
		t.Fatalf("after RetryAfter: %q", got)
	}
	// A refused command does not take a token.
	if got := s.Check(cmd("SET orders:1 v")); got != "RATELIMITED rate limit exceeded for 'app' (10/s, burst 2); retry after 100ms" {
		t.Fatal(got)
	}
}

func TestCheckAllocations(t *testing.T) {
	g := newTestGateway(t, testConfig(), Options{})
	s := g.NewSession()
	s.Auth([]byte("users"), []byte(keyUsers))
	args := cmd("MGET users:1 session:2 users:3")
	// Budget: 0 allocations for an allowed data command.
	if a := testing.AllocsPerRun(1000, func() {
		if s.Check(args) != "" {
			t.Fatal("refused")
		}
	}); a != 0 {
		t.Errorf("Check allocates %v times per allowed command, want 0", a)
	}
}

// BenchmarkSessionCheck measures the per-command cost of the gateway on
// RESP for a rate-limited, prefix-limited key: 0 allocs/op, about 170 ns
// (mostly the limiter's clock read and mutex).
func BenchmarkSessionCheck(b *testing.B) {
	cfg := testConfig()
	cfg.Keys[3].Rate, cfg.Keys[3].Burst = 1e9, 1e9
	g := newTestGateway(b, cfg, Options{})
	s := g.NewSession()
	s.Auth(nil, []byte(keyUsers))
	args := cmd("GET users:42")
	b.ReportAllocs()
	for b.Loop() {
		if s.Check(args) != "" {
			b.Fatal("refused")
		}
	}
}

// TestEveryRESPCommandClassified reads the RESP server's command table
// (internal/server/resp/table.go) and checks that the gateway classifies
// every command and subcommand it serves, with the same key positions. An
// unclassified command would need admin, so this catches a command added
// to the server and forgotten here before users do.
func TestEveryRESPCommandClassified(t *testing.T) {
	src, err := os.ReadFile("../server/resp/table.go")
	if err != nil {
		t.Skipf("RESP command table not found: %v", err)
	}
	row := regexp.MustCompile(`\{name: "([a-z.|-]+)"[^\n]*`)
	keys := regexp.MustCompile(`firstKey: (-?\d+), lastKey: (-?\d+), step: (-?\d+)`)
	subs := regexp.MustCompile(`(?s)subs: map\[string\]int\{(.*?)\}`)
	subName := regexp.MustCompile(`"([a-z-]+)":`)
	rows := row.FindAllStringSubmatchIndex(string(src), -1)
	if len(rows) < 50 {
		t.Fatalf("found only %d commands in table.go; has its format changed?", len(rows))
	}
	for i, m := range rows {
		name := string(src[m[2]:m[3]])
		line := string(src[m[0]:m[1]])
		spec, ok := commands[name]
		if !ok {
			t.Errorf("RESP command %q is not classified in gateway's command table", name)
			continue
		}
		var want KeySpec
		if k := keys.FindStringSubmatch(line); k != nil {
			want = KeySpec{atoi(t, k[1]), atoi(t, k[2]), atoi(t, k[3])}
		}
		if spec.keys != want {
			t.Errorf("%s: gateway key spec %+v, RESP table %+v", name, spec.keys, want)
		}
		end := len(src)
		if i+1 < len(rows) {
			end = rows[i+1][0]
		}
		if sm := subs.FindSubmatch(src[m[0]:end]); sm != nil {
			for _, sub := range subName.FindAllSubmatch(sm[1], -1) {
				if _, ok := spec.subs[string(sub[1])]; !ok {
					t.Errorf("RESP subcommand %s|%s is not classified", name, sub[1])
				}
			}
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
