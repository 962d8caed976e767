package loadgen

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeRESP is a RESP server over a loopback listener whose replies a test
// scripts: handle gets each command and the number of commands the
// connection has sent before it, and returns the raw reply, or closeConn to
// drop the connection.
type fakeRESP struct {
	ln     net.Listener
	handle func(args []string, n int) string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// closeConn, returned by a handler, makes the server close the connection
// instead of replying.
const closeConn = "\x00close"

func newFakeRESP(t *testing.T, handle func(args []string, n int) string) *fakeRESP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeRESP{ln: ln, handle: handle, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *fakeRESP) addr() string { return s.ln.Addr().String() }

func (s *fakeRESP) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *fakeRESP) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	for n := 0; ; n++ {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		reply := s.handle(args, n)
		if reply == closeConn {
			w.Flush()
			return
		}
		w.WriteString(reply)
		if r.Buffered() == 0 { // end of a pipeline batch
			if w.Flush() != nil {
				return
			}
		}
	}
}

func (s *fakeRESP) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, errors.New("not an array")
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
			return nil, err
		}
		b := make([]byte, l+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:l])
	}
	return args, nil
}

// kvReply answers GET and SET from m like a Redis server would.
func kvReply(mu *sync.Mutex, m map[string]string, args []string) string {
	mu.Lock()
	defer mu.Unlock()
	switch strings.ToUpper(args[0]) {
	case "SET":
		m[args[1]] = args[2]
		return "+OK\r\n"
	case "GET":
		v, ok := m[args[1]]
		if !ok {
			return "$-1\r\n"
		}
		return "$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n"
	default:
		return "-ERR unknown command\r\n"
	}
}
