package backup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// dumped is one key read from a scratch server.
type dumped struct {
	key     string
	payload string
	// expireAt is the absolute expiry in Unix milliseconds, 0 for none.
	expireAt int64
}

// mover copies the keys of one scratch server into the target cluster.
type mover struct {
	pool   *redisadmin.Pool
	rt     *router
	batch  int
	bytes  int64 // the most payload bytes one batch should carry
	now    func() time.Time
	tr     *tracker
	scanOf int // SCAN COUNT hint
}

// maxMoves bounds how often one key follows MOVED before the restore gives
// up (the target is being resharded faster than we can follow).
const maxMoves = 5

// run scans the scratch server and restores every key into the target.
// It returns the number of keys restored.
func (m *mover) run(ctx context.Context, src *redis.Client) (int64, error) {
	var (
		cursor uint64
		total  int64
		chunk  = m.batch
	)
	for {
		keys, next, err := src.Scan(ctx, cursor, "", int64(m.scanOf)).Result()
		if err != nil {
			return total, fmt.Errorf("scan the scratch server: %w", err)
		}
		for len(keys) > 0 {
			n := min(chunk, len(keys))
			moved, size, err := m.copyKeys(ctx, src, keys[:n])
			total += moved
			if err != nil {
				return total, err
			}
			chunk = nextChunk(m.batch, m.bytes, n, size)
			keys = keys[n:]
		}
		if next == 0 {
			return total, nil
		}
		cursor = next
	}
}

// nextChunk sizes the next batch so that its payload stays near maxBytes,
// judging by the last batch (n keys, size bytes): big values make small
// batches, never fewer than one key nor more than batch.
func nextChunk(batch int, maxBytes int64, n int, size int64) int {
	if n <= 0 || size <= 0 {
		return batch
	}
	per := max(size/int64(n), 1)
	return int(max(1, min(int64(batch), maxBytes/per)))
}

// copyKeys dumps keys from the scratch server and restores them. It
// returns how many were restored and their payload bytes.
func (m *mover) copyKeys(ctx context.Context, src *redis.Client, keys []string) (int64, int64, error) {
	items, err := dumpKeys(ctx, src, keys, m.now)
	if err != nil {
		return 0, 0, err
	}
	var size int64
	for _, it := range items {
		size += int64(len(it.payload))
	}
	if err := m.restore(ctx, items); err != nil {
		return 0, size, err
	}
	m.tr.add(0, int64(len(items)), size)
	return int64(len(items)), size, nil
}

// dumpKeys reads PTTL and DUMP of keys in one pipeline. A key that expired
// meanwhile is left out.
func dumpKeys(ctx context.Context, src *redis.Client, keys []string, now func() time.Time) ([]dumped, error) {
	ttls := make([]*redis.DurationCmd, len(keys))
	dumps := make([]*redis.StringCmd, len(keys))
	_, err := src.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			ttls[i] = p.PTTL(ctx, k)
			dumps[i] = p.Dump(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("dump keys from the scratch server: %w", err)
	}
	base := now().UnixMilli()
	out := make([]dumped, 0, len(keys))
	for i, k := range keys {
		payload, err := dumps[i].Result()
		if errors.Is(err, redis.Nil) {
			continue // expired between SCAN and DUMP
		}
		if err != nil {
			return nil, fmt.Errorf("dump %q from the scratch server: %w", k, err)
		}
		ttl := ttls[i].Val()
		d := dumped{key: k, payload: payload}
		switch {
		case ttl == -2: // go-redis keeps PTTL's -2 (no such key) and -1 (no expiry) as is
			continue
		case ttl > 0:
			d.expireAt = base + ttl.Milliseconds()
		}
		out = append(out, d)
	}
	return out, nil
}

// restore writes items into the target, one pipeline per owning master,
// the masters concurrently, and sends the keys a master answered MOVED for
// to the new owner.
func (m *mover) restore(ctx context.Context, items []dumped) error {
	for attempt := 0; len(items) > 0; attempt++ {
		if attempt > maxMoves {
			return fmt.Errorf("restore: keys keep moving (%d MOVED rounds); is the target being resharded?", maxMoves)
		}
		keys := make([]string, len(items))
		for i, it := range items {
			keys[i] = it.key
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			again []dumped
			errs  []error
		)
		for addr, idx := range groupByOwner(keys, m.rt.addr) {
			batch := make([]dumped, len(idx))
			for j, i := range idx {
				batch[j] = items[i]
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				moved, err := m.restoreOn(ctx, addr, batch)
				mu.Lock()
				defer mu.Unlock()
				again = append(again, moved...)
				if err != nil {
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		items = again
	}
	return nil
}

// restoreOn pipelines RESTORE … REPLACE [ABSTTL] of batch to the master at
// addr. It returns the items the master answered MOVED for, after
// recording their new owner.
func (m *mover) restoreOn(ctx context.Context, addr string, batch []dumped) ([]dumped, error) {
	c, err := m.pool.Node(addr).Client()
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.Cmd, len(batch))
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, it := range batch {
			args := []any{"RESTORE", it.key, it.expireAt, it.payload, "REPLACE"}
			if it.expireAt > 0 {
				args = append(args, "ABSTTL")
			}
			cmds[i] = p.Do(ctx, args...)
		}
		return nil
	})
	if err != nil && !anyRedisReply(cmds) {
		return nil, fmt.Errorf("restore keys on %s: %w", addr, err)
	}
	var moved []dumped
	for i, cmd := range cmds {
		err := cmd.Err()
		if err == nil {
			continue
		}
		if to, ok := redis.IsMovedError(err); ok {
			m.rt.moved(topology.KeySlot(batch[i].key), to)
			moved = append(moved, batch[i])
			continue
		}
		return nil, fmt.Errorf("restore %q on %s: %w", batch[i].key, addr, err)
	}
	return moved, nil
}

// anyRedisReply reports whether the pipeline got replies (so per-command
// errors tell what failed) rather than failing as a whole (a broken
// connection: every command carries the network error).
func anyRedisReply(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		var re redis.Error
		if c.Err() == nil || errors.As(c.Err(), &re) {
			return true
		}
	}
	return false
}
