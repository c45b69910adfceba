package planner

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

func owners(t testing.TB, sets ...string) Ownership {
	t.Helper()
	o := Ownership{}
	for i, s := range sets {
		v, err := topology.ParseSlotSet(s)
		if err != nil {
			t.Fatal(err)
		}
		o[nodeID(i)] = v
	}
	return o
}

func counts(o Ownership) []int {
	var out []int
	for _, id := range o.IDs() {
		out = append(out, o[id].Count())
	}
	return out
}

func moved(p Plan) int {
	n := 0
	for _, s := range p.Steps {
		if m, ok := s.(MigrateSlots); ok {
			n += m.Slots.Count()
		}
	}
	return n
}

func TestRebalance(t *testing.T) {
	tests := []struct {
		name   string
		owners []string
		spec   RebalanceSpec
		want   []int
		moved  int
		steps  int
	}{
		{
			name:   "moves no slot when already balanced",
			owners: []string{"0-5461", "5462-10922", "10923-16383"},
			want:   []int{5462, 5461, 5461}, moved: 0, steps: 0,
		},
		{
			name:   "leaves an empty master out unless asked",
			owners: []string{"0-5461", "5462-10922", "10923-16383", ""},
			want:   []int{5462, 5461, 5461, 0}, moved: 0,
		},
		{
			name:   "fills an empty master with a quarter",
			owners: []string{"0-5461", "5462-10922", "10923-16383", ""},
			spec:   RebalanceSpec{UseEmptyMasters: true},
			want:   []int{4096, 4096, 4096, 4096}, moved: 4096, steps: 3,
		},
		{
			name:   "drains a master with weight zero",
			owners: []string{"0-5461", "5462-10922", "10923-16383"},
			spec:   RebalanceSpec{Weights: map[topology.NodeID]float64{nodeID(2): 0}},
			want:   []int{8192, 8192, 0}, moved: 5461, steps: 2,
		},
		{
			name:   "drains a master being removed",
			owners: []string{"0-5461", "5462-10922", "10923-16383"},
			spec:   RebalanceSpec{Remove: []topology.NodeID{nodeID(0)}},
			want:   []int{0, 8192, 8192}, moved: 5462, steps: 2,
		},
		{
			name:   "follows weights",
			owners: []string{"0-16383", "", ""},
			spec:   RebalanceSpec{Weights: map[topology.NodeID]float64{nodeID(0): 2, nodeID(1): 1, nodeID(2): 1}, UseEmptyMasters: true},
			want:   []int{8192, 4096, 4096}, moved: 8192, steps: 2,
		},
		{
			name:   "skips a rebalance within the threshold",
			owners: []string{"0-5599", "5600-10999", "11000-16383"},
			spec:   RebalanceSpec{ThresholdPercent: 5},
			want:   []int{5600, 5400, 5384}, moved: 0,
		},
		{
			name:   "rebalances beyond the threshold",
			owners: []string{"0-5599", "5600-10999", "11000-16383"},
			spec:   RebalanceSpec{ThresholdPercent: 2},
			want:   []int{5462, 5461, 5461}, moved: 138,
		},
		{
			name:   "pairs equal surplus and deficit directly",
			owners: []string{"0-8191", "8192-12287", "12288-16383", ""},
			spec:   RebalanceSpec{UseEmptyMasters: true},
			want:   []int{4096, 4096, 4096, 4096}, moved: 4096, steps: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := owners(t, tt.owners...)
			spec := tt.spec
			spec.Owners = o
			plan, err := Rebalance(spec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Apply(o, plan)
			if err != nil {
				t.Fatal(err)
			}
			if c := counts(got); !slices.Equal(c, tt.want) {
				t.Errorf("counts = %v, want %v\n%s", c, tt.want, plan)
			}
			if moved(plan) != tt.moved {
				t.Errorf("moved %d slots, want %d", moved(plan), tt.moved)
			}
			if tt.steps > 0 && len(plan.Steps) != tt.steps {
				t.Errorf("steps = %d, want %d\n%s", len(plan.Steps), tt.steps, plan)
			}
			assertFewRanges(t, got)
		})
	}
}

// assertFewRanges checks every master ends with few ranges: slots taken
// from the top of a source keep it in one piece.
func assertFewRanges(t *testing.T, o Ownership) {
	t.Helper()
	for id, s := range o {
		if n := len(s.Ranges()); n > len(o) {
			t.Errorf("master %s ends with %d ranges: %s", id.Short(), n, s)
		}
	}
}

func TestRebalanceErrors(t *testing.T) {
	o := owners(t, "0-8191", "8192-16383")
	for name, spec := range map[string]RebalanceSpec{
		"no master left":   {Owners: o, Remove: o.IDs()},
		"unknown weight":   {Owners: o, Weights: map[topology.NodeID]float64{nodeID(9): 1}},
		"negative weight":  {Owners: o, Weights: map[topology.NodeID]float64{nodeID(0): -1}},
		"unknown removal":  {Owners: o, Remove: []topology.NodeID{nodeID(9)}},
		"overlapping sets": {Owners: owners(t, "0-10", "10-16383")},
	} {
		if _, err := Rebalance(spec); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRebalanceWavesAreDisjoint(t *testing.T) {
	o := owners(t, "0-6000", "6001-12000", "12001-16383", "", "")
	plan, err := Rebalance(RebalanceSpec{Owners: o, UseEmptyMasters: true})
	if err != nil {
		t.Fatal(err)
	}
	// The first wave is the longest prefix of steps sharing no node.
	busy := map[topology.NodeID]bool{}
	first := 0
	for _, s := range plan.Steps {
		m := s.(MigrateSlots)
		if busy[m.Source] || busy[m.Target] {
			break
		}
		busy[m.Source], busy[m.Target] = true, true
		first++
	}
	if first < 2 {
		t.Fatalf("first wave holds %d moves, want 2 parallel pairs:\n%s", first, plan)
	}
}

func TestReshard(t *testing.T) {
	o := owners(t, "0-8191", "8192-12287", "12288-16383", "")
	plan, err := Reshard(ReshardSpec{Owners: o, To: nodeID(3), Slots: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Apply(o, plan)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts(got); !slices.Equal(c, []int{7692, 3846, 3846, 1000}) {
		t.Errorf("counts = %v\n%s", c, plan)
	}
	plan, err = Reshard(ReshardSpec{Owners: o, From: []topology.NodeID{nodeID(1)}, To: nodeID(0), Slots: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Steps) != 1 || plan.Steps[0].(MigrateSlots).Slots.String() != "12278-12287" {
		t.Errorf("plan = %s", plan)
	}
	for name, spec := range map[string]ReshardSpec{
		"too many":       {Owners: o, To: nodeID(3), Slots: 16385},
		"zero":           {Owners: o, To: nodeID(3)},
		"unknown target": {Owners: o, To: nodeID(9), Slots: 1},
		"self":           {Owners: o, From: []topology.NodeID{nodeID(3)}, To: nodeID(3), Slots: 1},
	} {
		if _, err := Reshard(spec); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDrain(t *testing.T) {
	o := owners(t, "0-4095", "4096-8191", "8192-12287", "12288-16383")
	plan, err := Drain(o, nodeID(1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Apply(o, plan)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts(got); !slices.Equal(c, []int{5462, 0, 5461, 5461}) || moved(plan) != 4096 {
		t.Errorf("counts = %v moved %d\n%s", c, moved(plan), plan)
	}
	for _, s := range plan.Steps {
		if s.(MigrateSlots).Source != nodeID(1) {
			t.Errorf("drain moves slots off another master: %s", s)
		}
	}
	if _, err := Drain(o, nodeID(9)); err == nil {
		t.Error("draining an unknown node: no error")
	}
	if p, err := Drain(owners(t, "0-16383", ""), nodeID(0)); err != nil || moved(p) != topology.SlotCount {
		t.Errorf("draining the only slot holder onto an empty master: %v %s", err, p)
	}
}

// randomOwnership splits every slot among m masters at random cut points,
// some masters empty, some holding several ranges.
func randomOwnership(r *rand.Rand, m int) Ownership {
	o := Ownership{}
	for i := range m {
		o[nodeID(i)] = topology.SlotSet{}
	}
	for x := 0; x < topology.SlotCount; {
		n := 1 + r.IntN(4000)
		end := min(topology.SlotCount-1, x+n-1)
		id := nodeID(r.IntN(m))
		s := o[id]
		s.AddRange(x, end)
		o[id] = s
		x = end + 1
	}
	return o
}

func TestRebalanceProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for i := range 300 {
		m := 3 + rng.IntN(18)
		o := randomOwnership(rng, m)
		spec := RebalanceSpec{Owners: o, UseEmptyMasters: rng.IntN(2) == 0, ThresholdPercent: float64(rng.IntN(3) * 5)}
		if rng.IntN(2) == 0 {
			spec.Weights = map[topology.NodeID]float64{}
			for _, id := range o.IDs() {
				spec.Weights[id] = float64(rng.IntN(4))
			}
		}
		if rng.IntN(3) == 0 {
			spec.Remove = []topology.NodeID{o.IDs()[m-1]}
		}
		targets, err := Targets(spec)
		if err != nil {
			if strings.Contains(err.Error(), "no master is left") {
				continue
			}
			t.Fatalf("case %d: %v", i, err)
		}
		plan, err := Rebalance(spec)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got, err := Apply(o, plan)
		if err != nil {
			t.Fatalf("case %d: %v\n%s", i, err, plan)
		}
		assertCoversOnce(t, got)
		surplus, sum, over, under := 0, 0, 0, 0
		for id, s := range o {
			d := s.Count() - targets[id]
			surplus += max(0, d)
			sum += targets[id]
			if d > 0 {
				over++
			} else if d < 0 {
				under++
			}
		}
		if sum != topology.SlotCount {
			t.Fatalf("case %d: targets sum to %d", i, sum)
		}
		if plan.Empty() {
			if !withinThreshold(o, targets, spec.ThresholdPercent) {
				t.Errorf("case %d: nothing moved though a master is beyond the threshold", i)
			}
		} else {
			if moved(plan) != surplus {
				t.Errorf("case %d: moved %d slots, minimum is %d", i, moved(plan), surplus)
			}
			for id, s := range got {
				if s.Count() != targets[id] {
					t.Errorf("case %d: master %s holds %d, target %d", i, id.Short(), s.Count(), targets[id])
				}
			}
			if len(plan.Steps) > over+under-1 {
				t.Errorf("case %d: %d moves for %d sources and %d targets", i, len(plan.Steps), over, under)
			}
		}
		// Reshard and drain on the same random cluster keep every slot
		// owned exactly once too.
		to := o.IDs()[rng.IntN(m)]
		room := topology.SlotCount - o[to].Count()
		if room > 0 {
			n := 1 + rng.IntN(room)
			rp, err := Reshard(ReshardSpec{Owners: o, To: to, Slots: n})
			if err != nil {
				t.Fatalf("case %d: reshard: %v", i, err)
			}
			after, err := Apply(o, rp)
			if err != nil || after[to].Count() != o[to].Count()+n || moved(rp) != n {
				t.Errorf("case %d: reshard of %d to %s: %v\n%s", i, n, to.Short(), err, rp)
			}
			assertCoversOnce(t, after)
		}
		if len(o) > 1 && room > 0 {
			dp, err := Drain(o, to)
			if err != nil {
				t.Fatalf("case %d: drain: %v", i, err)
			}
			after, err := Apply(o, dp)
			if err != nil || !after[to].IsEmpty() || moved(dp) != o[to].Count() {
				t.Errorf("case %d: drain of %s: %v", i, to.Short(), err)
			}
			assertCoversOnce(t, after)
		}
	}
}
