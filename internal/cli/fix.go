package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
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

// fixRounds bounds how often fix observes, plans and repairs again.
const fixRounds = 3

func (a *app) runFix(ctx context.Context, seed string) error {
	s, err := a.open(ctx, seed)
	if err != nil {
		return err
	}
	defer s.close()
	total := runReport{planJSON: toPlanJSON(planner.Plan{}, false)}
	for round := 0; ; round++ {
		plan, err := fixPlan(ctx, s)
		if err != nil {
			return err
		}
		if plan.Empty() {
			break
		}
		if a.g.dryRun {
			return a.showPlan("fix plan", plan)
		}
		if round == fixRounds {
			return fmt.Errorf("fix: the cluster still needs repair after %d rounds (next: %s)", fixRounds, plan.Steps[0])
		}
		if !a.g.json && !a.g.noProgress {
			// A preview on stderr, like infof's notes.
			_, _ = fmt.Fprintf(a.stderr, "fix plan: %d step(s)\n%s", len(plan.Steps), plan.String())
		}
		rep, err := a.runPlan(ctx, s, "fix", plan, migrationOptions{parallel: 4}, executor.Options{})
		if err != nil {
			return err
		}
		total.Steps = append(total.Steps, rep.Steps...)
		total.Notes = append(total.Notes, rep.Notes...)
		total.SlotsMoved += rep.SlotsMoved
		total.KeysMoved += rep.KeysMoved
		total.Seconds += rep.Seconds
		if err := s.observe(ctx); err != nil {
			return err
		}
	}
	if len(total.Steps) == 0 {
		return a.showPlan("fix plan", planner.Plan{})
	}
	if total.Seconds > 0 {
		total.KeysPerSecond = float64(total.KeysMoved) / total.Seconds
	}
	if err := a.finish("fix", total); err != nil {
		return err
	}
	for _, p := range planner.Check(s.snap, planner.CheckOptions{MaxReplicaLag: planner.CaughtUpLag}) {
		if p.Severity == planner.SeverityError {
			return fmt.Errorf("fix left a problem: %s", p.Message)
		}
	}
	return nil
}

// fixPlan returns the next round of repairs for the observed cluster.
//
// A migration that was merely interrupted (the target IMPORTING, the source
// maybe MIGRATING) is finished towards its target, as redis-cli --cluster
// fix does: most of its keys may have moved already. That needs a cluster
// that is otherwise whole; anything else goes to planner.Repair. Of its
// plan, slot coverage comes first on its own: while a slot is uncovered the
// nodes refuse MIGRATE (CLUSTERDOWN), which closing an open slot needs.
func fixPlan(ctx context.Context, s *session) (planner.Plan, error) {
	if resume, err := preflight(s.snap); err == nil && !resume.Empty() {
		return resume, nil
	}
	holders, err := keyHolders(ctx, s)
	if err != nil {
		return planner.Plan{}, err
	}
	plan := planner.Repair(planner.RepairInput{Snapshot: s.snap, KeyHolders: holders})
	var assigned topology.SlotSet
	for _, st := range plan.Steps {
		if as, ok := st.(planner.AssignSlots); ok {
			assigned = assigned.Union(as.Slots)
		}
	}
	if assigned.IsEmpty() {
		return plan, nil
	}
	first := planner.Plan{Notes: plan.Notes}
	deferred := 0
	for _, st := range plan.Steps {
		if f, ok := st.(planner.FixOpenSlot); ok && !assigned.Has(f.Slot) {
			deferred++
			continue
		}
		first.Steps = append(first.Steps, st)
	}
	if deferred > 0 {
		first.Notes = append(first.Notes, fmt.Sprintf("%d open slot(s) are closed in a next round, once every slot is served", deferred))
	}
	return first, nil
}

// keyHolders returns, for every open or uncovered slot, the reachable
// masters holding keys in it, most keys first.
func keyHolders(ctx context.Context, s *session) (map[int][]topology.NodeID, error) {
	slots := planner.Agree(s.snap).Covered().Complement().Union(redisadmin.OpenSlots(s.snap))
	holders, err := redisadmin.KeyHolders(ctx, s.pool, s.snap, slots)
	if err != nil {
		var e *redisadmin.Error
		if errors.As(err, &e) {
			return nil, nodeError(e.Addr, err)
		}
		return nil, fmt.Errorf("find the masters holding keys in open or uncovered slots: %w", err)
	}
	return holders, nil
}
