package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressState is one progress observation of long work.
type progressState struct {
	// SlotsDone and SlotsTotal count slots of the running plan.
	SlotsDone, SlotsTotal int
	// Keys and Bytes are what has been moved so far.
	Keys, Bytes int64
}

// reporter shows progress of long work on stderr: a bar on a terminal,
// periodic plain lines otherwise, nothing under --json or --no-progress.
type reporter interface {
	// Begin announces a phase of work over total slots.
	Begin(what string, totalSlots int)
	// Update records the latest state; it is cheap and may be called often
	// and from several goroutines.
	Update(p progressState)
	// End closes the phase with its final state.
	End(p progressState)
}

// newReporter picks the reporter for w.
func newReporter(w io.Writer, quiet bool) reporter {
	if quiet {
		return nopReporter{}
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barReporter{w: w}
	}
	return &lineReporter{w: w, every: 2 * time.Second, now: time.Now}
}

type nopReporter struct{}

func (nopReporter) Begin(string, int)    {}
func (nopReporter) Update(progressState) {}
func (nopReporter) End(progressState)    {}

// barReporter draws a progressbar over slots with keys and rate in the
// description.
type barReporter struct {
	w     io.Writer
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	start time.Time
	what  string
}

func (b *barReporter) Begin(what string, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.what, b.start = what, time.Now()
	b.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("slots"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		// Progress is best-effort decoration on stderr, like the bar's own
		// writes: a failed newline must not fail the work it describes.
		progressbar.OptionOnCompletion(func() { _, _ = fmt.Fprintln(b.w) }),
	)
}

func (b *barReporter) Update(p progressState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil {
		return
	}
	b.bar.Describe(fmt.Sprintf("%s: %d keys, %s", b.what, p.Keys, rate(p.Keys, time.Since(b.start))))
	_ = b.bar.Set(p.SlotsDone)
}

func (b *barReporter) End(p progressState) {
	b.Update(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Finish()
		b.bar = nil
	}
}

// lineReporter prints one plain line at most every `every`, and a last one
// at End.
type lineReporter struct {
	w     io.Writer
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	begun bool
	what  string
	start time.Time
	last  time.Time
	total int
}

func (l *lineReporter) Begin(what string, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.begun, l.what, l.total = true, what, total
	l.start = l.now()
	l.last = l.start
	_, _ = fmt.Fprintf(l.w, "%s: %d slots to move\n", what, total) // best effort, see print
}

// Update prints a line when the last one is older than l.every. Before
// Begin it prints nothing: the executor reports progress of plans that move
// no slots too, which have no phase to show.
func (l *lineReporter) Update(p progressState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.begun {
		return
	}
	if n := l.now(); n.Sub(l.last) >= l.every {
		l.last = n
		l.print(p, n)
	}
}

func (l *lineReporter) End(p progressState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.print(p, l.now())
}

// print writes one progress line. Progress is best-effort decoration on
// stderr: a failed write must not fail the work it describes.
func (l *lineReporter) print(p progressState, n time.Time) {
	_, _ = fmt.Fprintf(l.w, "%s: %d/%d slots, %d keys, %s\n", l.what, p.SlotsDone, l.total, p.Keys, rate(p.Keys, n.Sub(l.start)))
}

func rate(keys int64, d time.Duration) string {
	if d <= 0 {
		return "0 keys/s"
	}
	return fmt.Sprintf("%.0f keys/s", float64(keys)/d.Seconds())
}
