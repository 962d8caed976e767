package loadgen

import (
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
)

// Compare returns a and b side by side with the ratio b/a of throughput and
// of each latency percentile. A throughput ratio above 1 means b is faster;
// a latency ratio below 1 means b is faster. When the two runs used
// different workloads, the differences are listed under the table, since
// the ratios then compare more than the servers.
func Compare(a, b Report) string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	row("", "A: "+a.Label, "B: "+b.Label, "B/A")
	row("throughput (ops/s)", thousands(int64(math.Round(a.OpsPerSec))), thousands(int64(math.Round(b.OpsPerSec))), ratio(b.OpsPerSec, a.OpsPerSec))
	lat := []struct {
		name string
		a, b float64
	}{
		{"p50", float64(a.Latency.P50), float64(b.Latency.P50)},
		{"p90", float64(a.Latency.P90), float64(b.Latency.P90)},
		{"p99", float64(a.Latency.P99), float64(b.Latency.P99)},
		{"p99.9", float64(a.Latency.P999), float64(b.Latency.P999)},
		{"max", float64(a.Latency.Max), float64(b.Latency.Max)},
		{"mean", a.Latency.Mean, b.Latency.Mean},
	}
	for _, l := range lat {
		row("latency "+l.name, FormatMicros(l.a), FormatMicros(l.b), ratio(l.b, l.a))
	}
	row("ops", thousands(a.Ops), thousands(b.Ops), "")
	row("errors", thousands(a.Errors), thousands(b.Errors), "")
	row("hit ratio", hitRatio(a), hitRatio(b), "")
	_ = tw.Flush()
	fmt.Fprintf(&sb, "A: %s\nB: %s\n", a.targetString(), b.targetString())
	if d := workloadDiff(a.Workload, b.Workload); len(d) > 0 {
		fmt.Fprintf(&sb, "note: the workloads differ: %s\n", strings.Join(d, "; "))
	} else {
		fmt.Fprintf(&sb, "workload: %s\n", a.workloadString())
	}
	return sb.String()
}

func ratio(num, den float64) string {
	if den == 0 || math.IsNaN(num/den) || math.IsInf(num/den, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2fx", num/den)
}

func hitRatio(r Report) string {
	if r.HitRatio == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100**r.HitRatio)
}

// workloadDiff lists the workload fields in which a and b differ.
func workloadDiff(a, b WorkloadInfo) []string {
	var d []string
	add := func(name string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			d = append(d, fmt.Sprintf("%s %v vs %v", name, x, y))
		}
	}
	add("keys", a.Keys, b.Keys)
	add("dist", a.Dist, b.Dist)
	add("zipf-s", a.ZipfS, b.ZipfS)
	add("read-ratio", a.ReadRatio, b.ReadRatio)
	add("value-size", a.ValueSize, b.ValueSize)
	add("conns", a.Conns, b.Conns)
	add("pipeline", a.Pipeline, b.Pipeline)
	add("rate", a.Rate, b.Rate)
	add("preload", a.Preload, b.Preload)
	return d
}
