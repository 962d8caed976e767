package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// respTarget dials RESP connections.
//
// The client is deliberately minimal: a bufio.Writer that commands are
// encoded into by appending, and a reply reader that understands only the
// replies GET and SET produce (simple string, error, integer, bulk string,
// null). A general client library (go-redis, rueidis) allocates per command,
// routes replies through channels and parses every RESP3 type; at hundreds of
// thousands of operations per second on a small machine that overhead would
// make the generator, not the server, the bottleneck, and two servers would
// look alike because both would be waiting on the client.
type respTarget struct {
	addr    string
	prefix  string
	value   []byte
	timeout time.Duration
}

func (t *respTarget) dial(ctx context.Context) (client, error) {
	d := net.Dialer{Timeout: t.timeout}
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &respClient{
		t:    t,
		conn: c,
		w:    bufio.NewWriterSize(c, 64<<10),
		r:    bufio.NewReaderSize(c, 64<<10),
	}, nil
}

func (t *respTarget) close() {}

// respClient is one pipelined RESP connection, used by one goroutine.
type respClient struct {
	t    *respTarget
	conn net.Conn
	w    *bufio.Writer
	r    *bufio.Reader
	buf  []byte // scratch for encoding one command

	// watched is the context whose cancellation expires the connection's
	// deadline, interrupting blocked I/O; stopWatch undoes that, and fired
	// is closed once the expiry has been applied.
	watched   context.Context
	stopWatch func() bool
	fired     chan struct{}
}

// unwatch stops watching the current context. If the watch already fired,
// it waits until the deadline has been expired, so that a later SetDeadline
// cannot be overtaken by it (the connection would time out mid-batch).
func (c *respClient) unwatch() {
	if c.stopWatch != nil {
		if !c.stopWatch() {
			<-c.fired
		}
		c.stopWatch, c.watched, c.fired = nil, nil, nil
	}
}

// do writes every op's command, flushes once and reads the replies in order.
// Cancelling ctx interrupts blocked I/O by expiring the connection's deadline.
func (c *respClient) do(ctx context.Context, ops []op, res []result) error {
	if ctx != c.watched {
		// One watch per run context rather than per batch: registering
		// a context.AfterFunc allocates, and this is the hot path.
		c.unwatch()
		c.watched = ctx
		fired := make(chan struct{})
		c.fired = fired
		c.stopWatch = context.AfterFunc(ctx, func() {
			_ = c.conn.SetDeadline(time.Unix(1, 0))
			close(fired)
		})
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.t.timeout > 0 {
		_ = c.conn.SetDeadline(time.Now().Add(c.t.timeout))
	}
	for _, o := range ops {
		c.buf = c.encode(c.buf[:0], o)
		if _, err := c.w.Write(c.buf); err != nil {
			return err
		}
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	for i := range ops {
		r, err := c.readReply(ops[i].write)
		if err != nil {
			return err
		}
		r.at = time.Now()
		res[i] = r
	}
	return nil
}

// encode appends the RESP array for o: GET key, or SET key value.
func (c *respClient) encode(dst []byte, o op) []byte {
	keyLen := len(c.t.prefix) + digits(o.key)
	if o.write {
		dst = append(dst, "*3\r\n$3\r\nSET\r\n$"...)
	} else {
		dst = append(dst, "*2\r\n$3\r\nGET\r\n$"...)
	}
	dst = strconv.AppendInt(dst, int64(keyLen), 10)
	dst = append(dst, '\r', '\n')
	dst = appendKey(dst, c.t.prefix, o.key)
	dst = append(dst, '\r', '\n')
	if o.write {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(c.t.value)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, c.t.value...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// digits returns the number of decimal digits of n >= 0.
func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// readReply reads one reply. A non-nil error means the connection is no
// longer usable (I/O failure or a reply this reader cannot frame); an error
// reply from the server is a result, not an error.
func (c *respClient) readReply(write bool) (result, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return result{}, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return result{}, errProtocol(fmt.Sprintf("malformed reply line %q", trunc(line)))
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', ':':
		if !write {
			return result{kind: resHit}, nil // not a GET reply, but a value
		}
		return result{kind: resOK}, nil
	case '-':
		return result{kind: resError, errKind: "server " + errorCode(body)}, nil
	case '_': // RESP3 null
		return result{kind: resMiss}, nil
	case '$':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < -1 {
			return result{}, errProtocol(fmt.Sprintf("bad bulk length %q", trunc(body)))
		}
		if n == -1 {
			return result{kind: resMiss}, nil
		}
		if _, err := c.r.Discard(n + 2); err != nil {
			return result{}, err
		}
		if write {
			return result{kind: resOK}, nil
		}
		return result{kind: resHit}, nil
	case '*':
		if string(body) == "-1" {
			return result{kind: resMiss}, nil
		}
		return result{}, errProtocol("unexpected array reply")
	default:
		return result{}, errProtocol(fmt.Sprintf("unexpected reply %q", trunc(line)))
	}
}

// errorCode returns the first word of an error reply ("ERR", "WRONGTYPE",
// "LOADING"), which is what error kinds are counted by.
func errorCode(msg []byte) string {
	if i := bytes.IndexByte(msg, ' '); i > 0 {
		msg = msg[:i]
	}
	if len(msg) == 0 {
		return "ERR"
	}
	return string(msg)
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func (c *respClient) close() error {
	c.unwatch()
	return c.conn.Close()
}
