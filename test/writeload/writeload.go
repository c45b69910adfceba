package writeload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/topology"
)

const (
	// writeTimeout bounds one SET: a longer blocked write counts as failed.
	writeTimeout = 2 * time.Second
	// errorPause is the pause after a failed write, so a dead cluster is
	// not hammered.
	errorPause = 5 * time.Millisecond
	// readBatch is how many keys Lost reads in one pipeline.
	readBatch = 500
	// readAttempts is how often Lost tries a batch before giving up.
	readAttempts = 5
	// readPause is the pause between two attempts of a batch.
	readPause = 200 * time.Millisecond
)

// Dialer opens a client's connections (go-redis's ClusterOptions.Dialer):
// for example from another network namespace.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// NewClient returns a go-redis ClusterClient seeded with addrs, with the
// settings the writers use: dial 500 ms, read and write 1 s, up to 8
// redirects, retries with 10–100 ms back-off, connections opened by dial
// (nil: the default dialer). The caller closes it.
func NewClient(addrs []string, dial Dialer) *redis.ClusterClient {
	return redis.NewClusterClient(ClientOptions(addrs, dial))
}

// ClientOptions are NewClient's options, for a caller that adds its own
// (credentials).
func ClientOptions(addrs []string, dial Dialer) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:           addrs,
		Dialer:          dial,
		DialTimeout:     500 * time.Millisecond,
		ReadTimeout:     time.Second,
		WriteTimeout:    time.Second,
		MaxRedirects:    8,
		MinRetryBackoff: 10 * time.Millisecond,
		MaxRetryBackoff: 100 * time.Millisecond,
	}
}

// Key returns the key of write n: "<prefix>:<n>".
func Key(prefix string, n int) string { return prefix + ":" + strconv.Itoa(n) }

// Result is what a Writer saw.
type Result struct {
	// Acked lists the n of every acknowledged write, in order.
	Acked []int
	// Errors counts the writes that failed (including those that took
	// longer than 2 s).
	Errors int
	// FirstErr is the first failure, nil when none.
	FirstErr error
	// WorstGap is the longest time between two acknowledgements, counted
	// from Start; a window of failures still open when the writer stopped
	// counts up to the stop.
	WorstGap time.Duration
	// GapStart is when WorstGap began (the acknowledgement before it, or
	// Start).
	GapStart time.Time
	// LongestCall is the longest single SET, failed or not.
	LongestCall time.Duration
	// GapAttempts are the client's failed or slow calls to single nodes
	// during WorstGap (the redirections, timeouts and refused dials it is
	// made of), oldest first.
	GapAttempts []Attempt
}

// Writer writes <prefix>:<n> = n for n = 0, 1, ... in one goroutine until
// Stop is called or its context is done.
type Writer struct {
	cc       *redis.ClusterClient
	prefix   string
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu       sync.Mutex
	res      Result
	attempts []Attempt
}

// Start starts a Writer on a new client seeded with addrs. Each write is
// bounded by 2 s and by ctx; once ctx is done the writer stops and writes
// cut short by it are not counted.
func Start(ctx context.Context, addrs []string, prefix string) *Writer {
	return StartDialing(ctx, addrs, prefix, nil)
}

// StartDialing is Start with the client's connections opened by dial.
func StartDialing(ctx context.Context, addrs []string, prefix string, dial Dialer) *Writer {
	return StartWith(ctx, NewClient(addrs, dial), prefix)
}

// StartWith is Start on the caller's client (for example one whose
// credentials change); the Writer closes it on Stop.
func StartWith(ctx context.Context, cc *redis.ClusterClient, prefix string) *Writer {
	w := &Writer{cc: cc, prefix: prefix, stop: make(chan struct{}), done: make(chan struct{})}
	w.traceAttempts(cc)
	go w.run(ctx)
	return w
}

func (w *Writer) run(ctx context.Context) {
	defer close(w.done)
	last := time.Now()
	failing := false
	defer func() {
		// A window of failures still open at the stop counts up to it.
		if failing {
			w.mu.Lock()
			w.noteGap(last, time.Now())
			w.mu.Unlock()
		}
	}()
	for n := 0; ; n++ {
		select {
		case <-w.stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		began := time.Now()
		err := w.cc.Set(wctx, Key(w.prefix, n), n, 0).Err()
		cancel()
		now := time.Now()
		if ctx.Err() != nil {
			return // the caller gave up; this write says nothing about the cluster
		}
		w.mu.Lock()
		w.res.LongestCall = max(w.res.LongestCall, now.Sub(began))
		if err != nil {
			w.res.Errors++
			if w.res.FirstErr == nil {
				w.res.FirstErr = fmt.Errorf("SET %s (slot %d) at %s, after %v: %w", Key(w.prefix, n), topology.KeySlot(Key(w.prefix, n)),
					began.UTC().Format("15:04:05.000"), now.Sub(began).Round(time.Millisecond), err)
			}
		} else {
			w.noteGap(last, now)
			last = now
			w.res.Acked = append(w.res.Acked, n)
		}
		w.mu.Unlock()
		failing = err != nil
		if failing {
			select {
			case <-time.After(errorPause):
			case <-w.stop:
			case <-ctx.Done():
			}
		}
	}
}

// noteGap records the time from one acknowledgement (or the start) to the
// next when it is the longest so far. The caller holds w.mu.
func (w *Writer) noteGap(from, to time.Time) {
	if gap := to.Sub(from); gap > w.res.WorstGap {
		w.res.WorstGap, w.res.GapStart = gap, from
		w.res.GapAttempts = w.attemptsIn(from, to)
	}
}

// Progress returns how many writes were acknowledged and how many failed
// so far.
func (w *Writer) Progress() (acked, errs int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.res.Acked), w.res.Errors
}

// Stop stops the writer after the write in flight, closes its client and
// returns what it saw. It may be called more than once.
func (w *Writer) Stop() Result {
	w.stopOnce.Do(func() {
		close(w.stop)
		<-w.done
		_ = w.cc.Close() // every write's outcome is already recorded
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	res := w.res
	res.Acked = append([]int(nil), w.res.Acked...)
	return res
}

// Loss is one acknowledged write that does not read back.
type Loss struct {
	// N is the write's number; its key is Key(prefix, N).
	N int
	// Found is what the key holds now, "" when it is missing.
	Found string
}

// Lost reads every acknowledged key <prefix>:<n> back through a new client
// seeded with addrs (pipelined, 500 keys at a time) and returns the writes
// that are missing or hold another value, in the order of acked. A batch
// that fails to read is tried 5 times, 200 ms apart, before Lost gives up
// with an error.
func Lost(ctx context.Context, addrs []string, prefix string, acked []int) (lost []Loss, err error) {
	return LostDialing(ctx, addrs, prefix, acked, nil)
}

// LostDialing is Lost with the client's connections opened by dial.
func LostDialing(ctx context.Context, addrs []string, prefix string, acked []int, dial Dialer) (lost []Loss, err error) {
	cc := NewClient(addrs, dial)
	defer func() {
		if cerr := cc.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close read-back client: %w", cerr))
		}
	}()
	return LostWith(ctx, cc, prefix, acked)
}

// LostWith is Lost through the caller's client.
func LostWith(ctx context.Context, cc *redis.ClusterClient, prefix string, acked []int) (lost []Loss, err error) {
	for lo := 0; lo < len(acked); lo += readBatch {
		batch := acked[lo:min(lo+readBatch, len(acked))]
		got, err := readBatchRetrying(ctx, cc, prefix, batch)
		if err != nil {
			return nil, fmt.Errorf("read back %d acknowledged %s keys from %d: %w", len(batch), prefix, batch[0], err)
		}
		for i, n := range batch {
			if want := strconv.Itoa(n); got[i] != want {
				lost = append(lost, Loss{N: n, Found: got[i]})
			}
		}
	}
	return lost, nil
}

// readBatchRetrying GETs the keys of batch and returns their values, ""
// for a missing key.
func readBatchRetrying(ctx context.Context, cc *redis.ClusterClient, prefix string, batch []int) ([]string, error) {
	var last error
	for attempt := 0; attempt < readAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w (last error: %w)", ctx.Err(), last)
			case <-time.After(readPause):
			}
		}
		cmds := make([]*redis.StringCmd, len(batch))
		// Per-key errors are read from cmds below; the pipeline's own error
		// is the first of them.
		_, _ = cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, n := range batch {
				cmds[i] = p.Get(ctx, Key(prefix, n))
			}
			return nil
		})
		out := make([]string, len(batch))
		last = nil
		for i, c := range cmds {
			v, err := c.Result()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				last = err
			default:
				out[i] = v
			}
			if last != nil {
				break
			}
		}
		if last == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (last error: %w)", ctx.Err(), last)
		}
	}
	return nil, fmt.Errorf("%d attempts: %w", readAttempts, last)
}
