package cli

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

func (m *migrationOptions) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&m.parallel, "parallel", 4, "source→target pairs migrating at once")
	cmd.Flags().Float64Var(&m.rate, "rate", 0, "limit migration to this many keys per second (0: unlimited)")
	cmd.Flags().BoolVar(&m.quietHandover, "quiet-handover", true,
		"hand slots to the target without a cluster-wide broadcast per slot (one per batch): about twice as fast; "+
			"--quiet-handover=false uses the standard SETSLOT NODE sequence for every slot; "+
			"see docs/design/2026-12-05-quiet-handover-default.md")
}

func (m *migrationOptions) validate() error {
	if m.parallel < 1 {
		return usageErrorf("--parallel must be >= 1")
	}
	if m.rate < 0 || math.IsNaN(m.rate) || math.IsInf(m.rate, 0) {
		return usageErrorf("--rate %v: must be a finite number >= 0 (0: unlimited)", m.rate)
	}
	return nil
}

func (a *app) rebalanceCommand() *cobra.Command {
	var (
		mo        migrationOptions
		weights   []string
		useEmpty  bool
		threshold float64
	)
	cmd := &cobra.Command{
		Use:   "rebalance ADDR",
		Short: "Even out slots over the masters (by --weight), moving the fewest slots",
		Long: `rebalance moves slots, with their keys, so every master holds its share of
the slots in proportion to its weight (default 1; weight 0 empties a master).
Masters without slots take part only with --use-empty-masters. Nothing moves
when every master is within --threshold percent of its share.

Independent source→target pairs migrate in parallel (--parallel); --rate
caps the keys moved per second. A migration an earlier run left open is
finished first.`,
		Example: `  rcctl rebalance 10.0.0.1:6379 --use-empty-masters
  rcctl rebalance 10.0.0.1:6379 --weight 10.0.0.2:6379=2 --threshold 5 --rate 50000 --dry-run`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mo.validate(); err != nil {
				return err
			}
			if threshold < 0 || math.IsNaN(threshold) || math.IsInf(threshold, 0) {
				return usageErrorf("--threshold %v: must be a finite number >= 0", threshold)
			}
			parsed, err := parseWeights(weights)
			if err != nil {
				return err
			}
			return a.runRebalance(cmd.Context(), args[0], parsed, useEmpty, threshold, mo)
		},
	}
	mo.register(cmd)
	cmd.Flags().StringArrayVar(&weights, "weight", nil, "weight of a master, ID=W or ADDR=W (repeatable; default 1)")
	cmd.Flags().BoolVar(&useEmpty, "use-empty-masters", false, "give masters without slots a share")
	cmd.Flags().Float64Var(&threshold, "threshold", 2, "do nothing when every master is within this percent of its share")
	return cmd
}

// parseWeights parses --weight REF=W values; a node named twice or a
// weight that is not a finite number >= 0 is a usage error.
func parseWeights(values []string) (map[string]float64, error) {
	parsed := map[string]float64{}
	for _, w := range values {
		ref, val, ok := strings.Cut(w, "=")
		f, err := strconv.ParseFloat(val, 64)
		if !ok || ref == "" || err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, usageErrorf("--weight %q: want ID=W or ADDR=W with W a finite number >= 0", w)
		}
		if err := checkNodeRef("--weight "+strconv.Quote(w), ref); err != nil {
			return nil, err
		}
		if _, dup := parsed[ref]; dup {
			return nil, usageErrorf("--weight %q: %s is given a weight twice", w, ref)
		}
		parsed[ref] = f
	}
	return parsed, nil
}

func (a *app) runRebalance(ctx context.Context, seed string, weights map[string]float64, useEmpty bool, threshold float64, mo migrationOptions) error {
	s, err := a.open(ctx, seed)
	if err != nil {
		return err
	}
	defer s.close()
	w := map[topology.NodeID]float64{}
	refOf := map[topology.NodeID]string{}
	refs := make([]string, 0, len(weights))
	for ref := range weights {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		id, err := resolveNode(s.snap, ref)
		if err != nil {
			return fmt.Errorf("--weight: %w", err)
		}
		if prev, dup := refOf[id]; dup {
			return usageErrorf("--weight: %s and %s name the same node %s", prev, ref, id.Short())
		}
		if err := requireMaster(s.snap, "--weight", ref, id); err != nil {
			return err
		}
		refOf[id] = ref
		w[id] = weights[ref]
	}
	resume, err := a.resumeInterrupted(ctx, s, mo)
	if err != nil {
		return err
	}
	plan, err := planner.Rebalance(planner.RebalanceSpec{
		Owners:           planner.Agree(s.snap).Ownership(),
		Weights:          w,
		ThresholdPercent: threshold,
		UseEmptyMasters:  useEmpty,
	})
	if err != nil {
		return fmt.Errorf("plan rebalance: %w", err)
	}
	return a.planAndRun(ctx, s, "rebalance", resume, plan, mo, executor.Options{})
}

func (a *app) reshardCommand() *cobra.Command {
	var (
		mo       migrationOptions
		from, to string
		slots    int
	)
	cmd := &cobra.Command{
		Use:   "reshard ADDR --from ID|all --to ID --slots N",
		Short: "Move N slots, with their keys, to one master",
		Long: `reshard moves --slots N slots to the master --to, taken from the masters in
--from (comma-separated IDs or addresses, or "all": every other master, each
giving in proportion to what it holds).`,
		Example: `  rcctl reshard 10.0.0.1:6379 --from all --to 10.0.0.7:6379 --slots 1000
  rcctl reshard 10.0.0.1:6379 --from 3f1c2a,9be0d1 --to 77aa01 --slots 100 --dry-run`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mo.validate(); err != nil {
				return err
			}
			if from == "" || to == "" {
				return usageErrorf("reshard needs --from and --to")
			}
			if err := checkNodeRef("--to", to); err != nil {
				return err
			}
			if _, err := parseFrom(from); err != nil {
				return err
			}
			if slots <= 0 || slots > topology.SlotCount {
				return usageErrorf("--slots must be 1-%d", topology.SlotCount)
			}
			return a.runReshard(cmd.Context(), args[0], from, to, slots, mo)
		},
	}
	mo.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", `source masters: IDs or addresses, comma-separated, or "all"`)
	cmd.Flags().StringVar(&to, "to", "", "target master: ID or address")
	cmd.Flags().IntVar(&slots, "slots", 0, "number of slots to move")
	return cmd
}

// parseFrom splits --from into node references; nil means "all". Empty
// entries, "all" beside other entries and repeated entries are usage
// errors.
func parseFrom(from string) ([]string, error) {
	if from == "all" {
		return nil, nil
	}
	var refs []string
	seen := map[string]bool{}
	for _, ref := range strings.Split(from, ",") {
		ref = strings.TrimSpace(ref)
		switch {
		case ref == "all":
			return nil, usageErrorf("--from %q: \"all\" stands alone, not in a list", from)
		case seen[ref]:
			return nil, usageErrorf("--from %q: %s is listed twice", from, ref)
		}
		if err := checkNodeRef(fmt.Sprintf("--from %q: an entry", from), ref); err != nil {
			return nil, err
		}
		seen[ref] = true
		refs = append(refs, ref)
	}
	return refs, nil
}

func (a *app) runReshard(ctx context.Context, seed, from, to string, slots int, mo migrationOptions) error {
	s, err := a.open(ctx, seed)
	if err != nil {
		return err
	}
	defer s.close()
	target, err := resolveNode(s.snap, to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if err := requireMaster(s.snap, "--to", to, target); err != nil {
		return err
	}
	refs, err := parseFrom(from)
	if err != nil {
		return err
	}
	var sources []topology.NodeID
	refOf := map[topology.NodeID]string{}
	for _, ref := range refs {
		id, err := resolveNode(s.snap, ref)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		switch prev, dup := refOf[id]; {
		case dup:
			return usageErrorf("--from: %s and %s name the same node %s", prev, ref, id.Short())
		case id == target:
			return usageErrorf("--from %s and --to %s name the same node %s", ref, to, id.Short())
		}
		if err := requireMaster(s.snap, "--from", ref, id); err != nil {
			return err
		}
		refOf[id] = ref
		sources = append(sources, id)
	}
	resume, err := a.resumeInterrupted(ctx, s, mo)
	if err != nil {
		return err
	}
	plan, err := planner.Reshard(planner.ReshardSpec{
		Owners: planner.Agree(s.snap).Ownership(),
		From:   sources,
		To:     target,
		Slots:  slots,
	})
	if err != nil {
		return fmt.Errorf("plan reshard: %w", err)
	}
	return a.planAndRun(ctx, s, "reshard", resume, plan, mo, executor.Options{})
}
