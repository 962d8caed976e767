package loadgen

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// maxPlotNines is how far right the percentile plot goes: 99.999%.
const maxPlotNines = 5

// seriesColors are distinguishable on white and in grey scale print.
var seriesColors = []color.RGBA{
	{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
	{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
	{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
	{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // orange
	{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // purple
}

// PlotFormat returns the image format for path from its extension: "svg"
// or "png".
func PlotFormat(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg":
		return "svg", nil
	case ".png":
		return "png", nil
	default:
		return "", fmt.Errorf("loadgen: plot %q: the file name must end in .svg or .png", path)
	}
}

// SavePlot writes WritePlot's image of reports to path, in the format its
// extension names (.svg or .png).
func SavePlot(path string, reports ...*Report) error {
	format, err := PlotFormat(path)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("loadgen: plot: %w", err)
	}
	if err := WritePlot(f, format, reports...); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("loadgen: plot: %w", err)
	}
	return nil
}

// WritePlot draws reports into one image in format ("svg" or "png"). The
// top panel is the HdrHistogram percentile plot: latency (ms) against
// percentile on a log axis from 0% to 99.999%, one curve per report, so
// tails that differ by orders of magnitude stay readable. The bottom panel,
// drawn when any report has a timeline, is throughput over time.
func WritePlot(w io.Writer, format string, reports ...*Report) error {
	if len(reports) == 0 {
		return errors.New("loadgen: plot: no reports")
	}
	lat, err := percentilePlot(reports)
	if err != nil {
		return err
	}
	rows := [][]*plot.Plot{{lat}}
	if tp := throughputPlot(reports); tp != nil {
		rows = append(rows, []*plot.Plot{tp})
	}

	width, height := 9*vg.Inch, 4.5*vg.Inch*vg.Length(len(rows))
	var c vg.CanvasWriterTo
	switch format {
	case "svg":
		c = vgsvg.New(width, height)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))}
	default:
		return fmt.Errorf("loadgen: plot: format %q: must be svg or png", format)
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(18)}
	canvases := plot.Align(rows, tiles, dc)
	for i, row := range rows {
		row[0].Draw(canvases[i][0])
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("loadgen: plot: %w", err)
	}
	return nil
}

// percentilePlot draws latency by percentile. X is 1/(1-q) on a log scale,
// so 90%, 99%, 99.9% ... are evenly spaced.
func percentilePlot(reports []*Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Latency by percentile"
	if len(reports) == 1 {
		p.Title.Text += ": " + reports[0].Label
	}
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.X.Min, p.X.Max = 1, math.Pow(10, maxPlotNines)
	// Log latency too: a p50 of 100µs and a max of 200ms both stay legible.
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = latencyTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(10)
	top, bottom := 0.0, math.Inf(1)
	for i, r := range reports {
		h, err := r.Hist()
		if err != nil {
			return nil, err
		}
		xys := percentileCurve(h)
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("loadgen: plot %q: %w", r.Label, err)
		}
		top = math.Max(top, xys[len(xys)-1].Y)
		bottom = math.Min(bottom, xys[0].Y)
		l.Color = seriesColors[i%len(seriesColors)]
		l.Width = vg.Points(1.8)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s  (p99 %s, max %s)", r.Label,
			FormatMicros(float64(r.Latency.P99)), FormatMicros(float64(r.Latency.Max))), l)
	}
	if top > 0 {
		// Headroom, so the maximum does not hide in the frame.
		p.Y.Min, p.Y.Max = math.Max(bottom, 0.001)/1.3, top*1.3
	} else {
		p.Y.Min, p.Y.Max = 0.001, 1
	}
	return p, nil
}

// percentileCurve samples h at 40 points per decade of 1/(1-q), up to
// 99.999% or the last percentile the sample count can resolve, then the
// maximum. Latencies are converted to milliseconds.
func percentileCurve(h *hdrhistogram.Histogram) plotter.XYs {
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	limit := math.Min(math.Pow(10, maxPlotNines), float64(n))
	const perDecade = 40
	var xys plotter.XYs
	for i := 0; ; i++ {
		x := math.Pow(10, float64(i)/perDecade)
		if x > limit {
			break
		}
		q := 100 * (1 - 1/x)
		xys = append(xys, plotter.XY{X: x, Y: float64(h.ValueAtPercentile(q)) / 1000})
	}
	xys = append(xys, plotter.XY{X: limit, Y: float64(h.Max()) / 1000})
	return xys
}

// percentileTicks labels the log axis of 1/(1-q) with percentiles.
type percentileTicks struct{}

// Ticks returns major ticks at 0%, 90%, 99% ... and minor ticks between.
func (percentileTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for d := 0; d <= maxPlotNines; d++ {
		x := math.Pow(10, float64(d))
		if x >= min && x <= max {
			ticks = append(ticks, plot.Tick{Value: x, Label: percentLabel(d)})
		}
		for m := 2; m < 10 && d < maxPlotNines; m++ {
			if v := x * float64(m); v >= min && v <= max {
				ticks = append(ticks, plot.Tick{Value: v})
			}
		}
	}
	return ticks
}

// percentLabel names the percentile 1 - 10^-nines: "0%", "90%", "99.9%".
func percentLabel(nines int) string {
	if nines == 0 {
		return "0%"
	}
	if nines == 1 {
		return "90%"
	}
	if nines == 2 {
		return "99%"
	}
	return "99." + strings.Repeat("9", nines-2) + "%"
}

// latencyTicks labels a log axis of milliseconds at 1, 2 and 5 times each
// power of ten, with minor ticks between.
type latencyTicks struct{}

// Ticks returns the ticks between min and max.
func (latencyTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		base := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			v := base * float64(m)
			if v < min || v > max {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', 3, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// throughputPlot draws ops/s over time, or returns nil when no report has
// a timeline.
func throughputPlot(reports []*Report) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Throughput"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "ops/s"
	p.X.Min, p.Y.Min = 0, 0
	p.Y.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick {
		ticks := plot.DefaultTicks{}.Ticks(min, max)
		for i := range ticks {
			if ticks[i].Label != "" {
				ticks[i].Label = thousands(int64(ticks[i].Value))
			}
		}
		return ticks
	})
	p.Add(plotter.NewGrid())
	// Bottom left: the lines run high, and a left-aligned legend that a
	// viewer renders in a wider substitute font spills into empty space.
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(10)
	p.Legend.YOffs = vg.Points(6)
	any := false
	for i, r := range reports {
		if len(r.Timeline) == 0 {
			continue
		}
		xys := make(plotter.XYs, 0, len(r.Timeline)+1)
		// Each sample is the rate over the interval ending at T; draw it
		// as a step so short runs do not look like ramps.
		prev := 0.0
		for _, s := range r.Timeline {
			xys = append(xys, plotter.XY{X: prev, Y: s.OpsPerSec}, plotter.XY{X: s.T, Y: s.OpsPerSec})
			prev = s.T
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			continue // NaN/Inf in a hand-edited report: leave the series out
		}
		l.Color = seriesColors[i%len(seriesColors)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s  (mean %s ops/s)", r.Label, thousands(int64(math.Round(r.OpsPerSec)))), l)
		any = true
	}
	if !any {
		return nil
	}
	return p
}
