package planner

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

// restoreWorld is a same-layout restore about to be created: the backup's
// shards, the slots each group's first member claimed at start (those its
// keys are in), and the groups.
type restoreWorld struct {
	groups          [][]Member
	shards, claimed []topology.SlotSet
}

// ownersAfter runs plan's slot steps over the claims the way Redis does:
// an ADDSLOTS of a slot that a node already serves is refused (the
// executor never sends it), so each slot must be given once. It returns
// each slot's owner.
func (w restoreWorld) ownersAfter(t testing.TB, plan Plan) map[int]topology.NodeID {
	t.Helper()
	owner := map[int]topology.NodeID{}
	for g, c := range w.claimed {
		c.Each(func(x int) bool { owner[x] = w.groups[g][0].ID; return true })
	}
	for _, s := range plan.Steps {
		a, ok := s.(AssignSlots)
		if !ok {
			continue
		}
		a.Slots.Each(func(x int) bool {
			if o, busy := owner[x]; busy {
				t.Errorf("slot %d assigned to %s is already served by %s", x, a.Node.Short(), o.Short())
			}
			owner[x] = a.Node
			return true
		})
	}
	return owner
}

// keyHolder returns the member holding slot x's keys: the first member of
// the group whose shard holds x.
func (w restoreWorld) keyHolder(x int) topology.NodeID {
	for g, s := range w.shards {
		if s.Has(x) {
			return w.groups[g][0].ID
		}
	}
	return ""
}

// splitShards cuts the slots at the given starts into shards.
func splitShards(starts ...int) []topology.SlotSet {
	out := make([]topology.SlotSet, len(starts))
	for i, lo := range starts {
		hi := topology.SlotCount - 1
		if i+1 < len(starts) {
			hi = starts[i+1] - 1
		}
		out[i] = topology.RangeSet(lo, hi)
	}
	return out
}

func TestRestoreLayout(t *testing.T) {
	three := splitShards(0, 5461, 10923)
	tests := []struct {
		name    string
		world   restoreWorld
		wantErr error
		assign  []int // slots assigned per group
	}{
		{
			name: "keeps each group's first member as its master with its shard's slots, even on a crowded host",
			world: restoreWorld{
				groups:  groupsOf("a b", "a c", "a b"),
				shards:  three,
				claimed: []topology.SlotSet{topology.RangeSet(0, 99), topology.RangeSet(5461, 5500), {}},
			},
			assign: []int{5461 - 100, 5462 - 40, 5461},
		},
		{
			name: "assigns nothing to a master that claimed its whole shard",
			world: restoreWorld{
				groups:  groupsOf("a", "b", "c"),
				shards:  three,
				claimed: three,
			},
			assign: []int{0, 0, 0},
		},
		{
			name: "keeps uneven shards as the backup had them",
			world: restoreWorld{
				groups:  groupsOf("a b", "b c", "c a"),
				shards:  splitShards(0, 100, 16000),
				claimed: []topology.SlotSet{topology.NewSlotSet(3), {}, topology.NewSlotSet(16383)},
			},
			assign: []int{99, 15900, 383},
		},
		{
			name: "refuses a member that claimed another shard's slots",
			world: restoreWorld{
				groups:  groupsOf("a b", "b c", "c a"),
				shards:  three,
				claimed: []topology.SlotSet{topology.NewSlotSet(6000), {}, {}},
			},
			wantErr: ErrShardMismatch,
		},
		{
			name: "refuses shards that leave slots without an owner",
			world: restoreWorld{
				groups:  groupsOf("a", "b", "c"),
				shards:  []topology.SlotSet{topology.RangeSet(0, 10), topology.RangeSet(11, 20), topology.RangeSet(21, 30)},
				claimed: make([]topology.SlotSet, 3),
			},
			wantErr: ErrShardMismatch,
		},
		{
			name: "refuses more groups than shards",
			world: restoreWorld{
				groups:  groupsOf("a", "b", "c", "d"),
				shards:  three,
				claimed: make([]topology.SlotSet, 3),
			},
			wantErr: ErrShardMismatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.world
			plan, pl, err := RestoreLayout(w.groups, w.shards, w.claimed)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := make([]int, len(w.groups))
			for _, s := range plan.Steps {
				if a, ok := s.(AssignSlots); ok {
					for g, members := range w.groups {
						if members[0].ID == a.Node {
							got[g] += a.Slots.Count()
						}
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.assign) {
				t.Errorf("assigned %v slots per group, want %v", got, tt.assign)
			}
			checkRestoreLayout(t, w, plan, pl)
		})
	}
}

// checkRestoreLayout checks the invariants of a restore's create: every
// slot owned exactly once, each by the member holding its keys; each
// group's other members replicate its first member; everyone is met.
func checkRestoreLayout(t *testing.T, w restoreWorld, plan Plan, pl Placement) {
	t.Helper()
	owner := w.ownersAfter(t, plan)
	if len(owner) != topology.SlotCount {
		t.Errorf("%d slots owned, want all %d", len(owner), topology.SlotCount)
	}
	for x, o := range owner {
		if want := w.keyHolder(x); o != want {
			t.Fatalf("slot %d owned by %s, want %s, which holds its keys", x, o.Short(), want.Short())
		}
	}
	replicate := map[topology.NodeID]topology.NodeID{}
	met := map[topology.NodeID]bool{}
	for _, s := range plan.Steps {
		switch s := s.(type) {
		case Replicate:
			replicate[s.Replica] = s.Master
		case Meet:
			met[s.Peer] = true
		}
	}
	for g, members := range w.groups {
		if pl.Shards[g].Master.ID != members[0].ID || !pl.Shards[g].Slots.Equal(w.shards[g]) {
			t.Errorf("group %d: placement master %s slots %s, want %s with %s", g, pl.Shards[g].Master.ID.Short(), pl.Shards[g].Slots.String(), members[0].ID.Short(), w.shards[g].String())
		}
		for _, m := range members[1:] {
			if replicate[m.ID] != members[0].ID {
				t.Errorf("group %d: %s replicates %q, want %s", g, m.ID.Short(), replicate[m.ID], members[0].ID.Short())
			}
		}
		for _, m := range members {
			if m.ID != w.groups[0][0].ID && !met[m.ID] {
				t.Errorf("group %d: %s is never met", g, m.ID.Short())
			}
		}
	}
}

// randomRestoreWorld cuts the slots into 1-8 shards at random points and
// lets each shard's first member claim a random subset of its shard (the
// slots some key fell in), possibly none, possibly all.
func randomRestoreWorld(r *rand.Rand) restoreWorld {
	n := 1 + r.IntN(8)
	cuts := map[int]bool{0: true}
	for len(cuts) < n {
		cuts[1+r.IntN(topology.SlotCount-1)] = true
	}
	var starts []int
	for x := range topology.SlotCount {
		if cuts[x] {
			starts = append(starts, x)
		}
	}
	w := restoreWorld{shards: splitShards(starts...)}
	hosts := []string{"a", "b", "c"}
	id := 0
	for g := range n {
		var members []Member
		for range 1 + r.IntN(3) {
			members = append(members, Member{ID: nodeID(id), Addr: fmt.Sprintf("10.0.0.%d:6379", id), Labels: topology.Labels{Host: hosts[r.IntN(len(hosts))]}})
			id++
		}
		w.groups = append(w.groups, members)
		var c topology.SlotSet
		keep := r.IntN(4) // 0: no key; 3: a key in every slot
		w.shards[g].Each(func(x int) bool {
			if keep == 3 || (keep > 0 && r.IntN(3) < keep) {
				c.Add(x)
			}
			return true
		})
		w.claimed = append(w.claimed, c)
	}
	return w
}

func TestRestoreLayoutProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 5))
	for i := range 300 {
		w := randomRestoreWorld(r)
		plan, pl, err := RestoreLayout(w.groups, w.shards, w.claimed)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		checkRestoreLayout(t, w, plan, pl)
		if t.Failed() {
			t.Fatalf("case %d failed: %d shards", i, len(w.shards))
		}
	}
}
