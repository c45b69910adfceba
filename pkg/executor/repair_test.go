package executor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// repairPlan observes the cluster and returns planner.Repair's plan, with
// the key holders of every open or uncovered slot counted on the masters.
func (c *testCluster) repairPlan(t *testing.T, ctx context.Context) planner.Plan {
	t.Helper()
	snap, err := redisadmin.Discover(ctx, c.pool, c.addrs(), nil)
	must(t, err)
	slots := planner.Agree(snap).Covered().Complement()
	for _, id := range snap.IDs() {
		for x := range snap.Self(id).Migrating {
			slots.Add(x)
		}
		for x := range snap.Self(id).Importing {
			slots.Add(x)
		}
	}
	holders := map[int][]topology.NodeID{}
	for _, x := range slots.Slots() {
		type count struct {
			id topology.NodeID
			n  int64
		}
		var counts []count
		for _, id := range snap.IDs() {
			if !snap.Self(id).IsMaster() {
				continue
			}
			n, err := c.pool.Node(snap.Nodes[id].Addr).CountKeysInSlot(ctx, x)
			must(t, err)
			if n > 0 {
				counts = append(counts, count{id, n})
			}
		}
		slices.SortStableFunc(counts, func(a, b count) int { return int(b.n - a.n) })
		for _, k := range counts {
			holders[x] = append(holders[x], k.id)
		}
	}
	return planner.Repair(planner.RepairInput{Snapshot: snap, KeyHolders: holders})
}

// moveSomeKeys migrates fewer than half (at least one) of slot x's keys
// from src to tgt by hand, as an interrupted migration leaves them; src
// keeps the most.
func moveSomeKeys(t *testing.T, ctx context.Context, src, tgt *redisadmin.Node, x int) {
	t.Helper()
	keys, err := src.GetKeysInSlot(ctx, x, 100)
	must(t, err)
	if len(keys) < 3 {
		t.Fatalf("slot %d has %d keys, want at least 3", x, len(keys))
	}
	_, err = src.Migrate(ctx, redisadmin.MigrateArgs{Target: tgt.Addr(), Keys: keys[:(len(keys)-1)/2]})
	must(t, err)
}

// assertOwner fails unless every node says owner serves slot x.
func (c *testCluster) assertOwner(t *testing.T, x int, owner topology.NodeID) {
	t.Helper()
	for _, n := range c.nodes {
		if !c.ownedBy(t, n.Addr, owner).Has(x) {
			t.Fatalf("%s does not say %s serves slot %d", n.Addr, owner.Short(), x)
		}
	}
}

func TestFixOpenSlotClosesEveryShape(t *testing.T) {
	const keys = 30000
	c := newCluster(t, 3, 0, Options{})
	c.load(t, keys)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	aID, bID, cID := c.ids[0], c.ids[1], c.ids[2]
	a, b, cc := c.pool.Node(c.nodes[0].Addr), c.pool.Node(c.nodes[1].Addr), c.pool.Node(c.nodes[2].Addr)
	var used []int
	slot := func(t *testing.T) int {
		x := slotWithKeys(t, c, a.Addr(), aID, 3, used...)
		used = append(used, x)
		return x
	}
	shapes := []struct {
		name string
		// inject breaks slot x (owned by A) and returns the plan to run
		// (nil: planner.Repair's) and the node expected to own x after.
		inject func(t *testing.T, x int) (*planner.Plan, topology.NodeID)
	}{
		{"migrating only", func(t *testing.T, x int) (*planner.Plan, topology.NodeID) {
			must(t, a.SetSlotMigrating(ctx, x, bID))
			return nil, aID
		}},
		{"importing only, keys on both sides", func(t *testing.T, x int) (*planner.Plan, topology.NodeID) {
			must(t, b.SetSlotImporting(ctx, x, aID))
			moveSomeKeys(t, ctx, a, b, x)
			return nil, aID
		}},
		{"both, consistent, no key moved yet", func(t *testing.T, x int) (*planner.Plan, topology.NodeID) {
			must(t, b.SetSlotImporting(ctx, x, aID))
			must(t, a.SetSlotMigrating(ctx, x, bID))
			return nil, bID
		}},
		{"both, keys on both sides, finished towards the importing node", func(t *testing.T, x int) (*planner.Plan, topology.NodeID) {
			must(t, b.SetSlotImporting(ctx, x, aID))
			must(t, a.SetSlotMigrating(ctx, x, bID))
			moveSomeKeys(t, ctx, a, b, x)
			return nil, bID
		}},
		{"both, keys on both sides, pulled back to the migrating owner", func(t *testing.T, x int) (*planner.Plan, topology.NodeID) {
			must(t, b.SetSlotImporting(ctx, x, aID))
			must(t, a.SetSlotMigrating(ctx, x, bID))
			moveSomeKeys(t, ctx, a, b, x)
			return &planner.Plan{Steps: []planner.Step{planner.FixOpenSlot{Slot: x, Owner: aID, MoveKeysFrom: []topology.NodeID{bID}}}}, aID
		}},
		{"importing node with keys, slot uncovered, repaired by plan", func(t *testing.T, x int) (*planner.Plan, topology.NodeID) {
			uncoverWithKeysOnBoth(t, ctx, x, a, b, []*redisadmin.Node{a, b, cc}, aID, bID)
			return nil, bID
		}},
		{"slot uncovered, keys on two masters, none has it open", func(t *testing.T, x int) (*planner.Plan, topology.NodeID) {
			uncoverWithKeysOnBoth(t, ctx, x, a, b, []*redisadmin.Node{a, b, cc}, aID, bID)
			must(t, b.SetSlotStable(ctx, x))
			return nil, aID // the master holding most of its keys
		}},
		{"importing node with keys, slot uncovered, one FixOpenSlot step", func(t *testing.T, x int) (*planner.Plan, topology.NodeID) {
			uncoverWithKeysOnBoth(t, ctx, x, a, b, []*redisadmin.Node{a, b, cc}, aID, bID)
			return &planner.Plan{Steps: []planner.Step{planner.FixOpenSlot{Slot: x, Owner: bID, MoveKeysFrom: []topology.NodeID{aID}}}}, bID
		}},
		{"open slot and another slot uncovered", func(t *testing.T, x int) (*planner.Plan, topology.NodeID) {
			must(t, b.SetSlotImporting(ctx, x, aID))
			must(t, a.SetSlotMigrating(ctx, x, bID))
			moveSomeKeys(t, ctx, a, b, x)
			y := slotWithKeys(t, c, cc.Addr(), cID, 0)
			for _, n := range []*redisadmin.Node{a, b, cc} {
				must(t, delSlot(ctx, n, y))
			}
			return nil, bID
		}},
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			x := slot(t)
			hand, want := sh.inject(t, x)
			plan := c.repairPlan(t, ctx)
			if hand != nil {
				plan = *hand
			}
			t.Logf("slot %d (a %s, b %s, c %s), plan:\n%s", x, aID.Short(), bID.Short(), cID.Short(), plan)
			if plan.Empty() {
				t.Fatal("nothing to repair after the injection")
			}
			if err := c.ex.Run(ctx, plan); err != nil {
				t.Fatalf("repair: %v", err)
			}
			if err := c.ex.WaitConsistent(ctx); err != nil {
				t.Fatal(err)
			}
			c.assertNoOpenSlots(t)
			c.assertOwner(t, x, want)
			c.verifyKeys(t, keys)
			redisCliCheck(t, c.nodes[0].Addr)
		})
	}
}

// uncoverWithKeysOnBoth leaves slot x (owned by a) with keys on a and on b,
// b IMPORTING it from a, and no node serving it. (DELSLOTS clears a node's
// IMPORTING state, so b is marked again afterwards.)
func uncoverWithKeysOnBoth(t *testing.T, ctx context.Context, x int, a, b *redisadmin.Node, all []*redisadmin.Node, aID, bID topology.NodeID) {
	t.Helper()
	must(t, b.SetSlotImporting(ctx, x, aID))
	must(t, a.SetSlotMigrating(ctx, x, bID))
	moveSomeKeys(t, ctx, a, b, x)
	must(t, a.SetSlotStable(ctx, x))
	for _, n := range all {
		must(t, delSlot(ctx, n, x))
	}
	must(t, b.SetSlotImporting(ctx, x, aID))
}

// delSlot runs CLUSTER DELSLOTS x on n.
func delSlot(ctx context.Context, n *redisadmin.Node, x int) error {
	cl, err := n.Client()
	if err != nil {
		return err
	}
	return cl.ClusterDelSlots(ctx, x).Err()
}

func TestDrainMasterWithReplicaMigrationAllowed(t *testing.T) {
	const keys = 10000
	c := newCluster(t, 4, 0, Options{ChunkSlots: 64})
	c.load(t, keys)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	victim := c.ids[3]
	cl, err := c.pool.Node(c.nodes[3].Addr).Client()
	must(t, err)
	v, err := cl.ConfigGet(ctx, "cluster-allow-replica-migration").Result()
	must(t, err)
	if v["cluster-allow-replica-migration"] != "yes" {
		t.Fatalf("cluster-allow-replica-migration = %q, want the default yes", v["cluster-allow-replica-migration"])
	}
	snap, err := redisadmin.Discover(ctx, c.pool, c.addrs(), nil)
	must(t, err)
	plan, err := planner.Drain(planner.Agree(snap).Ownership(), victim)
	must(t, err)
	if err := c.ex.Run(ctx, plan); err != nil {
		t.Fatalf("drain: %v", err)
	}
	// The drained master turns into a replica of a node that took its
	// slots; every node agrees once it has.
	if err := c.ex.WaitConsistent(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if got := c.ownedBy(t, n.Addr, victim); !got.IsEmpty() {
			t.Fatalf("%s says the drained node still serves %s", n.Addr, got)
		}
	}
	c.assertNoOpenSlots(t)
	c.verifyKeys(t, keys)
	redisCliCheck(t, c.nodes[0].Addr)
	// A second run over the same plan finds everything done.
	if err := c.ex.Run(ctx, plan); err != nil {
		t.Fatalf("second run: %v", err)
	}
}

func TestSetSlotOwnerCorrectsABystander(t *testing.T) {
	c := newCluster(t, 3, 0, Options{})
	c.load(t, 2000)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x := slotWithKeys(t, c, c.nodes[0].Addr, c.ids[0], 1)
	// The bystander C believes B serves A's slot.
	must(t, c.pool.Node(c.nodes[2].Addr).SetSlotNode(ctx, x, c.ids[1]))
	if !c.ownedBy(t, c.nodes[2].Addr, c.ids[1]).Has(x) {
		t.Fatal("injection did not take")
	}
	plan := planner.Plan{Steps: []planner.Step{planner.SetSlotOwner{Owner: c.ids[0], Slots: topology.NewSlotSet(x)}}}
	if err := c.ex.Run(ctx, plan); err != nil {
		t.Fatalf("set slot owner: %v", err)
	}
	if err := c.ex.WaitConsistent(ctx); err != nil {
		t.Fatal(err)
	}
	c.assertOwner(t, x, c.ids[0])
	c.verifyKeys(t, 2000)
	redisCliCheck(t, c.nodes[0].Addr)
}

func TestForgetAndResetRemoveANodeForGood(t *testing.T) {
	c := newCluster(t, 3, 0, Options{})
	gone := c.addEmptyMaster(t)
	goneNode := c.pool.Node(c.masterAddr(gone))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan := planner.Plan{Steps: []planner.Step{planner.Forget{Node: gone}, planner.ResetNode{Node: gone, Hard: true}}}
	if err := c.ex.Run(ctx, plan); err != nil {
		t.Fatalf("forget and reset: %v", err)
	}
	rest := c.addrs()[:3]
	knowsGone := func() string {
		for _, a := range rest {
			v, err := c.pool.Node(a).ClusterNodes(ctx)
			must(t, err)
			if v.Node(gone) != nil {
				return a
			}
		}
		return ""
	}
	if a := knowsGone(); a != "" {
		t.Fatalf("%s still knows the forgotten node", a)
	}
	// The reset node has a new identity and knows nobody.
	v, err := goneNode.ClusterNodes(ctx)
	must(t, err)
	if self := v.Myself(); self.ID == gone || len(v.Nodes) != 1 {
		t.Fatalf("after a hard reset the node is %s and knows %d nodes", self.ID.Short(), len(v.Nodes))
	}
	// Gossip does not bring it back: wait out several ping rounds (every
	// node pings a random peer each second) and look again.
	if err := sleep(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if a := knowsGone(); a != "" {
		t.Fatalf("%s learnt the forgotten node again", a)
	}
	if err := WaitConsistent(ctx, c.pool, rest, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	redisCliCheck(t, rest[0])
	// Forgetting again (a resumed run) is a no-op.
	if err := c.ex.Run(ctx, planner.Plan{Steps: []planner.Step{planner.Forget{Node: gone}}}); err != nil {
		t.Fatalf("second forget: %v", err)
	}
}
