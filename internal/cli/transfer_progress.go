package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/redkube/redkube/pkg/backup"
)

// transferReporter shows the progress of a backup or restore on stderr: a
// bar per phase on a terminal (bytes while fetching and verifying, keys
// while restoring), a plain line at most every 2 s otherwise, nothing
// under --json or --no-progress.
type transferReporter struct {
	w     io.Writer
	bar   bool
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	phase backup.Phase
	cur   *progressbar.ProgressBar
	last  time.Time
	prev  backup.Progress
}

// newTransferReporter returns nil when progress is off.
func newTransferReporter(w io.Writer, quiet bool) *transferReporter {
	if quiet {
		return nil
	}
	r := &transferReporter{w: w, every: 2 * time.Second, now: time.Now}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.bar = true
	}
	return r
}

// callback is the function handed to the engine (nil when progress is off).
func (r *transferReporter) callback() func(backup.Progress) {
	if r == nil {
		return nil
	}
	return r.update
}

func (r *transferReporter) update(p backup.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.Phase != r.phase {
		r.closePhase()
		r.phase = p.Phase
		r.last = time.Time{}
		if r.bar {
			r.cur = newPhaseBar(r.w, p)
		}
	}
	r.prev = p
	if r.cur != nil {
		r.cur.Describe(progressLine(p))
		_ = r.cur.Set64(barValue(p)) // best-effort decoration
		return
	}
	if n := r.now(); n.Sub(r.last) >= r.every {
		r.last = n
		_, _ = fmt.Fprintln(r.w, progressLine(p)) // best effort, like every progress line
	}
}

// finish closes the last phase.
func (r *transferReporter) finish() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closePhase()
}

// closePhase ends the current bar, or prints the phase's last line.
func (r *transferReporter) closePhase() {
	if r.phase == "" {
		return
	}
	if r.cur != nil {
		_ = r.cur.Finish()
		r.cur = nil
	} else {
		_, _ = fmt.Fprintln(r.w, progressLine(r.prev))
	}
	r.phase = ""
}

// newPhaseBar draws bytes (backup, verify) or keys (restore); a backup's
// total is unknown until it ends, so its bar is a spinner.
func newPhaseBar(w io.Writer, p backup.Progress) *progressbar.ProgressBar {
	total, unit := int64(-1), "B"
	switch p.Phase {
	case backup.PhaseVerify:
		total = p.BytesTotal
	case backup.PhaseRestore:
		total, unit = p.KeysTotal, "keys"
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowBytes(unit == "B"),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { _, _ = fmt.Fprintln(w) }),
	)
}

func barValue(p backup.Progress) int64 {
	if p.Phase == backup.PhaseRestore {
		return p.Keys
	}
	return p.Bytes
}

// progressLine renders one progress report.
func progressLine(p backup.Progress) string {
	return fmt.Sprintf("%s: %d/%d shards, %d keys, %s, %s/s, %.0f keys/s",
		p.Phase, p.ShardsDone, p.ShardsTotal, p.Keys, mib(p.Bytes), mib(int64(p.BytesPerSecond())), p.KeysPerSecond())
}

// mib renders a byte count in MiB with one decimal.
func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
