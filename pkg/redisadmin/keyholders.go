package redisadmin

import (
	"context"
	"fmt"
	"sort"

	"github.com/redkube/redkube/pkg/topology"
)

// OpenSlots returns the slots some reachable node of snap reports as
// MIGRATING or IMPORTING (snap.OpenSlots).
func OpenSlots(snap *topology.Snapshot) topology.SlotSet { return snap.OpenSlots() }

// KeyHolders asks every reachable master of snap that holds keys how many
// keys it has in each of slots (CLUSTER COUNTKEYSINSLOT, one pipeline per
// master) and returns, for every slot in which some master holds keys, those
// masters, most keys first, ties by node ID. Replicas are not asked: they
// hold copies. Callers pass the slots a repair must find an owner for —
// typically those no node owns by consensus plus OpenSlots(snap) — since
// the answer is only needed there and costs a command per slot and master.
//
// It returns nil without a round trip when slots is empty. A master that
// does not answer fails the call (its *Error names it): a holder left out
// could have its keys dropped by the repair.
func KeyHolders(ctx context.Context, pool *Pool, snap *topology.Snapshot, slots topology.SlotSet) (map[int][]topology.NodeID, error) {
	if slots.IsEmpty() {
		return nil, nil
	}
	list := slots.Slots()
	type count struct {
		id topology.NodeID
		n  int64
	}
	per := map[int][]count{}
	for _, id := range snap.IDs() {
		ns := snap.Nodes[id]
		if self := snap.Self(id); self == nil || !self.IsMaster() || ns.Keys == 0 {
			continue
		}
		counts, err := pool.Node(ns.Addr).CountKeysInSlots(ctx, list)
		if err != nil {
			return nil, fmt.Errorf("count keys in %d slots on master %s: %w", len(list), id.Short(), err)
		}
		for i, n := range counts {
			if n > 0 {
				per[list[i]] = append(per[list[i]], count{id, n})
			}
		}
	}
	out := make(map[int][]topology.NodeID, len(per))
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
