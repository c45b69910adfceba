package harness

import (
	"context"
	"fmt"
	"time"
)

// Poll calls try every interval, each call bounded to 5 s, until it
// returns true or d has passed, and returns when it returned true. An
// error of try does not end the polling (the next call may succeed); it
// is wrapped into Poll's error, beside the context's, when time runs out.
func Poll(ctx context.Context, d, interval time.Duration, what string, try func(ctx context.Context) (bool, error)) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := try(actx)
		acancel()
		if ok {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				return time.Time{}, fmt.Errorf("%s: not within %v: %w", what, d, ctx.Err())
			}
			return time.Time{}, fmt.Errorf("%s: not within %v: %w (last error: %w)", what, d, ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}

// Wait is Poll for a try that says why it is not done yet: it polls until
// try returns nil, and its error wraps try's last one.
func Wait(ctx context.Context, d, interval time.Duration, what string, try func(ctx context.Context) error) error {
	_, err := Poll(ctx, d, interval, what, func(ctx context.Context) (bool, error) {
		err := try(ctx)
		return err == nil, err
	})
	return err
}

// Sleep waits d, or returns the context's error when it ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
