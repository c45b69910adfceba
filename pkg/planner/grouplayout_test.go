package planner

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

// groupsOf builds groups of members from "host/zone" labels, one string of
// space-separated labels per group; IDs are numbered across groups.
func groupsOf(specs ...string) [][]Member {
	out := make([][]Member, len(specs))
	n := 0
	for g, spec := range specs {
		for _, label := range strings.Fields(spec) {
			host, zone, _ := strings.Cut(label, "/")
			out[g] = append(out[g], Member{ID: nodeID(n), Addr: fmt.Sprintf("10.0.%d.%d:6379", g, n), Labels: topology.Labels{Host: host, Zone: zone}})
			n++
		}
	}
	return out
}

func TestGroupLayout(t *testing.T) {
	tests := []struct {
		name    string
		groups  [][]Member
		want    string // master host ":" replica hosts, per group
		notes   int
		wantErr error
	}{
		{
			name:   "takes each group's master on another host when every group spans the hosts",
			groups: groupsOf("a b", "b c", "c a"),
			want:   "a:b b:c c:a",
		},
		{
			name:   "passes over the group's first member when its host holds a master already",
			groups: groupsOf("a b", "a b", "a b"),
			want:   "a:b b:a a:b",
		},
		{
			name:   "moves masters along a chain when the greedy choice leaves two on one host",
			groups: groupsOf("a b", "a c", "a c"),
			want:   "b:a c:a a:c",
		},
		{
			name:   "breaks a tie between hosts by the zone holding fewer masters",
			groups: groupsOf("a/z1 b/z1", "c/z1 d/z2"),
			want:   "a:b d:c",
		},
		{
			name:   "keeps the group's order when nothing tells its members apart",
			groups: groupsOf("a a", "b b"),
			want:   "a:a b:b",
			notes:  2,
		},
		{
			name:   "notes a replica the group leaves on its master's host",
			groups: groupsOf("a a", "a b"),
			want:   "a:a b:a",
			notes:  1,
		},
		{
			name:   "never notes members without a host",
			groups: groupsOf("/ /", "/ /"),
			want:   ": :",
		},
		{
			name:   "gives one group of one node every slot",
			groups: groupsOf("a"),
			want:   "a:",
		},
		{
			name:    "fails on a group without members",
			groups:  [][]Member{groupsOf("a")[0], nil},
			wantErr: ErrTooFewNodes,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, pl, err := GroupLayout(tt.groups)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := shardHosts(pl); got != tt.want {
				t.Errorf("placement %q, want %q", got, tt.want)
			}
			if len(plan.Notes) != tt.notes {
				t.Errorf("notes %q, want %d", plan.Notes, tt.notes)
			}
			checkGroupLayout(t, tt.groups, plan, pl)
		})
	}
}

func TestGroupLayoutProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for i := range 500 {
		hosts := 1 + r.IntN(4)
		spanning := r.IntN(2) == 0 // every group has a member on every host
		groups := make([][]Member, 1+r.IntN(8))
		n := 0
		for g := range groups {
			size := 1 + r.IntN(4)
			if spanning {
				size = hosts + r.IntN(2)
			}
			for k := range size {
				h := r.IntN(hosts)
				if spanning && k < hosts {
					h = k
				}
				label := topology.Labels{Host: fmt.Sprintf("h%d", h), Zone: fmt.Sprintf("z%d", r.IntN(2))}
				if !spanning && r.IntN(10) == 0 {
					label = topology.Labels{}
				}
				groups[g] = append(groups[g], Member{ID: nodeID(n), Addr: fmt.Sprintf("10.0.%d.%d:6379", g, n), Labels: label})
				n++
			}
			r.Shuffle(len(groups[g]), func(a, b int) { groups[g][a], groups[g][b] = groups[g][b], groups[g][a] })
		}
		plan, pl, err := GroupLayout(groups)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		checkGroupLayout(t, groups, plan, pl)
		if !spanning {
			continue
		}
		limit := (len(groups) + hosts - 1) / hosts
		perHost := map[string]int{}
		for _, sh := range pl.Shards {
			perHost[sh.Master.Labels.Host]++
		}
		for h, c := range perHost {
			if c > limit {
				t.Fatalf("case %d: host %s holds %d of %d masters over %d hosts, want at most %d: %s", i, h, c, len(groups), hosts, limit, shardHosts(pl))
			}
		}
	}
}

// checkGroupLayout checks what every GroupLayout keeps: each slot assigned
// once, one master per group taken from the group, the group's other
// members its replicas, a distinct epoch per node, every node met, and a
// note for each replica on its master's host.
func checkGroupLayout(t *testing.T, groups [][]Member, plan Plan, pl Placement) {
	t.Helper()
	if len(pl.Shards) != len(groups) {
		t.Fatalf("%d shards for %d groups", len(pl.Shards), len(groups))
	}
	after, err := Apply(Ownership{}, plan)
	if err != nil {
		t.Fatalf("plan does not apply: %v\n%s", err, plan)
	}
	assertCoversOnce(t, after)
	group := map[topology.NodeID]int{}
	for g, members := range groups {
		for _, m := range members {
			group[m.ID] = g
		}
	}
	epochs, met, replicate := map[uint64]bool{}, map[topology.NodeID]bool{}, map[topology.NodeID]topology.NodeID{}
	for _, s := range plan.Steps {
		switch s := s.(type) {
		case SetConfigEpoch:
			if epochs[s.Epoch] {
				t.Errorf("epoch %d given twice", s.Epoch)
			}
			epochs[s.Epoch] = true
		case Meet:
			if s.Node != pl.Shards[0].Master.ID {
				t.Errorf("%s: want the first master to meet every node", s)
			}
			met[s.Peer] = true
		case Replicate:
			replicate[s.Replica] = s.Master
		}
	}
	if len(epochs) != len(group) {
		t.Errorf("%d epochs for %d nodes", len(epochs), len(group))
	}
	shared := 0
	for g, sh := range pl.Shards {
		if mg, ok := group[sh.Master.ID]; !ok || mg != g {
			t.Errorf("group %d's master %s is not one of its members", g, sh.Master.ID.Short())
		}
		if !after[sh.Master.ID].Equal(sh.Slots) || sh.Slots.IsEmpty() {
			t.Errorf("group %d's master owns [%s], placement says [%s]", g, after[sh.Master.ID], sh.Slots)
		}
		if len(sh.Replicas) != len(groups[g])-1 {
			t.Errorf("group %d has %d replicas, want %d", g, len(sh.Replicas), len(groups[g])-1)
		}
		for _, r := range sh.Replicas {
			if group[r.ID] != g || replicate[r.ID] != sh.Master.ID {
				t.Errorf("replica %s of group %d follows %q, want its group's master %s", r.ID.Short(), g, replicate[r.ID].Short(), sh.Master.ID.Short())
			}
			if sameHost(r, sh.Master) {
				shared++
			}
		}
	}
	for id := range group {
		if id != pl.Shards[0].Master.ID && !met[id] {
			t.Errorf("node %s is never met", id.Short())
		}
	}
	if len(plan.Notes) != shared {
		t.Errorf("%d notes for %d replicas on their master's host: %q", len(plan.Notes), shared, plan.Notes)
	}
}

// Over every placement of three groups of two on three hosts (each group on
// two hosts, as anti-affinity places them), the masters start one per host
// whenever some choice allows it: only the placements where all three
// groups live on the same two hosts leave a host two masters.
func TestGroupLayoutSpreadsMastersWheneverTheGroupsAllow(t *testing.T) {
	hosts := []string{"a", "b", "c"}
	var pairs []string
	for _, x := range hosts {
		for _, y := range hosts {
			if x != y {
				pairs = append(pairs, x+" "+y)
			}
		}
	}
	piled, impossible := 0, 0
	for _, p0 := range pairs {
		for _, p1 := range pairs {
			for _, p2 := range pairs {
				_, pl, err := GroupLayout(groupsOf(p0, p1, p2))
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				for _, sh := range pl.Shards {
					if seen[sh.Master.Labels.Host] {
						piled++
						break
					}
					seen[sh.Master.Labels.Host] = true
				}
				used := map[string]bool{}
				for _, f := range strings.Fields(p0 + " " + p1 + " " + p2) {
					used[f] = true
				}
				if len(used) < 3 {
					impossible++
				}
			}
		}
	}
	if piled != impossible {
		t.Errorf("%d of %d placements leave a host two masters; only the %d on two hosts must", piled, len(pairs)*len(pairs)*len(pairs), impossible)
	}
}
