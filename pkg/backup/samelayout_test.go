package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

// TestNodesStartedOnTheirShardsRDBsFormTheSameClusterWithEveryKey checks
// the facts the same-layout restore is built on, on real redis-server: a
// cluster-mode node started with no nodes.conf on a shard's RDB (written
// by FetchShard) loads every key of the shard and claims exactly the
// slots it holds keys for; adding the rest of the shard's slots
// (SlotsToAdd) and meeting the nodes gives a cluster with every key of
// the backup, TTLs kept.
func TestNodesStartedOnTheirShardsRDBsFormTheSameClusterWithEveryKey(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	store := fileStore(t, filepath.Join(t.TempDir(), "backup"))
	want, m := backupSource(t, store)
	if method, why := ChooseMethod(LayoutInput{Shards: shardSlots(m), Masters: 3, FreshCluster: true}); method != MethodSameLayout {
		t.Fatalf("ChooseMethod = %s (%s), want %s", method, why, MethodSameLayout)
	}

	ctx := testCtx(t)
	nodes := redisenv.Start(t, len(m.Shards))
	for i, nd := range nodes {
		// As the init container does: the node's data directory, fresh.
		nd.Kill()
		if err := os.Remove(filepath.Join(nd.Dir, "nodes.conf")); err != nil {
			t.Fatal(err)
		}
		sh, err := FetchShard(ctx, store, i, filepath.Join(nd.Dir, "dump.rdb"), FetchShardOptions{})
		if err != nil {
			t.Fatalf("fetch shard %d: %v", i, err)
		}
		if sh.Object != m.Shards[i].Object {
			t.Fatalf("fetch shard %d returned %s, want %s", i, sh.Object, m.Shards[i].Object)
		}
		nd.Restart()
	}
	var clients []*redis.Client
	for _, nd := range nodes {
		c := redis.NewClient(&redis.Options{Addr: nd.Addr, Protocol: 2, DisableIdentity: true})
		t.Cleanup(func() { _ = c.Close() })
		clients = append(clients, c)
	}
	for i, c := range clients {
		sh := m.Shards[i]
		n, err := c.DBSize(ctx).Result()
		if err != nil || n != sh.Keys {
			t.Fatalf("node of shard %d holds %d keys (%v), the manifest says %d", i, n, err, sh.Keys)
		}
		claimed := ownedSlots(t, ctx, c)
		if claimed.IsEmpty() {
			t.Fatalf("node of shard %d claimed no slot", i)
		}
		add, err := SlotsToAdd(sh.Slots, claimed)
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
		for _, r := range add.Ranges() {
			if err := c.ClusterAddSlotsRange(ctx, r.Start, r.End).Err(); err != nil {
				t.Fatalf("shard %d: add slots %s: %v", i, r.String(), err)
			}
		}
		if got := ownedSlots(t, ctx, c); got != sh.Slots {
			t.Fatalf("node of shard %d owns %s, want %s", i, got.String(), sh.Slots.String())
		}
	}
	for _, nd := range nodes[1:] {
		// redisenv's bus port is not port+10000: name it.
		if err := clients[0].Do(ctx, "CLUSTER", "MEET", "127.0.0.1", nd.Port, nd.BusPort).Err(); err != nil {
			t.Fatalf("meet %s: %v", nd.Addr, err)
		}
	}
	waitClusterOK(t, ctx, clients)
	pool := redisadmin.NewPool(redisadmin.Options{})
	t.Cleanup(func() { _ = pool.Close() })
	compareData(t, want, dumpData(t, &cluster{nodes: nodes, pool: pool}))
}

func TestFetchShardRefusesACorruptedObjectAndLeavesNoFile(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	store := fileStore(t, filepath.Join(t.TempDir(), "backup"))
	_, m := backupSource(t, store)
	obj := filepath.Join(store.Location().Dir, m.Shards[1].Object)
	b, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(obj, b, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "dump.rdb")
	ctx := testCtx(t)
	if _, err := FetchShard(ctx, store, 1, dst, FetchShardOptions{}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("fetch of a corrupted shard: err = %v, want ErrChecksum", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("a refused fetch left %v in the data directory", left)
	}
	if _, err := FetchShard(ctx, store, 3, dst, FetchShardOptions{}); err == nil {
		t.Error("fetch of shard 3 of a 3-shard backup succeeded")
	}
	var last Progress
	sh, err := FetchShard(ctx, store, 0, dst, FetchShardOptions{Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatalf("fetch of an intact shard: %v", err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || int64(len(got)) != sh.Size || !bytes.HasPrefix(got, []byte("REDIS")) {
		t.Errorf("fetched file: %d bytes (%v), want the %d-byte RDB", len(got), err, sh.Size)
	}
	if last.Bytes != sh.Size || last.ShardsDone != 1 {
		t.Errorf("last progress %+v, want %d bytes and 1 shard", last, sh.Size)
	}
}

// shardSlots returns the manifest's shards' slots.
func shardSlots(m *Manifest) []topology.SlotSet {
	out := make([]topology.SlotSet, len(m.Shards))
	for i, sh := range m.Shards {
		out[i] = sh.Slots
	}
	return out
}

// ownedSlots returns the slots c's node says it owns itself.
func ownedSlots(t *testing.T, ctx context.Context, c *redis.Client) topology.SlotSet {
	t.Helper()
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatalf("cluster nodes: %v", err)
	}
	view, err := topology.ParseClusterNodes(text)
	if err != nil {
		t.Fatalf("parse cluster nodes: %v", err)
	}
	me := view.Myself()
	if me == nil {
		t.Fatalf("cluster nodes has no myself line:\n%s", text)
	}
	return me.Slots
}

// waitClusterOK waits until every node reports cluster_state:ok.
func waitClusterOK(t *testing.T, ctx context.Context, clients []*redis.Client) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, c := range clients {
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && bytes.Contains([]byte(info), []byte("cluster_state:ok")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok after 60 s: %v\n%s", err, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
