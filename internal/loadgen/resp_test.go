package loadgen

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestRESPEncode(t *testing.T) {
	c := &respClient{t: &respTarget{prefix: "k:", value: []byte("vv")}}
	got := string(c.encode(nil, op{key: 42}))
	if want := "*2\r\n$3\r\nGET\r\n$4\r\nk:42\r\n"; got != want {
		t.Errorf("GET = %q, want %q", got, want)
	}
	got = string(c.encode(nil, op{write: true, key: 7}))
	if want := "*3\r\n$3\r\nSET\r\n$3\r\nk:7\r\n$2\r\nvv\r\n"; got != want {
		t.Errorf("SET = %q, want %q", got, want)
	}
}

func TestRESPReadReply(t *testing.T) {
	cases := []struct {
		in    string
		write bool
		kind  resultKind
		err   string // errKind for resError
	}{
		{"+OK\r\n", true, resOK, ""},
		{":1\r\n", true, resOK, ""},
		{"$3\r\nabc\r\n", false, resHit, ""},
		{"$0\r\n\r\n", false, resHit, ""},
		{"$-1\r\n", false, resMiss, ""},
		{"_\r\n", false, resMiss, ""},
		{"*-1\r\n", false, resMiss, ""},
		{"-WRONGTYPE Operation against a key\r\n", false, resError, "server WRONGTYPE"},
		{"-\r\n", true, resError, "server ERR"},
	}
	for _, c := range cases {
		rc := &respClient{r: bufio.NewReader(bytes.NewReader([]byte(c.in)))}
		r, err := rc.readReply(c.write)
		if err != nil || r.kind != c.kind || r.errKind != c.err {
			t.Errorf("readReply(%q) = %+v, %v; want kind %d %q", c.in, r, err, c.kind, c.err)
		}
	}
	for _, bad := range []string{"$x\r\n", "$-2\r\n", "?\r\n", "+OK\n", "*2\r\n", "$5\r\nab"} {
		rc := &respClient{r: bufio.NewReader(bytes.NewReader([]byte(bad)))}
		if _, err := rc.readReply(false); err == nil {
			t.Errorf("readReply(%q) succeeded", bad)
		} else if k := errorKind(err); k != "protocol" && k != "connection closed" {
			t.Errorf("readReply(%q): error kind %q", bad, k)
		}
	}
}

// FuzzReadReply checks that no input makes the reply reader panic or
// report success while consuming nothing.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "$3\r\nabc\r\n", "$-1\r\n", "-ERR x\r\n", ":5\r\n", "_\r\n", "*-1\r\n", "$99999999999\r\n"} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, write bool) {
		rc := &respClient{r: bufio.NewReader(bytes.NewReader(in))}
		for range 8 {
			before := rc.r.Buffered()
			_, err := rc.readReply(write)
			if err != nil {
				return
			}
			if rc.r.Buffered() == before && before > 0 {
				t.Fatalf("reply consumed nothing from %q", in)
			}
		}
	})
}

// BenchmarkRESPEncode measures encoding one GET into a reused buffer: 0
// allocs/op, the budget of the generator's hot path.
func BenchmarkRESPEncode(b *testing.B) {
	c := &respClient{t: &respTarget{prefix: "key:", value: Value(64)}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.buf = c.encode(c.buf[:0], op{key: i % 100000, write: i%10 == 0})
	}
}

// BenchmarkZipf measures one key choice: 0 allocs/op.
func BenchmarkZipf(b *testing.B) {
	z := newZipf(newTestRand(), 1_000_000, 0.99)
	b.ReportAllocs()
	for b.Loop() {
		z.next()
	}
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(3, 4)) }
