package resp

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/server/resp/wire"
)

// TestHostileInputClosesConnection sends malformed input: the server must
// answer Redis's protocol error and close, without hanging.
func TestHostileInputClosesConnection(t *testing.T) {
	ts := startServer(t, Options{Limits: wire.Limits{MaxInlineLen: 1024}})
	tests := []struct {
		name, in, want string
	}{
		{"negative multibulk is empty", "*-10\r\nPING\r\n", "PONG"},
		{"huge multibulk", "*20000000\r\n", "ERR:ERR Protocol error: invalid multibulk length"},
		{"huge bulk", "*1\r\n$2000000000\r\n", "ERR:ERR Protocol error: invalid bulk length"},
		{"negative bulk", "*1\r\n$-10\r\n", "ERR:ERR Protocol error: invalid bulk length"},
		{"missing dollar", "*1\r\nGET\r\n", "ERR:ERR Protocol error: expected '$', got 'G'"},
		{"nested arrays", "*1\r\n*1\r\n$1\r\na\r\n", "ERR:ERR Protocol error: expected '$', got '*'"},
		{"missing CRLF", "*1\r\n$4\r\nPINGxx", "ERR:ERR Protocol error: expected CRLF after bulk"},
		{"lone CR", "*1\r$4\r\nPING\r\n", "ERR:ERR Protocol error: invalid multibulk length"},
		{"unbalanced quotes", "SET \"a b\r\n", "ERR:ERR Protocol error: unbalanced quotes in request"},
		{"inline too long", strings.Repeat("x", 4096), "ERR:ERR Protocol error: too big inline request"},
		{"NUL stream", strings.Repeat("\x00", 4096), "ERR:ERR Protocol error: too big inline request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			c.send(tt.in)
			if got := c.read().String(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if strings.HasPrefix(tt.want, "ERR:") {
				c.expectClosed()
			}
		})
	}
}

// TestPartialCommandDoesNotBlockReplies: replies to complete commands are
// written even while the next command is still arriving.
func TestPartialCommandDoesNotBlockReplies(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	c.send(encode("PING") + "*2\r\n$3\r\nGET")
	if got := c.read().String(); got != "PONG" {
		t.Fatalf("got %q", got)
	}
	c.send("\r\n$1\r\nk\r\n")
	if got := c.read().String(); got != "(nil)" {
		t.Fatalf("got %q", got)
	}
}

func TestInlineCommands(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	c.send("SET \"a b\" 'c d'\r\nGET \"a b\"\n\r\nPING\r\n")
	for _, want := range []string{"OK", "c d", "PONG"} {
		if got := c.read().String(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// TestPipeline10k sends 10,000 commands in one write and reads every reply
// in order.
func TestPipeline10k(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	var b strings.Builder
	for i := range 10000 {
		b.WriteString(encode("SET", "k"+itoa(i), itoa(i)))
		b.WriteString(encode("GET", "k"+itoa(i)))
	}
	go func() { _, _ = c.nc.Write([]byte(b.String())) }()
	for i := range 10000 {
		if got := c.read().String(); got != "OK" {
			t.Fatalf("SET %d: %q", i, got)
		}
		if got := c.read().String(); got != itoa(i) {
			t.Fatalf("GET %d: %q", i, got)
		}
	}
}

func TestMultiExec(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	runScript(t, c, []step{
		{"EXEC", "ERR:ERR EXEC without MULTI"},
		{"DISCARD", "ERR:ERR DISCARD without MULTI"},
		{"MULTI", "OK"},
		{"MULTI", "ERR:ERR MULTI calls can not be nested"},
		{"SET a 1", "QUEUED"},
		{"INCR a", "QUEUED"},
		{"MSET b 2 c 3", "QUEUED"},
		{"GET a", "QUEUED"},
		{"EXEC", "[OK 2 OK 2]"},
		{"MULTI", "OK"},
		{"SET a 1", "QUEUED"},
		{"GET", "ERR:ERR wrong number of arguments for 'get' command"},
		{"EXEC", "ERR:EXECABORT Transaction discarded because of previous errors."},
		{"MULTI", "OK"},
		{"NOSUCH", "ERR:ERR unknown command 'NOSUCH', with args beginning with: "},
		{"EXEC", "ERR:EXECABORT Transaction discarded because of previous errors."},
		{"MULTI", "OK"},
		{"INCR b", "QUEUED"},
		{"DISCARD", "OK"},
		{"GET b", "2"},
		{"MULTI", "OK"},
		{"INCR a", "QUEUED"},
		{"INCR c", "QUEUED"},
		{"SET c x", "QUEUED"},
		{"INCR c", "QUEUED"},
		{"EXEC", "[3 4 OK ERR:ERR value is not an integer or out of range]"},
		{"MULTI", "OK"},
		{"WATCH a", "ERR:ERR WATCH inside MULTI is not allowed"},
		{"EXEC", "[]"},
	})
}

func TestWatch(t *testing.T) {
	ts := startServer(t, Options{})
	c, other := ts.dial(t), ts.dial(t)
	runScript(t, c, []step{
		{"SET w 1", "OK"},
		{"WATCH w", "OK"},
		{"MULTI", "OK"},
		{"SET w 2", "QUEUED"},
		{"EXEC", "[OK]"},
		{"WATCH w", "OK"},
	})
	if got := other.do("SET", "w", "3"); got != "OK" {
		t.Fatal(got)
	}
	runScript(t, c, []step{
		{"MULTI", "OK"},
		{"SET w 4", "QUEUED"},
		{"EXEC", "(nil)"},
		{"GET w", "3"},
		{"WATCH w", "OK"},
		{"UNWATCH", "OK"},
	})
	other.do("SET", "w", "5")
	runScript(t, c, []step{
		{"MULTI", "OK"},
		{"GET w", "QUEUED"},
		{"EXEC", "[5]"},
	})
}

func TestRESP3(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	c.send(encode("HELLO", "3", "SETNAME", "me"))
	r := c.read()
	if r.Type != '%' || len(r.Elems) != 14 || r.Elems[5].Int != 3 {
		t.Fatalf("HELLO 3 = %c %v", r.Type, r)
	}
	c.send(encode("GET", "missing"))
	if r := c.read(); r.Type != '_' {
		t.Fatalf("null in RESP3 is %c", r.Type)
	}
	c.send(encode("CONFIG", "GET", "maxmemory-policy"))
	if r := c.read(); r.Type != '%' || r.String() != "[maxmemory-policy allkeys-lfu]" {
		t.Fatalf("CONFIG GET in RESP3 = %c %v", r.Type, r)
	}
	c.send(encode("INFO", "keyspace"))
	if r := c.read(); r.Type != '=' {
		t.Fatalf("INFO in RESP3 is %c", r.Type)
	}
	if got := c.do("CLIENT", "GETNAME"); got != "me" {
		t.Fatalf("name %q", got)
	}
	runScript(t, c, []step{
		{"HELLO 4", "ERR:NOPROTO unsupported protocol version"},
		{"HELLO x", "ERR:ERR Protocol version is not an integer or out of range"},
		{"HELLO 3 FOO", "ERR:ERR Syntax error in HELLO option 'FOO'"},
		{"HELLO 2 AUTH bob pw", "ERR:WRONGPASS invalid username-password pair or user is disabled."},
		{"HELLO 2 AUTH default pw", "*"},
		{"GET missing", "(nil)"},
	})
	c.send(encode("GET", "missing"))
	if r := c.read(); r.Type != '$' || !r.Null {
		t.Fatalf("null in RESP2 is %c", r.Type)
	}
}

func TestAdminCommands(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	runScript(t, c, []step{
		{"PING", "PONG"},
		{"PING hi", "hi"},
		{"PING a b", "ERR:ERR wrong number of arguments for 'ping' command"},
		{"ECHO x", "x"},
		{"AUTH pw", "ERR:ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"},
		{"AUTH default pw", "OK"},
		{"AUTH u pw", "ERR:WRONGPASS invalid username-password pair or user is disabled."},
		{"CLIENT SETNAME a\x01", "ERR:ERR Client names cannot contain spaces, newlines or special characters."},
		{"CLIENT SETNAME app", "OK"},
		{"CLIENT GETNAME", "app"},
		{"CLIENT SETINFO LIB-NAME go-redis", "OK"},
		{"CLIENT NO-EVICT on", "OK"},
		{"CLIENT NO-EVICT maybe", "ERR:ERR syntax error"},
		{"CLIENT FOO", "ERR:ERR unknown subcommand 'FOO'. Try CLIENT HELP."},
		{"CLIENT SETNAME a b", "ERR:ERR wrong number of arguments for 'client|setname' command"},
		{"CLIENT KILL ID 999", "0"},
		{"CLIENT KILL 1.2.3.4:5", "ERR:ERR No such client"},
		{"CLIENT LIST", "id=*"},
		{"CONFIG GET", "ERR:ERR wrong number of arguments for 'config|get' command"},
		{"CONFIG GET save", "[save ]"},
		{"CONFIG GET appendonly", "[appendonly no]"},
		{"CONFIG GET SLOWLOG*", "[slowlog-log-slower-than 10000 slowlog-max-len 128]"},
		{"CONFIG SET maxmemory 100mb", "OK"},
		{"CONFIG GET maxmemory", "[maxmemory 104857600]"},
		{"CONFIG SET foo bar", "ERR:ERR Unknown option or number of arguments for CONFIG SET - 'foo'"},
		{"CONFIG SET save x", "ERR:ERR CONFIG SET failed (possibly related to argument 'save') - can't set immutable config"},
		{"CONFIG SET maxmemory lots", "ERR:ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"},
		{"CONFIG SET slowlog-log-slower-than 0 slowlog-max-len 2", "OK"},
		{"SET a 1", "OK"},
		{"SLOWLOG LEN", "2"},
		{"SLOWLOG GET 1", "[[2 *"},
		{"SLOWLOG RESET", "OK"},
		{"SLOWLOG GET -2", "ERR:ERR count should be greater than or equal to -1"},
		{"CONFIG SET slowlog-log-slower-than 10000", "OK"},
		{"CONFIG RESETSTAT", "OK"},
		{"MEMORY USAGE a", "*"},
		{"MEMORY USAGE none", "(nil)"},
		{"COMMAND COUNT", "*"},
		{"COMMAND DOCS get", "[get [summary Returns the string value of a key. group string]]"},
		{"COMMAND INFO get nosuch", "[[get 2 [readonly fast] 1 1 1 [@read @string] [] [] []] (nil)]"},
		{"COMMAND GETKEYS MSET a 1 b 2", "[a b]"},
		{"TIME", "*"},
		{"SELECT 0", "OK"},
		{"DBSIZE", "1"},
		{"RESET", "RESET"},
		{"CLIENT GETNAME", "(nil)"},
	})
	c.send(encode("INFO"))
	info := c.read().Str
	for _, want := range []string{"# Server\r\nredis_version:7.0.0\r\n", "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n", "# Strata\r\nl1_keys:1\r\n", "connected_clients:1\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	if strings.Contains(info, "# Commandstats") {
		t.Error("INFO without arguments includes commandstats")
	}
	c.do("GET", "a")
	c.do("GET")
	c.do("INCR", "nokey:x")
	c.do("SET", "s", "x")
	c.do("INCR", "s")
	c.send(encode("INFO", "commandstats"))
	info = c.read().Str
	for _, want := range []string{"cmdstat_get:calls=1,", "rejected_calls=1,failed_calls=0", "cmdstat_incr:calls=2,", "failed_calls=1\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO commandstats lacks %q:\n%s", want, info)
		}
	}
	if got := c.do("QUIT"); got != "OK" {
		t.Fatal(got)
	}
	c.expectClosed()
}

func TestClientKill(t *testing.T) {
	ts := startServer(t, Options{})
	a, b := ts.dial(t), ts.dial(t)
	id := b.do("CLIENT", "ID")
	if got := a.do("CLIENT", "KILL", "ID", id); got != "1" {
		t.Fatalf("KILL = %q", got)
	}
	b.expectClosed()
}

func TestLimits(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	runScript(t, c, []step{
		{"SET " + strings.Repeat("k", 2000) + " v", "ERR:ERR key exceeds the maximum key size (cache.max_key_size)"},
		{"SETRANGE k 2000000 x", "ERR:ERR string exceeds maximum allowed size (cache.max_value_size)"},
		{"SETRANGE k 9223372036854775000 x", "ERR:ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
	})
	if got := c.do("SET", "k", strings.Repeat("v", 2<<20)); got != "ERR:ERR string exceeds maximum allowed size (cache.max_value_size)" {
		t.Fatal(got)
	}
}

func TestMaxClients(t *testing.T) {
	ts := startServer(t, Options{MaxClients: 1})
	a := ts.dial(t)
	if got := a.do("PING"); got != "PONG" {
		t.Fatal(got)
	}
	b := ts.dial(t)
	if got := b.read().String(); got != "ERR:ERR max number of clients reached" {
		t.Fatal(got)
	}
	b.expectClosed()
}

func TestOutputLimit(t *testing.T) {
	ts := startServer(t, Options{OutputLimit: 100 << 10})
	c := ts.dial(t)
	c.do("SET", "k", strings.Repeat("v", 60<<10))
	c.send(encode("MGET", "k", "k"))
	c.expectClosed()
}

// TestPanicIsRecovered: a panicking command answers an error and closes
// its connection; the server goes on.
func TestPanicIsRecovered(t *testing.T) {
	ts := startServer(t, Options{})
	ts.table.byName["boom"] = &command{name: "boom", arity: 1, fn: func(*conn, [][]byte) { panic("boom") }, idx: 0}
	c := ts.dial(t)
	if got := c.do("BOOM"); got != "ERR:ERR internal error" {
		t.Fatal(got)
	}
	c.expectClosed()
	if got := ts.dial(t).do("PING"); got != "PONG" {
		t.Fatal(got)
	}
	if ts.panics.Load() != 1 {
		t.Fatal("panic not counted")
	}
}

func TestAllowSeam(t *testing.T) {
	ts := startServer(t, Options{Allow: func(_ ConnInfo, name string, _ [][]byte) string {
		if name == "flushall" {
			return "NOPERM this user has no permissions to run the 'flushall' command"
		}
		return ""
	}})
	c := ts.dial(t)
	runScript(t, c, []step{
		{"FLUSHALL", "ERR:NOPERM this user has no permissions to run the 'flushall' command"},
		{"PING", "PONG"},
	})
}

// TestShutdownFinishesInFlight: commands already received are answered
// before the connection closes.
func TestShutdownFinishesInFlight(t *testing.T) {
	tsDone := make(chan struct{})
	ts := startServer(t, Options{})
	c := ts.dial(t)
	if got := c.do("PING"); got != "PONG" {
		t.Fatal(got)
	}
	var b strings.Builder
	for i := range 1000 {
		b.WriteString(encode("SET", "k"+itoa(i), "v"))
	}
	// The server may read the batch in pieces; everything it read before
	// Shutdown is answered, and whatever it answers is complete.
	c.send(b.String())
	// Shut down once the server has executed the whole batch (seen from a
	// second connection), so the test does not depend on how fast the
	// machine reads: the replies are then written or being written.
	probe := ts.dial(t)
	deadline := time.Now().Add(30 * time.Second)
	for probe.do("DBSIZE") != "1000" {
		if time.Now().After(deadline) {
			t.Fatal("the server did not execute the batch within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	go func() {
		defer close(tsDone)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}()
	n := 0
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		r, err := wire.ReadReply(c.br, 0)
		if err != nil {
			break
		}
		if r.String() != "OK" {
			t.Fatalf("reply %d = %v", n, r)
		}
		n++
	}
	<-tsDone
	if n != 1000 {
		t.Fatalf("got %d replies, want 1000", n)
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// TestShutdownForcesAfterDeadline: a connection stuck writing to a client
// that does not read is closed when the context ends.
func TestShutdownForcesAfterDeadline(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	c.do("SET", "big", strings.Repeat("x", 512<<10))
	var b strings.Builder
	for range 200 {
		b.WriteString(encode("GET", "big"))
	}
	go func() { _, _ = c.nc.Write([]byte(b.String())) }()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 100 * time.Millisecond})
	c := ts.dial(t)
	c.do("PING")
	c.expectClosed()
}

// TestGoRedis checks the server against go-redis v9, which sends HELLO 3
// and CLIENT SETINFO on connect.
func TestGoRedis(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: ts.addr, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := rdb.Get(ctx, "missing").Result(); err != redis.Nil {
		t.Fatalf("missing: %v", err)
	}
	if d, err := rdb.TTL(ctx, "k").Result(); err != nil || d != time.Minute {
		t.Fatalf("TTL = %v, %v", d, err)
	}
	if n, err := rdb.IncrByFloat(ctx, "f", 2.5).Result(); err != nil || n != 2.5 {
		t.Fatalf("IncrByFloat = %v, %v", n, err)
	}
	cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "n")
		p.Incr(ctx, "n")
		return nil
	})
	if err != nil || cmds[1].(*redis.IntCmd).Val() != 2 {
		t.Fatalf("TxPipelined: %v", err)
	}
	err = rdb.Watch(ctx, func(tx *redis.Tx) error {
		n, err := tx.Get(ctx, "n").Int()
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "n", n*10, 0)
			return nil
		})
		return err
	}, "n")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	keys, _, err := rdb.Scan(ctx, 0, "*", 100).Result()
	if err != nil || len(keys) != 3 {
		t.Fatalf("Scan = %v, %v", keys, err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				k := "c" + itoa(i) + ":" + itoa(j)
				if err := rdb.Set(ctx, k, j, 0).Err(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := rdb.DBSize(ctx).Result(); n != 803 {
		t.Fatalf("DBSIZE = %d", n)
	}
	if info, err := rdb.Info(ctx, "keyspace").Result(); err != nil || !strings.Contains(info, "db0:keys=803,expires=1") {
		t.Fatalf("INFO keyspace = %q, %v", info, err)
	}
}
