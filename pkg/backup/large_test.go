package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBackupOf200kKeysUnderAWriterRestoresIntoThreeFiveAndTwoShards is
// issue 12's large case: a 3×1 cluster with 200,000 keys of every type
// (a third with TTLs) is backed up while a writer keeps adding keys of its
// own; the backup is restored into 3, 5 and 2 shards and every key not
// written during the backup is compared (type, value, TTL within
// ttlTolerance), and every writer key acknowledged before the backup began
// is present (each shard's snapshot is taken after it). It takes minutes:
// REDKUBE_LARGE_TESTS=1 runs it.
func TestBackupOf200kKeysUnderAWriterRestoresIntoThreeFiveAndTwoShards(t *testing.T) {
	if os.Getenv("REDKUBE_LARGE_TESTS") == "" {
		t.Skip("large: REDKUBE_LARGE_TESTS=1 runs it")
	}
	const keys = 200000
	src := newCluster(t, 3, 1)
	began := time.Now()
	loadMixed(t, src.client(t), keys)
	src.waitReplicasInSync(t)
	want := dumpData(t, src)
	if len(want) != keys {
		t.Fatalf("source holds %d keys, want %d", len(want), keys)
	}
	t.Logf("loaded and read back %d keys in %v", keys, time.Since(began).Round(time.Second))

	// The writer: SETs of live:<n>, one at a time, recording each
	// acknowledgement.
	wctx, stop := context.WithCancel(context.Background())
	var mu sync.Mutex
	var acked []int
	done := make(chan struct{})
	cc := src.client(t)
	go func() {
		defer close(done)
		for n := 0; wctx.Err() == nil; n++ {
			if cc.Set(wctx, "live:"+strconv.Itoa(n), n, 0).Err() == nil {
				mu.Lock()
				acked = append(acked, n)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(time.Second)
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	store := fileStore(t, filepath.Join(t.TempDir(), "backup"))
	start := time.Now()
	m, err := Backup(testCtx(t), src.pool, src.snapshot(t), store, BackupOptions{Cluster: "large"})
	if err != nil {
		t.Fatalf("backup under a writer: %v", err)
	}
	took := time.Since(start)
	stop()
	<-done
	t.Logf("backup of %d keys (%d bytes) under a writer: %v; the writer had %d writes acknowledged before it began, %d in all",
		m.TotalKeys(), m.TotalSize(), took.Round(time.Millisecond), before, len(acked))

	for _, masters := range []int{3, 5, 2} {
		t.Run(fmt.Sprintf("%d target shards", masters), func(t *testing.T) {
			dst := newCluster(t, masters, 0)
			start := time.Now()
			res, err := Restore(testCtx(t), dst.pool, dst.snapshot(t), store, RestoreOptions{})
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			t.Logf("restore into %d shards: %d keys in %v", masters, res.Restore.Keys, time.Since(start).Round(time.Millisecond))
			got := dumpData(t, dst)
			live := map[int]bool{}
			for k := range got {
				if n, ok := strings.CutPrefix(k, "live:"); ok {
					i, err := strconv.Atoi(n)
					if err != nil {
						t.Fatalf("key %q", k)
					}
					live[i] = true
					delete(got, k)
				}
			}
			compareData(t, want, got)
			missing := 0
			for _, n := range acked[:before] {
				if !live[n] {
					missing++
				}
			}
			if missing > 0 {
				t.Errorf("%d of the %d writer keys acknowledged before the backup began are missing", missing, before)
			}
		})
	}
}
