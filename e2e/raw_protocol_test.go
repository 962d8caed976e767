package e2e

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawEnd is an inline command appended to inputs after which the server
// keeps the connection open; its reply, rawEndReply, marks the end of the
// output.
const (
	rawEnd      = "ECHO __raw_end__\r\n"
	rawEndReply = "$11\r\n__raw_end__\r\n"
)

// rawCases are byte-level RESP inputs: inline commands, the edge cases of
// the multibulk parser, and protocol errors after which Redis replies with
// an error and closes the connection.
var rawCases = []struct {
	name, in string
	closes   bool // the server answers with a protocol error and closes
}{
	{"inline ping", "PING\r\n", false},
	{"inline set get", "SET a b\r\nGET a\r\n", false},
	{"inline quotes", "SET \"a b\" \"c\\x41\\n\"\r\nGET \"a b\"\r\n", false},
	{"inline single quotes", "SET 'x y' 'it\\'s'\r\nGET 'x y'\r\n", false},
	{"inline lf only", "PING\nPING\n", false},
	{"empty lines", "\r\n\r\nPING\r\n", false},
	{"multibulk", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", false},
	{"binary bulk", "*3\r\n$3\r\nSET\r\n$3\r\nb\r\n\r\n$4\r\n\x00\r\n\xff\r\n*2\r\n$3\r\nGET\r\n$3\r\nb\r\n\r\n", false},
	{"empty bulk", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", false},
	{"zero-length multibulk", "*0\r\nPING\r\n", false},
	{"negative multibulk", "*-1\r\nPING\r\n", false},
	{"pipelined mixed", "PING\r\n*1\r\n$4\r\nPING\r\nPING\r\n", false},
	{"lower-case", "*1\r\n$4\r\nping\r\n", false},
	{"invalid bulk length", "*1\r\n$abc\r\n", true},
	{"negative bulk length", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-1\r\n", true},
	{"invalid multibulk length", "*abc\r\n", true},
	{"multibulk too long", "*2147483648\r\n", true},
	{"bulk too long", "*1\r\n$536870913\r\n", true},
	{"expected dollar", "*1\r\n+PING\r\n", true},
	{"unbalanced quotes", "SET \"a b\r\n", true},
}

// TestDifferentialRawProtocol sends raw RESP bytes to Redis and to strata
// and compares the raw bytes answered.
func TestDifferentialRawProtocol(t *testing.T) {
	t.Parallel()
	refAddr := startRedis(t)
	targetName, targetAddr := respTarget(t)
	for _, c := range rawCases {
		in := c.in
		if !c.closes {
			in += rawEnd
		}
		var ref, got string
		var refErr, gotErr error
		var wg sync.WaitGroup
		wg.Go(func() { ref, refErr = rawExchange(refAddr, in, c.closes) })
		wg.Go(func() { got, gotErr = rawExchange(targetAddr, in, c.closes) })
		wg.Wait()
		if refErr != nil {
			t.Fatalf("%s: redis: %v (got %q)", c.name, refErr, ref)
		}
		if gotErr != nil {
			t.Errorf("%s: %s: %v\n    sent:   %q\n    redis:  %q\n    %s: %q", c.name, targetName, gotErr, in, ref, targetName, got)
			continue
		}
		if ref != got {
			t.Errorf("%s: replies differ\n    sent:   %q\n    redis:  %q\n    %s: %q", c.name, in, ref, targetName, got)
		}
	}
}

// rawExchange writes in on a fresh connection and reads until the server
// closes it (wantClose) or until the reply to rawEnd.
func rawExchange(addr, in string, wantClose bool) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, in); err != nil {
		return "", err
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if !wantClose && strings.HasSuffix(out.String(), rawEndReply) {
			return strings.TrimSuffix(out.String(), rawEndReply), nil
		}
		if err == io.EOF && wantClose {
			return out.String(), nil
		}
		if err != nil {
			return out.String(), err
		}
	}
}
