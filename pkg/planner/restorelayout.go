package planner

import (
	"errors"
	"fmt"

	"github.com/redkube/redkube/pkg/topology"
)

// ErrShardMismatch reports that a same-layout restore's groups do not fit
// the backup's shards: a node claimed slots of another shard, or the
// shards are not one per group, disjoint and covering every slot.
var ErrShardMismatch = errors.New("the nodes do not match the backup's shards")

// RestoreLayout returns the plan that creates a cluster around groups
// whose first member started on a backup shard's RDB (a same-layout
// restore), and the placement it chose. Group g's master is groups[g][0],
// the member holding shard g's keys; at start it claimed claimed[g] (the
// slots its keys are in) and is assigned the rest of shards[g], so every
// slot ends up on the node that holds its keys. No master moves to another
// member (unlike GroupLayout): the keys are where they are. The group's
// other members (fresh, empty) become its replicas; config epochs, meets
// and replication are as in GroupLayout. A first member that claimed a
// slot outside its shard holds another shard's RDB: ErrShardMismatch,
// naming the slots.
func RestoreLayout(groups [][]Member, shards, claimed []topology.SlotSet) (Plan, Placement, error) {
	if len(shards) != len(groups) || len(claimed) != len(groups) {
		return Plan{}, Placement{}, fmt.Errorf("%d groups, %d shards, %d claims: %w", len(groups), len(shards), len(claimed), ErrShardMismatch)
	}
	var all topology.SlotSet
	for g, s := range shards {
		if all.Overlaps(s) {
			return Plan{}, Placement{}, fmt.Errorf("shard %d shares slots %s with another shard: %w", g, all.Intersect(s).String(), ErrShardMismatch)
		}
		all = all.Union(s)
	}
	if !all.IsFull() {
		return Plan{}, Placement{}, fmt.Errorf("the shards leave slots %s without an owner: %w", all.Complement().String(), ErrShardMismatch)
	}
	var pl Placement
	assign := make([]topology.SlotSet, len(groups))
	for g, members := range groups {
		if len(members) == 0 {
			return Plan{}, Placement{}, fmt.Errorf("group %d has no member: %w", g, ErrTooFewNodes)
		}
		if extra := claimed[g].Difference(shards[g]); !extra.IsEmpty() {
			return Plan{}, Placement{}, fmt.Errorf("group %d's first member claimed slots %s outside its shard's %s (its RDB holds another shard's keys): %w", g, extra.String(), shards[g].String(), ErrShardMismatch)
		}
		assign[g] = shards[g].Difference(claimed[g])
		pl.Shards = append(pl.Shards, Shard{Master: members[0], Slots: shards[g], Replicas: append([]Member(nil), members[1:]...)})
	}
	return groupLayoutPlan(groups, pl, assign), pl, nil
}
