package loadgen

import (
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// NewProgress returns a function for Options.Progress that reports to w: a
// progress bar (elapsed/total and current ops/s) when w is a terminal, and
// otherwise one plain line per lineEvery (1s when 0) plus one at every phase
// change, which suits logs and CI output.
func NewProgress(w io.Writer, lineEvery time.Duration) func(Progress) {
	if lineEvery <= 0 {
		lineEvery = time.Second
	}
	if f, ok := w.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
		return (&barProgress{w: w}).update
	}
	return (&lineProgress{w: w, every: lineEvery}).update
}

// describe renders the position within the phase: "3.0s/10.0s" or
// "12,000/100,000".
func describe(p Progress) string {
	if p.TotalOps > 0 && p.Phase != PhaseWarmup {
		return fmt.Sprintf("%s/%s", thousands(p.Done), thousands(p.TotalOps))
	}
	if p.Total > 0 {
		return fmt.Sprintf("%.1fs/%.1fs", p.Elapsed.Seconds(), p.Total.Seconds())
	}
	return fmt.Sprintf("%.1fs", p.Elapsed.Seconds())
}

func rateString(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		r = 0
	}
	return thousands(int64(math.Round(r))) + " ops/s"
}

// lineProgress writes plain lines.
type lineProgress struct {
	mu    sync.Mutex
	w     io.Writer
	every time.Duration
	phase Phase
	last  time.Time
}

func (l *lineProgress) update(p Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if p.Phase == l.phase && now.Sub(l.last) < l.every {
		return
	}
	l.phase, l.last = p.Phase, now
	if p.Phase == PhaseDone {
		fmt.Fprintf(l.w, "bench: done in %.1fs: %s ops, %s, %s errors\n",
			p.Elapsed.Seconds(), thousands(p.Done), rateString(p.Rate), thousands(p.Errors))
		return
	}
	fmt.Fprintf(l.w, "bench: %-7s %s  %s  %s errors\n", p.Phase, describe(p), rateString(p.Rate), thousands(p.Errors))
}

// barProgress draws one progress bar per phase.
type barProgress struct {
	mu    sync.Mutex
	w     io.Writer
	phase Phase
	bar   *progressbar.ProgressBar
	byOps bool
}

func (b *barProgress) update(p Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.Phase == PhaseDone {
		if b.bar != nil {
			_ = b.bar.Finish()
			fmt.Fprintln(b.w)
			b.bar = nil
		}
		return
	}
	if p.Phase != b.phase || b.bar == nil {
		if b.bar != nil {
			_ = b.bar.Finish()
			fmt.Fprintln(b.w)
		}
		b.phase = p.Phase
		b.byOps = p.TotalOps > 0 && p.Phase != PhaseWarmup
		total := p.Total.Milliseconds()
		if b.byOps {
			total = p.TotalOps
		}
		b.bar = progressbar.NewOptions64(max(total, 1),
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionShowDescriptionAtLineEnd(),
		)
	}
	cur := p.Elapsed.Milliseconds()
	if b.byOps {
		cur = p.Done
	}
	b.bar.Describe(fmt.Sprintf("%-7s %s  %s  %s errors", p.Phase, describe(p), rateString(p.Rate), thousands(p.Errors)))
	_ = b.bar.Set64(min(cur, b.bar.GetMax64()))
}
