package wire

import (
	"io"
	"math"
	"strconv"
)

// Writer buffer bounds.
const (
	// writeBufSize is the initial reply buffer.
	writeBufSize = 16 << 10
	// keepWriteBuf is the capacity above which Flush releases the buffer, so
	// that one huge reply does not pin its memory to an idle connection.
	keepWriteBuf = 1 << 20
)

// Writer appends RESP replies to a reused buffer and writes them with
// Flush. The protocol version (2 or 3) decides how nulls, maps, sets,
// doubles, booleans and verbatim strings are encoded. A Writer is not safe
// for concurrent use.
type Writer struct {
	w     io.Writer
	buf   []byte
	proto int
}

// NewWriter returns a RESP2 Writer over w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, writeBufSize), proto: 2}
}

// Reset makes the Writer write to w, dropping buffered replies.
func (w *Writer) Reset(dst io.Writer) {
	w.w = dst
	w.buf = w.buf[:0]
}

// SetProto sets the protocol version, 2 or 3.
func (w *Writer) SetProto(v int) { w.proto = v }

// Proto returns the protocol version.
func (w *Writer) Proto() int { return w.proto }

// Len returns the number of buffered bytes.
func (w *Writer) Len() int { return len(w.buf) }

// Bytes returns the buffered bytes; tests use it.
func (w *Writer) Bytes() []byte { return w.buf }

// Truncate drops buffered bytes after the first n (used to undo a reply).
func (w *Writer) Truncate(n int) { w.buf = w.buf[:n] }

// Flush writes the buffered replies.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	if cap(w.buf) > keepWriteBuf {
		w.buf = make([]byte, 0, writeBufSize)
	} else {
		w.buf = w.buf[:0]
	}
	return err
}

func (w *Writer) appendPrefixed(c byte, n int64) {
	w.buf = append(w.buf, c)
	w.buf = strconv.AppendInt(w.buf, n, 10)
	w.buf = append(w.buf, '\r', '\n')
}

// AppendRaw appends bytes that are already RESP.
func (w *Writer) AppendRaw(b []byte) { w.buf = append(w.buf, b...) }

// AppendOK appends +OK.
func (w *Writer) AppendOK() { w.buf = append(w.buf, "+OK\r\n"...) }

// AppendSimple appends a simple string; s must not contain CR or LF.
func (w *Writer) AppendSimple(s string) {
	w.buf = append(w.buf, '+')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// AppendError appends an error reply. msg carries its code ("ERR ...",
// "WRONGTYPE ..."); a message without one gets "ERR ". Newlines are replaced
// by spaces, as Redis does, to keep the reply on one line.
func (w *Writer) AppendError(msg string) {
	w.buf = append(w.buf, '-')
	if !hasErrorCode(msg) {
		w.buf = append(w.buf, "ERR "...)
	}
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		w.buf = append(w.buf, c)
	}
	w.buf = append(w.buf, '\r', '\n')
}

// hasErrorCode reports whether msg starts with an upper-case code word.
func hasErrorCode(msg string) bool {
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == ' ' {
			return i > 0
		}
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return false
}

// AppendInt appends an integer reply.
func (w *Writer) AppendInt(n int64) { w.appendPrefixed(':', n) }

// AppendBulk appends a bulk string.
func (w *Writer) AppendBulk(b []byte) {
	w.appendPrefixed('$', int64(len(b)))
	w.buf = append(w.buf, b...)
	w.buf = append(w.buf, '\r', '\n')
}

// AppendBulkString appends a bulk string.
func (w *Writer) AppendBulkString(s string) {
	w.appendPrefixed('$', int64(len(s)))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// AppendBulkInt appends n formatted in decimal as a bulk string.
func (w *Writer) AppendBulkInt(n int64) {
	var b [20]byte
	w.AppendBulk(strconv.AppendInt(b[:0], n, 10))
}

// AppendNull appends a null: $-1 in RESP2, _ in RESP3.
func (w *Writer) AppendNull() {
	if w.proto >= 3 {
		w.buf = append(w.buf, "_\r\n"...)
	} else {
		w.buf = append(w.buf, "$-1\r\n"...)
	}
}

// AppendNullArray appends a null array: *-1 in RESP2, _ in RESP3.
func (w *Writer) AppendNullArray() {
	if w.proto >= 3 {
		w.buf = append(w.buf, "_\r\n"...)
	} else {
		w.buf = append(w.buf, "*-1\r\n"...)
	}
}

// AppendArrayLen starts an array of n elements.
func (w *Writer) AppendArrayLen(n int) { w.appendPrefixed('*', int64(n)) }

// AppendMapLen starts a map of n pairs: % in RESP3, a flat array of 2n
// elements in RESP2.
func (w *Writer) AppendMapLen(n int) {
	if w.proto >= 3 {
		w.appendPrefixed('%', int64(n))
	} else {
		w.appendPrefixed('*', int64(2*n))
	}
}

// AppendSetLen starts a set of n elements: ~ in RESP3, an array in RESP2.
func (w *Writer) AppendSetLen(n int) {
	if w.proto >= 3 {
		w.appendPrefixed('~', int64(n))
	} else {
		w.appendPrefixed('*', int64(n))
	}
}

// AppendPushLen starts a push message of n elements: > in RESP3, an array
// in RESP2.
func (w *Writer) AppendPushLen(n int) {
	if w.proto >= 3 {
		w.appendPrefixed('>', int64(n))
	} else {
		w.appendPrefixed('*', int64(n))
	}
}

// AppendDouble appends a double: , in RESP3, a bulk string in RESP2. It is
// formatted as Redis formats doubles (%.17g, inf, -inf).
func (w *Writer) AppendDouble(f float64) {
	var tmp [32]byte
	var b []byte
	switch {
	case math.IsInf(f, 1):
		b = append(tmp[:0], "inf"...)
	case math.IsInf(f, -1):
		b = append(tmp[:0], "-inf"...)
	case math.IsNaN(f):
		b = append(tmp[:0], "nan"...)
	default:
		b = strconv.AppendFloat(tmp[:0], f, 'g', 17, 64)
	}
	if w.proto >= 3 {
		w.buf = append(w.buf, ',')
		w.buf = append(w.buf, b...)
		w.buf = append(w.buf, '\r', '\n')
		return
	}
	w.AppendBulk(b)
}

// AppendBool appends a boolean: #t/#f in RESP3, :1/:0 in RESP2.
func (w *Writer) AppendBool(v bool) {
	switch {
	case w.proto >= 3 && v:
		w.buf = append(w.buf, "#t\r\n"...)
	case w.proto >= 3:
		w.buf = append(w.buf, "#f\r\n"...)
	case v:
		w.buf = append(w.buf, ":1\r\n"...)
	default:
		w.buf = append(w.buf, ":0\r\n"...)
	}
}

// AppendVerbatim appends a verbatim string of format "txt" or "mkd": = in
// RESP3, a bulk string in RESP2.
func (w *Writer) AppendVerbatim(format, s string) {
	if w.proto < 3 {
		w.AppendBulkString(s)
		return
	}
	w.appendPrefixed('=', int64(len(s)+4))
	w.buf = append(w.buf, format...)
	w.buf = append(w.buf, ':')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}
