package node

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.01, 0.1}
	tests := []struct {
		name   string
		q      float64
		counts []uint64
		total  uint64
		want   float64
	}{
		{"empty", 0.5, []uint64{0, 0, 0}, 0, 0},
		{"first bucket, interpolated from 0", 0.5, []uint64{10, 10, 10}, 10, 0.0005},
		{"second bucket", 0.5, []uint64{0, 10, 10}, 10, 0.0055},
		{"p99 in the last bucket", 0.99, []uint64{50, 90, 100}, 100, 0.091},
		{"beyond the last bound is the last bound", 0.99, []uint64{0, 0, 0}, 10, 0.1},
	}
	for _, tt := range tests {
		if got := Quantile(tt.q, bounds, tt.counts, tt.total); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Quantile = %v, want %v", tt.name, got, tt.want)
		}
	}
}
