package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterClient is the go-redis client the writers and the read-back use,
// with the settings of the operator's end-to-end tests (dial 500 ms, read
// and write 1 s, redirects and retries with short back-off).
func clusterClient(addrs []string) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: addrs, DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
		MaxRedirects: 8, MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
	})
}

// writer SETs <prefix>:<n> = n one after the other, as fast as the cluster
// acknowledges, each with a 2 s deadline, and records what was
// acknowledged, the errors, the longest time between two acknowledgements
// (the client-visible unavailability: an error window or a blocked write)
// and the longest single call.
type writer struct {
	cc     *redis.ClusterClient
	prefix string
	mu     sync.Mutex
	res    writeResult
	stopc  chan struct{}
	done   chan struct{}
}

// writeResult is what a writer saw.
type writeResult struct {
	acked       []int
	errs        int
	firstErr    error
	worstGap    time.Duration
	gapStart    time.Time
	longestCall time.Duration
}

func startWriter(addrs []string, prefix string) *writer {
	w := &writer{cc: clusterClient(addrs), prefix: prefix, stopc: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *writer) run() {
	defer close(w.done)
	last := time.Now()
	for n := 0; ; n++ {
		select {
		case <-w.stopc:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		began := time.Now()
		err := w.cc.Set(ctx, w.prefix+":"+strconv.Itoa(n), n, 0).Err()
		cancel()
		now := time.Now()
		w.mu.Lock()
		w.res.longestCall = max(w.res.longestCall, now.Sub(began))
		if err != nil {
			w.res.errs++
			if w.res.firstErr == nil {
				w.res.firstErr = err
			}
		} else {
			if gap := now.Sub(last); gap > w.res.worstGap {
				w.res.worstGap, w.res.gapStart = gap, last
			}
			last = now
			w.res.acked = append(w.res.acked, n)
		}
		w.mu.Unlock()
		if err != nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// finish stops the writer and returns what it saw.
func (w *writer) finish() writeResult {
	close(w.stopc)
	<-w.done
	_ = w.cc.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.res
}

// lostWrites reads every acknowledged key back (pipelined, 500 at a time)
// and returns how many are missing or hold another value.
func lostWrites(ctx context.Context, addrs []string, prefix string, acked []int) (lost int, err error) {
	cc := clusterClient(addrs)
	defer func() {
		if cerr := cc.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close read-back client: %w", cerr))
		}
	}()
	for lo := 0; lo < len(acked); lo += 500 {
		batch := acked[lo:min(lo+500, len(acked))]
		var cmds []*redis.StringCmd
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			cmds = cmds[:0]
			_, _ = cc.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, n := range batch {
					cmds = append(cmds, p.Get(ctx, prefix+":"+strconv.Itoa(n)))
				}
				return nil
			})
			err = nil
			for _, c := range cmds {
				if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
					err = e
					break
				}
			}
			if err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			return 0, fmt.Errorf("read back %s keys: %w", prefix, err)
		}
		for i, c := range cmds {
			v, err := c.Result()
			if err != nil || v != strconv.Itoa(batch[i]) {
				lost++
			}
		}
	}
	return lost, nil
}
