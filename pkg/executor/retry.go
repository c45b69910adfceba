package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redkube/redkube/pkg/redisadmin"
)

// maxBackoff is the longest single wait between retries of a transient
// error.
const maxBackoff = time.Second

// backoff paces retries of transient errors: waits double from
// Options.PollInterval up to maxBackoff, and give up once
// Options.RetryTimeout has passed since the first wait.
type backoff struct {
	first, limit time.Duration
	next         time.Duration
	deadline     time.Time
}

func (e *Executor) newBackoff() *backoff {
	return &backoff{first: e.opts.PollInterval, limit: e.opts.RetryTimeout}
}

// wait sleeps before the next attempt after cause. It returns an error
// wrapping cause when the retry budget is spent, or ctx's error.
func (b *backoff) wait(ctx context.Context, cause error) error {
	now := time.Now()
	if b.next == 0 {
		b.next = b.first
		b.deadline = now.Add(b.limit)
	}
	if now.After(b.deadline) {
		return fmt.Errorf("still failing after retrying for %s: %w", b.limit, cause)
	}
	d := min(b.next, time.Until(b.deadline)+time.Millisecond)
	b.next = min(2*b.next, maxBackoff)
	if err := sleep(ctx, d); err != nil {
		return fmt.Errorf("waiting to retry: %w (after %w)", err, cause)
	}
	return nil
}

// reset forgets earlier failures after a success.
func (b *backoff) reset() { b.next = 0 }

// transient reports errors that go away on their own: CLUSTERDOWN,
// TRYAGAIN, LOADING, a lost connection, and MIGRATE's IOERR (timeout or
// I/O error between source and target).
func transient(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, redisadmin.ErrClusterDown), errors.Is(err, redisadmin.ErrTryAgain),
		errors.Is(err, redisadmin.ErrLoading), errors.Is(err, redisadmin.ErrUnreachable):
		return true
	}
	var re *redisadmin.Error
	return errors.As(err, &re) && re.Kind == redisadmin.KindServer && strings.HasPrefix(re.Err.Error(), "IOERR")
}
