package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: 1µs to 60s at 3 significant digits, in microseconds.
const (
	histMinMicros = 1
	histMaxMicros = 60_000_000
	histSigFigs   = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)
}

// Phase names a stage of a run in Progress.
type Phase string

const (
	// PhasePreload writes every key once.
	PhasePreload Phase = "preload"
	// PhaseWarmup runs the workload without recording it.
	PhaseWarmup Phase = "warmup"
	// PhaseMeasure runs the workload and records it.
	PhaseMeasure Phase = "measure"
	// PhaseDone is reported once, after the last operation.
	PhaseDone Phase = "done"
)

// Progress is the state of a run, passed to Options.Progress.
type Progress struct {
	// Phase is the current stage.
	Phase Phase
	// Elapsed is the time spent in the phase.
	Elapsed time.Duration
	// Total is the planned length of the phase, or 0 when it ends by
	// count (preload, --requests).
	Total time.Duration
	// Done is the number of operations completed in the phase.
	Done int64
	// TotalOps is the planned number of operations of the phase, or 0 when
	// it ends by time.
	TotalOps int64
	// Rate is the throughput over the last interval, in operations per
	// second.
	Rate float64
	// Errors is the number of errors so far in the phase.
	Errors int64
}

// ErrNoConnection is returned by Run when the target cannot be reached
// before the run starts.
var ErrNoConnection = errors.New("loadgen: cannot reach target")

// Run executes the benchmark o describes and returns its report. It first
// checks that the target answers (returning ErrNoConnection if not), then
// preloads, warms up and measures. Cancelling ctx ends the run early: the
// report covers what was measured and has Interrupted set. Errors during the
// run (dropped connections, error replies, bad statuses) are counted in the
// report, not returned; connections that fail are redialled.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	tgt, err := newTarget(&o)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOptions, err)
	}
	defer tgt.close()

	r := &runner{o: &o, tgt: tgt}
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	defer r.closeClients()
	if o.Preload {
		if err := r.preload(ctx); err != nil {
			return nil, err
		}
	}
	return r.measure(ctx)
}

// runner holds the state of one Run.
type runner struct {
	o       *Options
	tgt     target
	clients []client

	// Counters shared with the progress goroutine.
	done   atomic.Int64 // ops completed in the current phase
	errs   atomic.Int64 // errors in the current phase
	phase  atomic.Pointer[Phase]
	claims atomic.Int64 // measured ops claimed, with Requests
}

// connect dials every connection and proves the target answers with one
// read, so a wrong address fails fast with a clear error.
func (r *runner) connect(ctx context.Context) error {
	r.clients = make([]client, r.o.Conns)
	for i := range r.clients {
		c, err := r.tgt.dial(ctx)
		if err != nil {
			r.closeClients()
			return fmt.Errorf("%w: %s: %v", ErrNoConnection, r.where(), err)
		}
		r.clients[i] = c
	}
	res := make([]result, 1)
	pctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	if err := r.clients[0].do(pctx, []op{{key: 0}}, res); err != nil {
		r.closeClients()
		return fmt.Errorf("%w: %s: %v", ErrNoConnection, r.where(), err)
	}
	return nil
}

func (r *runner) where() string {
	if r.o.Target == RESP {
		return r.o.Addr
	}
	return r.o.URL
}

func (r *runner) closeClients() {
	for i, c := range r.clients {
		if c != nil {
			_ = c.close()
			r.clients[i] = nil
		}
	}
}

// redial replaces connection i after a failure, retrying with backoff until
// it succeeds or ctx ends. Each failed attempt is counted in st.
func (r *runner) redial(ctx context.Context, i int, st *connStats, count bool) bool {
	if r.clients[i] != nil {
		_ = r.clients[i].close()
		r.clients[i] = nil
	}
	backoff := 5 * time.Millisecond
	for ctx.Err() == nil {
		c, err := r.tgt.dial(ctx)
		if err == nil {
			r.clients[i] = c
			return true
		}
		if ctx.Err() != nil {
			break
		}
		if count {
			st.errorKind("connect: "+errorKind(err), 1)
			r.errs.Add(1)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, 250*time.Millisecond)
	}
	return false
}

// preload writes every key once, spreading the keys over all connections in
// batches. Any failed write fails the run: reads of a half-loaded key space
// would measure something else than asked.
func (r *runner) preload(ctx context.Context) error {
	total := int64(r.o.Keys)
	batch := 1
	if r.o.Target == RESP {
		batch = max(r.o.Pipeline, 32)
	}
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.setPhase(PhasePreload)
	stopProgress := r.progress(PhasePreload, 0, total)
	var wg sync.WaitGroup
	for i := range r.clients {
		wg.Go(func() {
			ops := make([]op, 0, batch)
			res := make([]result, batch)
			for pctx.Err() == nil {
				start := next.Add(int64(batch)) - int64(batch)
				if start >= total {
					return
				}
				ops = ops[:0]
				for k := start; k < min(start+int64(batch), total); k++ {
					ops = append(ops, op{write: true, key: int(k)})
				}
				if err := r.clients[i].do(pctx, ops, res[:len(ops)]); err != nil {
					fail(fmt.Errorf("loadgen: preload: %s: %w", r.where(), err))
					cancel()
					return
				}
				for _, x := range res[:len(ops)] {
					if x.kind == resError {
						fail(fmt.Errorf("loadgen: preload: %s refused a write: %s", r.where(), x.errKind))
						cancel()
						return
					}
				}
				r.done.Add(int64(len(ops)))
			}
		})
	}
	wg.Wait()
	stopProgress()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func (r *runner) setPhase(p Phase) {
	r.phase.Store(&p)
	r.done.Store(0)
	r.errs.Store(0)
}

// progress starts the goroutine that calls Options.Progress for phase until
// the returned function is called; that function waits for it to exit.
func (r *runner) progress(phase Phase, total time.Duration, totalOps int64) func() {
	if r.o.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	exited := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(exited)
		t := time.NewTicker(r.o.ProgressInterval)
		defer t.Stop()
		lastN, lastT, lastRate, lastPhase := int64(0), start, 0.0, *r.phase.Load()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				p := *r.phase.Load()
				if p != phase && !(phase == PhaseWarmup && p == PhaseMeasure) {
					continue
				}
				n := r.done.Load()
				rate := float64(n-lastN) / now.Sub(lastT).Seconds()
				if p != lastPhase {
					// The counters were reset at the phase change, some
					// time within this interval: keep the last rate.
					rate, lastPhase = lastRate, p
				}
				lastN, lastT, lastRate = n, now, rate
				el, tot := now.Sub(start), total
				if p == PhaseMeasure && phase == PhaseWarmup {
					// One goroutine covers warm-up and measurement; report
					// the measurement phase on its own clock.
					el -= r.o.Warmup
					tot -= r.o.Warmup
				} else if p == PhaseWarmup {
					tot = r.o.Warmup
				}
				ops := totalOps
				if p == PhaseWarmup {
					ops = 0
				}
				r.o.Progress(Progress{Phase: p, Elapsed: el, Total: tot, Done: n, TotalOps: ops, Rate: rate, Errors: r.errs.Load()})
			}
		}
	}()
	return func() {
		close(stop)
		<-exited
	}
}

// connStats is what one load goroutine records; they are merged at the end,
// so the hot path shares nothing but two atomic counters.
type connStats struct {
	hist                 *hdrhistogram.Histogram
	ops, reads, writes   int64
	hits, misses, errors int64
	errorsByKind         map[string]int64
	lastAt               time.Time
	tlStart              time.Time
	tlInterval           time.Duration
	timeline             []int64 // completed ops per tlInterval since tlStart
}

func (s *connStats) errorKind(kind string, n int64) {
	if s.errorsByKind == nil {
		s.errorsByKind = make(map[string]int64)
	}
	s.errorsByKind[kind] += n
	s.errors += n
}

// record adds the results of a batch sent (or due, in the open loop) at
// start.
func (s *connStats) record(ops []op, res []result, start time.Time) {
	for i, x := range res {
		if x.kind == resError {
			s.errorKind(x.errKind, 1)
			continue
		}
		us := x.at.Sub(start).Microseconds()
		if us < histMinMicros {
			us = histMinMicros
		} else if us > histMaxMicros {
			us = histMaxMicros
		}
		_ = s.hist.RecordValue(us)
		s.ops++
		if ops[i].write {
			s.writes++
		} else {
			s.reads++
			if x.kind == resMiss {
				s.misses++
			} else {
				s.hits++
			}
		}
		if x.at.After(s.lastAt) {
			s.lastAt = x.at
		}
	}
}

// measure runs warm-up and measurement on every connection.
func (r *runner) measure(ctx context.Context) (*Report, error) {
	o := r.o
	t0 := time.Now()
	measureStart := t0.Add(o.Warmup)
	var end time.Time // zero with Requests
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Duration > 0 {
		end = measureStart.Add(o.Duration)
		var c2 context.CancelFunc
		runCtx, c2 = context.WithDeadline(runCtx, end)
		defer c2()
	}

	first := PhaseMeasure
	if o.Warmup > 0 {
		first = PhaseWarmup
	}
	r.setPhase(first)
	r.claims.Store(0)
	stopProgress := r.progress(PhaseWarmup, o.Warmup+o.Duration, o.Requests)
	var phaseOnce sync.Once
	enterMeasure := func() {
		phaseOnce.Do(func() {
			if first == PhaseWarmup {
				r.setPhase(PhaseMeasure)
			}
		})
	}
	if o.Warmup == 0 {
		enterMeasure()
	} else {
		// Switch the counters to the measurement phase on time even if no
		// operation completes right then.
		tm := time.AfterFunc(o.Warmup, enterMeasure)
		defer tm.Stop()
	}

	stats := make([]*connStats, len(r.clients))
	var wg sync.WaitGroup
	for i := range r.clients {
		st := &connStats{hist: newHistogram(), tlStart: measureStart, tlInterval: o.SampleInterval}
		stats[i] = st
		w := &worker{r: r, i: i, st: st, measureStart: measureStart, enterMeasure: enterMeasure,
			rng: rand.New(rand.NewPCG(o.Seed, uint64(i)))}
		w.chooser = newChooser(o, w.rng)
		wg.Go(func() { w.run(runCtx, t0) })
	}
	wg.Wait()
	finished := time.Now()
	stopProgress()
	if o.Progress != nil {
		var n, e int64
		for _, s := range stats {
			n += s.ops
			e += s.errors
		}
		el := finished.Sub(measureStart)
		o.Progress(Progress{Phase: PhaseDone, Elapsed: el, Total: o.Duration, Done: n, TotalOps: o.Requests,
			Rate: float64(n) / el.Seconds(), Errors: e})
	}

	rep := newReport(o, measureStart, finished, stats)
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

// worker drives one connection.
type worker struct {
	r            *runner
	i            int
	st           *connStats
	rng          *rand.Rand
	chooser      keyChooser
	measureStart time.Time
	enterMeasure func()
}

// nextBatch fills ops with up to n operations of the workload.
func (w *worker) nextBatch(ops []op, n int) []op {
	ops = ops[:0]
	for range n {
		write := w.r.o.ReadRatio < 1 && w.rng.Float64() >= w.r.o.ReadRatio
		ops = append(ops, op{write: write, key: w.chooser.next()})
	}
	return ops
}

// claim returns how many of want operations may still be measured when the
// run ends by count, and want otherwise.
func (w *worker) claim(want int, measuring bool) int {
	if w.r.o.Requests == 0 || !measuring {
		return want
	}
	after := w.r.claims.Add(int64(want))
	over := after - w.r.o.Requests
	if over <= 0 {
		return want
	}
	return max(0, want-int(over))
}

// run is the loop of one connection. In the closed loop the next batch goes
// out when the last reply is in, and latency is measured from the actual
// send. In the open loop batch k is due at start + offset + k*interval, and
// latency is measured from that due time whether or not the send was late:
// a stalled server makes the backlog, and its latency, visible.
func (w *worker) run(ctx context.Context, t0 time.Time) {
	o := w.r.o
	p := o.Pipeline
	ops := make([]op, 0, p)
	res := make([]result, p)
	var interval, offset float64 // nanoseconds, open loop only
	if o.Rate > 0 {
		interval = float64(o.Conns*p) / o.Rate * 1e9
		offset = interval * float64(w.i) / float64(o.Conns)
	}
	fails := 0 // consecutive failed batches, for backoff
	for k := 0; ctx.Err() == nil; k++ {
		var start time.Time
		if o.Rate > 0 {
			start = t0.Add(time.Duration(offset + float64(k)*interval))
			if d := time.Until(start); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		} else {
			start = time.Now()
		}
		measuring := !start.Before(w.measureStart)
		if measuring {
			w.enterMeasure()
		}
		n := w.claim(p, measuring)
		if n == 0 {
			return
		}
		ops = w.nextBatch(ops, n)
		if o.Rate == 0 {
			start = time.Now() // after building the batch: the send time
		}
		err := w.r.clients[w.i].do(ctx, ops, res[:n])
		if ctx.Err() != nil {
			return // the run ended while the batch was in flight: not an error
		}
		if err != nil {
			if measuring {
				w.st.errorKind(errorKind(err), int64(n))
				w.r.errs.Add(int64(n))
			}
			if !w.r.redial(ctx, w.i, w.st, measuring) {
				return
			}
			// Back off while failures repeat: an HTTP server that refuses
			// connections fails every request at once, and spinning on it
			// would only inflate the error count and steal CPU.
			if fails++; fails > 1 && !sleepCtx(ctx, min(time.Millisecond<<min(fails-2, 8), 250*time.Millisecond)) {
				return
			}
			continue
		}
		fails = 0
		if measuring {
			before := w.st.ops
			w.st.record(ops, res[:n], start)
			if d := w.st.ops - before; d > 0 {
				w.r.done.Add(d)
				w.st.addTimeline(res[n-1].at, d)
			}
			if e := int64(n) - (w.st.ops - before); e > 0 {
				w.r.errs.Add(e)
			}
		} else {
			w.r.done.Add(int64(n))
		}
	}
}

// addTimeline counts n operations completed at at in the throughput
// series. Each worker keeps its own buckets, merged at the end, so the hot
// path takes no lock.
func (s *connStats) addTimeline(at time.Time, n int64) {
	i := int(at.Sub(s.tlStart) / s.tlInterval)
	if i < 0 {
		return
	}
	if i >= len(s.timeline) {
		s.timeline = append(s.timeline, make([]int64, i+1-len(s.timeline))...)
	}
	s.timeline[i] += n
}

// timelineSamples merges the workers' buckets into throughput samples from
// start to end; the last interval is scaled by its actual length.
func timelineSamples(stats []*connStats, start, end time.Time, interval time.Duration) []Sample {
	total := end.Sub(start)
	if total <= 0 {
		return nil
	}
	n := int((total + interval - 1) / interval)
	counts := make([]int64, n)
	for _, s := range stats {
		for i, c := range s.timeline {
			if i < n {
				counts[i] += c
			} else {
				counts[n-1] += c // completed in the last instant
			}
		}
	}
	out := make([]Sample, 0, n)
	for i, c := range counts {
		from := time.Duration(i) * interval
		to := min(from+interval, total)
		if to-from < interval/10 && i > 0 {
			continue // a sliver at the end gives a meaningless rate
		}
		out = append(out, Sample{T: to.Seconds(), OpsPerSec: float64(c) / (to - from).Seconds()})
	}
	return out
}

// sleepCtx sleeps for d or until ctx ends, and reports whether it slept the
// whole time.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
