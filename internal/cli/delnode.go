package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/planner"
)

func (a *app) delNodeCommand() *cobra.Command {
	var (
		mo    migrationOptions
		drain bool
	)
	cmd := &cobra.Command{
		Use:   "del-node ADDR NODE",
		Short: "Remove a node (ID or address) from the cluster; --drain moves its slots away first",
		Long: `del-node removes NODE (a node ID, unique ID prefix, or address) from the
cluster ADDR belongs to: every other node forgets it and the node itself is
reset, so it can join a cluster again. A master that serves slots is refused
unless --drain is given, which first moves its slots to the other masters.
A master that still has replicas is refused: delete or move them first.`,
		Example: `  rcctl del-node 10.0.0.1:6379 10.0.0.8:6379
  rcctl del-node 10.0.0.1:6379 10.0.0.7:6379 --drain --dry-run`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mo.validate(); err != nil {
				return err
			}
			if err := checkNodeRef("NODE", args[1]); err != nil {
				return err
			}
			return a.runDelNode(cmd.Context(), args[0], args[1], drain, mo)
		},
	}
	mo.register(cmd)
	cmd.Flags().BoolVar(&drain, "drain", false, "move the node's slots to the other masters first")
	return cmd
}

func (a *app) runDelNode(ctx context.Context, seed, ref string, drain bool, mo migrationOptions) error {
	s, err := a.open(ctx, seed)
	if err != nil {
		return err
	}
	defer s.close()
	id, err := resolveNode(s.snap, ref)
	if err != nil {
		return err
	}
	c := planner.Agree(s.snap)
	line := c.View.Node(id)
	if line == nil {
		return fmt.Errorf("node %s is not a member of the cluster", id.Short())
	}
	owned := c.Ownership()[id]
	if line.IsMaster() {
		if reps := c.View.ReplicasOf(id); len(reps) > 0 {
			names := make([]string, len(reps))
			for i, r := range reps {
				names[i] = r.Addr
			}
			return fmt.Errorf("master %s still has %d replica(s) (%s); delete them or fail over first", id.Short(), len(reps), strings.Join(names, ", "))
		}
		if !owned.IsEmpty() && !drain {
			return fmt.Errorf("node %s serves %d slots; use --drain to move them to the other masters first", id.Short(), owned.Count())
		}
	}
	if id == seedID(s) {
		return fmt.Errorf("node %s is the address rcctl was given; name another node of the cluster as ADDR", id.Short())
	}
	_, reachable := s.snap.Nodes[id]
	if !owned.IsEmpty() && !reachable {
		return fmt.Errorf("node %s serves %d slots but is unreachable; its slots cannot be drained", id.Short(), owned.Count())
	}
	resume, err := a.resumeInterrupted(ctx, s, mo)
	if err != nil {
		return err
	}
	var plan planner.Plan
	if !owned.IsEmpty() && !a.g.dryRun {
		// Redis 7 turns a master that loses its last slot into a replica
		// of the node that took it (cluster-allow-replica-migration yes),
		// racing the migration's last SETSLOT on it. A node on its way out
		// should stay an empty master: switch that off on it for the drain.
		restore, err := setConfig(ctx, s, s.snap.Nodes[id].Addr, "cluster-allow-replica-migration", "no")
		if err != nil {
			return err
		}
		defer restore()
	}
	if !owned.IsEmpty() {
		if plan, err = planner.Drain(planner.Agree(s.snap).Ownership(), id); err != nil {
			return fmt.Errorf("plan drain: %w", err)
		}
	}
	plan.Steps = append(plan.Steps, planner.Forget{Node: id})
	if reachable {
		plan.Steps = append(plan.Steps, planner.ResetNode{Node: id})
	}
	return a.planAndRun(ctx, s, "del-node", resume, plan, mo, executor.Options{})
}
