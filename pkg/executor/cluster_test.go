package executor

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

// testCluster is a running cluster built by the executor itself.
type testCluster struct {
	nodes []*redisenv.Node
	pool  *redisadmin.Pool
	ids   []topology.NodeID // ids[i] is nodes[i]'s ID
	ex    *Executor
	// envOpts start more nodes like the first (addEmptyMaster).
	envOpts []redisenv.Option
}

func (c *testCluster) addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Addr
	}
	return out
}

// discoverFresh observes fresh nodes and returns their IDs in order.
func discoverFresh(t testing.TB, ctx context.Context, pool *redisadmin.Pool, nodes []*redisenv.Node) (*topology.Snapshot, []topology.NodeID) {
	t.Helper()
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	snap, err := redisadmin.Discover(ctx, pool, addrs, nil)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	ids := make([]topology.NodeID, len(nodes))
	for id, st := range snap.Nodes {
		for i, a := range addrs {
			if st.Addr == a {
				ids[i] = id
			}
		}
	}
	for i, id := range ids {
		if id == "" {
			t.Fatalf("node %s not discovered (unreachable: %v)", addrs[i], snap.Unreachable)
		}
	}
	return snap, ids
}

// createPlan builds by hand the plan of a fresh cluster: the first masters
// nodes share the slots evenly, node masters+i*masters+m replicates master m.
func createPlan(ids []topology.NodeID, masters int) planner.Plan {
	var p planner.Plan
	for i, id := range ids {
		p.Steps = append(p.Steps, planner.SetConfigEpoch{Node: id, Epoch: uint64(i + 1)})
	}
	per := topology.SlotCount / masters
	for m := 0; m < masters; m++ {
		lo, hi := m*per, (m+1)*per-1
		if m == masters-1 {
			hi = topology.SlotCount - 1
		}
		p.Steps = append(p.Steps, planner.AssignSlots{Node: ids[m], Slots: topology.RangeSet(lo, hi)})
	}
	for _, id := range ids[1:] {
		p.Steps = append(p.Steps, planner.Meet{Node: ids[0], Peer: id})
	}
	for i := masters; i < len(ids); i++ {
		p.Steps = append(p.Steps, planner.Replicate{Replica: ids[i], Master: ids[(i-masters)%masters]})
	}
	return p
}

// newCluster starts masters*(1+replicas) servers and forms a cluster with
// the executor.
func newCluster(t testing.TB, masters, replicas int, opts Options, envOpts ...redisenv.Option) *testCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := redisenv.Start(t, masters*(1+replicas), envOpts...)
	// Under redisenv.WithTLS the admin connections speak TLS too.
	pool := redisadmin.NewPool(redisadmin.Options{PoolSize: 8, TLSConfig: nodes[0].ClientTLSConfig()})
	t.Cleanup(func() { _ = pool.Close() })
	snap, ids := discoverFresh(t, ctx, pool, nodes)
	ex := New(pool, Endpoints(snap), opts)
	if err := ex.Run(ctx, createPlan(ids, masters)); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := ex.WaitConsistent(ctx); err != nil {
		t.Fatalf("wait consistent: %v", err)
	}
	return &testCluster{nodes: nodes, pool: pool, ids: ids, ex: ex, envOpts: envOpts}
}

// addEmptyMaster starts one more server and joins it as an empty master.
func (c *testCluster) addEmptyMaster(t testing.TB) topology.NodeID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nd := redisenv.Start(t, 1, c.envOpts...)[0]
	snap, ids := discoverFresh(t, ctx, c.pool, []*redisenv.Node{nd})
	c.ex.mu.Lock()
	for id, ep := range Endpoints(snap) {
		c.ex.nodes[id] = ep
	}
	c.ex.mu.Unlock()
	c.nodes = append(c.nodes, nd)
	c.ids = append(c.ids, ids[0])
	if err := c.ex.Run(ctx, planner.Plan{Steps: []planner.Step{planner.Meet{Node: c.ids[0], Peer: ids[0]}}}); err != nil {
		t.Fatalf("meet new master: %v", err)
	}
	if err := c.ex.WaitConsistent(ctx); err != nil {
		t.Fatalf("wait consistent after adding a master: %v", err)
	}
	return ids[0]
}

func (c *testCluster) client(t testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.addrs(), Protocol: 2, DisableIdentity: true, TLSConfig: c.nodes[0].ClientTLSConfig()})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func keyName(i int) string { return "key:" + strconv.Itoa(i) }

// load writes n keys key:i = v<i> through a cluster client.
func (c *testCluster) load(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cc := c.client(t)
	for lo := 0; lo < n; lo += 5000 {
		_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < min(lo+5000, n); i++ {
				p.Set(ctx, keyName(i), "v"+strconv.Itoa(i), 0)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("load keys: %v", err)
		}
	}
}

// verifyKeys reads every key back through a fresh cluster client.
func (c *testCluster) verifyKeys(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cc := c.client(t)
	for lo := 0; lo < n; lo += 5000 {
		cmds, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < min(lo+5000, n); i++ {
				p.Get(ctx, keyName(i))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("read keys: %v", err)
		}
		for j, cmd := range cmds {
			i := lo + j
			if got := cmd.(*redis.StringCmd).Val(); got != "v"+strconv.Itoa(i) {
				t.Fatalf("%s = %q, want %q", keyName(i), got, "v"+strconv.Itoa(i))
			}
		}
	}
	var total int64
	for _, a := range c.addrs() {
		r, err := c.pool.Node(a).InfoReplication(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Role != "master" {
			continue
		}
		k, err := c.pool.Node(a).DBSize(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total += k
	}
	if total != int64(n) {
		t.Fatalf("masters hold %d keys in total, want %d", total, n)
	}
}

// redisCliCheck runs redis-cli --cluster check as an outside referee.
func redisCliCheck(t testing.TB, addr string) {
	t.Helper()
	out, err := exec.Command("redis-cli", "--cluster", "check", addr).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster check: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "[OK] All 16384 slots covered.") || strings.Contains(text, "[ERR]") || strings.Contains(text, "[WARNING]") {
		t.Fatalf("redis-cli --cluster check reports problems:\n%s", text)
	}
}

// assertNoOpenSlots fails when any node still has a MIGRATING/IMPORTING slot.
func (c *testCluster) assertNoOpenSlots(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, a := range c.addrs() {
		v, err := c.pool.Node(a).ClusterNodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s := v.Myself(); len(s.Migrating) > 0 || len(s.Importing) > 0 {
			t.Fatalf("%s has open slots: migrating %v importing %v", a, s.Migrating, s.Importing)
		}
	}
}

// ownedBy returns the slots id serves according to node at addr.
func (c *testCluster) ownedBy(t testing.TB, addr string, id topology.NodeID) topology.SlotSet {
	t.Helper()
	v, err := c.pool.Node(addr).ClusterNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := v.Node(id)
	if n == nil {
		t.Fatalf("%s does not know %s", addr, id.Short())
	}
	return n.Slots
}

func (c *testCluster) masterAddr(id topology.NodeID) string {
	for i, x := range c.ids {
		if x == id {
			return c.nodes[i].Addr
		}
	}
	panic(fmt.Sprintf("unknown node %s", id))
}

func newPool(t testing.TB) *redisadmin.Pool {
	pool := redisadmin.NewPool(redisadmin.Options{PoolSize: 8})
	t.Cleanup(func() { _ = pool.Close() })
	return pool
}
