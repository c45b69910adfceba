package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

func (a *app) addNodeCommand() *cobra.Command {
	var replicaOf string
	cmd := &cobra.Command{
		Use:   "add-node NEW_ADDR EXISTING_ADDR",
		Short: "Add an empty node to the cluster, as a master or --replica-of a master",
		Long: `add-node introduces the empty cluster-mode node NEW_ADDR to the cluster
EXISTING_ADDR belongs to and waits until every node knows it. As a master it
serves no slot until a rebalance or reshard gives it some; with --replica-of
it replicates the given master (node ID, unique ID prefix, or address).`,
		Example: `  rcctl add-node 10.0.0.7:6379 10.0.0.1:6379
  rcctl add-node 10.0.0.8:6379 10.0.0.1:6379 --replica-of 10.0.0.7:6379`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, addr := range args {
				if _, _, err := parseAddr(addr); err != nil {
					return err
				}
			}
			if args[0] == args[1] {
				return usageErrorf("NEW_ADDR and EXISTING_ADDR are the same address %s", args[0])
			}
			if cmd.Flags().Changed("replica-of") {
				if err := checkNodeRef("--replica-of", replicaOf); err != nil {
					return err
				}
				if replicaOf == args[0] {
					return usageErrorf("--replica-of %s is the node being added; name a master of the cluster", replicaOf)
				}
			}
			return a.runAddNode(cmd.Context(), args[0], args[1], replicaOf)
		},
	}
	cmd.Flags().StringVar(&replicaOf, "replica-of", "", "make the new node a replica of this master (ID or ADDR)")
	return cmd
}

func (a *app) runAddNode(ctx context.Context, newAddr, seed, replicaOf string) error {
	s, err := a.open(ctx, seed)
	if err != nil {
		return err
	}
	defer s.close()
	for id, ns := range s.snap.Nodes {
		if ns.Addr == newAddr {
			return fmt.Errorf("%s is already a member of this cluster (node %s)", newAddr, id.Short())
		}
	}
	var master topology.NodeID
	if replicaOf != "" {
		if master, err = resolveNode(s.snap, replicaOf); err != nil {
			return fmt.Errorf("--replica-of: %w", err)
		}
		if err := requireMaster(s.snap, "--replica-of", replicaOf, master); err != nil {
			return err
		}
	}
	fresh, err := probeFresh(ctx, s.pool, newAddr)
	if err != nil {
		return err
	}
	seedID := topology.NodeID("")
	for id, ns := range s.snap.Nodes {
		if ns.Addr == seed {
			seedID = id
		}
	}
	plan := planner.Plan{Steps: []planner.Step{planner.Meet{Node: fresh.ID, Peer: seedID}}}
	if master != "" {
		plan.Steps = append(plan.Steps, planner.Replicate{Replica: fresh.ID, Master: master})
	}
	if a.g.dryRun {
		return a.showPlan("plan", plan)
	}
	eps := executor.Endpoints(s.snap)
	eps[fresh.ID] = executor.Endpoint{Addr: fresh.Addr, BusPort: fresh.BusPort}
	if err := executor.New(s.pool, eps, a.execOptions(nil)).Run(ctx, plan); err != nil {
		return fmt.Errorf("add-node: %w", err)
	}
	all := []string{newAddr}
	for _, ns := range s.snap.Nodes {
		all = append(all, ns.Addr)
	}
	a.infof("waiting for every node to know %s", newAddr)
	if err := a.waitConsistent(ctx, s.pool, all); err != nil {
		return err
	}
	if a.g.json {
		return a.printJSON(map[string]any{"added": newAddr, "id": fresh.ID, "replicaOf": master})
	}
	role := "master (no slots yet; run rcctl rebalance --use-empty-masters)"
	if master != "" {
		role = "replica of " + master.Short()
	}
	_, err = fmt.Fprintf(a.stdout, "added %s (%s) as %s\n", newAddr, fresh.ID.Short(), role)
	return err
}
