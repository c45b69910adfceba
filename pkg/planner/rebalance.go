package planner

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/redkube/redkube/pkg/topology"
)

// RebalanceSpec asks for slots to be spread over masters by weight.
type RebalanceSpec struct {
	// Owners are the current masters and their slots (masters without
	// slots included).
	Owners Ownership
	// Weights per master; a master not listed has weight 1, weight 0 drains
	// it.
	Weights map[topology.NodeID]float64
	// ThresholdPercent skips the rebalance when every master is within this
	// percentage of its target (a master to drain is never within). 0
	// balances exactly.
	ThresholdPercent float64
	// UseEmptyMasters lets masters without slots take a share; without it
	// they are left out, as redis-cli does.
	UseEmptyMasters bool
	// Remove lists masters being removed: their slots go to the others.
	Remove []topology.NodeID
}

// Transfer is a number of slots to move from one master to another, before
// the planner picks which slots.
type Transfer struct {
	Source topology.NodeID
	Target topology.NodeID
	Count  int
}

// Targets returns the number of slots each master of spec.Owners should
// hold. Every participating master gets the floor of its weighted share of
// the owned slots; the slots left over go one each to the masters with the
// largest fractional share, ties to the smaller node ID. Masters that take
// no share (weight 0, removed, or empty without UseEmptyMasters) get 0.
func Targets(spec RebalanceSpec) (map[topology.NodeID]int, error) {
	weights, err := participants(spec)
	if err != nil {
		return nil, err
	}
	shares := weightedShares(spec.Owners.Total(), weights)
	targets := make(map[topology.NodeID]int, len(spec.Owners))
	for id := range spec.Owners {
		targets[id] = shares[id] // 0 for masters that take no share
	}
	return targets, nil
}

// participants returns the weight of each master that takes a share.
func participants(spec RebalanceSpec) (map[topology.NodeID]float64, error) {
	for id, w := range spec.Weights {
		if _, ok := spec.Owners[id]; !ok {
			return nil, fmt.Errorf("weight given for %s, which is not a master", id.Short())
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("weight of %s is %v, want a finite number >= 0", id.Short(), w)
		}
	}
	for _, id := range spec.Remove {
		if _, ok := spec.Owners[id]; !ok {
			return nil, fmt.Errorf("node %s to remove is not a master", id.Short())
		}
	}
	weights := map[topology.NodeID]float64{}
	for id, s := range spec.Owners {
		w, ok := spec.Weights[id]
		if !ok {
			w = 1
		}
		if w == 0 || slices.Contains(spec.Remove, id) || (s.IsEmpty() && !spec.UseEmptyMasters) {
			continue
		}
		weights[id] = w
	}
	if len(weights) == 0 && spec.Owners.Total() > 0 {
		return nil, fmt.Errorf("no master is left to hold the %d slots", spec.Owners.Total())
	}
	return weights, nil
}

// weightedShares splits total by weight with the largest-remainder method.
func weightedShares(total int, weights map[topology.NodeID]float64) map[topology.NodeID]int {
	var sum float64
	for _, w := range weights {
		sum += w
	}
	type frac struct {
		id   topology.NodeID
		frac float64
	}
	shares := map[topology.NodeID]int{}
	var fracs []frac
	given := 0
	for _, id := range sortedIDs(weights) {
		exact := float64(total) * weights[id] / sum
		shares[id] = int(math.Floor(exact))
		given += shares[id]
		fracs = append(fracs, frac{id, exact - math.Floor(exact)})
	}
	slices.SortStableFunc(fracs, func(a, b frac) int { return cmp.Compare(b.frac, a.frac) })
	for i := 0; given < total; i++ {
		shares[fracs[i%len(fracs)].id]++
		given++
	}
	return shares
}

// Rebalance returns the plan that brings every master to its target (see
// Targets), moving exactly the slots masters hold above their targets and
// nothing when every master is within ThresholdPercent. Transfers pair the
// largest surpluses with the largest deficits, exact matches first, which
// keeps the number of source→target pairs small; steps are ordered in
// waves of pairs that share no node, so an executor may run each wave in
// parallel. Each source gives slots from the top of its slot set, so ranges
// stay contiguous.
func Rebalance(spec RebalanceSpec) (Plan, error) {
	if err := spec.Owners.Validate(); err != nil {
		return Plan{}, err
	}
	targets, err := Targets(spec)
	if err != nil {
		return Plan{}, err
	}
	if withinThreshold(spec.Owners, targets, spec.ThresholdPercent) {
		return Plan{Notes: []string{fmt.Sprintf("every master is within %g%% of its target; nothing to move", spec.ThresholdPercent)}}, nil
	}
	return movePlan(spec.Owners, pairTransfers(spec.Owners, targets)), nil
}

func withinThreshold(o Ownership, targets map[topology.NodeID]int, threshold float64) bool {
	for id, s := range o {
		cur, want := s.Count(), targets[id]
		if cur == want {
			continue
		}
		if want == 0 || threshold <= 0 {
			return false
		}
		if math.Abs(float64(cur-want))*100/float64(want) > threshold {
			return false
		}
	}
	return true
}

type balance struct {
	id     topology.NodeID
	amount int
}

// pairTransfers matches surpluses with deficits.
func pairTransfers(o Ownership, targets map[topology.NodeID]int) []Transfer {
	var over, under []balance
	for _, id := range o.IDs() {
		switch d := o[id].Count() - targets[id]; {
		case d > 0:
			over = append(over, balance{id, d})
		case d < 0:
			under = append(under, balance{id, -d})
		}
	}
	return pairBalances(over, under)
}

func byAmountDesc(a, b balance) int {
	if c := cmp.Compare(b.amount, a.amount); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// pairBalances first pairs equal surplus and deficit (a pair that touches
// no other node), then repeatedly moves from the largest surplus to the
// largest deficit.
func pairBalances(over, under []balance) []Transfer {
	slices.SortFunc(over, byAmountDesc)
	slices.SortFunc(under, byAmountDesc)
	var out []Transfer
	for i := range over {
		for j := range under {
			if under[j].amount > 0 && under[j].amount == over[i].amount {
				out = append(out, Transfer{over[i].id, under[j].id, over[i].amount})
				over[i].amount, under[j].amount = 0, 0
				break
			}
		}
	}
	for {
		over = slices.DeleteFunc(over, func(b balance) bool { return b.amount == 0 })
		under = slices.DeleteFunc(under, func(b balance) bool { return b.amount == 0 })
		if len(over) == 0 || len(under) == 0 {
			return out
		}
		slices.SortFunc(over, byAmountDesc)
		slices.SortFunc(under, byAmountDesc)
		n := min(over[0].amount, under[0].amount)
		out = append(out, Transfer{over[0].id, under[0].id, n})
		over[0].amount -= n
		under[0].amount -= n
	}
}

// movePlan turns transfers into MigrateSlots steps ordered in waves.
func movePlan(o Ownership, transfers []Transfer) Plan {
	left := o.Clone()
	var steps []MigrateSlots
	for _, t := range transfers {
		slots := left[t.Source].TakeHighest(t.Count)
		left[t.Source] = left[t.Source].Difference(slots)
		steps = append(steps, MigrateSlots{Source: t.Source, Target: t.Target, Slots: slots})
	}
	var plan Plan
	for _, s := range inWaves(steps) {
		plan.Steps = append(plan.Steps, s)
	}
	return plan
}

// inWaves orders moves so that each run of moves sharing no node comes
// together: wave 1 holds as many disjoint pairs as a first-fit pass finds,
// wave 2 the next, and so on. Order within the input is otherwise kept.
func inWaves(moves []MigrateSlots) []MigrateSlots {
	var out []MigrateSlots
	done := make([]bool, len(moves))
	for len(out) < len(moves) {
		busy := map[topology.NodeID]bool{}
		for i, m := range moves {
			if done[i] || busy[m.Source] || busy[m.Target] {
				continue
			}
			busy[m.Source], busy[m.Target] = true, true
			done[i] = true
			out = append(out, m)
		}
	}
	return out
}

// ReshardSpec asks for an explicit number of slots to move to one master.
type ReshardSpec struct {
	// Owners are the current masters and their slots.
	Owners Ownership
	// From are the masters to take slots from; empty means every other
	// master holding slots, each giving in proportion to what it holds.
	From []topology.NodeID
	// To receives the slots.
	To topology.NodeID
	// Slots is how many slots to move.
	Slots int
}

// Reshard returns the plan that moves spec.Slots slots to spec.To, taken
// from the sources in proportion to the slots they hold (largest remainder,
// ties to the smaller ID), from the top of each source's slot set.
func Reshard(spec ReshardSpec) (Plan, error) {
	if err := spec.Owners.Validate(); err != nil {
		return Plan{}, err
	}
	if _, ok := spec.Owners[spec.To]; !ok {
		return Plan{}, fmt.Errorf("target %s is not a master", spec.To.Short())
	}
	if spec.Slots <= 0 {
		return Plan{}, fmt.Errorf("%d slots to move, want > 0", spec.Slots)
	}
	from := spec.From
	if len(from) == 0 {
		for _, id := range spec.Owners.IDs() {
			if id != spec.To && !spec.Owners[id].IsEmpty() {
				from = append(from, id)
			}
		}
	}
	weights := map[topology.NodeID]float64{}
	avail := 0
	for _, id := range from {
		s, ok := spec.Owners[id]
		switch {
		case !ok:
			return Plan{}, fmt.Errorf("source %s is not a master", id.Short())
		case id == spec.To:
			return Plan{}, fmt.Errorf("master %s is both source and target", id.Short())
		}
		if s.Count() > 0 {
			weights[id] = float64(s.Count())
			avail += s.Count()
		}
	}
	if spec.Slots > avail {
		return Plan{}, fmt.Errorf("%d slots to move but the sources hold %d", spec.Slots, avail)
	}
	var transfers []Transfer
	shares := weightedShares(spec.Slots, weights)
	for _, id := range sortedIDs(shares) {
		if n := min(shares[id], spec.Owners[id].Count()); n > 0 {
			transfers = append(transfers, Transfer{Source: id, Target: spec.To, Count: n})
		}
	}
	return movePlan(spec.Owners, transfers), nil
}

// Drain returns the plan that moves every slot of node to the other
// masters, filling the largest deficits (against the targets an even
// rebalance without node would set) first. Other masters keep their slots.
func Drain(o Ownership, node topology.NodeID) (Plan, error) {
	if err := o.Validate(); err != nil {
		return Plan{}, err
	}
	if _, ok := o[node]; !ok {
		return Plan{}, fmt.Errorf("node %s to drain is not a master", node.Short())
	}
	spec := RebalanceSpec{Owners: o, Remove: []topology.NodeID{node}}
	if o.Total() == o[node].Count() {
		spec.UseEmptyMasters = true // nobody else holds slots: fill the empty ones
	}
	targets, err := Targets(spec)
	if err != nil {
		return Plan{}, err
	}
	var under []balance
	for _, id := range o.IDs() {
		if d := targets[id] - o[id].Count(); id != node && d > 0 {
			under = append(under, balance{id, d})
		}
	}
	slices.SortFunc(under, byAmountDesc)
	left := o[node].Count()
	var transfers []Transfer
	for _, u := range under {
		if left == 0 {
			break
		}
		n := min(u.amount, left)
		transfers = append(transfers, Transfer{Source: node, Target: u.id, Count: n})
		left -= n
	}
	return movePlan(o, transfers), nil
}
