package httpapi

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestDecodeKey(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"k", "k", nil},
		{"a/b", "a/b", nil},
		{"a%2Fb", "a/b", nil},
		{"a%2fb", "a/b", nil},
		{"%00", "\x00", nil},
		{"%0d%0a", "\r\n", nil},
		{"%FF", "\xff", nil},
		{"..%2F", "../", nil},
		{"a+b", "a+b", nil},
		{"%2B", "+", nil},
		{"", "", ErrEmptyKey},
		{"%", "", ErrInvalidKey},
		{"%zz", "", ErrInvalidKey},
		{"%2", "", ErrInvalidKey},
	}
	for _, tt := range tests {
		got, err := decodeKey(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("decodeKey(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// FuzzDecodeKey checks the key codec both ways: any path decodes to a key or
// to one of the two key errors, and any key survives KeyPath, URL parsing
// (what net/http does to a request line) and decodeKey unchanged.
func FuzzDecodeKey(f *testing.F) {
	// The committed corpus is in testdata/fuzz/FuzzDecodeKey.
	f.Fuzz(func(t *testing.T, s string) {
		key, err := decodeKey(s)
		switch {
		case err != nil:
			if !errors.Is(err, ErrEmptyKey) && !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("decodeKey(%q): unexpected error %v", s, err)
			}
		case key == "":
			t.Fatalf("decodeKey(%q) returned an empty key", s)
		default:
			roundTrip(t, key)
		}
		if s != "" {
			roundTrip(t, s)
		}
	})
}

// roundTrip checks that key travels through a request URI unchanged.
func roundTrip(t *testing.T, key string) {
	t.Helper()
	p := KeyPath(key)
	u, err := url.ParseRequestURI(p)
	if err != nil {
		t.Fatalf("KeyPath(%q) = %q does not parse: %v", key, p, err)
	}
	esc := u.EscapedPath()
	if !strings.HasPrefix(esc, kvPrefix) {
		t.Fatalf("KeyPath(%q) = %q left the key route: %q", key, p, esc)
	}
	rest := esc[len(kvPrefix):]
	if rest == "." || rest == ".." {
		t.Fatalf("KeyPath(%q) = %q is a dot segment that clients remove", key, p)
	}
	got, err := decodeKey(rest)
	if err != nil || got != key {
		t.Fatalf("decodeKey(KeyPath(%q)) = %q, %v", key, got, err)
	}
}
