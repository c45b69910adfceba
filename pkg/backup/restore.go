package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// ErrTargetNotEmpty matches the refusal to restore into a cluster that
// holds keys without RestoreOptions.Force.
var ErrTargetNotEmpty = errors.New("target cluster is not empty")

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Force restores into a cluster that holds keys: keys of the backup
	// replace keys of the same name, other keys stay.
	Force bool
	// Parallel is how many shards are loaded at once, each into its own
	// scratch redis-server holding that shard's dataset in memory
	// (default 2).
	Parallel int
	// Batch is the most keys one pipeline carries (default 500); batches
	// of big values are cut to about BatchBytes of payload (default 8 MiB).
	Batch      int
	BatchBytes int64
	// WorkDir is where the objects are downloaded and the scratch servers
	// run (default the system's temp directory). It needs room for the
	// whole backup: every object is verified before the target changes.
	WorkDir string
	// RedisServer is the redis-server binary for the scratch servers
	// (default "redis-server" from PATH); it must read the backup's RDB
	// version, so it should be at least as new as the source cluster.
	RedisServer string
	// Progress, when not nil, receives reports; calls are serialised.
	Progress func(Progress)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o RestoreOptions) withDefaults() RestoreOptions {
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 8 << 20
	}
	if o.RedisServer == "" {
		o.RedisServer = "redis-server"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	// Manifest is the backup that was restored.
	Manifest *Manifest
	// Verify and Restore are the last progress of each phase.
	Verify, Restore Progress
}

// Restore writes the backup in store into the cluster observed in snap,
// whatever its number of shards: each shard's RDB is loaded into a scratch
// redis-server (the real parser) and its keys are copied into the target
// with pipelined DUMP / RESTORE … REPLACE ABSTTL (TTLs kept as absolute
// times), batched per target master by slot ownership, following MOVED.
//
// Nothing in the target changes until every check passed: the manifest
// parses and is not of a newer format (ErrNewerFormat), the target covers
// every slot with reachable masters and no open slot, it holds no key
// unless Force (ErrTargetNotEmpty), and every object was downloaded and
// matches its size and SHA-256 (ErrChecksum, naming the object).
//
// Keys that have expired by the time they are read are not restored. A
// restore that fails midway leaves the keys written so far; run it again
// (RESTORE … REPLACE makes that idempotent) with Force.
func Restore(ctx context.Context, pool *redisadmin.Pool, snap *topology.Snapshot, store Store, o RestoreOptions) (*RestoreResult, error) {
	o = o.withDefaults()
	if err := store.Check(ctx); err != nil {
		return nil, err
	}
	m, err := ReadManifest(ctx, store)
	if err != nil {
		return nil, err
	}
	rt, err := checkTarget(snap, o.Force)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(o.WorkDir, "redkube-restore-")
	if err != nil {
		return nil, fmt.Errorf("restore: work directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(work) }() // scratch data only
	res := &RestoreResult{Manifest: m}
	files, verify, err := downloadAll(ctx, store, m, work, o)
	res.Verify = verify
	if err != nil {
		return res, err
	}
	res.Restore, err = loadAll(ctx, pool, rt, m, files, o)
	return res, err
}

// CheckTarget reports whether Restore would accept the cluster observed in
// snap as its target: every slot covered by a master that answered, no
// slot being migrated, and no key unless force (ErrTargetNotEmpty).
func CheckTarget(snap *topology.Snapshot, force bool) error {
	_, err := checkTarget(snap, force)
	return err
}

// checkTarget is CheckTarget returning the target's slot router.
func checkTarget(snap *topology.Snapshot, force bool) (*router, error) {
	if open := snap.OpenSlots(); !open.IsEmpty() {
		return nil, fmt.Errorf("restore: target slots %s are being migrated; finish that first (rcctl fix)", open.String())
	}
	c := planner.Agree(snap)
	if cov := c.Covered(); !cov.IsFull() {
		return nil, fmt.Errorf("restore: target slots %s have no owner; cover every slot first (rcctl fix)", cov.Complement().String())
	}
	own := c.Ownership()
	var holders []string
	var keys int64
	for _, id := range own.IDs() {
		ns := snap.Nodes[id]
		if ns == nil {
			return nil, fmt.Errorf("restore: target master %s (slots %s) did not answer", id.Short(), own[id].String())
		}
		if ns.Keys > 0 {
			keys += ns.Keys
			holders = append(holders, fmt.Sprintf("%s holds %d", ns.Addr, ns.Keys))
		}
	}
	if keys > 0 && !force {
		sort.Strings(holders)
		return nil, fmt.Errorf("restore: target holds %d keys (%s); restoring into a non-empty cluster needs force: %w", keys, strings.Join(holders, ", "), ErrTargetNotEmpty)
	}
	return newRouter(snap)
}

// downloadAll downloads and verifies every object into work, o.Parallel
// at a time, and returns the local files indexed like m.Shards.
func downloadAll(ctx context.Context, store Store, m *Manifest, work string, o RestoreOptions) ([]string, Progress, error) {
	tr := newTracker(o.Progress, o.Now, Progress{Phase: PhaseVerify, ShardsTotal: len(m.Shards), BytesTotal: m.TotalSize()})
	files := make([]string, len(m.Shards))
	err := eachShard(ctx, len(m.Shards), o.Parallel, func(ctx context.Context, i int) error {
		// Local names by index: object names may repeat a base name in
		// different folders.
		files[i] = filepath.Join(work, fmt.Sprintf("shard-%03d.rdb", i))
		return download(ctx, store, m.Shards[i], files[i], tr)
	})
	return files, tr.final(), err
}

// loadAll loads each shard into a scratch server and copies its keys
// into the target.
func loadAll(ctx context.Context, pool *redisadmin.Pool, rt *router, m *Manifest, files []string, o RestoreOptions) (Progress, error) {
	tr := newTracker(o.Progress, o.Now, Progress{Phase: PhaseRestore, ShardsTotal: len(m.Shards), KeysTotal: m.TotalKeys()})
	err := eachShard(ctx, len(m.Shards), o.Parallel, func(ctx context.Context, i int) error {
		return loadShard(ctx, pool, rt, m.Shards[i], files[i], o, tr)
	})
	return tr.final(), err
}

// loadShard restores one shard's keys through a scratch server.
func loadShard(ctx context.Context, pool *redisadmin.Pool, rt *router, sh Shard, file string, o RestoreOptions, tr *tracker) (err error) {
	s, err := startScratch(ctx, o.RedisServer, file, "scratch redis-server ("+sh.Object+")")
	if err != nil {
		return fmt.Errorf("restore %s: %w", sh.Object, err)
	}
	defer func() { err = errors.Join(err, s.stop(ctx)) }()
	mv := &mover{pool: pool, rt: rt, batch: o.Batch, bytes: o.BatchBytes, now: o.Now, tr: tr, scanOf: o.Batch}
	if _, err := mv.run(ctx, s.client); err != nil {
		return fmt.Errorf("restore %s: %w", sh.Object, err)
	}
	tr.add(1, 0, 0)
	return nil
}
