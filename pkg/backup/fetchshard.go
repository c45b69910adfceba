package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FetchShardOptions configure FetchShard.
type FetchShardOptions struct {
	// Progress, when not nil, receives reports.
	Progress func(Progress)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// FetchShard writes the RDB of the backup's shard index (in the
// manifest's slot order) to the file dst, streaming it while its size and
// SHA-256 are checked against the manifest. The RDB is written to a
// temporary file beside dst, synced and renamed over dst only once it
// matched, so a redis-server starting on dst sees the whole verified RDB
// or no file at all. A mismatch fails with ErrChecksum; a manifest of a
// newer format with ErrNewerFormat.
//
// It is the same-layout restore's step: dst is where the shard's planned
// master loads its RDB at start.
func FetchShard(ctx context.Context, store Store, index int, dst string, o FetchShardOptions) (*Shard, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	m, err := ReadManifest(ctx, store)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= len(m.Shards) {
		return nil, fmt.Errorf("fetch shard %d: the backup at %s has shards 0..%d", index, store.Location(), len(m.Shards)-1)
	}
	sh := m.Shards[index]
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-")
	if err != nil {
		return nil, fmt.Errorf("fetch shard %d: %w", index, err)
	}
	part := tmp.Name()
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("fetch shard %d: %w", index, errors.Join(err, os.Remove(part)))
	}
	tr := newTracker(o.Progress, o.Now, Progress{Phase: PhaseVerify, ShardsTotal: 1, BytesTotal: sh.Size, KeysTotal: sh.Keys})
	if err := download(ctx, store, sh, part, tr); err != nil {
		return nil, fmt.Errorf("fetch shard %d: %w", index, errors.Join(err, os.Remove(part)))
	}
	if err := syncAndRename(part, dst); err != nil {
		return nil, fmt.Errorf("fetch shard %d: %w", index, errors.Join(err, os.Remove(part)))
	}
	tr.final()
	return &sh, nil
}

// syncAndRename flushes part to disk and renames it to dst, then syncs
// the directory so the rename survives a crash.
func syncAndRename(part, dst string) error {
	f, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(part, dst); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(dst))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
