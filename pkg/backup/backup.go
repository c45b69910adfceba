package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// BackupOptions configure Backup.
type BackupOptions struct {
	// Cluster labels the backup in its manifest (optional).
	Cluster string
	// Fetch configures the replication connections: the same credentials
	// and TLS as the admin pool.
	Fetch FetchOptions
	// MaxLag is how far (bytes of replication offset) a replica may trail
	// its master and still serve its shard (default planner.CaughtUpLag).
	MaxLag int64
	// Parallel is how many shards are fetched at once (default: all).
	Parallel int
	// Progress, when not nil, receives reports; calls are serialised.
	Progress func(Progress)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o BackupOptions) withDefaults(shards int) BackupOptions {
	if o.Parallel <= 0 || o.Parallel > shards {
		o.Parallel = shards
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Backup takes one RDB per shard of the cluster observed in snap and
// writes them, then the manifest, to store. Each RDB is fetched over the
// replication protocol (FetchRDB) from an in-sync replica when the shard
// has one, from the master otherwise (Shard.Note says why), and streamed
// to the store while it is hashed (SHA-256) and counted.
//
// The backup is complete only once the manifest is written, last. It
// refuses a location that already holds a manifest. When any shard fails,
// the objects already stored are deleted and no manifest is written; the
// error names the shard and the node.
func Backup(ctx context.Context, pool *redisadmin.Pool, snap *topology.Snapshot, store Store, o BackupOptions) (*Manifest, error) {
	if err := store.Check(ctx); err != nil {
		return nil, err
	}
	if err := refuseExisting(ctx, store); err != nil {
		return nil, err
	}
	if o.MaxLag == 0 {
		o.MaxLag = planner.CaughtUpLag
	}
	sources, err := PlanSources(snap, o.MaxLag)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	o = o.withDefaults(len(sources))
	m := &Manifest{Format: FormatVersion, Cluster: o.Cluster, Started: o.Now().UTC(), Shards: make([]Shard, len(sources))}
	tr := newTracker(o.Progress, o.Now, Progress{Phase: PhaseBackup, ShardsTotal: len(sources)})
	if err := fetchAll(ctx, pool, store, sources, o, tr, m.Shards); err != nil {
		return nil, errors.Join(err, removeObjects(context.WithoutCancel(ctx), store, m.Shards))
	}
	tr.final()
	m.Finished = o.Now().UTC()
	if err := writeManifest(ctx, store, m); err != nil {
		return nil, errors.Join(err, removeObjects(context.WithoutCancel(ctx), store, m.Shards))
	}
	return m, nil
}

// refuseExisting fails when the location already holds a backup: its
// objects would be overwritten while the old manifest still names them.
func refuseExisting(ctx context.Context, store Store) error {
	r, err := store.Get(ctx, ManifestName)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: look for an existing backup at %s: %w", store.Location(), err)
	}
	_ = r.Close() // only its existence mattered
	return fmt.Errorf("backup: %s already holds a backup (%s); choose another location", store.Location(), ManifestName)
}

// fetchAll fetches every shard, o.Parallel at a time, into shards (indexed
// like sources). The first error cancels the others.
func fetchAll(ctx context.Context, pool *redisadmin.Pool, store Store, sources []Source, o BackupOptions, tr *tracker, shards []Shard) error {
	for i, src := range sources {
		shards[i].Object = objectName(i, src.MasterID)
	}
	err := eachShard(ctx, len(sources), o.Parallel, func(ctx context.Context, i int) error {
		sh, err := fetchShard(ctx, pool, store, sources[i], shards[i].Object, o, tr)
		if err == nil {
			shards[i] = sh
		}
		return err
	})
	return err
}

// objectName is shard i's RDB object name.
func objectName(i int, master topology.NodeID) string {
	return fmt.Sprintf("shard-%03d-%s.rdb", i, master)
}

// fetchShard stores one shard's RDB and describes it.
func fetchShard(ctx context.Context, pool *redisadmin.Pool, store Store, src Source, object string, o BackupOptions, tr *tracker) (Shard, error) {
	sh := Shard{
		MasterID: src.MasterID, SourceID: src.NodeID, SourceAddr: src.Addr, SourceRole: src.Role,
		Note: src.Fallback, Slots: src.Slots, Object: object,
	}
	fail := func(err error) (Shard, error) {
		return Shard{}, fmt.Errorf("backup of shard %s (slots %s) from %s %s: %w", src.MasterID.Short(), src.Slots.String(), src.Role, src.Addr, err)
	}
	node := pool.Node(src.Addr)
	var err error
	if sh.RedisVersion, err = node.ServerVersion(ctx); err != nil {
		return fail(err)
	}
	if sh.Keys, err = node.DBSize(ctx); err != nil {
		return fail(err)
	}
	sh.Started = o.Now().UTC()
	size, sum, err := streamRDB(ctx, src.Addr, o.Fetch, store, object, tr)
	if err != nil {
		return fail(err)
	}
	sh.Finished = o.Now().UTC()
	sh.Size, sh.SHA256 = size, sum
	tr.add(1, sh.Keys, 0)
	return sh, nil
}

// streamRDB pipes the node's RDB into store.Put while hashing and
// counting it. It returns the size and the hex SHA-256.
func streamRDB(ctx context.Context, addr string, fo FetchOptions, store Store, object string, tr *tracker) (int64, string, error) {
	pr, pw := io.Pipe()
	h := sha256.New()
	done := make(chan error, 1)
	var size int64
	go func() {
		n, err := FetchRDB(ctx, addr, fo, io.MultiWriter(pw, h, byteCounter{tr}))
		size = n
		pw.CloseWithError(err) // nil closes with io.EOF: the upload completes
		done <- err
	}()
	putErr := store.Put(ctx, object, pr)
	pr.CloseWithError(errors.New("upload ended")) // stop the fetch if Put returned early
	fetchErr := <-done
	switch {
	case fetchErr != nil:
		// A failed fetch fails the upload too; the fetch's error says why.
		return 0, "", errors.Join(fetchErr, store.Delete(context.WithoutCancel(ctx), object))
	case putErr != nil:
		return 0, "", putErr
	}
	return size, hex.EncodeToString(h.Sum(nil)), nil
}

// writeManifest stores m as the backup's last object.
func writeManifest(ctx context.Context, store Store, m *Manifest) error {
	var b bytes.Buffer
	if err := m.Encode(&b); err != nil {
		return err
	}
	if err := store.Put(ctx, ManifestName, &b); err != nil {
		return fmt.Errorf("backup: write manifest: %w", err)
	}
	return nil
}

// removeObjects deletes the objects of a failed backup, best effort over
// all of them; it returns what could not be deleted.
func removeObjects(ctx context.Context, store Store, shards []Shard) error {
	var errs []error
	for _, s := range shards {
		if s.Object == "" {
			continue
		}
		if err := store.Delete(ctx, s.Object); err != nil {
			errs = append(errs, fmt.Errorf("clean up after the failed backup: %w", err))
		}
	}
	return errors.Join(errs...)
}
