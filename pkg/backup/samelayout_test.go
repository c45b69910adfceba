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
// cluster-mode node started with no nodes.conf on a shard's RDB (placed by
// PlaceShard from the node's redis.conf: the AOF's base file with
// appendonly on, the operator's default, dbfilename with it off) loads
// every key of the shard and claims exactly the slots it holds keys for;
// adding the rest of the shard's slots (SlotsToAdd) and meeting the nodes
// gives a cluster with every key of the backup, TTLs kept, and a restart
// keeps them.
func TestNodesStartedOnTheirShardsRDBsFormTheSameClusterWithEveryKey(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	store := fileStore(t, filepath.Join(t.TempDir(), "backup"))
	want, m := backupSource(t, store)
	// Expiry times are absolute in an RDB: a restored key's TTL is its TTL
	// at backup time minus the time since (the subtests take a while on a
	// busy machine), so the comparison takes that time off.
	dumped := time.Now()
	if method, why := ChooseMethod(LayoutInput{Shards: shardSlots(m), Masters: 3, FreshCluster: true}); method != MethodSameLayout {
		t.Fatalf("ChooseMethod = %s (%s), want %s", method, why, MethodSameLayout)
	}
	for _, aof := range []string{"yes", "no"} {
		t.Run("appendonly "+aof, func(t *testing.T) {
			nodes := redisenv.Start(t, len(m.Shards), redisenv.WithConfig("appendonly", aof))
			startOnShards(t, store, m, nodes)
			pool := redisadmin.NewPool(redisadmin.Options{})
			t.Cleanup(func() { _ = pool.Close() })
			c := &cluster{nodes: nodes, pool: pool}
			compareData(t, want, aged(dumpData(t, c), time.Since(dumped)))
			// The data is the node's own now: a restart loads it, and a
			// second PlaceShard leaves it alone.
			for i, nd := range nodes {
				p := placement(t, nd)
				res, err := PlaceShard(testCtx(t), store, i, p, FetchShardOptions{})
				if err != nil || res.Placed {
					t.Fatalf("PlaceShard on a started node = %+v, %v; want nothing placed", res, err)
				}
				nd.Restart()
			}
			waitClusterOK(t, testCtx(t), clientsOf(t, nodes))
			compareData(t, want, aged(dumpData(t, c), time.Since(dumped)))
		})
	}
}

// aged adds d to every TTL of data: a key whose absolute expiry time was
// kept then has the TTL it had d earlier.
func aged(data map[string]keyState, d time.Duration) map[string]keyState {
	for k, st := range data {
		if st.pttl >= 0 {
			st.pttl += d
			data[k] = st
		}
	}
	return data
}

// startOnShards stops each node, forgets its cluster state, places shard
// i's RDB for node i, starts it, checks its keys and claimed slots, adds
// the rest of its shard's slots and meets the nodes into one cluster.
// It returns how long the placing, the starting and the forming took.
func startOnShards(t testing.TB, store Store, m *Manifest, nodes []*redisenv.Node) (place, start, form time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i, nd := range nodes {
		// As a new pod's data volume: no cluster state, no data.
		nd.Kill()
		for _, f := range []string{"nodes.conf", "dump.rdb", "appendonlydir"} {
			if err := os.RemoveAll(filepath.Join(nd.Dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		t0 := time.Now()
		res, err := PlaceShard(ctx, store, i, placement(t, nd), FetchShardOptions{})
		if err != nil || !res.Placed || res.Shard.Object != m.Shards[i].Object {
			t.Fatalf("place shard %d: %+v, %v", i, res, err)
		}
		t1 := time.Now()
		nd.Restart()
		place, start = place+t1.Sub(t0), start+time.Since(t1)
	}
	t0 := time.Now()
	clients := clientsOf(t, nodes)
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
		t.Logf("node of shard %d claimed %d of its %d slots at start (%d keys); adding %d", i, claimed.Count(), sh.Slots.Count(), n, add.Count())
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
	return place, start, time.Since(t0)
}

// placement reads nd's redis.conf.
func placement(t testing.TB, nd *redisenv.Node) Placement {
	t.Helper()
	f, err := os.Open(filepath.Join(nd.Dir, "redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	p, err := ReadPlacement(f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// clientsOf returns a client per node.
func clientsOf(t testing.TB, nodes []*redisenv.Node) []*redis.Client {
	var out []*redis.Client
	for _, nd := range nodes {
		c := redis.NewClient(&redis.Options{Addr: nd.Addr, Protocol: 2, DisableIdentity: true})
		t.Cleanup(func() { _ = c.Close() })
		out = append(out, c)
	}
	return out
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
func ownedSlots(t testing.TB, ctx context.Context, c *redis.Client) topology.SlotSet {
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
func waitClusterOK(t testing.TB, ctx context.Context, clients []*redis.Client) {
	t.Helper()
	// After a restart the nodes take a moment to see each other again.
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
