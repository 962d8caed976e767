package resp

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/server/resp/wire"
	"github.com/strata-cache/strata/internal/tier/local"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is a Server on a loopback listener.
type testServer struct {
	*Server
	addr  string
	tier  *local.Tier
	cache *cache.Cache
}

// startServer starts a Server on 127.0.0.1 and stops it when the test ends.
func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	tier := local.New(local.Config{MaxBytes: 64 << 20})
	c := cache.New(cache.Options{L1: tier, MaxKeySize: 1024, MaxValueSize: 1 << 20})
	opts.Cache = c
	s := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v", err)
		}
		tier.Close()
	})
	return &testServer{Server: s, addr: ln.Addr().String(), tier: tier, cache: c}
}

// client is a minimal RESP client for tests.
type client struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func (ts *testServer) dial(t testing.TB) *client {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// encode formats args as a RESP multibulk command.
func encode(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	if neg {
		s = "-" + s
	}
	return s
}

func (c *client) send(raw string) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write([]byte(raw)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) read() wire.Reply {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := wire.ReadReply(c.br, 0)
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	return r
}

// do sends one command and returns its reply rendered by Reply.String.
func (c *client) do(args ...string) string {
	c.t.Helper()
	c.send(encode(args...))
	return c.read().String()
}

// expectClosed checks that the server closes the connection (after any
// replies) within a deadline.
func (c *client) expectClosed() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1024)
	for {
		_, err := c.nc.Read(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatal("connection not closed by the server")
			}
			return
		}
	}
}
