package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testKeys is the size of the data set the integration tests back up:
// every type, a third with TTLs, a few seconds per run.
const testKeys = 20000

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func fileStore(t testing.TB, dir string) *FileStore {
	t.Helper()
	loc, err := ParseLocation("file://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewFileStore(loc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// backupSource builds a 3×1 cluster with testKeys mixed keys, waits for
// its replicas, backs it up into store and returns the data at backup
// time and the manifest.
func backupSource(t *testing.T, store Store) (map[string]keyState, *Manifest) {
	t.Helper()
	src := newCluster(t, 3, 1)
	loadMixed(t, src.client(t), testKeys)
	src.waitReplicasInSync(t)
	want := dumpData(t, src)
	if len(want) != testKeys {
		t.Fatalf("source holds %d keys, want %d", len(want), testKeys)
	}
	var last Progress
	m, err := Backup(testCtx(t), src.pool, src.snapshot(t), store, BackupOptions{Cluster: "test", Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if last.ShardsDone != 3 || last.Keys != testKeys || last.Bytes != m.TotalSize() {
		t.Errorf("last progress %+v, want 3 shards, %d keys, %d bytes", last, testKeys, m.TotalSize())
	}
	return want, m
}

func TestBackupOfThreeShardsFromReplicasRestoresIntoThreeFiveAndTwoShards(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	store := fileStore(t, filepath.Join(t.TempDir(), "backup"))
	want, m := backupSource(t, store)

	if len(m.Shards) != 3 || m.TotalKeys() != testKeys {
		t.Fatalf("manifest has %d shards and %d keys, want 3 and %d", len(m.Shards), m.TotalKeys(), testKeys)
	}
	for _, sh := range m.Shards {
		if sh.SourceRole != RoleReplica || sh.SourceID == sh.MasterID || sh.Note != "" {
			t.Errorf("shard %s came from %s %s (%s), want an in-sync replica", sh.Object, sh.SourceRole, sh.SourceID, sh.Note)
		}
		st, err := os.Stat(filepath.Join(store.Location().Dir, sh.Object))
		if err != nil || st.Size() != sh.Size {
			t.Errorf("object %s: %v, size %v, manifest says %d", sh.Object, err, st, sh.Size)
		}
	}
	for _, masters := range []int{3, 5, 2} {
		t.Run(fmt.Sprintf("%d target shards", masters), func(t *testing.T) {
			dst := newCluster(t, masters, 0)
			res, err := Restore(testCtx(t), dst.pool, dst.snapshot(t), store, RestoreOptions{})
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			if res.Restore.Keys != testKeys || res.Verify.Bytes != m.TotalSize() {
				t.Errorf("restore progress %+v / verify %+v, want %d keys and %d bytes", res.Restore, res.Verify, testKeys, m.TotalSize())
			}
			compareData(t, want, dumpData(t, dst))
		})
	}
}

func TestRestoreRefusesACorruptedOrTruncatedObjectAndLeavesTheTargetUnchanged(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	src := newCluster(t, 3, 0)
	loadMixed(t, src.client(t), 3000)
	dir := filepath.Join(t.TempDir(), "b")
	store := fileStore(t, dir)
	m, err := Backup(testCtx(t), src.pool, src.snapshot(t), store, BackupOptions{})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	for _, sh := range m.Shards {
		if sh.SourceRole != RoleMaster || !strings.Contains(sh.Note, "no reachable replica") {
			t.Errorf("shard %s: role %s note %q, want the master and why", sh.Object, sh.SourceRole, sh.Note)
		}
	}
	dst := newCluster(t, 3, 0)
	victim := filepath.Join(dir, m.Shards[1].Object)
	orig, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string][]byte{
		"corrupted": append(append([]byte{}, orig[:len(orig)/2]...), append([]byte{orig[len(orig)/2] ^ 0xff}, orig[len(orig)/2+1:]...)...),
		"truncated": orig[:len(orig)-100],
	}
	for name, data := range damage {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(victim, data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Restore(testCtx(t), dst.pool, dst.snapshot(t), store, RestoreOptions{})
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), m.Shards[1].Object) || !strings.Contains(err.Error(), name) {
				t.Fatalf("restore of a %s object: %v, want ErrChecksum naming %s", name, err, m.Shards[1].Object)
			}
			if got := dumpData(t, dst); len(got) != 0 {
				t.Fatalf("the refused restore wrote %d keys", len(got))
			}
		})
	}
}

func TestRestoreRefusesANonEmptyTargetUnlessForced(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	src := newCluster(t, 3, 0)
	loadMixed(t, src.client(t), 2000)
	want := dumpData(t, src)
	store := fileStore(t, filepath.Join(t.TempDir(), "b"))
	if _, err := Backup(testCtx(t), src.pool, src.snapshot(t), store, BackupOptions{}); err != nil {
		t.Fatalf("backup: %v", err)
	}
	dst := newCluster(t, 3, 0)
	if err := dst.client(t).Set(context.Background(), "k:1", "other", 0).Err(); err != nil {
		t.Fatal(err)
	}
	before := dumpData(t, dst)
	_, err := Restore(testCtx(t), dst.pool, dst.snapshot(t), store, RestoreOptions{})
	if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "holds 1 keys") {
		t.Fatalf("restore into a non-empty target: %v, want ErrTargetNotEmpty naming the key count", err)
	}
	compareData(t, before, dumpData(t, dst))
	if _, err := Restore(testCtx(t), dst.pool, dst.snapshot(t), store, RestoreOptions{Force: true}); err != nil {
		t.Fatalf("forced restore: %v", err)
	}
	compareData(t, want, dumpData(t, dst)) // k:1 replaced by the backup's
}

func TestBackupRefusesALocationThatHoldsABackup(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	src := newCluster(t, 3, 0)
	loadMixed(t, src.client(t), 100)
	store := fileStore(t, filepath.Join(t.TempDir(), "b"))
	if _, err := Backup(testCtx(t), src.pool, src.snapshot(t), store, BackupOptions{}); err != nil {
		t.Fatalf("backup: %v", err)
	}
	_, err := Backup(testCtx(t), src.pool, src.snapshot(t), store, BackupOptions{})
	if err == nil || !strings.Contains(err.Error(), "already holds a backup") {
		t.Fatalf("second backup into the same location: %v, want a refusal", err)
	}
}
