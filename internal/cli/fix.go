package cli

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

func (a *app) fixCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fix ADDR",
		Short: "Repair open slots, uncovered slots and slot-owner disagreements",
		Long: `fix repairs what check reports about slots: slots left MIGRATING or
IMPORTING are closed on one owner with their keys moved to it, slots no node
serves are assigned (to the master holding keys in them, else spread over the
masters with the fewest slots), nodes that disagree about a slot's owner are
told the agreed owner, and failed nodes without slots are forgotten. It then
checks again and exits 1 if a problem is left.`,
		Example: `  rcctl fix 10.0.0.1:6379 --dry-run
  rcctl fix 10.0.0.1:6379`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runFix(cmd.Context(), args[0])
		},
	}
	return cmd
}

func (a *app) runFix(ctx context.Context, seed string) error {
	s, err := a.open(ctx, seed)
	if err != nil {
		return err
	}
	defer s.close()
	// A migration that was merely interrupted (the target IMPORTING, the
	// source maybe MIGRATING) is finished towards its target first, as
	// redis-cli --cluster fix does: most of its keys may have moved already.
	// That needs a cluster that is otherwise whole; anything else goes to
	// the repair plan.
	if resume, err := preflight(s.snap); err == nil && !resume.Empty() {
		if a.g.dryRun {
			if err := a.showPlan("fix plan", resume); err != nil {
				return err
			}
			if !a.g.json {
				fmt.Fprintln(a.stdout, "note: anything still broken after these steps is planned once they are done")
			}
			return nil
		}
		a.infof("finishing %d interrupted slot migration(s)", len(resume.Steps))
		if _, err := a.runPlan(ctx, s, "fix", resume, migrationOptions{parallel: 4}, executor.Options{}); err != nil {
			return err
		}
		if err := s.observe(ctx); err != nil {
			return err
		}
	}
	holders, err := keyHolders(ctx, s)
	if err != nil {
		return err
	}
	plan := planner.Repair(planner.RepairInput{Snapshot: s.snap, KeyHolders: holders})
	if a.g.dryRun || plan.Empty() {
		if err := a.showPlan("fix plan", plan); err != nil {
			return err
		}
		return nil
	}
	if !a.g.json && !a.g.noProgress {
		fmt.Fprintf(a.stderr, "fix plan: %d step(s)\n%s", len(plan.Steps), plan.String())
	}
	rep, err := a.runPlan(ctx, s, "fix", plan, migrationOptions{parallel: 4}, executor.Options{})
	if err != nil {
		return err
	}
	if err := s.observe(ctx); err != nil {
		return err
	}
	left := planner.Check(s.snap, planner.CheckOptions{MaxReplicaLag: 1 << 20})
	if err := a.finish("fix", rep); err != nil {
		return err
	}
	if planner.HasErrors(left) {
		for _, p := range left {
			if p.Severity == planner.SeverityError {
				return fmt.Errorf("fix left a problem: %s", p.Message)
			}
		}
	}
	return nil
}

// keyHolders counts, for every open or uncovered slot, the keys each
// reachable master holds in it, and returns the masters holding keys, most
// keys first.
func keyHolders(ctx context.Context, s *session) (map[int][]topology.NodeID, error) {
	c := planner.Agree(s.snap)
	slots := c.Covered().Complement()
	for _, id := range s.snap.IDs() {
		self := s.snap.Self(id)
		for x := range self.Migrating {
			slots.Add(x)
		}
		for x := range self.Importing {
			slots.Add(x)
		}
	}
	if slots.IsEmpty() {
		return nil, nil
	}
	list := slots.Slots()
	type count struct {
		id topology.NodeID
		n  int64
	}
	per := map[int][]count{}
	for _, id := range s.snap.IDs() {
		ns := s.snap.Nodes[id]
		if !ns.Self().IsMaster() || ns.Keys == 0 {
			continue
		}
		counts, err := s.pool.Node(ns.Addr).CountKeysInSlots(ctx, list)
		if err != nil {
			return nil, nodeError(ns.Addr, err)
		}
		for i, n := range counts {
			if n > 0 {
				per[list[i]] = append(per[list[i]], count{id, n})
			}
		}
	}
	out := map[int][]topology.NodeID{}
	for x, cs := range per {
		sort.Slice(cs, func(i, j int) bool {
			if cs[i].n != cs[j].n {
				return cs[i].n > cs[j].n
			}
			return cs[i].id < cs[j].id
		})
		for _, c := range cs {
			out[x] = append(out[x], c.id)
		}
	}
	return out, nil
}
