package executor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

func TestCreateThreeMastersOneReplicaEachPassesRedisCliCheck(t *testing.T) {
	c := newCluster(t, 3, 1, Options{})
	redisCliCheck(t, c.nodes[0].Addr)
	ctx := context.Background()
	for i := 3; i < 6; i++ {
		r, err := c.pool.Node(c.nodes[i].Addr).InfoReplication(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Role != "slave" {
			t.Fatalf("%s role %s, want slave", c.nodes[i].Addr, r.Role)
		}
	}
	// Running the same plan again changes nothing and succeeds.
	if err := c.ex.Run(ctx, planner.Plan{Steps: createPlan(c.ids, 3).Steps[6:14]}); err != nil {
		t.Fatalf("re-running assign+meet: %v", err)
	}
}

func TestMigrateSlotsMovesEveryKeyToNewMaster(t *testing.T) {
	c := newCluster(t, 3, 0, Options{ChunkSlots: 16})
	c.load(t, 5000)
	newID := c.addEmptyMaster(t)
	var plan planner.Plan
	var want topology.SlotSet
	for m := 0; m < 3; m++ {
		slots := c.ownedBy(t, c.nodes[m].Addr, c.ids[m]).TakeHighest(1365)
		want = want.Union(slots)
		plan.Steps = append(plan.Steps, planner.MigrateSlots{Source: c.ids[m], Target: newID, Slots: slots})
	}
	var last Progress
	c.ex.opts.Progress = func(p Progress) { last = p }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.ex.Run(ctx, plan); err != nil {
		t.Fatalf("run: %v", err)
	}
	if last.SlotsDone != want.Count() || last.SlotsTotal != want.Count() || last.KeysMoved == 0 {
		t.Fatalf("final progress %+v, want %d slots done and keys moved", last, want.Count())
	}
	if err := c.ex.WaitConsistent(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if got := c.ownedBy(t, n.Addr, newID); !got.Equal(want) {
			t.Fatalf("%s says new master serves %s, want %s", n.Addr, got, want)
		}
	}
	c.assertNoOpenSlots(t)
	c.verifyKeys(t, 5000)
	redisCliCheck(t, c.nodes[0].Addr)
	k, err := c.pool.Node(c.masterAddr(newID)).DBSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k != last.KeysMoved {
		t.Fatalf("new master holds %d keys, progress says %d moved", k, last.KeysMoved)
	}
}

// slotWithKeys returns a slot served by addr holding at least min keys.
func slotWithKeys(t *testing.T, c *testCluster, addr string, id topology.NodeID, min int64, skip ...int) int {
	t.Helper()
	ctx := context.Background()
	owned := c.ownedBy(t, addr, id)
	found := -1
	owned.Each(func(x int) bool {
		for _, s := range skip {
			if s == x {
				return true
			}
		}
		n, err := c.pool.Node(addr).CountKeysInSlot(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		if n >= min {
			found = x
			return false
		}
		return true
	})
	if found < 0 {
		t.Fatalf("no slot with %d keys on %s", min, addr)
	}
	return found
}

func TestMigrateSlotsResumesHalfDoneMigration(t *testing.T) {
	c := newCluster(t, 3, 0, Options{})
	c.load(t, 20000)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srcID, tgtID := c.ids[0], c.ids[1]
	src, tgt := c.pool.Node(c.nodes[0].Addr), c.pool.Node(c.nodes[1].Addr)

	// Slot x: open between the pair, part of its keys already moved.
	x := slotWithKeys(t, c, src.Addr(), srcID, 3)
	// Slot y: keys all moved and the target already took it, but the source
	// was never told (a run killed between SETSLOT NODE on target and source).
	y := slotWithKeys(t, c, src.Addr(), srcID, 1, x)
	// Slot z: open, and the target holds a stale copy of a key the source
	// still has (a MIGRATE cut off after the target restored it).
	z := slotWithKeys(t, c, src.Addr(), srcID, 2, x, y)
	for _, s := range []int{x, y, z} {
		must(t, tgt.SetSlotImporting(ctx, s, srcID))
		must(t, src.SetSlotMigrating(ctx, s, tgtID))
	}
	kx, err := src.GetKeysInSlot(ctx, x, 100)
	must(t, err)
	_, err = src.Migrate(ctx, redisadmin.MigrateArgs{Target: tgt.Addr(), Keys: kx[:len(kx)/2+1]})
	must(t, err)
	ky, err := src.GetKeysInSlot(ctx, y, 100)
	must(t, err)
	_, err = src.Migrate(ctx, redisadmin.MigrateArgs{Target: tgt.Addr(), Keys: ky})
	must(t, err)
	must(t, tgt.SetSlotNode(ctx, y, tgtID))
	kz, err := src.GetKeysInSlot(ctx, z, 100)
	must(t, err)
	tc, err := tgt.Client()
	must(t, err)
	conn := tc.Conn()
	defer func() { _ = conn.Close() }()
	must(t, conn.Do(ctx, "ASKING").Err())
	must(t, conn.Set(ctx, kz[0], "stale copy", 0).Err())

	moved := topology.NewSlotSet(x, y, z)
	plan := planner.Plan{Steps: []planner.Step{planner.MigrateSlots{Source: srcID, Target: tgtID, Slots: moved}}}
	if err := c.ex.Run(ctx, plan); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if err := c.ex.WaitConsistent(ctx); err != nil {
		t.Fatal(err)
	}
	c.assertNoOpenSlots(t)
	for _, n := range c.nodes {
		if got := c.ownedBy(t, n.Addr, tgtID); !got.Intersect(moved).Equal(moved) {
			t.Fatalf("%s: target serves %s, want all of %s", n.Addr, got.Intersect(moved), moved)
		}
	}
	c.verifyKeys(t, 20000) // includes kz[0]: the source's copy won
	redisCliCheck(t, c.nodes[0].Addr)
}

func TestMigrateSlotsRefusesSlotOpenTowardsAnotherNode(t *testing.T) {
	c := newCluster(t, 3, 0, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src := c.pool.Node(c.nodes[0].Addr)
	must(t, src.SetSlotMigrating(ctx, 10, c.ids[2]))
	plan := planner.Plan{Steps: []planner.Step{planner.MigrateSlots{Source: c.ids[0], Target: c.ids[1], Slots: topology.RangeSet(0, 20)}}}
	err := c.ex.Run(ctx, plan)
	if !errors.Is(err, ErrStalePlan) {
		t.Fatalf("run = %v, want ErrStalePlan", err)
	}
	if got := c.ownedBy(t, c.nodes[1].Addr, c.ids[1]); got.Overlaps(topology.RangeSet(0, 20)) {
		t.Fatalf("target took slots %s despite the refusal", got.Intersect(topology.RangeSet(0, 20)))
	}
}

func TestCancelStopsAtSlotBoundaryAndSecondRunFinishes(t *testing.T) {
	c := newCluster(t, 3, 0, Options{ChunkSlots: 8})
	c.load(t, 5000)
	newID := c.addEmptyMaster(t)
	var plan planner.Plan
	var want topology.SlotSet
	for m := 0; m < 3; m++ {
		slots := c.ownedBy(t, c.nodes[m].Addr, c.ids[m]).TakeLowest(400)
		want = want.Union(slots)
		plan.Steps = append(plan.Steps, planner.MigrateSlots{Source: c.ids[m], Target: newID, Slots: slots})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.ex.opts.Progress = func(p Progress) {
		if p.SlotsDone > 0 {
			cancel()
		}
	}
	err := c.ex.Run(ctx, plan)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v, want context.Canceled", err)
	}
	c.assertNoOpenSlots(t)
	got := c.ownedBy(t, c.masterAddr(newID), newID)
	if got.IsEmpty() || got.Equal(want) {
		t.Fatalf("after cancel the new master serves %d of %d slots; want some but not all", got.Count(), want.Count())
	}
	c.verifyKeys(t, 5000)

	c.ex.opts.Progress = nil
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	if err := c.ex.Run(ctx2, plan); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if err := c.ex.WaitConsistent(ctx2); err != nil {
		t.Fatal(err)
	}
	if got := c.ownedBy(t, c.nodes[0].Addr, newID); !got.Equal(want) {
		t.Fatalf("after second run new master serves %s, want %s", got, want)
	}
	c.verifyKeys(t, 5000)
	redisCliCheck(t, c.nodes[0].Addr)
}

func TestFailoverGracefulSwitchesRoles(t *testing.T) {
	c := newCluster(t, 3, 1, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := WaitReplicasSynced(ctx, c.pool, c.addrs(), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	oldMaster, replica := c.ids[0], c.ids[3]
	plan := planner.Plan{Steps: []planner.Step{planner.Failover{Replica: replica, Mode: planner.FailoverGraceful}}}
	if err := c.ex.Run(ctx, plan); err != nil {
		t.Fatalf("failover: %v", err)
	}
	role, err := c.pool.Node(c.nodes[0].Addr).Role(ctx)
	must(t, err)
	if role != "slave" {
		// The old master turns into a replica once it learns of the new
		// epoch; wait for the layout to settle before judging.
		if err := c.ex.WaitConsistent(ctx); err != nil {
			t.Fatal(err)
		}
		role, err = c.pool.Node(c.nodes[0].Addr).Role(ctx)
		must(t, err)
	}
	if role != "slave" {
		t.Fatalf("old master %s has role %s after failover", oldMaster.Short(), role)
	}
	if err := c.ex.WaitConsistent(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := c.pool.Node(c.nodes[1].Addr).ClusterNodes(ctx)
	must(t, err)
	if n := v.Node(replica); !n.IsMaster() || n.Slots.IsEmpty() {
		t.Fatalf("other nodes do not see %s as a master with slots: %s", replica.Short(), n.Flags)
	}
	redisCliCheck(t, c.nodes[1].Addr)
}

func TestFailoverRefusesReplicaStillInFirstSync(t *testing.T) {
	c := newCluster(t, 3, 0, Options{}, redisenv.WithConfig("repl-diskless-sync", "yes"), redisenv.WithConfig("repl-diskless-sync-delay", "5"))
	c.load(t, 1000)
	newID := c.addEmptyMaster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.ex.Run(ctx, planner.Plan{Steps: []planner.Step{planner.Replicate{Replica: newID, Master: c.ids[0]}}}); err != nil {
		t.Fatalf("replicate: %v", err)
	}
	err := c.ex.Run(ctx, planner.Plan{Steps: []planner.Step{planner.Failover{Replica: newID, Mode: planner.FailoverForce}}})
	var ue *UnsafePromotionError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnsafePromotion) {
		t.Fatalf("failover = %v, want *UnsafePromotionError", err)
	}
	t.Logf("refused as expected: %v", err)
	role, err := c.pool.Node(c.masterAddr(newID)).Role(ctx)
	must(t, err)
	if role != "slave" {
		t.Fatalf("refused replica has role %s", role)
	}
	mrole, err := c.pool.Node(c.nodes[0].Addr).Role(ctx)
	must(t, err)
	if mrole != "master" {
		t.Fatalf("master has role %s after a refused failover", mrole)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrateSlotsUnderClientTrafficLosesNothing(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		name := "importing handover"
		if quiet {
			name = "quiet handover"
		}
		t.Run(name, func(t *testing.T) {
			const keys = 5000
			c := newCluster(t, 3, 0, Options{ChunkSlots: 64, QuietHandover: quiet})
			c.load(t, keys)
			newID := c.addEmptyMaster(t)
			var plan planner.Plan
			for m := 0; m < 3; m++ {
				slots := c.ownedBy(t, c.nodes[m].Addr, c.ids[m]).TakeHighest(1365)
				plan.Steps = append(plan.Steps, planner.MigrateSlots{Source: c.ids[m], Target: newID, Slots: slots})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// Four clients rewrite and read back their quarter of the keys,
			// in a loop, while the slots move; their own redirect handling
			// must hide the move.
			cc := c.client(t)
			stop := make(chan struct{})
			const clients = 4
			done := make(chan error, clients)
			var ops atomic.Int64
			for w := 0; w < clients; w++ {
				go func() {
					for {
						for i := w; i < keys; i += clients {
							select {
							case <-stop:
								done <- nil
								return
							default:
							}
							k, v := keyName(i), "v"+strconv.Itoa(i)
							if err := cc.Set(ctx, k, v, 0).Err(); err != nil {
								done <- fmt.Errorf("SET %s: %w", k, err)
								return
							}
							got, err := cc.Get(ctx, k).Result()
							if err != nil {
								done <- fmt.Errorf("GET %s: %w", k, err)
								return
							}
							if got != v {
								done <- fmt.Errorf("GET %s = %q, want %q", k, got, v)
								return
							}
							ops.Add(2)
						}
					}
				}()
			}
			runErr := c.ex.Run(ctx, plan)
			close(stop)
			for w := 0; w < clients; w++ {
				if err := <-done; err != nil {
					t.Errorf("client saw an error during the migration: %v", err)
				}
			}
			if runErr != nil {
				t.Fatalf("run: %v", runErr)
			}
			if t.Failed() {
				t.FailNow()
			}
			t.Logf("client commands during the migration: %d", ops.Load())
			if err := c.ex.WaitConsistent(ctx); err != nil {
				t.Fatal(err)
			}
			c.assertNoOpenSlots(t)
			c.verifyKeys(t, keys)
			redisCliCheck(t, c.nodes[0].Addr)
		})
	}
}

func TestAnnounceReachesEveryPeer(t *testing.T) {
	c := newCluster(t, 3, 0, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap, err := redisadmin.Discover(ctx, c.pool, c.addrs(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var plan planner.Plan
	want := map[topology.NodeID]topology.Endpoint{}
	for i, id := range c.ids {
		e := snap.Nodes[id].Self().Endpoint()
		e.Hostname = fmt.Sprintf("node-%d.redis.test", i)
		want[id] = e
		plan.Steps = append(plan.Steps, planner.Announce{Node: id, Endpoint: e})
	}
	if err := c.ex.Run(ctx, plan); err != nil {
		t.Fatalf("announce: %v", err)
	}
	for {
		snap, err := redisadmin.Discover(ctx, c.pool, c.addrs(), nil)
		if err != nil {
			t.Fatal(err)
		}
		stale := 0
		for _, st := range snap.Nodes {
			for _, n := range st.View.Nodes {
				if n.Endpoint() != want[n.ID] {
					stale++
				}
			}
		}
		if stale == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%d lines still show another endpoint than announced", stale)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestEndpointsUseTheAnnouncedBusPortOnlyWithTheAnnouncedPort(t *testing.T) {
	line := func(addr string, bus int) *topology.View {
		return &topology.View{Nodes: []*topology.Node{{ID: "a", Addr: addr, BusPort: bus, Flags: topology.FlagMyself | topology.FlagMaster}}}
	}
	for _, c := range []struct {
		name, reached, announced string
		bus, want                int
	}{
		{"reached at its announced address", "10.0.0.1:6379", "10.0.0.1:6379", 16400, 16400},
		{"reached under a name, same port", "redis-0.example:6379", "10.0.0.1:6379", 16400, 16400},
		{"reached at its pod address while announcing node ports", "10.244.0.5:6379", "10.243.0.11:31001", 31002, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{"a": {Addr: c.reached, View: line(c.announced, c.bus)}}}
			if got := Endpoints(snap)["a"]; got.Addr != c.reached || got.BusPort != c.want {
				t.Errorf("Endpoints = %+v, want %s with bus port %d", got, c.reached, c.want)
			}
		})
	}
}

// With two of three masters gone, no replica can win an election (it needs
// the votes of two masters): FORCE never completes, TAKEOVER does. Once one
// shard is taken over, two masters can vote again and FORCE promotes the
// other shard's replica, as the heal chain's forced rule does pass by pass.
func TestFailoverTakeoverServesShardsWhenMostMastersAreGone(t *testing.T) {
	c := newCluster(t, 3, 1, Options{AllowUnsafePromotion: true})
	c.load(t, 3000)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := WaitReplicasSynced(ctx, c.pool, c.addrs(), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	c.nodes[0].Kill()
	c.nodes[1].Kill()
	failover := func(ctx context.Context, replica topology.NodeID, mode planner.FailoverMode) error {
		return c.ex.Run(ctx, planner.Plan{Steps: []planner.Step{planner.Failover{Replica: replica, Mode: mode}}})
	}
	// ids[3] replicates ids[0], ids[4] replicates ids[1] (createPlan).
	forceCtx, forceCancel := context.WithTimeout(ctx, 8*time.Second)
	err := failover(forceCtx, c.ids[3], planner.FailoverForce)
	forceCancel()
	if err == nil {
		t.Fatal("FORCE promoted a replica with one master of three left to vote")
	}
	t.Logf("FORCE did not complete, as expected: %v", err)
	if err := failover(ctx, c.ids[3], planner.FailoverTakeover); err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if err := failover(ctx, c.ids[4], planner.FailoverForce); err != nil {
		t.Fatalf("FORCE once two masters can vote: %v", err)
	}
	live := []string{c.nodes[2].Addr, c.nodes[3].Addr, c.nodes[4].Addr}
	for _, a := range live { // a master rejoining turns its state ok after a short delay
		for {
			ci, err := c.pool.Node(a).ClusterInfo(ctx)
			must(t, err)
			if ci.StateOK {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: live, Protocol: 2, DisableIdentity: true})
	defer func() { _ = cc.Close() }()
	for i := range 3000 {
		k := keyName(i)
		v, err := cc.Get(ctx, k).Result()
		if err != nil || v != "v"+strconv.Itoa(i) {
			t.Fatalf("GET %s = %q, %v", k, v, err)
		}
	}
}
