package config

import (
	"errors"
	"math"
	"testing"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want Bytes
	}{
		{"0", 0},
		{"1073741824", 1 << 30},
		{"1b", 1},
		// Redis semantics: a bare k/m/g is decimal, kb/mb/gb binary.
		{"1k", 1000},
		{"1kb", 1024},
		{"1KiB", 1024},
		{"64kb", 64 << 10},
		{"1m", 1000 * 1000},
		{"512mb", 512 << 20},
		{"512MiB", 512 << 20},
		{"1g", 1000 * 1000 * 1000},
		{"1gb", 1 << 30},
		{"1GB", 1 << 30},
		{"1GiB", 1 << 30},
		{"1gIb", 1 << 30},
		{" 2 gb ", 2 << 30},
		{"17179869183gb", 17179869183 << 30},
		{"18446744073709551615", math.MaxUint64},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseBytesErrors(t *testing.T) {
	for _, in := range []string{
		"", " ", "gb", "-1", "-1gb", "1.5gb", "1e9", "12xb", "1 g b", "1tb", "0x10",
		"17179869184gb",         // 2^64: overflows
		"18446744073709551616",  // 2^64
		"99999999999999999999k", // overflows before the unit
	} {
		got, err := ParseBytes(in)
		if err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
		} else if !errors.Is(err, ErrInvalidSize) {
			t.Errorf("ParseBytes(%q) error %v does not wrap ErrInvalidSize", in, err)
		}
	}
}

func TestBytesString(t *testing.T) {
	tests := []struct {
		in   Bytes
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1000"},
		{1024, "1KiB"},
		{1536, "1536"},
		{64 * KiB, "64KiB"},
		{512 * MiB, "512MiB"},
		{GiB, "1GiB"},
		{3 * GiB, "3GiB"},
		{GiB + KiB, "1048577KiB"},
		{math.MaxUint64, "18446744073709551615"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Bytes(%d).String() = %q, want %q", uint64(tt.in), got, tt.want)
		}
		back, err := ParseBytes(tt.in.String())
		if err != nil || back != tt.in {
			t.Errorf("ParseBytes(%q) = %d, %v; want round trip to %d", tt.in.String(), back, err, uint64(tt.in))
		}
	}
}

func TestBytesText(t *testing.T) {
	var b Bytes
	if err := b.UnmarshalText([]byte("2mb")); err != nil || b != 2*MiB {
		t.Fatalf("UnmarshalText(2mb) = %d, %v", b, err)
	}
	if err := b.Set("nope"); err == nil {
		t.Fatal("Set(nope) succeeded")
	}
	if txt, _ := b.MarshalText(); string(txt) != "2MiB" {
		t.Fatalf("MarshalText = %q", txt)
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"0", "1k", "1kb", "512MiB", " 2 gb ", "18446744073709551615", "1.5gb", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBytes(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidSize) {
				t.Fatalf("ParseBytes(%q) error %v does not wrap ErrInvalidSize", s, err)
			}
			return
		}
		back, err := ParseBytes(b.String())
		if err != nil || back != b {
			t.Fatalf("ParseBytes(%q) = %d; its String %q parses to %d, %v", s, b, b.String(), back, err)
		}
	})
}
