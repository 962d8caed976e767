package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// ReportFormat identifies the JSON layout of Report; it changes only when a
// field changes meaning or is removed.
const ReportFormat = "strata-bench/v1"

// Report is the result of one run. Its JSON field names are stable (see
// ReportFormat); latencies are in microseconds.
type Report struct {
	Format string `json:"format"`
	// Label names the run, e.g. "redis".
	Label string `json:"label"`
	// Target is what was measured.
	Target TargetInfo `json:"target"`
	// Workload is how it was measured.
	Workload WorkloadInfo `json:"workload"`
	// Started is when measurement began (after preload and warm-up).
	Started time.Time `json:"started"`
	// DurationSeconds is the measured time.
	DurationSeconds float64 `json:"duration_seconds"`
	// Interrupted is set when the run was cancelled before its end.
	Interrupted bool `json:"interrupted,omitempty"`

	// Ops counts operations answered without error; Reads + Writes = Ops.
	Ops    int64 `json:"ops"`
	Reads  int64 `json:"reads"`
	Writes int64 `json:"writes"`
	// OpsPerSec is Ops / DurationSeconds.
	OpsPerSec float64 `json:"ops_per_sec"`
	// Errors counts failed operations and failed reconnection attempts;
	// ErrorsByKind splits them ("server ERR", "http 503", "timeout",
	// "connection closed", "connect: connection refused", ...).
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind,omitempty"`
	// Hits and Misses split Reads by whether a value came back; HitRatio is
	// Hits / Reads, or null without reads.
	Hits     int64    `json:"hits"`
	Misses   int64    `json:"misses"`
	HitRatio *float64 `json:"hit_ratio"`

	// Latency summarises the histogram.
	Latency Latency `json:"latency_us"`
	// Timeline is the throughput over time, one sample per interval.
	Timeline []Sample `json:"timeline,omitempty"`
	// Histogram is the full latency histogram.
	Histogram HistogramExport `json:"histogram"`
}

// TargetInfo describes the server a run measured.
type TargetInfo struct {
	Kind TargetKind `json:"kind"`
	Addr string     `json:"addr,omitempty"`
	URL  string     `json:"url,omitempty"`
}

// WorkloadInfo records the workload options of a run.
type WorkloadInfo struct {
	Keys          int     `json:"keys"`
	KeyPrefix     string  `json:"key_prefix"`
	Dist          Dist    `json:"dist"`
	ZipfS         float64 `json:"zipf_s,omitempty"`
	ReadRatio     float64 `json:"read_ratio"`
	ValueSize     int     `json:"value_size"`
	Conns         int     `json:"conns"`
	Pipeline      int     `json:"pipeline"`
	Rate          float64 `json:"rate"` // 0: closed loop
	Preload       bool    `json:"preload"`
	WarmupSeconds float64 `json:"warmup_seconds"`
	Requests      int64   `json:"requests,omitempty"`
}

// Latency holds percentiles of the latency distribution in microseconds.
// In the open loop they are measured from the intended send time.
type Latency struct {
	Min  int64   `json:"min"`
	Mean float64 `json:"mean"`
	P50  int64   `json:"p50"`
	P90  int64   `json:"p90"`
	P99  int64   `json:"p99"`
	P999 int64   `json:"p99_9"`
	Max  int64   `json:"max"`
}

// Sample is the throughput of one interval ending T seconds into the
// measurement.
type Sample struct {
	T         float64 `json:"t"`
	OpsPerSec float64 `json:"ops_per_sec"`
}

// HistogramExport carries a latency histogram in HdrHistogram's V2
// compressed, base64 encoding (the "HISTF..." strings HdrHistogram's own
// tools read), in microseconds.
type HistogramExport struct {
	Unit     string `json:"unit"`
	Encoding string `json:"encoding"`
	Data     string `json:"data"`
}

func newReport(o *Options, started, finished time.Time, stats []*connStats) *Report {
	h := newHistogram()
	rep := &Report{
		Format: ReportFormat,
		Label:  o.Label,
		Target: TargetInfo{Kind: o.Target, Addr: o.Addr, URL: o.URL},
		Workload: WorkloadInfo{
			Keys: o.Keys, KeyPrefix: o.KeyPrefix, Dist: o.Dist, ReadRatio: o.ReadRatio,
			ValueSize: o.ValueSize, Conns: o.Conns, Pipeline: o.Pipeline, Rate: o.Rate,
			Preload: o.Preload, WarmupSeconds: o.Warmup.Seconds(), Requests: o.Requests,
		},
		Started: started.UTC(),
	}
	if o.Dist == Zipf {
		rep.Workload.ZipfS = o.ZipfS
	}
	end := started
	for _, s := range stats {
		h.Merge(s.hist)
		rep.Ops += s.ops
		rep.Reads += s.reads
		rep.Writes += s.writes
		rep.Hits += s.hits
		rep.Misses += s.misses
		rep.Errors += s.errors
		for k, v := range s.errorsByKind {
			if rep.ErrorsByKind == nil {
				rep.ErrorsByKind = make(map[string]int64)
			}
			rep.ErrorsByKind[k] += v
		}
		if s.lastAt.After(end) {
			end = s.lastAt
		}
	}
	// By count, the run ends at the last reply. By time, at the deadline:
	// replies after it are not recorded, and the workers' few microseconds
	// of winding down are not part of the measurement.
	if o.Requests == 0 || end.After(finished) {
		end = finished
	}
	if o.Requests == 0 && o.Duration > 0 {
		end = started.Add(o.Duration)
		if finished.Before(end) { // interrupted
			end = finished
		}
	}
	rep.DurationSeconds = end.Sub(started).Seconds()
	if rep.DurationSeconds > 0 {
		rep.OpsPerSec = float64(rep.Ops) / rep.DurationSeconds
	}
	if rep.Reads > 0 {
		r := float64(rep.Hits) / float64(rep.Reads)
		rep.HitRatio = &r
	}
	rep.Timeline = timelineSamples(stats, started, end, o.SampleInterval)
	rep.setHistogram(h)
	return rep
}

// setHistogram stores h in the report and derives the latency summary.
func (r *Report) setHistogram(h *hdrhistogram.Histogram) {
	r.Latency = latencyOf(h)
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		// Encoding an in-memory histogram cannot fail short of a bug; the
		// summary above is still right, so keep it and leave Data empty.
		enc = nil
	}
	r.Histogram = HistogramExport{Unit: "us", Encoding: "hdrhistogram-v2-compressed-base64", Data: string(enc)}
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Min:  h.Min(),
		Mean: math.Round(h.Mean()*10) / 10,
		P50:  h.ValueAtPercentile(50),
		P90:  h.ValueAtPercentile(90),
		P99:  h.ValueAtPercentile(99),
		P999: h.ValueAtPercentile(99.9),
		Max:  h.Max(),
	}
}

// Hist decodes the report's latency histogram (microseconds).
func (r *Report) Hist() (*hdrhistogram.Histogram, error) {
	if r.Histogram.Data == "" {
		return newHistogram(), nil
	}
	h, err := hdrhistogram.Decode([]byte(r.Histogram.Data))
	if err != nil {
		return nil, fmt.Errorf("loadgen: report %q: histogram: %w", r.Label, err)
	}
	return h, nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadReport reads a report written by WriteJSON from path.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("loadgen: %s: not a bench report: %w", path, err)
	}
	if r.Format != ReportFormat {
		return nil, fmt.Errorf("loadgen: %s: format %q, want %q (a JSON file written by strata bench --json)", path, r.Format, ReportFormat)
	}
	return &r, nil
}

// WriteText writes the report as aligned, human-readable text: a summary
// and a table of latency percentiles.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target\t%s\n", r.targetString())
	fmt.Fprintf(tw, "workload\t%s\n", r.workloadString())
	d := fmt.Sprintf("%.2fs", r.DurationSeconds)
	if r.Workload.WarmupSeconds > 0 {
		d += fmt.Sprintf(" (after %gs warm-up)", r.Workload.WarmupSeconds)
	}
	if r.Interrupted {
		d += " (interrupted)"
	}
	fmt.Fprintf(tw, "duration\t%s\n", d)
	fmt.Fprintf(tw, "throughput\t%s ops/s (%s ops: %s reads, %s writes)\n",
		thousands(int64(math.Round(r.OpsPerSec))), thousands(r.Ops), thousands(r.Reads), thousands(r.Writes))
	fmt.Fprintf(tw, "errors\t%s\n", strings.TrimSpace(thousands(r.Errors)+" "+r.errorsString()))
	if r.HitRatio != nil {
		fmt.Fprintf(tw, "hit ratio\t%.2f%% (%s hits, %s misses)\n", 100**r.HitRatio, thousands(r.Hits), thousands(r.Misses))
	} else {
		fmt.Fprintf(tw, "hit ratio\t- (no reads)\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	l := r.Latency
	from := "send"
	if r.Workload.Rate > 0 {
		from = "intended send"
	}
	fmt.Fprintf(w, "latency (from %s time):\n", from)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "p50\tp90\tp99\tp99.9\tmax\tmean\t")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n",
		FormatMicros(float64(l.P50)), FormatMicros(float64(l.P90)), FormatMicros(float64(l.P99)),
		FormatMicros(float64(l.P999)), FormatMicros(float64(l.Max)), FormatMicros(l.Mean))
	return tw.Flush()
}

// Text returns WriteText's output as a string.
func (r *Report) Text() string {
	var b strings.Builder
	_ = r.WriteText(&b)
	return b.String()
}

func (r *Report) targetString() string {
	s := r.Label
	where := r.Target.Addr
	if r.Target.Kind == HTTP {
		where = r.Target.URL
	}
	if s != where {
		s += " (" + string(r.Target.Kind) + " " + where + ")"
	} else {
		s = string(r.Target.Kind) + " " + where
	}
	return s
}

func (r *Report) workloadString() string {
	wl := r.Workload
	var b strings.Builder
	fmt.Fprintf(&b, "%s keys %q", thousands(int64(wl.Keys)), wl.KeyPrefix+"N")
	if wl.Dist == Zipf {
		fmt.Fprintf(&b, " zipf s=%g", wl.ZipfS)
	} else {
		b.WriteString(" uniform")
	}
	fmt.Fprintf(&b, ", %g%% reads, %dB values, %d conns", math.Round(wl.ReadRatio*1000)/10, wl.ValueSize, wl.Conns)
	if wl.Pipeline > 1 {
		fmt.Fprintf(&b, ", pipeline %d", wl.Pipeline)
	}
	if wl.Rate > 0 {
		fmt.Fprintf(&b, ", open loop at %s ops/s", thousands(int64(wl.Rate)))
	} else {
		b.WriteString(", closed loop")
	}
	if wl.Preload {
		b.WriteString(", preloaded")
	}
	return b.String()
}

func (r *Report) errorsString() string {
	if len(r.ErrorsByKind) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(r.ErrorsByKind))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %s", k, thousands(r.ErrorsByKind[k]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// FormatMicros renders a latency in microseconds with a unit that keeps
// three significant digits: "87µs", "1.25ms", "2.10s".
func FormatMicros(us float64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 10_000:
		return fmt.Sprintf("%.2fms", us/1000)
	case us < 100_000:
		return fmt.Sprintf("%.1fms", us/1000)
	case us < 1_000_000:
		return fmt.Sprintf("%.0fms", us/1000)
	default:
		return fmt.Sprintf("%.2fs", us/1e6)
	}
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
