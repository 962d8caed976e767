package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// hostileServer serves a fixture's API through NewServer on a loopback
// port, with short timeouts so that the slow cases end quickly.
func hostileServer(t *testing.T) (addr string) {
	t.Helper()
	f := newFixture(t, Options{MaxBody: 1 << 20}, cacheLimits{maxKeySize: 1024})
	srv := NewServer(f.api, ServerOptions{
		ReadHeaderTimeout: 300 * time.Millisecond,
		ReadTimeout:       2 * time.Second,
		WriteTimeout:      2 * time.Second,
		IdleTimeout:       2 * time.Second,
		MaxHeaderBytes:    32 << 10,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// rawHTTP writes raw to a new connection and returns the status line of
// the response, or "closed" if the server closed the connection without
// one. It fails the test if nothing happens within 5 s: never a hang.
func rawHTTP(t *testing.T, addr, raw string) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	// Write while reading: a server that refuses a large request answers
	// (413, 431) before it has read all of it, and a client that only
	// reads after its write failed can lose that answer to the reset that
	// follows the server's close.
	written := make(chan struct{})
	go func() {
		defer close(written)
		_, _ = io.WriteString(nc, raw)
	}()
	defer func() { nc.Close(); <-written }() // unblock the writer, then wait for it
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("no answer and no close within 5 s")
		}
		return "closed"
	}
	return strings.TrimSpace(line)
}

func TestHostileHTTP(t *testing.T) {
	addr := hostileServer(t)
	req := func(method, path string, headers string, body string) string {
		return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%sContent-Length: %d\r\n\r\n%s", method, path, headers, len(body), body)
	}
	tests := []struct{ name, raw, want string }{
		{"16 KiB of headers is fine", req("GET", "/v1/kv/a", "X-Big: "+strings.Repeat("a", 16<<10)+"\r\n", ""), "HTTP/1.1 404 Not Found"},
		{"headers over MaxHeaderBytes", req("GET", "/v1/kv/a", "X-Big: "+strings.Repeat("a", 64<<10)+"\r\n", ""), "HTTP/1.1 431 Request Header Fields Too Large"},
		{"body over the limit", req("PUT", "/v1/kv/a", "", strings.Repeat("b", 1<<20+1)), "HTTP/1.1 413 Request Entity Too Large"},
		{"key with invalid UTF-8", req("PUT", "/v1/kv/%ff%fe", "", "v"), "HTTP/1.1 201 Created"},
		{"key with NUL", req("PUT", "/v1/kv/a%00b", "", "v"), "HTTP/1.1 201 Created"},
		{"key with CRLF", req("PUT", "/v1/kv/a%0d%0aSet-Cookie:%20x", "", "v"), "HTTP/1.1 201 Created"},
		{"dot-dot key", req("PUT", "/v1/kv/../../etc/passwd", "", "v"), "HTTP/1.1 201 Created"},
		{"raw CRLF in the path", "GET /v1/kv/a\r\nb HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"malformed escape", req("GET", "/v1/kv/%zz", "", ""), "HTTP/1.1 400 Bad Request"},
		{"key over the key limit", req("GET", "/v1/kv/"+strings.Repeat("k", 2000), "", ""), "HTTP/1.1 414 Request URI Too Long"},
		// No line end: closed at ReadHeaderTimeout; with one, 400.
		{"NUL bytes instead of a request", strings.Repeat("\x00", 4096), "closed"},
		{"NUL bytes, then a line end", strings.Repeat("\x00", 4096) + "\r\n\r\n", "HTTP/1.1 400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rawHTTP(t, addr, tt.raw); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	// The odd keys read back as exactly the keys written, and never
	// anything else: no path cleaning, no header injection.
	for _, p := range []string{"/v1/kv/%ff%fe", "/v1/kv/a%00b", "/v1/kv/../../etc/passwd"} {
		if got := rawHTTP(t, addr, req("GET", p, "", "")); got != "HTTP/1.1 200 OK" {
			t.Errorf("GET %s: %q", p, got)
		}
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, req("GET", "/v1/kv/a%0d%0aSet-Cookie:%20x", "", ""))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("CRLF key: %d, headers %v", resp.StatusCode, resp.Header)
	}
}

// TestHostileHTTPSlowloris trickles headers one byte at a time: the server
// must close the connection by ReadHeaderTimeout (300 ms here), not wait
// for the headers to end.
func TestHostileHTTPSlowloris(t *testing.T) {
	addr := hostileServer(t)
	for _, body := range []bool{false, true} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		raw := "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 100)
		if body {
			// Headers complete, then the body trickles: ReadTimeout (2 s).
			raw = "PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("s", 100)
		}
		closed := false
		for i := 0; i < len(raw) && time.Since(start) < 5*time.Second; i++ {
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := nc.Write([]byte{raw[i]}); err != nil {
				closed = true
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !closed {
			// The write may succeed after the close; the read sees it.
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.Copy(io.Discard, nc)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("body=%v: not closed", body)
			}
		}
		took := time.Since(start)
		nc.Close()
		limit := 2 * time.Second
		if body {
			limit = 4 * time.Second
		}
		if took > limit {
			t.Errorf("body=%v: closed after %v, want within %v", body, took, limit)
		}
	}
}
