package writeload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// slowAttempt is how long one node-level call or dial may take before the
// writer records it as an Attempt although it succeeded.
const slowAttempt = 50 * time.Millisecond

// maxAttempts bounds the attempts a Writer keeps (the latest win).
const maxAttempts = 4096

// Attempt is one call of the writer's client to one node that failed
// (an error reply such as MOVED, ASK or CLUSTERDOWN, a timeout, a refused
// dial) or took longer than slowAttempt: what a gap between two
// acknowledgements is made of.
type Attempt struct {
	// At is when the call started; Took how long it ran.
	At   time.Time
	Took time.Duration
	// Addr is the node called; What the command ("dial" for a dial).
	Addr, What string
	// Err is the call's error (nil: slow, not failed).
	Err error
}

func (a Attempt) String() string {
	out := "ok"
	if a.Err != nil {
		out = a.Err.Error()
	}
	return fmt.Sprintf("%s +%v %s %s: %s", a.At.UTC().Format("15:04:05.000"), a.Took.Round(time.Millisecond), a.Addr, a.What, out)
}

// traceAttempts makes every node client cc creates from now on record its
// failed and slow calls in w.
func (w *Writer) traceAttempts(cc *redis.ClusterClient) {
	cc.OnNewNode(func(c *redis.Client) { c.AddHook(attemptHook{w: w, addr: c.Options().Addr}) })
}

// noteAttempt keeps a, dropping the oldest beyond maxAttempts.
func (w *Writer) noteAttempt(a Attempt) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.attempts) == maxAttempts {
		w.attempts = append(w.attempts[:0], w.attempts[maxAttempts/2:]...)
	}
	w.attempts = append(w.attempts, a)
}

// attemptsIn returns the kept attempts that overlap [from, to]. The caller
// holds w.mu.
func (w *Writer) attemptsIn(from, to time.Time) []Attempt {
	var out []Attempt
	for _, a := range w.attempts {
		if a.At.Before(to) && a.At.Add(a.Took).After(from) {
			out = append(out, a)
		}
	}
	return out
}

type attemptHook struct {
	w    *Writer
	addr string
}

func (h attemptHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		start := time.Now()
		conn, err := next(ctx, network, addr)
		if took := time.Since(start); err != nil || took > slowAttempt {
			h.w.noteAttempt(Attempt{At: start, Took: took, Addr: h.addr, What: "dial", Err: err})
		}
		return conn, err
	}
}

func (h attemptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		if took := time.Since(start); (err != nil && !errors.Is(err, redis.Nil)) || took > slowAttempt {
			h.w.noteAttempt(Attempt{At: start, Took: took, Addr: h.addr, What: cmd.Name(), Err: err})
		}
		return err
	}
}

func (h attemptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
