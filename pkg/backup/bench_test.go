package backup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

// BenchmarkBackupAndRestore measures, on one data set per sub-benchmark:
// a backup of a 3-shard cluster to file:// (MB/s and keys/s), a fetch of
// the same shards' RDBs with `redis-cli --rdb` (all three at once, as the
// backup does), and a restore of the backup into a 4-shard cluster (the
// different-layout path). It prints the ratios. Run it once:
//
//	go test -run XXX -bench BackupAndRestore -benchtime 1x -timeout 30m ./pkg/backup/
//
// It is not a test: it needs redis-cli and several GB of memory and disk.
func BenchmarkBackupAndRestore(b *testing.B) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		b.Skip("redis-cli not found: the comparison needs it")
	}
	for _, ds := range []struct {
		name       string
		keys, size int
	}{
		{"1M keys x 100 B", 1_000_000, 100},
		{"10k keys x 100 KB", 10_000, 100 << 10},
	} {
		b.Run(ds.name, func(b *testing.B) {
			for range b.N {
				benchOnce(b, ds.keys, ds.size)
			}
		})
	}
}

func benchOnce(b *testing.B, keys, size int) {
	ctx := context.Background()
	src := newCluster(b, 3, 0)
	loadRandom(b, src.client(b), keys, size)
	snap := src.snapshot(b)
	dir := b.TempDir()

	t0 := time.Now()
	m, err := Backup(ctx, src.pool, snap, fileStore(b, filepath.Join(dir, "backup")), BackupOptions{})
	if err != nil {
		b.Fatalf("backup: %v", err)
	}
	backupDur := time.Since(t0)

	cliDur := redisCliRDB(b, snap, filepath.Join(dir, "redis-cli"))

	dst := newCluster(b, 4, 0)
	t0 = time.Now()
	res, err := Restore(ctx, dst.pool, dst.snapshot(b), fileStore(b, filepath.Join(dir, "backup")), RestoreOptions{WorkDir: dir})
	if err != nil {
		b.Fatalf("restore: %v", err)
	}
	restoreDur := time.Since(t0)
	if res.Restore.Keys != int64(keys) {
		b.Fatalf("restored %d keys, want %d", res.Restore.Keys, keys)
	}

	rdbMB := float64(m.TotalSize()) / 1e6
	dataMB := float64(keys) * float64(size) / 1e6
	b.ReportMetric(rdbMB/backupDur.Seconds(), "backup-MB/s")
	b.ReportMetric(float64(keys)/backupDur.Seconds(), "backup-keys/s")
	b.ReportMetric(rdbMB/cliDur.Seconds(), "redis-cli-rdb-MB/s")
	b.ReportMetric(dataMB/restoreDur.Seconds(), "restore-MB/s")
	b.ReportMetric(float64(keys)/restoreDur.Seconds(), "restore-keys/s")
	fmt.Printf("%d keys x %d B (%.0f MB of values, %.0f MB of RDB in 3 shards):\n", keys, size, dataMB, rdbMB)
	fmt.Printf("  backup to file://          %7.2fs  %7.1f MB/s  %9.0f keys/s\n", backupDur.Seconds(), rdbMB/backupDur.Seconds(), float64(keys)/backupDur.Seconds())
	fmt.Printf("  redis-cli --rdb (3 at once) %6.2fs  %7.1f MB/s   backup / redis-cli = %.2f\n", cliDur.Seconds(), rdbMB/cliDur.Seconds(), backupDur.Seconds()/cliDur.Seconds())
	fmt.Printf("  restore into 4 shards      %7.2fs  %7.1f MB/s  %9.0f keys/s (verify %.2fs, restore %.2fs)\n",
		restoreDur.Seconds(), dataMB/restoreDur.Seconds(), float64(keys)/restoreDur.Seconds(), res.Verify.Elapsed.Seconds(), res.Restore.Elapsed.Seconds())
}

// loadRandom writes keys random values of size bytes (random, so RDB
// compression does not flatter the numbers).
func loadRandom(b *testing.B, cc *redis.ClusterClient, keys, size int) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	chunk := max(1, min(2000, (32<<20)/size))
	val := make([]byte, size)
	for lo := 0; lo < keys; lo += chunk {
		p := cc.Pipeline()
		for i := lo; i < min(lo+chunk, keys); i++ {
			for j := 0; j < len(val); j += 8 {
				v := r.Uint64()
				for k := 0; k < 8 && j+k < len(val); k++ {
					val[j+k] = byte(v >> (8 * k))
				}
			}
			p.Set(ctx, "bench:"+strconv.Itoa(i), string(val), 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			b.Fatalf("load: %v", err)
		}
	}
}

// redisCliRDB runs `redis-cli --rdb` against every master at once and
// returns the wall time.
func redisCliRDB(b *testing.B, snap *topology.Snapshot, dir string) time.Duration {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	t0 := time.Now()
	for i, id := range snap.IDs() {
		addr := snap.Nodes[id].Addr
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command("redis-cli", "-h", host, "-p", port, "--rdb", filepath.Join(dir, fmt.Sprintf("%d.rdb", i))).CombinedOutput()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("redis-cli --rdb %s: %w: %s", addr, err, out))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	return time.Since(t0)
}

// BenchmarkSameLayoutVsKeyByKeyRestore restores one backup of a 3-shard
// cluster into 3 new shards both ways: key by key (Restore into a formed
// 3-master cluster) and same layout (PlaceShard for each node from its
// redis.conf with appendonly yes, as the operator's init container does,
// the nodes started on their RDBs, SlotsToAdd assigned, CLUSTER MEET,
// until every node says cluster_state:ok). Both times include the
// download and checks; neither includes starting the empty nodes. Run it
// once:
//
//	go test -run XXX -bench SameLayoutVsKeyByKey -benchtime 1x -timeout 30m ./pkg/backup/
func BenchmarkSameLayoutVsKeyByKeyRestore(b *testing.B) {
	for _, c := range []struct {
		name       string
		keys, size int
	}{
		{"1M keys x 100 B", 1_000_000, 100},
		{"10k keys x 100 KB", 10_000, 100 << 10},
	} {
		b.Run(c.name, func(b *testing.B) { sameLayoutVsKeyByKey(b, c.keys, c.size) })
	}
}

func sameLayoutVsKeyByKey(b *testing.B, keys, size int) {
	for range b.N {
		ctx := context.Background()
		src := newCluster(b, 3, 0)
		loadRandom(b, src.client(b), keys, size)
		dir := b.TempDir()
		store := fileStore(b, filepath.Join(dir, "backup"))
		m, err := Backup(ctx, src.pool, src.snapshot(b), store, BackupOptions{})
		if err != nil {
			b.Fatalf("backup: %v", err)
		}

		dst := newCluster(b, 3, 0)
		t0 := time.Now()
		res, err := Restore(ctx, dst.pool, dst.snapshot(b), store, RestoreOptions{WorkDir: dir})
		if err != nil || res.Restore.Keys != int64(keys) {
			b.Fatalf("key-by-key restore: %v (%d keys)", err, res.Restore.Keys)
		}
		keyByKey := time.Since(t0)

		nodes := redisenv.Start(b, 3, redisenv.WithConfig("appendonly", "yes"))
		for _, nd := range nodes {
			nd.Kill()
			for _, f := range []string{"nodes.conf", "appendonlydir"} {
				if err := os.RemoveAll(filepath.Join(nd.Dir, f)); err != nil {
					b.Fatal(err)
				}
			}
		}
		t0 = time.Now()
		// One node after the other: an operator's pods would place and
		// start in parallel.
		place, start, form := startOnShards(b, store, m, nodes)
		sameLayout := time.Since(t0)

		b.ReportMetric(float64(keys)/keyByKey.Seconds(), "keybykey-keys/s")
		b.ReportMetric(float64(keys)/sameLayout.Seconds(), "samelayout-keys/s")
		mb := float64(m.TotalSize()) / 1e6
		fmt.Printf("%d keys x %d B, %.0f MB of RDB in 3 shards, into 3 new shards:\n", keys, size, mb)
		fmt.Printf("  key by key   %6.2fs  %9.0f keys/s  %6.1f MB/s of RDB\n", keyByKey.Seconds(), float64(keys)/keyByKey.Seconds(), mb/keyByKey.Seconds())
		fmt.Printf("  same layout  %6.2fs  %9.0f keys/s  %6.1f MB/s of RDB  (%.1fx faster; fetch+check %.2fs, node starts %.2fs, DBSIZE+slots+meet+ok %.2fs, nodes one after the other)\n",
			sameLayout.Seconds(), float64(keys)/sameLayout.Seconds(), mb/sameLayout.Seconds(), keyByKey.Seconds()/sameLayout.Seconds(), place.Seconds(), start.Seconds(), form.Seconds())
	}
}
