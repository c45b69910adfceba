package heal_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// backupShards are a backup's shards as a 3-master cluster split them.
func backupShards() []topology.SlotSet {
	var out []topology.SlotSet
	for _, r := range planner.SplitEvenly(3) {
		out = append(out, topology.RangeSet(r.Start, r.End))
	}
	return out
}

// someClaims are the slots the first pod of each of backupShards claimed at
// start: a few of its shard's, as keys fell.
func someClaims() []topology.SlotSet {
	return []topology.SlotSet{topology.NewSlotSet(1, 7, 4000), topology.RangeSet(5462, 6000), topology.NewSlotSet(16383)}
}

// checkOwnedByKeyHolders applies d's slot steps over the world's claims and
// fails t unless every slot ends up owned exactly once, by the first pod of
// the shard holding it (the one holding its keys), and every other pod
// replicates its shard's first pod.
func checkOwnedByKeyHolders(t *testing.T, w *healtest.World, d heal.Decision) {
	t.Helper()
	first := map[int]topology.NodeID{}
	owner := map[int]topology.NodeID{}
	for _, p := range w.Pods {
		if p.Ordinal == 0 {
			first[p.Group] = p.NodeID
			p.Slots.Each(func(x int) bool { owner[x] = p.NodeID; return true })
		}
	}
	replicate := map[topology.NodeID]topology.NodeID{}
	for _, s := range d.Plan.Steps {
		switch s := s.(type) {
		case planner.AssignSlots:
			s.Slots.Each(func(x int) bool {
				if o, busy := owner[x]; busy {
					t.Errorf("slot %d assigned to %s, already served by %s", x, s.Node.Short(), o.Short())
				}
				owner[x] = s.Node
				return true
			})
		case planner.Replicate:
			replicate[s.Replica] = s.Master
		}
	}
	if len(owner) != topology.SlotCount {
		t.Errorf("%d slots owned, want %d", len(owner), topology.SlotCount)
	}
	for g, sh := range w.RestoreShards {
		sh.Each(func(x int) bool {
			if owner[x] != first[g] {
				t.Errorf("slot %d owned by %s, want shard %d's first pod %s, which holds its keys", x, owner[x].Short(), g, first[g].Short())
				return false
			}
			return true
		})
	}
	for _, p := range w.Pods {
		if p.Ordinal > 0 && replicate[p.NodeID] != first[p.Group] {
			t.Errorf("%s replicates %q, want %s", p.Name, replicate[p.NodeID], first[p.Group])
		}
	}
}

func TestBootstrapFromShards(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name: "creates the cluster around the pods started on the backup's shards",
			world: func() *healtest.World {
				return healtest.FreshFromShards(1, backupShards(), someClaims(), threeHosts...)
			},
			kind:  heal.Bootstrap,
			check: checkOwnedByKeyHolders,
		},
		{
			name: "keeps each shard's first pod as master even when the masters share a host",
			world: func() *healtest.World {
				w := healtest.FreshFromShards(1, backupShards(), someClaims(), threeHosts...)
				for _, p := range w.Pods {
					if p.Ordinal == 0 {
						p.Host = "node-1"
					}
				}
				return w
			},
			kind:  heal.Bootstrap,
			check: checkOwnedByKeyHolders,
		},
		{
			name: "resumes a create stopped after the slots were assigned",
			world: func() *healtest.World {
				return healtest.FreshFromShards(1, backupShards(), backupShards(), threeHosts...)
			},
			kind: heal.Bootstrap,
			check: func(t *testing.T, w *healtest.World, d heal.Decision) {
				for _, s := range d.Plan.Steps {
					if a, ok := s.(planner.AssignSlots); ok {
						t.Errorf("assigns %s again", a)
					}
				}
				checkOwnedByKeyHolders(t, w, d)
			},
		},
		{
			name: "creates a shard whose backup held no key",
			world: func() *healtest.World {
				return healtest.FreshFromShards(0, backupShards(), make([]topology.SlotSet, 3), threeHosts...)
			},
			kind:  heal.Bootstrap,
			check: checkOwnedByKeyHolders,
		},
		{
			name: "waits for every pod before creating",
			world: func() *healtest.World {
				w := healtest.FreshFromShards(1, backupShards(), someClaims(), threeHosts...)
				w.Pod("rc-1-1").Ready = false
				return w
			},
			kind: heal.None,
		},
		{
			name: "refuses a first pod that claimed another shard's slots",
			world: func() *healtest.World {
				claims := someClaims()
				claims[0].Add(9000)
				return healtest.FreshFromShards(1, backupShards(), claims, threeHosts...)
			},
			kind: heal.None,
			check: func(t *testing.T, _ *healtest.World, d heal.Decision) {
				if !strings.Contains(d.Blocked, "outside its shard") {
					t.Errorf("blocked %q, want the slots outside the shard named", d.Blocked)
				}
			},
		},
		{
			name: "refuses a replica pod that serves slots",
			world: func() *healtest.World {
				w := healtest.FreshFromShards(1, backupShards(), someClaims(), threeHosts...)
				w.Pod("rc-2-1").Slots = topology.NewSlotSet(12000)
				return w
			},
			kind: heal.None,
		},
		{
			name: "leaves a formed cluster to the other rules",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.RestoreShards = backupShards()
				return w
			},
			rule: "bootstrap from shards",
			kind: heal.None,
		},
	})
}

func TestBootstrappedIgnoresClaimsMadeAtStart(t *testing.T) {
	w := healtest.FreshFromShards(1, backupShards(), someClaims(), threeHosts...)
	if w.Cluster().Bootstrapped() {
		t.Error("pods that claimed their keys' slots at start count as a formed cluster")
	}
	w.RestoreShards = nil
	if !w.Cluster().Bootstrapped() {
		t.Error("outside a restore, a node serving slots is not a formed cluster")
	}
	h := healtest.Healthy(3, 1, threeHosts...)
	h.RestoreShards = backupShards()
	if !h.Cluster().Bootstrapped() {
		t.Error("a formed cluster with RestoreShards set is not bootstrapped")
	}
}

// TestBootstrapFromShardsProperties: over random backup shards and random
// claims (the slots keys fell in), the chain's first change creates the
// cluster so that every slot is owned exactly once, by the pod holding its
// keys.
func TestBootstrapFromShardsProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 2026))
	for i := range 200 {
		n := 3 + r.IntN(4)
		var shards []topology.SlotSet
		lo := 0
		for g := range n {
			hi := topology.SlotCount - 1
			if g < n-1 {
				hi = lo + r.IntN((topology.SlotCount-lo)/(n-g))
			}
			shards = append(shards, topology.RangeSet(lo, hi))
			lo = hi + 1
		}
		claimed := make([]topology.SlotSet, n)
		for g, sh := range shards {
			p := r.IntN(4)
			sh.Each(func(x int) bool {
				if p == 3 || r.IntN(3) < p {
					claimed[g].Add(x)
				}
				return true
			})
		}
		w := healtest.FreshFromShards(r.IntN(3), shards, claimed, threeHosts...)
		d := decide(t, w)
		if d.Kind != heal.Bootstrap {
			t.Fatalf("case %d: decision %s (%s; blocked: %s), want bootstrap", i, d.Kind, d.Message, d.Blocked)
		}
		checkOwnedByKeyHolders(t, w, d)
		if t.Failed() {
			t.Fatalf("case %d failed", i)
		}
	}
}
