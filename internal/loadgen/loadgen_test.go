package loadgen

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/strata-cache/strata/internal/testenv/redisserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestZipfSkew(t *testing.T) {
	for _, s := range []float64{0.5, 0.99, 1, 1.5} {
		r := rand.New(rand.NewPCG(1, 2))
		z := newZipf(r, 1000, s)
		counts := make([]int, 1000)
		const n = 400_000
		for range n {
			k := z.next()
			if k < 0 || k >= 1000 {
				t.Fatalf("s=%v: index %d out of range", s, k)
			}
			counts[k]++
		}
		// P(rank 1)/P(rank 2) = 2^s and P(rank 1)/P(rank 4) = 4^s.
		for _, j := range []int{1, 3} {
			got := float64(counts[0]) / float64(counts[j])
			want := math.Pow(float64(j+1), s)
			if math.Abs(got-want)/want > 0.1 {
				t.Errorf("s=%v: count[0]/count[%d] = %.3f, want %.3f ±10%%", s, j, got, want)
			}
		}
	}
}

func TestZipfLargeKeySpace(t *testing.T) {
	// No O(n) set-up: a billion keys is as cheap as ten.
	z := newZipf(rand.New(rand.NewPCG(1, 1)), 1_000_000_000, 0.99)
	for range 1000 {
		if k := z.next(); k < 0 || k >= 1_000_000_000 {
			t.Fatalf("index %d out of range", k)
		}
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	base := func() Options { return Options{Target: RESP, Addr: "127.0.0.1:1"} }
	cases := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no target", func(o *Options) { o.Target = "" }, "--target"},
		{"bad target", func(o *Options) { o.Target = "grpc" }, "--target \"grpc\": must be resp or http"},
		{"no addr", func(o *Options) { o.Addr = "" }, "--addr"},
		{"bad dist", func(o *Options) { o.Dist = "normal" }, "--dist \"normal\": must be zipf or uniform"},
		{"negative zipf", func(o *Options) { o.ZipfS = -1 }, "--zipf-s"},
		{"read ratio", func(o *Options) { o.ReadRatio = 1.5 }, "--read-ratio 1.5: must be between 0 and 1"},
		{"keys", func(o *Options) { o.Keys = -3 }, "--keys"},
		{"conns", func(o *Options) { o.Conns = -1 }, "--conns"},
		{"pipeline", func(o *Options) { o.Pipeline = -1 }, "--pipeline"},
		{"both ends", func(o *Options) { o.Duration = time.Second; o.Requests = 5 }, "exclusive"},
		{"rate", func(o *Options) { o.Rate = -5 }, "--rate"},
		{"http pipeline", func(o *Options) { o.Target, o.URL, o.Pipeline = HTTP, "http://x/{key}", 4 }, "not pipelined"},
		{"http no url", func(o *Options) { o.Target = HTTP }, "--url"},
		{"http scheme", func(o *Options) { o.Target, o.URL = HTTP, "ftp://x/{key}" }, "http://"},
		{"static writes", func(o *Options) { o.Target, o.URL = HTTP, "http://x/file" }, "--read-ratio 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base()
			c.mod(&o)
			err := o.Validate()
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidOptions mentioning %q", err, c.want)
			}
		})
	}
	o := base()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Keys != 10000 || o.Conns != 50 || o.ReadRatio != 0.9 || o.Dist != Zipf || o.Duration != 10*time.Second {
		t.Fatalf("defaults not applied: %+v", o)
	}
	o = base()
	o.ReadRatio, o.ReadRatioSet = 0, true
	if err := o.Validate(); err != nil || o.ReadRatio != 0 {
		t.Fatalf("explicit read ratio 0: %v, %v", err, o.ReadRatio)
	}
}

func TestRESPAgainstRedis(t *testing.T) {
	srv := redisserver.New(t, redisserver.Options{})
	rep, err := Run(context.Background(), Options{
		Label: "redis", Target: RESP, Addr: srv.Addr(),
		Keys: 500, Preload: true, Requests: 20_000, Conns: 4, Pipeline: 8, ValueSize: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ops != 20_000 || rep.Errors != 0 {
		t.Fatalf("ops %d errors %d %v, want 20000 and 0", rep.Ops, rep.Errors, rep.ErrorsByKind)
	}
	// Every key was preloaded, so every read hits.
	if rep.HitRatio == nil || *rep.HitRatio != 1 || rep.Misses != 0 {
		t.Fatalf("hit ratio %v (%d misses), want 1", rep.HitRatio, rep.Misses)
	}
	if f := float64(rep.Reads) / float64(rep.Ops); f < 0.85 || f > 0.95 {
		t.Errorf("read fraction %.3f, want about 0.9", f)
	}
	if rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
		t.Errorf("latency summary not ordered: %+v", rep.Latency)
	}
	t.Logf("\n%s", rep.Text())

	// By time, with warm-up, no preload: the key space starts empty in
	// this second database, so reads miss until written.
	rep, err = Run(context.Background(), Options{
		Label: "redis", Target: RESP, Addr: srv.Addr(), KeyPrefix: "fresh:",
		Keys: 100_000, Dist: Uniform, Duration: 400 * time.Millisecond, Warmup: 100 * time.Millisecond, Conns: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ops == 0 || rep.Errors != 0 || rep.Misses == 0 {
		t.Fatalf("ops %d errors %d misses %d", rep.Ops, rep.Errors, rep.Misses)
	}
	if rep.DurationSeconds < 0.35 || rep.DurationSeconds > 0.6 {
		t.Errorf("measured %.3fs, want about 0.4s", rep.DurationSeconds)
	}
}

func TestRunUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	_, err = Run(context.Background(), Options{Target: RESP, Addr: addr, Requests: 10, Conns: 1})
	if !errors.Is(err, ErrNoConnection) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Run = %v, want ErrNoConnection naming %s", err, addr)
	}
}

// kvHandler is an in-process stand-in for strata's /v1/kv/{key}.
func kvHandler() http.Handler {
	var mu sync.Mutex
	m := map[string][]byte{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/kv/{key}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		v, ok := m[r.PathValue("key")]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(v)
	})
	mux.HandleFunc("PUT /v1/kv/{key}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		m[r.PathValue("key")] = b
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /static", func(w http.ResponseWriter, r *http.Request) { w.Write(Value(64)) })
	return mux
}

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(kvHandler())
	defer srv.Close()

	rep, err := Run(context.Background(), Options{
		Target: HTTP, URL: srv.URL + "/v1/kv/{key}", Keys: 200, Preload: true,
		ReadRatio: 0.5, Requests: 2000, Conns: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ops != 2000 || rep.Errors != 0 || *rep.HitRatio != 1 || rep.Writes == 0 {
		t.Fatalf("ops %d errors %d %v hit ratio %v writes %d", rep.Ops, rep.Errors, rep.ErrorsByKind, *rep.HitRatio, rep.Writes)
	}

	// Without preload a read-only run misses every time: 404 is a miss,
	// not an error.
	rep, err = Run(context.Background(), Options{
		Target: HTTP, URL: srv.URL + "/v1/kv/{key}", KeyPrefix: "none:", ReadRatio: 1, Requests: 300, Conns: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 0 || rep.Hits != 0 || rep.Misses != 300 {
		t.Fatalf("errors %d hits %d misses %d, want 0/0/300", rep.Errors, rep.Hits, rep.Misses)
	}

	// A static URL: every request is a GET of the same resource.
	rep, err = Run(context.Background(), Options{Target: HTTP, URL: srv.URL + "/static", ReadRatio: 1, Requests: 300, Conns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hits != 300 || rep.Errors != 0 {
		t.Fatalf("static: hits %d errors %d", rep.Hits, rep.Errors)
	}

	// Statuses other than 200/404 are errors, by status.
	rep, err = Run(context.Background(), Options{Target: HTTP, URL: srv.URL + "/nowhere/{key}", ReadRatio: 0, ReadRatioSet: true, Requests: 50, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ErrorsByKind["http 404"] != 50 && rep.ErrorsByKind["http 405"] != 50 {
		t.Fatalf("errors by kind %v, want 50 PUTs refused", rep.ErrorsByKind)
	}
}

func TestRESPErrorReplies(t *testing.T) {
	srv := newFakeRESP(t, func(args []string, _ int) string {
		if args[0] == "SET" {
			return "-READONLY You can't write against a read only replica.\r\n"
		}
		return "$-1\r\n"
	})
	rep, err := Run(context.Background(), Options{Target: RESP, Addr: srv.addr(), ReadRatio: 0.5, Requests: 1000, Conns: 2, Pipeline: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors == 0 || rep.Errors != rep.ErrorsByKind["server READONLY"] || rep.Errors+rep.Ops != 1000 {
		t.Fatalf("ops %d errors %d %v", rep.Ops, rep.Errors, rep.ErrorsByKind)
	}
	if rep.Misses != rep.Reads || rep.Writes != 0 {
		t.Fatalf("reads %d misses %d writes %d", rep.Reads, rep.Misses, rep.Writes)
	}
}

func TestRESPServerClosesMidRun(t *testing.T) {
	var mu sync.Mutex
	m := map[string]string{}
	var drops atomic.Int64
	srv := newFakeRESP(t, func(args []string, n int) string {
		if n == 50 { // every connection dies after 50 commands
			drops.Add(1)
			return closeConn
		}
		return kvReply(&mu, m, args)
	})
	rep, err := Run(context.Background(), Options{Target: RESP, Addr: srv.addr(), Requests: 2000, Conns: 3, Pipeline: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The run survives: connections are redialled, the lost batches are
	// counted as closed-connection errors.
	if drops.Load() == 0 || rep.ErrorsByKind["connection closed"] == 0 {
		t.Fatalf("drops %d, errors %v", drops.Load(), rep.ErrorsByKind)
	}
	if rep.Ops < 1000 {
		t.Fatalf("ops %d: the run did not recover from dropped connections", rep.Ops)
	}
}

func TestRESPServerGoesAway(t *testing.T) {
	srv := newFakeRESP(t, func(args []string, n int) string { return "+OK\r\n" })
	var stopped sync.Once
	rep, err := Run(context.Background(), Options{
		Target: RESP, Addr: srv.addr(), Duration: 600 * time.Millisecond, Conns: 2, ReadRatio: 0, ReadRatioSet: true,
		ProgressInterval: 20 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Phase == PhaseMeasure && p.Elapsed > 200*time.Millisecond {
				stopped.Do(srv.close) // listener and connections gone for good
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ops == 0 || rep.ErrorsByKind["connect: connection refused"] == 0 {
		t.Fatalf("ops %d errors %v, want ops before and refused reconnects after", rep.Ops, rep.ErrorsByKind)
	}
}

func TestOpenLoopRate(t *testing.T) {
	var mu sync.Mutex
	m := map[string]string{}
	srv := newFakeRESP(t, func(args []string, _ int) string { return kvReply(&mu, m, args) })
	rep, err := Run(context.Background(), Options{
		Target: RESP, Addr: srv.addr(), Rate: 2000, Conns: 4, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OpsPerSec < 1700 || rep.OpsPerSec > 2300 {
		t.Fatalf("open loop at 2000 ops/s achieved %.0f ops/s", rep.OpsPerSec)
	}
	if rep.Latency.P50 > 20_000 {
		t.Errorf("p50 %dµs on an idle fake server", rep.Latency.P50)
	}
}

// TestOpenLoopCountsStallAsLatency is the coordinated-omission check: a
// server that stalls once for 200 ms must produce a tail of about 200 ms,
// because every request due during the stall waited for it.
func TestOpenLoopCountsStallAsLatency(t *testing.T) {
	start := time.Now()
	var stall sync.Once
	var mu sync.Mutex
	m := map[string]string{}
	srv := newFakeRESP(t, func(args []string, _ int) string {
		if time.Since(start) > 400*time.Millisecond {
			stall.Do(func() { time.Sleep(200 * time.Millisecond) })
		}
		return kvReply(&mu, m, args)
	})
	// One connection: the stalled connection's backlog is all there is.
	rep, err := Run(context.Background(), Options{
		Target: RESP, Addr: srv.addr(), Rate: 1000, Conns: 1, Duration: 1200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Latency.Max < 180_000 || rep.Latency.P999 < 150_000 {
		t.Fatalf("p99.9 %dµs max %dµs after a 200ms stall; want both near 200ms", rep.Latency.P999, rep.Latency.Max)
	}
	// About a sixth of the requests were due during the stall.
	if rep.Latency.P90 < 20_000 {
		t.Errorf("p90 %dµs: the requests due during the stall were not charged for it", rep.Latency.P90)
	}
	t.Logf("\n%s", rep.Text())
}

func TestCancelEndsRunWithPartialReport(t *testing.T) {
	srv := newFakeRESP(t, func([]string, int) string { return "+OK\r\n" })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rep, err := Run(ctx, Options{Target: RESP, Addr: srv.addr(), Duration: time.Minute, Conns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || rep.Ops == 0 || rep.DurationSeconds > 1 {
		t.Fatalf("interrupted %v ops %d duration %.2f", rep.Interrupted, rep.Ops, rep.DurationSeconds)
	}
}

// sampleReport runs a short benchmark against a fake server.
func sampleReport(t *testing.T, label string, delay time.Duration) *Report {
	t.Helper()
	srv := newFakeRESP(t, func(args []string, n int) string {
		if n%50 == 49 {
			time.Sleep(delay)
		}
		return "$3\r\nabc\r\n"
	})
	rep, err := Run(context.Background(), Options{
		Label: label, Target: RESP, Addr: srv.addr(), Duration: 500 * time.Millisecond, Conns: 2,
		ReadRatio: 1, SampleInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestReportJSONAndText(t *testing.T) {
	rep := sampleReport(t, "fake", time.Millisecond)
	path := filepath.Join(t.TempDir(), "r.json")
	f, _ := os.Create(path)
	if err := rep.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	raw, _ := os.ReadFile(path)
	for _, field := range []string{`"format": "strata-bench/v1"`, `"ops_per_sec"`, `"hit_ratio": 1`, `"latency_us"`, `"p99_9"`, `"histogram"`, `"timeline"`} {
		if !bytes.Contains(raw, []byte(field)) {
			t.Errorf("JSON lacks %s", field)
		}
	}
	back, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := back.Hist()
	if err != nil {
		t.Fatal(err)
	}
	if h.TotalCount() != rep.Ops || h.ValueAtPercentile(99) != rep.Latency.P99 {
		t.Fatalf("histogram round trip: %d values p99 %d, want %d and %d", h.TotalCount(), h.ValueAtPercentile(99), rep.Ops, rep.Latency.P99)
	}
	if len(back.Timeline) < 4 {
		t.Errorf("timeline has %d samples, want about 5", len(back.Timeline))
	}
	text := rep.Text()
	for _, want := range []string{"throughput", "ops/s", "hit ratio   100.00% (", "p99.9", "closed loop"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	if _, err := ReadReport(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("ReadReport of a missing file succeeded")
	}
}

func TestPlotAndCompare(t *testing.T) {
	a := sampleReport(t, "alpha", 0)
	b := sampleReport(t, "beta", 5*time.Millisecond)
	dir := t.TempDir()

	svgPath := filepath.Join(dir, "cmp.svg")
	if err := SavePlot(svgPath, a, b); err != nil {
		t.Fatal(err)
	}
	svg, _ := os.ReadFile(svgPath)
	checkXML(t, svg)
	for _, want := range []string{"<svg", "alpha", "beta", "99.9%", "99.999%", "Throughput"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if n := bytes.Count(svg, []byte("<path")); n < 10 {
		t.Errorf("SVG has %d paths; expected axes, grid and series", n)
	}

	pngPath := filepath.Join(dir, "one.png")
	if err := SavePlot(pngPath, a); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(pngPath)
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() < 500 || img.Bounds().Dy() < 300 {
		t.Errorf("PNG is %v", img.Bounds())
	}
	if err := SavePlot(filepath.Join(dir, "x.gif"), a); err == nil || !strings.Contains(err.Error(), ".svg or .png") {
		t.Errorf("SavePlot(.gif) = %v", err)
	}

	out := Compare(*a, *b)
	for _, want := range []string{"A: alpha", "B: beta", "throughput (ops/s)", "latency p99.9", "B/A", "x"} {
		if !strings.Contains(out, want) {
			t.Errorf("Compare lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
}

// checkXML fails unless b is well-formed XML.
func checkXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

func TestPercentileLabels(t *testing.T) {
	want := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"}
	for i, w := range want {
		if got := percentLabel(i); got != w {
			t.Errorf("percentLabel(%d) = %q, want %q", i, got, w)
		}
	}
}

func TestPlainProgressLines(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, time.Millisecond)
	p(Progress{Phase: PhaseMeasure, Elapsed: time.Second, Total: 10 * time.Second, Done: 1000, Rate: 1000})
	p(Progress{Phase: PhaseDone, Elapsed: 10 * time.Second, Done: 10000, Rate: 1000})
	out := buf.String()
	if !strings.Contains(out, "bench: measure 1.0s/10.0s  1,000 ops/s  0 errors") || !strings.Contains(out, "bench: done in 10.0s") {
		t.Fatalf("progress lines:\n%s", out)
	}
}

func TestFormatMicros(t *testing.T) {
	for us, want := range map[float64]string{87: "87µs", 1250: "1.25ms", 45_000: "45.0ms", 200_000: "200ms", 2_100_000: "2.10s"} {
		if got := FormatMicros(us); got != want {
			t.Errorf("FormatMicros(%v) = %q, want %q", us, got, want)
		}
	}
	if got := thousands(1234567); got != "1,234,567" {
		t.Errorf("thousands = %q", got)
	}
}
