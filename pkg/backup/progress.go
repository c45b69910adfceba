package backup

import (
	"sync"
	"time"
)

// Phase names the work a Progress reports on.
type Phase string

// Phases of a backup and a restore.
const (
	// PhaseBackup: RDBs are being fetched and stored.
	PhaseBackup Phase = "backup"
	// PhaseVerify: a restore is downloading the objects and checking their
	// digests; the target is untouched.
	PhaseVerify Phase = "verify"
	// PhaseRestore: keys are being written into the target.
	PhaseRestore Phase = "restore"
)

// Progress is a report of a running backup or restore.
type Progress struct {
	// Phase is the work reported on.
	Phase Phase
	// ShardsDone and ShardsTotal count the shards of the phase.
	ShardsDone, ShardsTotal int
	// Keys counts keys: those of the finished shards (DBSIZE at fetch) in
	// a backup, those written into the target in a restore. KeysTotal is
	// the manifest's key count in a restore, 0 in a backup (unknown until
	// the end).
	Keys, KeysTotal int64
	// Bytes counts RDB bytes fetched (backup), downloaded and checked
	// (verify), or DUMP payload bytes written (restore). BytesTotal is
	// the manifest's size in verify, 0 otherwise.
	Bytes, BytesTotal int64
	// Elapsed is the time since the phase started.
	Elapsed time.Duration
}

// BytesPerSecond is Bytes / Elapsed.
func (p Progress) BytesPerSecond() float64 {
	if s := p.Elapsed.Seconds(); s > 0 {
		return float64(p.Bytes) / s
	}
	return 0
}

// KeysPerSecond is Keys / Elapsed.
func (p Progress) KeysPerSecond() float64 {
	if s := p.Elapsed.Seconds(); s > 0 {
		return float64(p.Keys) / s
	}
	return 0
}

// progressInterval is the least time between two reports (the last one of
// a phase is always sent).
const progressInterval = 100 * time.Millisecond

// tracker accumulates a phase's progress from several goroutines and
// calls the callback, serialised, at most every progressInterval.
type tracker struct {
	fn    func(Progress)
	now   func() time.Time
	mu    sync.Mutex
	p     Progress
	start time.Time
	last  time.Time
}

func newTracker(fn func(Progress), now func() time.Time, p Progress) *tracker {
	t := &tracker{fn: fn, now: now, p: p, start: now()}
	t.emit(true)
	return t
}

// add records shards finished, keys and bytes.
func (t *tracker) add(shards int, keys, bytes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.ShardsDone += shards
	t.p.Keys += keys
	t.p.Bytes += bytes
	t.emitLocked(shards > 0)
}

// emit sends the current state (always when force).
func (t *tracker) emit(force bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.emitLocked(force)
}

func (t *tracker) emitLocked(force bool) {
	if t.fn == nil {
		return
	}
	n := t.now()
	if !force && n.Sub(t.last) < progressInterval {
		return
	}
	t.last = n
	p := t.p
	p.Elapsed = n.Sub(t.start)
	t.fn(p)
}

// final returns the phase's last state (and reports it).
func (t *tracker) final() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.emitLocked(true)
	p := t.p
	p.Elapsed = t.now().Sub(t.start)
	return p
}

// byteCounter counts bytes written through it into a tracker.
type byteCounter struct{ t *tracker }

func (c byteCounter) Write(p []byte) (int, error) {
	c.t.add(0, 0, int64(len(p)))
	return len(p), nil
}
