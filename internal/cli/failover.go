package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

func (a *app) failoverCommand() *cobra.Command {
	var force, takeover bool
	cmd := &cobra.Command{
		Use:   "failover NODE_ADDR",
		Short: "Promote the replica at NODE_ADDR to master of its shard",
		Long: `failover promotes the replica at NODE_ADDR with CLUSTER FAILOVER and waits
until it reports itself master. The graceful default lets the master finish
its writes first, so no acknowledged write is lost, and is refused when the
replica is not in sync: its link is down, its first sync is still running (a
freshly attached replica holds no data yet), or its offset lags.

--force (CLUSTER FAILOVER FORCE: no handshake with the master, for a master
that is down) and --takeover (no vote at all) skip that safety check: use
them only when the master is gone and you accept losing what the replica
missed.`,
		Example: `  rcctl failover 10.0.0.4:6379
  rcctl failover 10.0.0.4:6379 --force`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if force && takeover {
				return usageErrorf("--force and --takeover are mutually exclusive")
			}
			mode := planner.FailoverGraceful
			switch {
			case force:
				mode = planner.FailoverForce
			case takeover:
				mode = planner.FailoverTakeover
			}
			return a.runFailover(cmd.Context(), args[0], mode)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "CLUSTER FAILOVER FORCE, skipping the replica sync check")
	cmd.Flags().BoolVar(&takeover, "takeover", false, "CLUSTER FAILOVER TAKEOVER, skipping the vote and the sync check")
	return cmd
}

func (a *app) runFailover(ctx context.Context, addr string, mode planner.FailoverMode) error {
	s, err := a.open(ctx, addr)
	if err != nil {
		return err
	}
	defer s.close()
	id := seedID(s)
	self := s.snap.Self(id)
	if self == nil {
		return fmt.Errorf("%s did not answer", addr)
	}
	if !self.IsReplica() {
		return fmt.Errorf("%s (%s) is a master already; name one of its replicas", addr, id.Short())
	}
	if mode == planner.FailoverGraceful {
		if err := a.waitPromotable(ctx, s, id, self.MasterID); err != nil {
			return err
		}
	}
	plan := planner.Plan{Steps: []planner.Step{planner.Failover{Replica: id, Mode: mode}}}
	if a.g.dryRun {
		return a.showPlan("failover plan", plan)
	}
	rep, err := a.runPlan(ctx, s, "failover", plan, migrationOptions{parallel: 1}, executor.Options{AllowUnsafePromotion: mode != planner.FailoverGraceful})
	if err != nil {
		return err
	}
	if a.g.json {
		return a.printJSON(rep)
	}
	_, err = fmt.Fprintf(a.stdout, "failover: %s (%s) is now master of its shard (was replica of %s)\n", addr, id.Short(), self.MasterID.Short())
	return err
}

// promotionWait is how long failover gives a replica that is behind its
// master to catch up before refusing it.
const promotionWait = 5 * time.Second

// waitPromotable re-observes the cluster until the replica id is a safe
// promotion target (see executor.CheckPromotion) or promotionWait passes.
// A replica whose link is up but whose offset trails for a moment (the
// master just took writes) is thus not refused; one that has not had its
// first sync is, after the wait.
func (a *app) waitPromotable(ctx context.Context, s *session, id, master topology.NodeID) error {
	deadline := time.Now().Add(promotionWait)
	for {
		var mrep *topology.Replication
		if m := s.snap.Nodes[master]; m != nil {
			mrep = &m.Replication
		}
		rs := s.snap.Nodes[id]
		if rs == nil {
			return fmt.Errorf("replica %s is not reachable any more", id.Short())
		}
		err := executor.CheckPromotion(id, rs.Replication, mrep, planner.CaughtUpLag)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for replica %s to catch up: %w", id.Short(), ctx.Err())
		case <-t.C:
		}
		if err := s.observe(ctx); err != nil {
			return err
		}
	}
}
