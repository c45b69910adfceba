package backup

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

// cluster is a running Redis Cluster of redisenv nodes.
type cluster struct {
	nodes []*redisenv.Node
	pool  *redisadmin.Pool
}

func (c *cluster) seed() string { return c.nodes[0].Addr }

// newCluster starts masters*(1+replicas) servers and forms a cluster with
// the planner's layout and the executor, as rcctl create does.
func newCluster(t testing.TB, masters, replicas int) *cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// No 5 s wait for more replicas before a diskless transfer.
	nodes := redisenv.Start(t, masters*(1+replicas), redisenv.WithConfig("repl-diskless-sync-delay", "0"))
	pool := redisadmin.NewPool(redisadmin.Options{})
	t.Cleanup(func() { _ = pool.Close() })
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	snap, err := redisadmin.Discover(ctx, pool, addrs, nil)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	members := make([]planner.Member, 0, len(nodes))
	for _, a := range addrs {
		members = append(members, planner.Member{ID: snap.NodeAt(a).Self().ID, Addr: a})
	}
	plan, _, err := planner.Layout(planner.LayoutSpec{Members: members, Masters: masters, ReplicasPerMaster: replicas, AllowFewMasters: true})
	if err != nil {
		t.Fatalf("layout: %v", err)
	}
	ex := executor.New(pool, executor.Endpoints(snap), executor.Options{})
	if err := ex.Run(ctx, plan); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := ex.WaitConsistent(ctx); err != nil {
		t.Fatalf("wait consistent: %v", err)
	}
	return &cluster{nodes: nodes, pool: pool}
}

// snapshot observes the cluster.
func (c *cluster) snapshot(t testing.TB) *topology.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	snap, err := redisadmin.Discover(ctx, c.pool, []string{c.seed()}, nil)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	return snap
}

// client returns a cluster client.
func (c *cluster) client(t testing.TB) *redis.ClusterClient {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// waitReplicasInSync waits until every shard's source would be a replica.
func (c *cluster) waitReplicasInSync(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		srcs, err := PlanSources(c.snapshot(t), 0)
		if err == nil && allReplicas(srcs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas not in sync after 30 s: %v %+v", err, srcs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func allReplicas(srcs []Source) bool {
	for _, s := range srcs {
		if s.Role != RoleReplica {
			return false
		}
	}
	return len(srcs) > 0
}

// kinds are the value types loadMixed writes, key i getting kinds[i%6].
var kinds = []string{"string", "hash", "list", "set", "zset", "stream"}

// mixedKey is key i's name; a hash tag on some keys puts several in one
// slot.
func mixedKey(i int) string {
	if i%10 == 0 {
		return fmt.Sprintf("{tag%d}:k:%d", i%97, i)
	}
	return "k:" + strconv.Itoa(i)
}

// loadMixed writes n keys of every type; every third key gets a TTL of an
// hour and some of a few hours.
func loadMixed(t testing.TB, cc *redis.ClusterClient, n int) {
	t.Helper()
	ctx := context.Background()
	const chunk = 500
	for lo := 0; lo < n; lo += chunk {
		_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < min(lo+chunk, n); i++ {
				writeMixed(ctx, p, i)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("load keys %d..: %v", lo, err)
		}
	}
}

func writeMixed(ctx context.Context, p redis.Pipeliner, i int) {
	k, v := mixedKey(i), "v"+strconv.Itoa(i)
	switch kinds[i%len(kinds)] {
	case "string":
		p.Set(ctx, k, v, 0)
	case "hash":
		p.HSet(ctx, k, "a", v, "b", strconv.Itoa(i*7))
	case "list":
		p.RPush(ctx, k, v, "x", v+"y")
	case "set":
		p.SAdd(ctx, k, v, "m1", "m2")
	case "zset":
		p.ZAdd(ctx, k, redis.Z{Score: float64(i) / 3, Member: v}, redis.Z{Score: -1.5, Member: "low"})
	case "stream":
		p.XAdd(ctx, &redis.XAddArgs{Stream: k, ID: fmt.Sprintf("%d-1", i+1), Values: []any{"f", v}})
		p.XAdd(ctx, &redis.XAddArgs{Stream: k, ID: fmt.Sprintf("%d-2", i+1), Values: []any{"g", "2"}})
	}
	if i%3 == 0 {
		p.PExpire(ctx, k, time.Hour+time.Duration(i%5)*time.Hour)
	}
}

// keyState is what a comparison looks at for one key.
type keyState struct {
	typ   string
	value string
	pttl  time.Duration // -1: none
	// expires is when the key expires (read time + pttl); zero for none.
	// Restores keep absolute expiry times (RESTORE … ABSTTL), so this is
	// what compares across a test that takes minutes.
	expires time.Time
}

// dumpData reads every key of the cluster (masters only) with its type,
// a canonical rendering of its value and its PTTL.
func dumpData(t testing.TB, c *cluster) map[string]keyState {
	t.Helper()
	ctx := context.Background()
	cc := c.client(t)
	out := map[string]keyState{}
	var mu sync.Mutex // ForEachMaster runs the masters concurrently
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := m.Scan(ctx, cursor, "", 1000).Result()
			if err != nil {
				return err
			}
			for _, k := range keys {
				st, err := readKey(ctx, m, k)
				if err != nil {
					return err
				}
				mu.Lock()
				out[k] = st
				mu.Unlock()
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
	if err != nil {
		t.Fatalf("dump data: %v", err)
	}
	return out
}

func readKey(ctx context.Context, c *redis.Client, k string) (keyState, error) {
	typ, err := c.Type(ctx, k).Result()
	if err != nil {
		return keyState{}, err
	}
	readAt := time.Now()
	pttl, err := c.PTTL(ctx, k).Result()
	if err != nil {
		return keyState{}, err
	}
	var expires time.Time
	if pttl >= 0 {
		expires = readAt.Add(pttl)
	}
	var v any
	switch typ {
	case "string":
		v, err = c.Get(ctx, k).Result()
	case "hash":
		var h map[string]string
		h, err = c.HGetAll(ctx, k).Result()
		v = sortedPairs(h)
	case "list":
		v, err = c.LRange(ctx, k, 0, -1).Result()
	case "set":
		var s []string
		s, err = c.SMembers(ctx, k).Result()
		sort.Strings(s)
		v = s
	case "zset":
		v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
	case "stream":
		v, err = c.XRange(ctx, k, "-", "+").Result()
	default:
		err = fmt.Errorf("key %q of unexpected type %s", k, typ)
	}
	return keyState{typ: typ, value: fmt.Sprint(v), pttl: pttl, expires: expires}, err
}

func sortedPairs(h map[string]string) string {
	pairs := make([]string, 0, len(h))
	for k, v := range h {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// ttlTolerance is how much a key's expiry time may differ between the
// backup and the restored key: the time between a key's PTTL and the
// clock read beside it, on a loaded machine.
const ttlTolerance = 5 * time.Second

// compareData fails t for every key that differs in presence, type, value
// or TTL (beyond ttlTolerance).
func compareData(t testing.TB, want, got map[string]keyState) {
	t.Helper()
	bad := 0
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("key %q missing after restore", k)
		case g.typ != w.typ || g.value != w.value:
			t.Errorf("key %q: got %s %s, want %s %s", k, g.typ, g.value, w.typ, w.value)
		case (w.pttl < 0) != (g.pttl < 0) || w.expires.Sub(g.expires).Abs() > ttlTolerance:
			t.Errorf("key %q: expires at %v after restore (PTTL %v), at %v before (PTTL %v)", k, g.expires, g.pttl, w.expires, w.pttl)
		default:
			continue
		}
		if bad++; bad > 10 {
			t.Fatalf("more than 10 keys differ; stopping")
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("key %q appeared after restore", k)
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
