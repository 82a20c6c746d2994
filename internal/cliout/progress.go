package cliout

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// ProgressOptions configures a [Progress].
type ProgressOptions struct {
	Label    string        // "export", "import", ...
	Terminal bool          // draw a bar; otherwise log lines
	Quiet    bool          // show nothing
	Interval time.Duration // between log lines (default 5s)
}

// Progress reports a job's progress on stderr. It implements the engine's
// progress interface (SetTotal, Add) and is safe for concurrent use.
type Progress struct {
	w     io.Writer
	o     ProgressOptions
	start time.Time
	total atomic.Int64
	docs  atomic.Int64
	bytes atomic.Int64
	bar   *progressbar.ProgressBar
	mu    sync.Mutex // guards bar and described
	// described is when the bar's description (label and rate) last changed.
	described time.Time
	stop      chan struct{}
	done      sync.WaitGroup
}

// NewProgress starts reporting; call Finish at the end.
func NewProgress(w io.Writer, o ProgressOptions) *Progress {
	p := &Progress{w: w, o: o, start: time.Now(), stop: make(chan struct{})}
	p.total.Store(-1)
	if o.Quiet {
		return p
	}
	if o.Terminal {
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(o.Label),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionFullWidth(),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSpinnerType(14),
		)
		return p
	}
	if p.o.Interval <= 0 {
		p.o.Interval = 5 * time.Second
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(p.o.Interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				fmt.Fprintln(p.w, p.line())
			}
		}
	}()
	return p
}

// WantsTotal reports whether the display shows a total (a bar with an
// ETA): only then is counting the documents worth a query.
func (p *Progress) WantsTotal() bool { return p.bar != nil }

// SetTotal sets the number of documents expected.
func (p *Progress) SetTotal(n int64) {
	p.total.Store(n)
	if p.bar != nil {
		p.mu.Lock()
		p.bar.ChangeMax64(n)
		p.mu.Unlock()
	}
}

// Add counts documents and bytes done.
func (p *Progress) Add(docs, bytes int64) {
	n := p.docs.Add(docs)
	p.bytes.Add(bytes)
	if p.bar != nil {
		p.mu.Lock()
		p.bar.Add64(docs)
		// The rate shows once there is one (the bar's own starts at
		// "0 docs/hr"), refreshed at most a few times a second.
		if now := time.Now(); n > 0 && now.Sub(p.described) >= 250*time.Millisecond {
			p.described = now
			p.bar.Describe(fmt.Sprintf("%s (%s/s)", p.o.Label, Count(int64(p.rate(n)+0.5), "doc")))
		}
		p.mu.Unlock()
	}
}

// rate is the documents done per second so far.
func (p *Progress) rate(docs int64) float64 {
	if el := time.Since(p.start).Seconds(); el > 0 {
		return float64(docs) / el
	}
	return 0
}

// line is the periodic log line.
func (p *Progress) line() string {
	docs, total := p.docs.Load(), p.total.Load()
	rate := p.rate(docs)
	s := fmt.Sprintf("%s: %d", p.o.Label, docs)
	if total >= 0 {
		s += fmt.Sprintf("/%d docs", total)
		if total > 0 {
			s += fmt.Sprintf(" (%.0f%%)", 100*float64(docs)/float64(total))
		}
	} else {
		s = fmt.Sprintf("%s: %s", p.o.Label, Count(docs, "doc"))
	}
	if docs > 0 {
		s += fmt.Sprintf(", %s/s", Count(int64(rate+0.5), "doc"))
	}
	if b := p.bytes.Load(); b > 0 {
		s += ", " + Bytes(b)
	}
	if total > docs && rate > 0 {
		s += fmt.Sprintf(", ETA %s", (time.Duration(float64(total-docs) / rate * float64(time.Second))).Round(time.Second))
	}
	return s
}

// Finish stops the bar or the log lines.
func (p *Progress) Finish() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	p.done.Wait()
	if p.bar != nil {
		p.mu.Lock()
		p.bar.Finish()
		p.bar.Clear()
		p.mu.Unlock()
	}
}

// Bytes formats a byte count: 512 B, 1.5 kB, 3.2 MB.
func Bytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

// Count formats a count of things: "1 doc", "0 docs", "20000 docs".
func Count(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// Summary formats a job's closing line, for example
// "import: 20000 docs written, 3 skipped, 0 failed, 3.1 MB in 1.20 s (16667 docs/s)".
// The rate shows when there is one.
func Summary(label, verb string, docs, skipped, failed, bytes int64, elapsed time.Duration) string {
	s := fmt.Sprintf("%s: %s %s", label, Count(docs, "doc"), verb)
	if skipped > 0 {
		s += fmt.Sprintf(", %d skipped", skipped)
	}
	s += fmt.Sprintf(", %d failed", failed)
	if bytes > 0 {
		s += ", " + Bytes(bytes)
	}
	sec := elapsed.Seconds()
	s += fmt.Sprintf(" in %.2f s", sec)
	if sec > 0 && docs+skipped > 0 {
		s += fmt.Sprintf(" (%s/s)", Count(int64(float64(docs+skipped)/sec+0.5), "doc"))
	}
	return s
}
