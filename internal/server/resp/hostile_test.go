package resp

import (
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
)

// rawReply writes raw on a new connection and returns the first reply
// line, or "closed" when the server closed the connection without one. It
// fails if nothing happens within 5 s: never a hang.
func rawReply(t *testing.T, ts *testServer, raw string) string {
	t.Helper()
	c := ts.dial(t)
	_ = c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.nc, raw); err != nil {
		return "closed"
	}
	line, err := c.br.ReadString('\n')
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("no reply and no close within 5 s")
		}
		return "closed"
	}
	return strings.TrimRight(line, "\r\n")
}

func TestHostileRESP(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 500 * time.Millisecond})
	tests := []struct{ name, raw, want string }{
		{"negative multibulk", "*-10\r\n", "closed"}, // a null array: skipped as Redis does, then idle
		{"huge multibulk", "*20000000\r\n", "-ERR Protocol error: invalid multibulk length"},
		{"huge bulk", "*1\r\n$2000000000\r\n", "-ERR Protocol error: invalid bulk length"},
		{"negative bulk", "*1\r\n$-10\r\n", "-ERR Protocol error: invalid bulk length"},
		{"missing $", "*1\r\n3\r\nGET\r\n", "-ERR Protocol error: expected '$', got '3'"},
		{"NUL stream", strings.Repeat("\x00", 100<<10), "-ERR Protocol error: too big inline request"},
		{"NUL stream with line ends", strings.Repeat("\x00\x00\x00\r\n", 1000), "-ERR unknown command*"},
		{"inline line over 64 KiB", strings.Repeat("a", 70<<10) + "\r\n", "-ERR Protocol error: too big inline request"},
		{"multibulk count line over 64 KiB", "*" + strings.Repeat("1", 70<<10), "-ERR Protocol error: too big mbulk count string"},
		{"bulk length line over 64 KiB", "*1\r\n$" + strings.Repeat("1", 70<<10), "-ERR Protocol error: too big bulk count string"},
		{"bulk without its CRLF", "*1\r\n$3\r\nGETxx", "-ERR Protocol error: expected CRLF after bulk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rawReply(t, ts, tt.raw)
			if w, ok := strings.CutSuffix(tt.want, "*"); ok && strings.HasPrefix(got, w) {
				return
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHostileRESPSlowBulk announces a 512 MB bulk and then sends a byte
// every 100 ms, then stops: the server holds only what arrived, and closes
// the connection once it is idle for IdleTimeout.
func TestHostileRESPSlowBulk(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 300 * time.Millisecond})
	c := ts.dial(t)
	c.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n")
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		c.send("x")
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 16<<20 {
		t.Errorf("heap grew by %d bytes for 5 bytes of a 512 MB bulk", grew)
	}
	start := time.Now()
	c.expectClosed()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("idle client closed after %v", took)
	}
}

// TestHostileRESPBigMGET reads 100,000 keys in one MGET: an answer, within
// the output limit, and the server still serves.
func TestHostileRESPBigMGET(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.dial(t)
	const n = 100000
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(n+1) + "\r\n$4\r\nMGET\r\n")
	for i := range n {
		k := "k" + strconv.Itoa(i)
		b.WriteString("$" + strconv.Itoa(len(k)) + "\r\n" + k + "\r\n")
	}
	c.send(b.String())
	if r := c.read(); len(r.Elems) != n {
		t.Fatalf("MGET of %d keys: %d elements (type %c, %.100s)", n, len(r.Elems), r.Type, r.Str)
	}
	if got := c.do("PING"); got != "PONG" {
		t.Fatalf("PING after the big MGET: %q", got)
	}

	// With an output limit below the reply, the client is disconnected
	// instead of the server buffering the reply.
	small := startServer(t, Options{OutputLimit: 64 << 10})
	for i := range 20 {
		small.cache.Set("v"+strconv.Itoa(i), []byte(strings.Repeat("x", 10<<10)), cacheSetOpts())
	}
	d := small.dial(t)
	args := []string{"MGET"}
	for range 50 {
		for i := range 20 {
			args = append(args, "v"+strconv.Itoa(i))
		}
	}
	d.send(encode(args...))
	d.expectClosed()
}

// TestHostileRESPSlowReader stops reading replies: WriteTimeout disconnects
// it rather than let it hold its goroutine for ever.
func TestHostileRESPSlowReader(t *testing.T) {
	ts := startServer(t, Options{WriteTimeout: 300 * time.Millisecond})
	ts.cache.Set("big", []byte(strings.Repeat("x", 1<<20)), cacheSetOpts())
	c := ts.dial(t)
	if tc, ok := c.nc.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	// Ask for far more than the socket buffers hold, and never read.
	go func() {
		for range 64 {
			if _, err := io.WriteString(c.nc, encode("GET", "big")); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ts.connectedClients() == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("a client that does not read was not disconnected within 10 s")
}

func cacheSetOpts() cache.SetOptions { return cache.SetOptions{} }
