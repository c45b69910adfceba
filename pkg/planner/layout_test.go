package planner

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

func members(hosts ...string) []Member {
	out := make([]Member, len(hosts))
	for i, h := range hosts {
		host, zone, _ := strings.Cut(h, "/")
		out[i] = Member{ID: nodeID(i), Addr: fmt.Sprintf("127.0.0.1:%d", 7000+i), Labels: topology.Labels{Host: host, Zone: zone}}
	}
	return out
}

func shardHosts(pl Placement) string {
	var parts []string
	for _, s := range pl.Shards {
		p := s.Master.Labels.Host + ":"
		for _, r := range s.Replicas {
			p += r.Labels.Host
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func TestLayout(t *testing.T) {
	tests := []struct {
		name    string
		spec    LayoutSpec
		want    string // master host ":" replica hosts, per shard
		notes   int
		wantErr string
	}{
		{
			name: "spreads three masters and their replicas over three hosts",
			spec: LayoutSpec{Members: members("a", "a", "b", "b", "c", "c"), Masters: 3, ReplicasPerMaster: 1},
			want: "a:b b:c c:a",
		},
		{
			name: "avoids the greedy trap where the last master finds only its own host",
			spec: LayoutSpec{Members: members("a", "b", "b", "c"), Masters: 2, ReplicasPerMaster: 1, AllowFewMasters: true},
			want: "a:b b:c",
		},
		{
			name: "prefers a replica in another zone",
			spec: LayoutSpec{Members: members("a/z1", "b/z1", "c/z2", "d/z2"), Masters: 2, ReplicasPerMaster: 1, AllowFewMasters: true},
			want: "a:d c:b",
		},
		{
			name: "puts a loopback cluster without labels together without notes",
			spec: LayoutSpec{Members: members("", "", "", "", "", ""), ReplicasPerMaster: 1},
			want: ": : :",
		},
		{
			name:  "notes replicas it must put on their master's host",
			spec:  LayoutSpec{Members: members("a", "a", "a", "a", "a", "a"), Masters: 3, ReplicasPerMaster: 1},
			want:  "a:a a:a a:a",
			notes: 3,
		},
		{
			name: "makes extra members extra replicas",
			spec: LayoutSpec{Members: members("a", "b", "c", "a", "b", "c", "a"), Masters: 3, ReplicasPerMaster: 1},
			want: "a:bc b:a c:a",
		},
		{
			name:    "refuses too few nodes",
			spec:    LayoutSpec{Members: members("a", "b", "c", "d", "e"), Masters: 3, ReplicasPerMaster: 1},
			wantErr: "too few nodes",
		},
		{
			name:    "refuses fewer than three masters by default",
			spec:    LayoutSpec{Members: members("a", "b", "c", "d"), Masters: 2, ReplicasPerMaster: 1},
			wantErr: "want at least 3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, pl, err := Layout(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := shardHosts(pl); got != tt.want {
				t.Errorf("placement = %q, want %q", got, tt.want)
			}
			if len(plan.Notes) != tt.notes {
				t.Errorf("notes = %q, want %d", plan.Notes, tt.notes)
			}
			assertLayoutPlan(t, plan, pl, len(tt.spec.Members))
		})
	}
	if _, _, err := Layout(LayoutSpec{Members: members("a", "b", "c"), Masters: 2, ReplicasPerMaster: 1, AllowFewMasters: true}); !errors.Is(err, ErrTooFewNodes) {
		t.Errorf("error = %v, want ErrTooFewNodes", err)
	}
}

func TestSplitEvenly(t *testing.T) {
	got := SplitEvenly(3)
	want := []topology.SlotRange{{Start: 0, End: 5461}, {Start: 5462, End: 10922}, {Start: 10923, End: 16383}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("SplitEvenly(3) = %v, want %v", got, want)
	}
}

// assertLayoutPlan checks the plan creates exactly the placement: distinct
// epochs 1..N, every slot assigned once, everyone meets the first node,
// every replica replicates its master.
func assertLayoutPlan(t *testing.T, plan Plan, pl Placement, n int) {
	t.Helper()
	epochs := map[uint64]bool{}
	replicate := map[topology.NodeID]topology.NodeID{}
	meets := 0
	for _, s := range plan.Steps {
		switch s := s.(type) {
		case SetConfigEpoch:
			if epochs[s.Epoch] || s.Epoch < 1 || s.Epoch > uint64(n) {
				t.Errorf("epoch %d repeated or out of 1..%d", s.Epoch, n)
			}
			epochs[s.Epoch] = true
		case Meet:
			meets++
			if s.Peer != pl.Shards[0].Master.ID || s.PeerAddr != pl.Shards[0].Master.Addr {
				t.Errorf("meet %v is not with the first node", s)
			}
		case Replicate:
			replicate[s.Replica] = s.Master
		}
	}
	if len(epochs) != n || meets != n-1 {
		t.Errorf("epochs = %d, meets = %d, want %d and %d", len(epochs), meets, n, n-1)
	}
	got, err := Apply(Ownership{}, plan)
	if err != nil {
		t.Fatal(err)
	}
	assertCoversOnce(t, got)
	for _, s := range pl.Shards {
		if !got[s.Master.ID].Equal(s.Slots) {
			t.Errorf("master %s serves %s, placement says %s", s.Master.ID.Short(), got[s.Master.ID], s.Slots)
		}
		for _, r := range s.Replicas {
			if replicate[r.ID] != s.Master.ID {
				t.Errorf("replica %s replicates %s, want %s", r.ID.Short(), replicate[r.ID].Short(), s.Master.ID.Short())
			}
		}
	}
}

func assertCoversOnce(t testing.TB, o Ownership) {
	t.Helper()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var all topology.SlotSet
	for _, s := range o {
		all = all.Union(s)
	}
	if !all.IsFull() {
		t.Fatalf("slots [%s] are not owned", all.Complement())
	}
}

// hallAllows reports whether some choice of replicas keeps every replica
// off its master's host, given the masters and the number of replicas
// each got. By Hall's theorem on the bipartite graph of replica positions
// and free nodes, only a single host can block: the positions of the
// masters on host h need as many free nodes off h.
func hallAllows(pl Placement, n int) bool {
	positions, freeOn := map[string]int{}, map[string]int{}
	free := n - len(pl.Shards)
	for _, s := range pl.Shards {
		positions[s.Master.Labels.Host] += len(s.Replicas)
		for _, rep := range s.Replicas {
			freeOn[rep.Labels.Host]++
		}
	}
	for h, p := range positions {
		if p > free-freeOn[h] {
			return false
		}
	}
	return true
}

func TestLayoutProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 400 {
		masters := 3 + rng.IntN(18)
		r := rng.IntN(3)
		n := masters*(1+r) + rng.IntN(3)
		hosts, zones := 1+rng.IntN(n), 1+rng.IntN(4)
		var labels []string
		for range n {
			h := rng.IntN(hosts)
			labels = append(labels, fmt.Sprintf("h%d/z%d", h, h%zones))
		}
		spec := LayoutSpec{Members: members(labels...), Masters: masters, ReplicasPerMaster: r}
		plan, pl, err := Layout(spec)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		assertLayoutPlan(t, plan, pl, n)
		distinctHosts := map[string]bool{}
		for _, l := range labels {
			distinctHosts[l] = true
		}
		masterHosts := map[string]int{}
		violations := 0
		for _, s := range pl.Shards {
			masterHosts[s.Master.Labels.Host]++
			for _, rep := range s.Replicas {
				if rep.Labels.Host == s.Master.Labels.Host {
					violations++
				}
			}
		}
		if masters <= len(distinctHosts) && len(masterHosts) != masters {
			t.Errorf("case %d: %d masters on %d hosts although %d hosts exist", i, masters, len(masterHosts), len(distinctHosts))
		}
		if hallAllows(pl, n) && violations > 0 {
			t.Errorf("case %d: %d replicas share their master's host although the hosts allow it: %s", i, violations, shardHosts(pl))
		}
		if violations > 0 && len(plan.Notes) < violations {
			t.Errorf("case %d: %d violations but notes %q", i, violations, plan.Notes)
		}
		again, pl2, _ := Layout(spec)
		if again.String() != plan.String() || shardHosts(pl2) != shardHosts(pl) {
			t.Fatalf("case %d: Layout is not deterministic", i)
		}
	}
}
