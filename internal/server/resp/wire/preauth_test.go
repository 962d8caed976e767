package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// preAuth are the limits a server applies before authentication.
var preAuth = Limits{MaxMultibulkLen: 10, MaxBulkLen: 16 << 10, Unauthenticated: true}

func TestSetLimitsPreAuth(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     error
	}{
		{"11 arguments", "*11\r\n", ErrUnauthMultibulk},
		{"huge array", "*20000000\r\n", ErrUnauthMultibulk},
		{"bulk over 16 KiB", "*2\r\n$4\r\nAUTH\r\n$16385\r\n", ErrUnauthBulk},
		{"512 MB bulk", "*2\r\n$4\r\nAUTH\r\n$536870912\r\n", ErrUnauthBulk},
		{"inline with 11 arguments", "a b c d e f g h i j k\r\n", ErrUnauthMultibulk},
		{"inline argument over 16 KiB", "AUTH " + strings.Repeat("x", 16<<10+1) + "\r\n", ErrUnauthBulk},
		{"negative bulk is still invalid", "*1\r\n$-5\r\n", errInvalidBulk},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), Limits{})
			r.SetLimits(preAuth)
			if _, err := r.ReadCommand(); err != tt.want {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Lifting the budget lets the next command through.
	r := NewReader(strings.NewReader(encodeArgs("AUTH", "k")+encodeArgs("MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f")), Limits{})
	r.SetLimits(preAuth)
	if args, err := r.ReadCommand(); err != nil || len(args) != 2 {
		t.Fatalf("AUTH: %q %v", args, err)
	}
	r.SetLimits(Limits{})
	if args, err := r.ReadCommand(); err != nil || len(args) != 12 {
		t.Fatalf("after SetLimits(Limits{}): %d args, %v", len(args), err)
	}
}

func encodeArgs(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + itoaTest(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + itoaTest(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

func itoaTest(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoaTest(n/10) + string(rune('0'+n%10))
}

// FuzzReaderPreAuth checks the pre-authentication budget: under it the
// Reader never returns a command with more than 10 arguments or an
// argument over 16 KiB, whatever the input, and fails only with protocol
// errors.
func FuzzReaderPreAuth(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$4\r\nAUTH\r\n$3\r\nkey\r\n",
		"*11\r\n", "*20000000\r\n", "*1\r\n$16385\r\n",
		"AUTH " + strings.Repeat("x", 16<<10+1) + "\r\n",
		"HELLO 3 AUTH default key\r\n",
		"\x00\x00\x00\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(iotest.HalfReader(bytes.NewReader(in)), Limits{})
		r.SetLimits(preAuth)
		for range len(in) + 2 {
			args, err := r.ReadCommand()
			if err != nil {
				if !errors.Is(err, io.EOF) && !IsProtocolError(err) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				return
			}
			if len(args) > 10 {
				t.Fatalf("%d arguments before authentication", len(args))
			}
			for _, a := range args {
				if len(a) > 16<<10 {
					t.Fatalf("argument of %d bytes before authentication", len(a))
				}
			}
		}
	})
}
