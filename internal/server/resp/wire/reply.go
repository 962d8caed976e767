package wire

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
)

// maxReplyDepth bounds the nesting of aggregate replies ReadReply accepts.
const maxReplyDepth = 64

// Reply is one decoded RESP reply, as a client sees it.
type Reply struct {
	// Type is the RESP type byte: '+', '-', ':', '$', '*', '_', ',', '#',
	// '%', '~', '>', '=' or '('.
	Type byte
	// Str holds simple strings, errors, bulk and verbatim strings (without
	// the "txt:" prefix), doubles and big numbers as text.
	Str string
	// Int holds integers and booleans (1 or 0).
	Int int64
	// Elems holds the elements of arrays, sets and pushes, and the keys and
	// values of maps, alternating.
	Elems []Reply
	// Null is set for RESP3 nulls and RESP2 null bulks and arrays.
	Null bool
}

// IsError reports whether r is an error reply.
func (r Reply) IsError() bool { return r.Type == '-' }

// String renders r compactly, for tests and diagnostics.
func (r Reply) String() string {
	switch {
	case r.Null:
		return "(nil)"
	case r.Type == ':' || r.Type == '#':
		return strconv.FormatInt(r.Int, 10)
	case r.Type == '-':
		return "ERR:" + r.Str
	case len(r.Elems) > 0 || r.Type == '*' || r.Type == '%' || r.Type == '~' || r.Type == '>':
		s := "["
		for i, e := range r.Elems {
			if i > 0 {
				s += " "
			}
			s += e.String()
		}
		return s + "]"
	}
	return r.Str
}

// ReadReply reads one reply from br. It bounds nesting and lengths, so a
// hostile server cannot make it recurse or allocate without bound; limit
// caps a bulk string (0 means DefaultMaxBulkLen).
func ReadReply(br *bufio.Reader, limit int) (Reply, error) {
	if limit <= 0 {
		limit = DefaultMaxBulkLen
	}
	return readReply(br, limit, 0)
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errors.New("wire: reply line too long")
		}
		return "", err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", errors.New("wire: reply line without CRLF")
	}
	return string(line[:len(line)-2]), nil
}

func readReply(br *bufio.Reader, limit, depth int) (Reply, error) {
	if depth > maxReplyDepth {
		return Reply{}, errors.New("wire: reply nested too deeply")
	}
	line, err := readLine(br)
	if err != nil {
		return Reply{}, err
	}
	if line == "" {
		return Reply{}, errors.New("wire: empty reply line")
	}
	r := Reply{Type: line[0]}
	body := line[1:]
	switch r.Type {
	case '+', '-', ',', '(':
		r.Str = body
	case ':':
		r.Int, err = strconv.ParseInt(body, 10, 64)
	case '_':
		r.Null = true
	case '#':
		if body != "t" && body != "f" {
			return r, fmt.Errorf("wire: bad boolean %q", body)
		}
		if body == "t" {
			r.Int = 1
		}
	case '$', '=', '!':
		n, perr := strconv.Atoi(body)
		if perr != nil || n < -1 || n > limit {
			return r, fmt.Errorf("wire: bad bulk length %q", body)
		}
		if n == -1 {
			r.Null = true
			return r, nil
		}
		buf := make([]byte, n+2)
		if _, err := ioReadFull(br, buf); err != nil {
			return r, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return r, errors.New("wire: bulk without CRLF")
		}
		r.Str = string(buf[:n])
		if r.Type == '=' && len(r.Str) >= 4 {
			r.Str = r.Str[4:]
		}
		if r.Type == '!' {
			r.Type = '-'
		}
	case '*', '%', '~', '>', '|':
		n, perr := strconv.Atoi(body)
		if perr != nil || n < -1 || n > DefaultMaxMultiBulkLen {
			return r, fmt.Errorf("wire: bad aggregate length %q", body)
		}
		if n == -1 {
			r.Null = true
			return r, nil
		}
		if r.Type == '%' || r.Type == '|' {
			n *= 2
		}
		r.Elems = make([]Reply, 0, min(n, 1024))
		for range n {
			e, err := readReply(br, limit, depth+1)
			if err != nil {
				return r, err
			}
			r.Elems = append(r.Elems, e)
		}
		if r.Type == '|' { // an attribute precedes the real reply
			return readReply(br, limit, depth)
		}
	default:
		return r, fmt.Errorf("wire: unknown reply type %q", r.Type)
	}
	return r, err
}

func ioReadFull(br *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := br.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
