package slowlog

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestRingKeepsNewestFirst(t *testing.T) {
	l := New(0, 3)
	for i := range 5 {
		l.Add(time.Now(), time.Millisecond, [][]byte{[]byte(fmt.Sprint(i))}, "a", "")
	}
	got := l.Get(-1)
	if len(got) != 3 || got[0].ID != 4 || got[2].ID != 2 || got[0].Args[0] != "4" {
		t.Fatalf("got %+v", got)
	}
	if g := l.Get(1); len(g) != 1 || g[0].ID != 4 {
		t.Fatalf("Get(1) = %+v", g)
	}
	l.Reset()
	if l.Len() != 0 {
		t.Fatal("Reset left entries")
	}
	l.Add(time.Now(), time.Millisecond, nil, "", "")
	if g := l.Get(-1); g[0].ID != 5 {
		t.Fatalf("IDs restarted after Reset: %d", g[0].ID)
	}
}

func TestThreshold(t *testing.T) {
	l := New(time.Second, 10)
	l.Add(time.Now(), time.Millisecond, nil, "", "")
	if l.Len() != 0 {
		t.Fatal("fast command logged")
	}
	l.SetThreshold(-1)
	l.Add(time.Now(), time.Hour, nil, "", "")
	if l.Len() != 0 {
		t.Fatal("disabled log recorded")
	}
	l.SetMaxLen(0)
	l.SetThreshold(0)
	l.Add(time.Now(), time.Hour, nil, "", "")
	if l.Len() != 0 {
		t.Fatal("max len 0 kept an entry")
	}
}

func TestTruncateLikeRedis(t *testing.T) {
	args := make([][]byte, 40)
	for i := range args {
		args[i] = []byte("x")
	}
	args[1] = bytes.Repeat([]byte("y"), 200)
	got := Truncate(args)
	if len(got) != MaxArgs {
		t.Fatalf("len = %d", len(got))
	}
	if want := "... (9 more arguments)"; got[31] != want {
		t.Fatalf("last = %q, want %q", got[31], want)
	}
	if want := string(bytes.Repeat([]byte("y"), 128)) + "... (72 more bytes)"; got[1] != want {
		t.Fatalf("long arg = %q", got[1])
	}
}
