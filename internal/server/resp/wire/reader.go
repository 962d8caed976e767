// Package wire is strata's RESP codec: a server-side command Reader (RESP
// multibulk and inline commands), a reply Writer for RESP2 and RESP3, and a
// small client-side reply reader.
//
// The Reader and Writer are built for the hot path: both reuse one buffer,
// the Reader hands out arguments that point into its buffer, and neither
// allocates per command in steady state. Hostile input is answered with a
// *ProtocolError (worded as Redis words it) and never makes them allocate
// more than the bytes that actually arrived (times two, for growth).
package wire

import (
	"bytes"
	"errors"
	"io"
)

// Default limits, as in Redis (proto-max-bulk-len, and the inline and
// multibulk bounds of networking.c; Redis allows INT_MAX arguments, strata
// 1,048,576, far above what any client sends).
const (
	DefaultMaxBulkLen      = 512 << 20
	DefaultMaxMultiBulkLen = 1 << 20
	DefaultMaxInlineLen    = 64 << 10
)

// Buffer sizes of the Reader.
const (
	// readBufSize is the initial read buffer, and what it shrinks back to.
	readBufSize = 16 << 10
	// shrinkAbove is the capacity above which an idle buffer is released.
	shrinkAbove = 1 << 20
)

// Limits bounds what a Reader accepts. Zero fields take the defaults.
type Limits struct {
	// MaxBulkLen bounds one argument in bytes (default 512 MiB).
	MaxBulkLen int64
	// MaxMultibulkLen bounds the number of arguments of one command (default
	// 1,048,576).
	MaxMultibulkLen int64
	// MaxInlineLen bounds an inline command line, and the header lines of
	// multibulk commands, in bytes (default 64 KiB).
	MaxInlineLen int64
	// Unauthenticated words a request over MaxMultibulkLen or MaxBulkLen
	// as Redis does for a client that has not authenticated
	// (ErrUnauthMultibulk, ErrUnauthBulk), and also bounds each argument
	// of an inline command by MaxBulkLen. Servers set it, with small
	// limits, through SetLimits until the client authenticates.
	Unauthenticated bool
}

func (l Limits) withDefaults() Limits {
	if l.MaxBulkLen <= 0 {
		l.MaxBulkLen = DefaultMaxBulkLen
	}
	if l.MaxMultibulkLen <= 0 {
		l.MaxMultibulkLen = DefaultMaxMultiBulkLen
	}
	if l.MaxInlineLen <= 0 {
		l.MaxInlineLen = DefaultMaxInlineLen
	}
	return l
}

// ProtocolError is malformed input. Its message is the Redis error text
// without the "-" prefix, e.g. "ERR Protocol error: invalid bulk length";
// a server answers it and closes the connection, since the stream can no
// longer be framed.
type ProtocolError struct{ Msg string }

// Error returns the RESP error text.
func (e *ProtocolError) Error() string { return e.Msg }

// IsProtocolError reports whether err is or wraps a *ProtocolError.
func IsProtocolError(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe)
}

// The protocol errors, worded as Redis 7 words them. They are values so that
// reporting one does not allocate.
var (
	errInvalidMultiBulk = &ProtocolError{"ERR Protocol error: invalid multibulk length"}
	errInvalidBulk      = &ProtocolError{"ERR Protocol error: invalid bulk length"}
	errBigInline        = &ProtocolError{"ERR Protocol error: too big inline request"}
	errBigMBulkCount    = &ProtocolError{"ERR Protocol error: too big mbulk count string"}
	errBigBulkCount     = &ProtocolError{"ERR Protocol error: too big bulk count string"}
	errUnbalanced       = &ProtocolError{"ERR Protocol error: unbalanced quotes in request"}
	// Redis skips the two bytes after a bulk without looking at them; strata
	// checks them, since anything else means the client lost framing.
	errBulkCRLF = &ProtocolError{"ERR Protocol error: expected CRLF after bulk"}
)

// The protocol errors for a client that has not authenticated and sent
// more than Limits allow (Limits.Unauthenticated), in Redis's words.
var (
	ErrUnauthMultibulk = &ProtocolError{"ERR Protocol error: unauthenticated multibulk length"}
	ErrUnauthBulk      = &ProtocolError{"ERR Protocol error: unauthenticated bulk length"}
)

func errExpectedDollar(got byte) error {
	return &ProtocolError{"ERR Protocol error: expected '$', got '" + string(rune(got)) + "'"}
}

// Reader parses commands from a byte stream. Parsing is incremental: a
// command that arrives in pieces is resumed where it stopped, not re-scanned,
// so huge commands cost linear time. A Reader is not safe for concurrent use.
type Reader struct {
	rd  io.Reader
	lim Limits

	buf  []byte
	r, w int // unread bytes are buf[r:w]

	// Parse state of the command in progress, which starts at buf[r].
	pos   int   // next byte to parse, relative to r
	nargs int   // declared argument count; -1 before the '*' line is read
	offs  []int // start/end pairs of parsed arguments, relative to r
	bulk  int   // length of the bulk being read; -1 when reading its header

	args [][]byte // returned slices, reused
}

// NewReader returns a Reader over rd with the given limits.
func NewReader(rd io.Reader, lim Limits) *Reader {
	return &Reader{
		rd:    rd,
		lim:   lim.withDefaults(),
		buf:   make([]byte, readBufSize),
		nargs: -1,
		bulk:  -1,
		offs:  make([]int, 0, 32),
		// args is never nil: the parsers return r.args[:0] for an empty
		// command, which must differ from nil ("need more input").
		args: make([][]byte, 0, 16),
	}
}

// Reset makes the Reader read from rd, dropping buffered input.
func (r *Reader) Reset(rd io.Reader) {
	r.rd = rd
	r.r, r.w = 0, 0
	r.resetState()
}

func (r *Reader) resetState() {
	r.pos, r.nargs, r.bulk = 0, -1, -1
	r.offs = r.offs[:0]
}

// SetLimits replaces the Reader's limits (zero fields take the defaults)
// from the next command on; a command partly parsed keeps the checks
// already made on it. Servers use it to apply a small pre-authentication
// budget and lift it once the client has authenticated.
func (r *Reader) SetLimits(lim Limits) { r.lim = lim.withDefaults() }

// Buffered returns the number of bytes read from the stream and not yet
// consumed by a returned command.
func (r *Reader) Buffered() int { return r.w - r.r }

// ReadCommand returns the next command, reading as needed. Empty commands
// (an empty inline line, "*0") are skipped, as Redis skips them. The returned
// slices point into the Reader's buffer and are valid until the next call.
func (r *Reader) ReadCommand() ([][]byte, error) {
	for {
		args, err := r.Next()
		if err != nil || args != nil {
			return args, err
		}
		if err := r.Fill(); err != nil {
			return nil, err
		}
	}
}

// Next returns the next complete command from the bytes already buffered,
// or nil, nil when more input is needed (call Fill). The slices it returns
// are valid until the next call of Next, Fill or ReadCommand.
func (r *Reader) Next() ([][]byte, error) {
	for r.r < r.w {
		var args [][]byte
		var err error
		if r.nargs < 0 && r.pos == 0 && r.buf[r.r] != '*' {
			args, err = r.parseInline()
		} else {
			args, err = r.parseMultiBulk()
		}
		if err != nil || args == nil {
			return nil, err
		}
		if len(args) > 0 {
			return args, nil
		}
		// An empty command was consumed; look for the next one.
	}
	return nil, nil
}

// Fill reads more input into the buffer, compacting or growing it so that
// the command in progress fits. It returns the stream's error, if any, and
// io.EOF when the stream ends.
func (r *Reader) Fill() error {
	if r.r == r.w && r.pos == 0 {
		r.r, r.w = 0, 0
		if cap(r.buf) > shrinkAbove {
			r.buf = make([]byte, readBufSize) // release a buffer a big command grew
		}
	}
	if r.w == len(r.buf) {
		if r.r > 0 {
			// The command in progress is addressed relative to r, so moving
			// it to the front keeps the parse state valid.
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
		}
		if r.w == len(r.buf) {
			// Grow by doubling only when the buffer is full of real input:
			// memory follows what arrived, never a declared length.
			nb := make([]byte, 2*len(r.buf))
			copy(nb, r.buf[:r.w])
			r.buf = nb
		}
	}
	n, err := r.rd.Read(r.buf[r.w:])
	r.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// line returns the index, relative to r, of the '\r' ending the line that
// starts at r+pos, or -1 when it has not arrived. A '\r' must be followed by
// '\n'; bad reports a lone '\r'.
func (r *Reader) line() (end int, bad bool) {
	data := r.buf[r.r+r.pos : r.w]
	i := bytes.IndexByte(data, '\r')
	if i < 0 || i+1 >= len(data) {
		return -1, false
	}
	if data[i+1] != '\n' {
		return -1, true
	}
	return r.pos + i, false
}

// parseMultiBulk continues the multibulk command at buf[r]. It returns nil,
// nil when it needs more input, and an empty non-nil slice for an empty
// command it consumed.
func (r *Reader) parseMultiBulk() ([][]byte, error) {
	base := r.r
	if r.nargs < 0 {
		end, bad := r.line()
		if bad {
			return nil, errInvalidMultiBulk
		}
		if end < 0 {
			if int64(r.w-r.r) > r.lim.MaxInlineLen {
				return nil, errBigMBulkCount
			}
			return nil, nil
		}
		n, ok := parseLen(r.buf[base+1 : base+end])
		if !ok {
			return nil, errInvalidMultiBulk
		}
		if n > r.lim.MaxMultibulkLen {
			if r.lim.Unauthenticated {
				return nil, ErrUnauthMultibulk
			}
			return nil, errInvalidMultiBulk
		}
		r.pos = end + 2
		if n <= 0 {
			r.consume()
			return r.args[:0], nil
		}
		r.nargs = int(n)
	}
	for len(r.offs)/2 < r.nargs {
		if r.bulk < 0 {
			if base+r.pos >= r.w {
				return nil, nil
			}
			if c := r.buf[base+r.pos]; c != '$' {
				return nil, errExpectedDollar(c)
			}
			end, bad := r.line()
			if bad {
				return nil, errInvalidBulk
			}
			if end < 0 {
				if int64(r.w-(base+r.pos)) > r.lim.MaxInlineLen {
					return nil, errBigBulkCount
				}
				return nil, nil
			}
			n, ok := parseLen(r.buf[base+r.pos+1 : base+end])
			if !ok || n < 0 {
				return nil, errInvalidBulk
			}
			if n > r.lim.MaxBulkLen {
				if r.lim.Unauthenticated {
					return nil, ErrUnauthBulk
				}
				return nil, errInvalidBulk
			}
			r.bulk = int(n)
			r.pos = end + 2
		}
		if r.w-(base+r.pos) < r.bulk+2 {
			return nil, nil
		}
		at := base + r.pos + r.bulk
		if r.buf[at] != '\r' || r.buf[at+1] != '\n' {
			return nil, errBulkCRLF
		}
		r.offs = append(r.offs, r.pos, r.pos+r.bulk)
		r.pos += r.bulk + 2
		r.bulk = -1
	}
	args := r.args[:0]
	for i := 0; i < len(r.offs); i += 2 {
		// Full slice expressions keep a caller's append from writing over
		// the next argument.
		args = append(args, r.buf[base+r.offs[i]:base+r.offs[i+1]:base+r.offs[i+1]])
	}
	r.args = args
	r.consume()
	return args, nil
}

// consume ends the command in progress.
func (r *Reader) consume() {
	r.r += r.pos
	r.resetState()
}

// parseLen parses the decimal length of a '*' or '$' header as Redis's
// string2ll does: optional '-', digits, no leading zeros or '+'.
func parseLen(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] == '0' && len(b) > 1 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseInline parses an inline command line at buf[r]. Arguments are
// unquoted in place: the unquoted form is never longer than its source.
func (r *Reader) parseInline() ([][]byte, error) {
	data := r.buf[r.r:r.w]
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		if int64(len(data)) > r.lim.MaxInlineLen {
			return nil, errBigInline
		}
		return nil, nil
	}
	if int64(nl) > r.lim.MaxInlineLen {
		return nil, errBigInline
	}
	line := data[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	args, err := splitArgs(line, r.args[:0])
	if err != nil {
		return nil, err
	}
	if int64(len(args)) > r.lim.MaxMultibulkLen {
		if r.lim.Unauthenticated {
			return nil, ErrUnauthMultibulk
		}
		return nil, errInvalidMultiBulk
	}
	if r.lim.Unauthenticated {
		for _, a := range args {
			if int64(len(a)) > r.lim.MaxBulkLen {
				return nil, ErrUnauthBulk
			}
		}
	}
	r.args = args
	r.r += nl + 1
	r.resetState()
	return args, nil
}

// isSpace is C's isspace, which Redis's sdssplitargs uses.
func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// splitArgs splits line as Redis's sdssplitargs does, writing unquoted
// arguments over line itself, and appends them to dst.
func splitArgs(line []byte, dst [][]byte) ([][]byte, error) {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return dst, nil
		}
		start, w := i, i // the argument is written to line[start:w]
		inq, insq := false, false
	token:
		for {
			if i >= len(line) {
				if inq || insq {
					return dst, errUnbalanced
				}
				break
			}
			c := line[i]
			switch {
			case inq:
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					line[w] = unhex(line[i+2])<<4 | unhex(line[i+3])
					w++
					i += 4
					continue
				case c == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					default:
						c = line[i]
					}
				case c == '"':
					// A closing quote must be followed by a space or the end.
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return dst, errUnbalanced
					}
					i++
					break token
				}
				line[w] = c
				w++
			case insq:
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					c = '\''
				case c == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return dst, errUnbalanced
					}
					i++
					break token
				}
				line[w] = c
				w++
			default:
				switch {
				case isSpace(c):
					break token
				case c == '"':
					inq = true
				case c == '\'':
					insq = true
				default:
					line[w] = c
					w++
				}
			}
			i++
		}
		dst = append(dst, line[start:w:w])
	}
}
