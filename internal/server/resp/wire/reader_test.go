package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll reads every command from input, copying the arguments.
func readAll(input string, lim Limits) ([][]string, error) {
	r := NewReader(strings.NewReader(input), lim)
	var out [][]string
	for {
		args, err := r.ReadCommand()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
		cmd := make([]string, len(args))
		for i, a := range args {
			cmd[i] = string(a)
		}
		out = append(out, cmd)
	}
}

func TestReaderParses(t *testing.T) {
	tests := []struct {
		name, in string
		want     string
	}{
		{"multibulk", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "[GET k]"},
		{"pipelined", "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", "[PING] [ECHO ]"},
		{"empty multibulk skipped", "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", "[PING]"},
		{"binary bulk", "*1\r\n$4\r\na\r\nb\r\n", "[a\r\nb]"},
		{"inline", "SET k v\r\n", "[SET k v]"},
		{"inline LF only and blank lines", "\r\n\nGET  k\n", "[GET k]"},
		{"inline double quotes", `SET "a b" "\x41\n\"q\\"` + "\r\n", "[SET a b A\n\"q\\]"},
		{"inline single quotes", `SET 'it\'s' '\n'` + "\r\n", `[SET it's \n]`},
		{"inline quote mid token", `SET a"b c"` + "\r\n", "[SET ab c]"},
		{"inline empty quoted", `ECHO ""` + "\r\n", "[ECHO ]"},
		{"inline then multibulk", "PING\r\n*1\r\n$4\r\nPING\r\n", "[PING] [PING]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []string{"whole", "byte"} {
				var rd io.Reader = strings.NewReader(tt.in)
				if mode == "byte" {
					rd = iotest.OneByteReader(rd)
				}
				r := NewReader(rd, Limits{})
				var got []string
				for {
					args, err := r.ReadCommand()
					if err != nil {
						if !errors.Is(err, io.EOF) {
							t.Fatalf("%s: %v", mode, err)
						}
						break
					}
					s := "["
					for i, a := range args {
						if i > 0 {
							s += " "
						}
						s += string(a)
					}
					got = append(got, s+"]")
				}
				if g := strings.Join(got, " "); g != tt.want {
					t.Fatalf("%s: got %q, want %q", mode, g, tt.want)
				}
			}
		})
	}
}

func TestReaderHostileInput(t *testing.T) {
	lim := Limits{MaxInlineLen: 1024}
	tests := []struct {
		name, in, want string
	}{
		{"negative bulk", "*1\r\n$-10\r\n", "ERR Protocol error: invalid bulk length"},
		{"huge bulk", "*1\r\n$2000000000\r\nab", "ERR Protocol error: invalid bulk length"},
		{"bulk not a number", "*1\r\n$1x\r\n", "ERR Protocol error: invalid bulk length"},
		{"bulk plus sign", "*1\r\n$+1\r\n", "ERR Protocol error: invalid bulk length"},
		{"huge multibulk", "*20000000\r\n", "ERR Protocol error: invalid multibulk length"},
		{"multibulk overflow", "*99999999999999999999\r\n", "ERR Protocol error: invalid multibulk length"},
		{"multibulk garbage", "*abc\r\n", "ERR Protocol error: invalid multibulk length"},
		{"missing dollar", "*1\r\nGET\r\n", "ERR Protocol error: expected '$', got 'G'"},
		{"nested array", "*1\r\n*1\r\n*1\r\n$1\r\na\r\n", "ERR Protocol error: expected '$', got '*'"},
		{"missing CRLF after bulk", "*1\r\n$3\r\nGETxx", "ERR Protocol error: expected CRLF after bulk"},
		{"lone CR in header", "*1\r$3\r\nGET\r\n", "ERR Protocol error: invalid multibulk length"},
		{"lone CR in bulk header", "*1\r\n$3\rxGET\r\n", "ERR Protocol error: invalid bulk length"},
		{"unbalanced double", "SET \"abc\r\n", "ERR Protocol error: unbalanced quotes in request"},
		{"unbalanced single", "SET 'abc\r\n", "ERR Protocol error: unbalanced quotes in request"},
		{"quote then text", "SET \"a\"b\r\n", "ERR Protocol error: unbalanced quotes in request"},
		{"inline too long", strings.Repeat("a", 2000), "ERR Protocol error: too big inline request"},
		{"inline too long with newline", strings.Repeat("a", 2000) + "\n", "ERR Protocol error: too big inline request"},
		{"NUL stream", strings.Repeat("\x00", 5000), "ERR Protocol error: too big inline request"},
		{"mbulk count line too long", "*" + strings.Repeat("1", 2000), "ERR Protocol error: too big mbulk count string"},
		{"bulk count line too long", "*1\r\n$" + strings.Repeat("1", 2000), "ERR Protocol error: too big bulk count string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(tt.in, lim)
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Msg != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestReaderDoesNotAllocateDeclaredLength sends a header that declares a
// large bulk and a few bytes of it: the buffer must stay small.
func TestReaderDoesNotAllocateDeclaredLength(t *testing.T) {
	r := NewReader(strings.NewReader("*1\r\n$500000000\r\nabc"), Limits{})
	if _, err := r.ReadCommand(); !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want EOF", err)
	}
	if cap(r.buf) > readBufSize {
		t.Fatalf("buffer grew to %d bytes for 3 bytes of input", cap(r.buf))
	}
}

func TestReaderLargeBulkArrivesInPieces(t *testing.T) {
	val := bytes.Repeat([]byte("x"), 3<<20)
	in := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + itoa(len(val)) + "\r\n" + string(val) + "\r\n*1\r\n$4\r\nPING\r\n"
	r := NewReader(iotest.HalfReader(strings.NewReader(in)), Limits{})
	args, err := r.ReadCommand()
	if err != nil || len(args) != 3 || !bytes.Equal(args[2], val) {
		t.Fatalf("args=%d err=%v", len(args), err)
	}
	if args, err := r.ReadCommand(); err != nil || string(args[0]) != "PING" {
		t.Fatalf("second command: %q %v", args, err)
	}
	if _, err := r.ReadCommand(); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if cap(r.buf) > shrinkAbove {
		t.Fatalf("buffer not released after the big command: %d", cap(r.buf))
	}
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// TestRoundTrip writes replies with the Writer and reads them back.
func TestRoundTrip(t *testing.T) {
	for _, proto := range []int{2, 3} {
		var out bytes.Buffer
		w := NewWriter(&out)
		w.SetProto(proto)
		w.AppendOK()
		w.AppendError("boom")
		w.AppendError("WRONGTYPE x\ny")
		w.AppendInt(-42)
		w.AppendBulk([]byte("a\r\nb"))
		w.AppendNull()
		w.AppendMapLen(1)
		w.AppendBulkString("k")
		w.AppendDouble(1.5)
		w.AppendBool(true)
		w.AppendVerbatim("txt", "hello")
		w.AppendSetLen(0)
		w.AppendNullArray()
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(&out)
		var got []string
		for {
			r, err := ReadReply(br, 0)
			if err != nil {
				break
			}
			got = append(got, r.String())
		}
		want := map[int]string{
			2: "OK|ERR:ERR boom|ERR:WRONGTYPE x y|-42|a\r\nb|(nil)|[k 1.5]|1|hello|[]|(nil)",
			3: "OK|ERR:ERR boom|ERR:WRONGTYPE x y|-42|a\r\nb|(nil)|[k 1.5]|1|hello|[]|(nil)",
		}[proto]
		if g := strings.Join(got, "|"); g != want {
			t.Fatalf("proto %d: got %q\nwant %q", proto, g, want)
		}
	}
}

func TestWriterEncodings(t *testing.T) {
	tests := []struct {
		proto int
		f     func(w *Writer)
		want  string
	}{
		{2, (*Writer).AppendNull, "$-1\r\n"},
		{3, (*Writer).AppendNull, "_\r\n"},
		{2, func(w *Writer) { w.AppendMapLen(2) }, "*4\r\n"},
		{3, func(w *Writer) { w.AppendMapLen(2) }, "%2\r\n"},
		{2, func(w *Writer) { w.AppendDouble(0.1) }, "$19\r\n0.10000000000000001\r\n"},
		{3, func(w *Writer) { w.AppendDouble(3) }, ",3\r\n"},
		{3, func(w *Writer) { w.AppendBool(false) }, "#f\r\n"},
		{2, func(w *Writer) { w.AppendBool(false) }, ":0\r\n"},
		{3, func(w *Writer) { w.AppendVerbatim("txt", "ab") }, "=6\r\ntxt:ab\r\n"},
		{3, func(w *Writer) { w.AppendPushLen(3) }, ">3\r\n"},
	}
	for _, tt := range tests {
		w := NewWriter(io.Discard)
		w.SetProto(tt.proto)
		tt.f(w)
		if got := string(w.Bytes()); got != tt.want {
			t.Errorf("proto %d: got %q, want %q", tt.proto, got, tt.want)
		}
	}
}

// FuzzReader feeds arbitrary bytes to the Reader: it must return commands or
// errors, never panic, and never hold more than twice the input (plus its
// initial buffer).
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"PING\r\n",
		`SET "a\x41" 'b\'c'` + "\n",
		"*1\r\n$-1\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000000\r\nab",
		"*1\r\n*1\r\n$1\r\na\r\n",
		"\x00\x00\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(iotest.HalfReader(bytes.NewReader(in)), Limits{MaxInlineLen: 256, MaxBulkLen: 1 << 16, MaxMultibulkLen: 1024})
		for range len(in) + 2 {
			args, err := r.ReadCommand()
			if err != nil {
				if !errors.Is(err, io.EOF) && !IsProtocolError(err) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				break
			}
			if len(args) == 0 {
				t.Fatal("empty command returned")
			}
		}
		if cap(r.buf) > readBufSize && cap(r.buf) > 2*len(in)+2*readBufSize {
			t.Fatalf("buffer %d for %d bytes of input", cap(r.buf), len(in))
		}
	})
}

// BenchmarkReaderPipelinedGet parses a batch of 64 pipelined GETs: 0 allocs/op.
func BenchmarkReaderPipelinedGet(b *testing.B) {
	var batch []byte
	for range 64 {
		batch = append(batch, "*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000042\r\n"...)
	}
	src := bytes.NewReader(batch)
	r := NewReader(src, Limits{})
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		src.Reset(batch)
		for range 64 {
			if _, err := r.ReadCommand(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkWriterBulk appends 64 bulk replies and flushes: 0 allocs/op.
func BenchmarkWriterBulk(b *testing.B) {
	w := NewWriter(io.Discard)
	v := []byte("value-0123456789")
	b.ReportAllocs()
	for b.Loop() {
		for range 64 {
			w.AppendBulk(v)
		}
		_ = w.Flush()
	}
}
