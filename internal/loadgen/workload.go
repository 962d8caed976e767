package loadgen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Dist names how keys are chosen from the key space.
type Dist string

const (
	// Uniform picks every key with the same probability.
	Uniform Dist = "uniform"
	// Zipf picks key i (0-based) with probability proportional to
	// 1/(i+1)^s, so key 0 is the hottest. It models the skewed popularity
	// that makes caches worth having.
	Zipf Dist = "zipf"
)

// TargetKind names the protocol spoken to the server under test.
type TargetKind string

const (
	// RESP is the Redis protocol: GET and SET over raw TCP, pipelined.
	RESP TargetKind = "resp"
	// HTTP is GET (and PUT for writes) of a URL built from a template.
	HTTP TargetKind = "http"
)

// ErrInvalidOptions is wrapped by every error Options.Validate returns, so
// callers can tell a usage error from a run failure.
var ErrInvalidOptions = errors.New("loadgen: invalid options")

// Options describes one benchmark run. The zero value is not usable: set at
// least Target and Addr or URL, then call Validate (Run does so) to fill in
// the defaults documented on each field.
type Options struct {
	// Label names the run in reports and plots, e.g. "redis" or "strata".
	// Default: the target's address or URL.
	Label string

	// Target is the protocol: RESP or HTTP. Required.
	Target TargetKind
	// Addr is the host:port of a RESP server. Required for RESP.
	Addr string
	// URL is the HTTP URL template. "{key}" in it is replaced by the
	// path-escaped key, e.g. "http://127.0.0.1:8080/v1/kv/{key}"; reads are
	// GETs, writes are PUTs of the value. A URL without "{key}" is a static
	// resource (an nginx file, say): every request is a GET of that URL and
	// ReadRatio must be 1. Required for HTTP.
	URL string

	// Keys is the size of the key space. Default 10000.
	Keys int
	// KeyPrefix is prepended to the decimal key index. Default "key:".
	KeyPrefix string
	// Dist is the key distribution. Default Zipf.
	Dist Dist
	// ZipfS is the Zipf skew exponent; it must be > 0. 0.99 is the YCSB
	// default and is used when the field is 0.
	ZipfS float64
	// ReadRatio is the fraction of operations that are reads, in [0, 1].
	// Use ReadRatioSet to request 0 (writes only); a zero ReadRatio with
	// ReadRatioSet false means the default, 0.9.
	ReadRatio float64
	// ReadRatioSet records that ReadRatio was chosen explicitly.
	ReadRatioSet bool
	// ValueSize is the size in bytes of written values. Default 64.
	ValueSize int

	// Conns is the number of connections, each driven by one goroutine.
	// Default 50.
	Conns int
	// Pipeline is the number of requests a RESP connection sends before
	// reading the replies. HTTP requires 1. Default 1.
	Pipeline int
	// Duration is how long to measure, after warm-up. Default 10s unless
	// Requests is set.
	Duration time.Duration
	// Requests, when > 0, ends the run after that many measured
	// operations instead of after Duration.
	Requests int64
	// Rate, when > 0, selects the open loop: operations per second across
	// all connections, each connection on its own fixed timeline. 0 selects
	// the closed loop.
	Rate float64
	// Preload writes every key once before warm-up, so reads hit.
	Preload bool
	// Warmup is run before measuring; its operations are not recorded.
	// Default 0 (the CLI defaults to 1s).
	Warmup time.Duration
	// Timeout bounds each request or pipeline batch. Default 5s.
	Timeout time.Duration

	// Seed makes key choice reproducible: connection i uses a generator
	// seeded with (Seed, i). Default 1.
	Seed uint64
	// Progress, when set, is called about every ProgressInterval from one
	// goroutine with the run's state; see NewProgress for a ready-made one.
	Progress func(Progress)
	// ProgressInterval is the period of Progress calls. Default 200ms.
	ProgressInterval time.Duration
	// SampleInterval is the bucket width of Report.Timeline. Default 1s.
	SampleInterval time.Duration
}

// Validate fills in defaults and checks every field, returning an error that
// names the offending option (in CLI flag terms) and what it allows.
func (o *Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	switch o.Target {
	case RESP:
		if o.Addr == "" {
			return bad("target resp needs an address (--addr host:port)")
		}
	case HTTP:
		if o.URL == "" {
			return bad("target http needs a URL (--url, e.g. http://127.0.0.1:8080/v1/kv/{key})")
		}
		if _, err := parseURLTemplate(o.URL); err != nil {
			return bad("--url %q: %v", o.URL, err)
		}
	case "":
		return bad("no target: set --target to resp or http")
	default:
		return bad("--target %q: must be resp or http", o.Target)
	}
	if o.Keys == 0 {
		o.Keys = 10000
	}
	if o.Keys < 0 {
		return bad("--keys %d: must be at least 1", o.Keys)
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "key:"
	}
	if o.Dist == "" {
		o.Dist = Zipf
	}
	switch o.Dist {
	case Zipf:
		if o.ZipfS == 0 {
			o.ZipfS = 0.99
		}
		if !(o.ZipfS > 0) || math.IsInf(o.ZipfS, 0) {
			return bad("--zipf-s %v: must be a number > 0 (0.99 is the YCSB default; larger is more skewed)", o.ZipfS)
		}
	case Uniform:
	default:
		return bad("--dist %q: must be zipf or uniform", o.Dist)
	}
	if !o.ReadRatioSet && o.ReadRatio == 0 {
		o.ReadRatio = 0.9
	}
	if !(o.ReadRatio >= 0 && o.ReadRatio <= 1) {
		return bad("--read-ratio %v: must be between 0 and 1 (0.9 = 90%% GETs)", o.ReadRatio)
	}
	if o.Target == HTTP && !hasKey(o.URL) && o.ReadRatio != 1 {
		return bad("--url %q has no {key}, so it can only be read: pass --read-ratio 1", o.URL)
	}
	if o.ValueSize == 0 {
		o.ValueSize = 64
	}
	if o.ValueSize < 0 {
		return bad("--value-size %d: must be at least 1 byte", o.ValueSize)
	}
	if o.Conns == 0 {
		o.Conns = 50
	}
	if o.Conns < 0 {
		return bad("--conns %d: must be at least 1", o.Conns)
	}
	if o.Pipeline == 0 {
		o.Pipeline = 1
	}
	if o.Pipeline < 0 {
		return bad("--pipeline %d: must be at least 1", o.Pipeline)
	}
	if o.Target == HTTP && o.Pipeline != 1 {
		return bad("--pipeline %d: HTTP requests are not pipelined; use --pipeline 1 (or --conns for concurrency)", o.Pipeline)
	}
	if o.Requests < 0 {
		return bad("--requests %d: must be at least 1 (or 0 to run for --duration)", o.Requests)
	}
	if o.Duration < 0 {
		return bad("--duration %v: must be positive", o.Duration)
	}
	if o.Duration == 0 && o.Requests == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Duration > 0 && o.Requests > 0 {
		return bad("--duration and --requests are exclusive: pass one")
	}
	if !(o.Rate >= 0) || math.IsInf(o.Rate, 0) {
		return bad("--rate %v: must be 0 (closed loop) or a positive number of operations per second", o.Rate)
	}
	if o.Warmup < 0 {
		return bad("--warmup %v: must be 0 or positive", o.Warmup)
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Timeout < 0 {
		return bad("timeout %v: must be positive", o.Timeout)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 200 * time.Millisecond
	}
	if o.SampleInterval <= 0 {
		o.SampleInterval = time.Second
	}
	if o.Label == "" {
		o.Label = o.Addr
		if o.Target == HTTP {
			o.Label = o.URL
		}
	}
	return nil
}

// keyChooser returns key indexes in [0, n) with some distribution. Each
// connection owns one; it is not safe for concurrent use.
type keyChooser interface {
	next() int
}

// newChooser returns the chooser the options describe, drawing from r.
func newChooser(o *Options, r *rand.Rand) keyChooser {
	if o.Dist == Uniform {
		return uniform{r: r, n: o.Keys}
	}
	return newZipf(r, o.Keys, o.ZipfS)
}

type uniform struct {
	r *rand.Rand
	n int
}

func (u uniform) next() int { return u.r.IntN(u.n) }

// zipf samples ranks 1..n with P(k) ∝ k^-s by rejection-inversion
// (Hörmann and Derflinger, "Rejection-inversion to generate variates from
// monotone discrete distributions", 1996), as in Apache Commons RNG. Unlike
// math/rand's Zipf it accepts any s > 0, including the s < 1 that real cache
// workloads show (YCSB's 0.99), and unlike the Gray et al. method it needs no
// O(n) zeta sum at start, so a key space of 100 million costs nothing.
type zipf struct {
	r           *rand.Rand
	n           float64
	s           float64
	hIntegralX1 float64
	hIntegralN  float64
	squeeze     float64
	nInt        int
}

func newZipf(r *rand.Rand, n int, s float64) *zipf {
	z := &zipf{r: r, n: float64(n), s: s, nInt: n}
	z.hIntegralX1 = z.hIntegral(1.5) - 1
	z.hIntegralN = z.hIntegral(z.n + 0.5)
	z.squeeze = 2 - z.hIntegralInverse(z.hIntegral(2.5)-z.h(2))
	return z
}

// next returns a 0-based key index; 0 is the most popular.
func (z *zipf) next() int {
	for {
		u := z.hIntegralN + z.r.Float64()*(z.hIntegralX1-z.hIntegralN)
		x := z.hIntegralInverse(u)
		k := math.Floor(x + 0.5)
		if k < 1 {
			k = 1
		} else if k > z.n {
			k = z.n
		}
		if k-x <= z.squeeze || u >= z.hIntegral(k+0.5)-z.h(k) {
			return int(k) - 1
		}
	}
}

// h is the unnormalised density x^-s.
func (z *zipf) h(x float64) float64 { return math.Exp(-z.s * math.Log(x)) }

// hIntegral is an antiderivative of h: (x^(1-s) - 1)/(1-s), or log x when
// s = 1, computed without cancellation near s = 1.
func (z *zipf) hIntegral(x float64) float64 {
	lx := math.Log(x)
	return helper2((1-z.s)*lx) * lx
}

// hIntegralInverse inverts hIntegral.
func (z *zipf) hIntegralInverse(x float64) float64 {
	t := x * (1 - z.s)
	if t < -1 {
		t = -1 // numerical safety: x is never below hIntegral's limit
	}
	return math.Exp(helper1(t) * x)
}

// helper1 is log1p(x)/x, continuous at 0.
func helper1(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x*(1.0/3-0.25*x))
}

// helper2 is expm1(x)/x, continuous at 0.
func helper2(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x*0.5*(1+x*(1.0/3)*(1+0.25*x))
}

// appendKey appends the name of key index i to dst.
func appendKey(dst []byte, prefix string, i int) []byte {
	dst = append(dst, prefix...)
	return strconv.AppendInt(dst, int64(i), 10)
}

// Value returns the value the generator writes: size bytes of 'x'. It is
// exported so side-by-side scripts can serve the very same bytes from a file
// (head -c SIZE /dev/zero | tr '\0' x).
func Value(size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = 'x'
	}
	return v
}
