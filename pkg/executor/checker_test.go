package executor

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/checker"
)

// TestRebalanceUnderCheckerKeepsEveryAcknowledgedWrite rebalances a
// three-master cluster holding 200k keys onto six masters (half the slots,
// 100k keys, move), with each handover, while the checker's clients write,
// read and multi-key-read their own keys: no client may see a lost,
// resurrected, phantom or torn value, and every acknowledged write must be
// there at the end.
func TestRebalanceUnderCheckerKeepsEveryAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	for _, quiet := range []bool{false, true} {
		name := "importing handover"
		if quiet {
			name = "quiet handover"
		}
		t.Run(name, func(t *testing.T) {
			const keys = 200_000
			c := newCluster(t, 3, 0, Options{QuietHandover: quiet})
			c.load(t, keys)
			newIDs := make([]topology.NodeID, 3)
			for m := range newIDs {
				newIDs[m] = c.addEmptyMaster(t)
			}
			var plan planner.Plan
			for m := 0; m < 3; m++ {
				owned := c.ownedBy(t, c.nodes[m].Addr, c.ids[m])
				slots := owned.TakeHighest(owned.Count() / 2)
				plan.Steps = append(plan.Steps, planner.MigrateSlots{Source: c.ids[m], Target: newIDs[m], Slots: slots})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			seed := time.Now().UnixNano()
			t.Logf("checker seed %d", seed)
			ck, err := checker.Start(ctx, checker.Config{
				Seed: seed,
				NewClient: func() *redis.ClusterClient {
					return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.addrs(), Protocol: 2, DisableIdentity: true})
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			runErr := c.ex.Run(ctx, plan)
			took := time.Since(start)
			res, ckErr := ck.Stop()
			if runErr != nil {
				t.Fatalf("rebalance: %v", runErr)
			}
			if ckErr != nil {
				t.Fatalf("checker: %v", ckErr)
			}
			t.Logf("rebalance of half the slots (about %d keys) took %v", keys/2, took.Round(time.Millisecond))
			t.Log(res.Summary())
			for cl, msg := range res.ErrorSamples {
				t.Logf("first %s error: %s", cl, msg)
			}
			for _, v := range res.Violations {
				t.Errorf("violation: %v", v)
			}
			if res.Ops == 0 {
				t.Fatal("the checker's clients did no operation during the rebalance")
			}
			if err := c.ex.WaitConsistent(ctx); err != nil {
				t.Fatal(err)
			}
			c.assertNoOpenSlots(t)
			// The checker's keys go, so that the count of the test's own
			// keys is exact.
			cc := c.client(t)
			for _, k := range ck.Keys() {
				if err := cc.Del(ctx, k).Err(); err != nil {
					t.Fatalf("delete checker key %s: %v", k, err)
				}
			}
			c.verifyKeys(t, keys)
		})
	}
}
