package backup

import (
	"context"
	"errors"
	"sync"
)

// eachShard runs fn for 0..n-1, parallel at a time. The first error
// cancels the rest; the errors of the shards that stopped because of that
// cancellation are left out, the others are returned joined.
func eachShard(ctx context.Context, n, parallel int, fn func(ctx context.Context, i int) error) error {
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(parallel, 1))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-inner.Done():
				return
			}
			defer func() { <-sem }()
			err := fn(inner, i)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if len(errs) > 0 && ctx.Err() == nil && errors.Is(err, context.Canceled) {
				return // stopped because another shard failed
			}
			errs = append(errs, err)
			cancel()
		}()
	}
	wg.Wait()
	if len(errs) == 0 {
		return ctx.Err()
	}
	return errors.Join(errs...)
}
