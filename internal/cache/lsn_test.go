package cache_test

import (
	"testing"

	"github.com/strata-cache/strata/internal/cache"
)

func TestParseLSN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0/16B3748", 0x16B3748, true},
		{"16/B374D848", 0x16_B374D848, true},
		{"FFFFFFFF/FFFFFFFF", 1<<64 - 1, true},
		{"0/0", 0, true},
		{"", 0, false}, {"16B3748", 0, false}, {"0/", 0, false}, {"/1", 0, false},
		{"0/-1", 0, false}, {"0/+1", 0, false}, {"1FFFFFFFF/0", 0, false}, {"0/1/2", 0, false}, {"g/1", 0, false},
	} {
		got, err := cache.ParseLSN(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseLSN(%q) = %x, %v; want %x, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
