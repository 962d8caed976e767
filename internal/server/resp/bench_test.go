package resp

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/server/resp/wire"
	"github.com/strata-cache/strata/internal/tier/local"
)

// TestServeForBenchmark serves on $STRATA_RESP_SERVE_ADDR for
// $STRATA_RESP_SERVE_SECONDS (default 60) so that redis-benchmark can be run
// against the server side by side with redis-server:
//
//	STRATA_RESP_SERVE_ADDR=127.0.0.1:7379 go test -run TestServeForBenchmark ./internal/server/resp &
//	redis-benchmark -p 7379 -c 50 -n 200000 -r 100000 -t get,set -P 16
//
// It is skipped unless the variable is set.
func TestServeForBenchmark(t *testing.T) {
	addr := os.Getenv("STRATA_RESP_SERVE_ADDR")
	if addr == "" {
		t.Skip("set STRATA_RESP_SERVE_ADDR to serve for redis-benchmark")
	}
	secs, _ := strconv.Atoi(os.Getenv("STRATA_RESP_SERVE_SECONDS"))
	if secs <= 0 {
		secs = 60
	}
	tier := local.New(local.Config{MaxBytes: 1 << 30})
	defer tier.Close()
	s := New(Options{Cache: cache.New(cache.Options{L1: tier})})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	time.Sleep(time.Duration(secs) * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
	<-done
}

// fakeConn is a net.Conn whose reads replay a script and whose writes are
// discarded, for measuring the dispatch path without the network.
type fakeConn struct {
	net.Conn
	in []byte
	r  int
}

func (f *fakeConn) Read(p []byte) (int, error) {
	if f.r >= len(f.in) {
		return 0, io.EOF
	}
	n := copy(p, f.in[f.r:])
	f.r += n
	return n, nil
}
func (f *fakeConn) Write(p []byte) (int, error) { return len(p), nil }
func (f *fakeConn) RemoteAddr() net.Addr        { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f *fakeConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }

// benchDispatch runs one command through exec on a connection whose reader
// and writer are in memory; a GET hit costs 0 allocs/op.
func benchDispatch(b *testing.B, setup [][]string, cmd []string) {
	tier := local.New(local.Config{MaxBytes: 64 << 20})
	defer tier.Close()
	s := New(Options{Cache: cache.New(cache.Options{L1: tier})})
	c := newConn(s, &fakeConn{})
	for _, args := range setup {
		c.exec(toBytes(args))
	}
	args := toBytes(cmd)
	c.unlock()
	c.wr.Reset(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		c.exec(args)
		if c.wr.Len() > 4096 {
			c.unlock()
			_ = c.flush()
		}
	}
	c.unlock()
}

func toBytes(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// BenchmarkDispatchGetHit: 0 allocs/op.
func BenchmarkDispatchGetHit(b *testing.B) {
	benchDispatch(b, [][]string{{"SET", "key:1", "value"}}, []string{"GET", "key:1"})
}

// BenchmarkDispatchGetMiss: 0 allocs/op.
func BenchmarkDispatchGetMiss(b *testing.B) {
	benchDispatch(b, nil, []string{"GET", "key:1"})
}

// BenchmarkDispatchSet: 1 alloc/op (the key and value copy the cache keeps)
// plus otter's node.
func BenchmarkDispatchSet(b *testing.B) {
	benchDispatch(b, nil, []string{"SET", "key:1", "value"})
}

// benchLoopback drives the server over loopback TCP with batches of
// pipelined commands, like redis-benchmark -P.
func benchLoopback(b *testing.B, cmd []string, pipeline int) {
	ts := startServer(b, Options{})
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	var batch []byte
	for range pipeline {
		batch = append(batch, encode(cmd...)...)
	}
	if _, err := nc.Write([]byte(encode("SET", cmd[len(cmd)-1], "value"))); err != nil {
		b.Fatal(err)
	}
	if _, err := wire.ReadReply(br, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += pipeline {
		if _, err := nc.Write(batch); err != nil {
			b.Fatal(err)
		}
		for range pipeline {
			if _, err := wire.ReadReply(br, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkLoopbackGetP1(b *testing.B)  { benchLoopback(b, []string{"GET", "key:1"}, 1) }
func BenchmarkLoopbackGetP16(b *testing.B) { benchLoopback(b, []string{"GET", "key:1"}, 16) }
func BenchmarkLoopbackSetP16(b *testing.B) {
	benchLoopback(b, []string{"SET", "key:1", "value"}, 16)
}
