package controller

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// addShard appends shard s's pods to w as nodes the cluster has met: an
// empty master at ordinal 0 and, with attached, replicas following it
// (otherwise empty masters too).
func (w *world) addShard(s int, attached bool) {
	var mid topology.NodeID
	for o := 0; o <= w.replicas; o++ {
		p := &fxPod{
			podObs: podObs{
				Name: fmt.Sprintf("rc-%d-%d", s, o), Shard: s, Ordinal: o,
				IP: fmt.Sprintf("10.0.%d.%d", s, o+10), Host: w.hosts[(s+o)%len(w.hosts)], Ready: true,
			},
			id: nodeID(100 + 10*s + o), offset: 0, linkUp: true, stateOK: true,
		}
		if o == 0 {
			mid = p.id
		} else if attached {
			p.master = mid
			w.synced[p.id] = true
		}
		w.pods = append(w.pods, p)
	}
}

// migrated sums the MigrateSlots steps of a plan by source and target pod.
func migrated(t *testing.T, w *world, plan planner.Plan) (from, to map[string]int) {
	t.Helper()
	byID := map[topology.NodeID]string{}
	for _, p := range w.pods {
		byID[p.id] = p.Name
	}
	from, to = map[string]int{}, map[string]int{}
	for _, s := range plan.Steps {
		m, ok := s.(planner.MigrateSlots)
		if !ok {
			t.Fatalf("step %v is not a slot migration", s)
		}
		from[byID[m.Source]] += m.Slots.Count()
		to[byID[m.Target]] += m.Slots.Count()
	}
	return from, to
}

func TestScaleOutAttachesTheNewShardToADesignatedMaster(t *testing.T) {
	w := healthy(4, 1, threeHosts...)
	w.pods = w.pods[:6] // shards 0-2 as created with masters: 3
	reassign(w, 3)
	w.addShard(3, false)
	a := decide(w.observation())
	if a.Kind != actAttach || len(a.Plan.Steps) != 1 {
		t.Fatalf("decide = %s %q (blocked %q), want one attach", a.Kind, a.Message, a.Blocked)
	}
	if r := a.Plan.Steps[0].(planner.Replicate); r.Replica != w.pod("rc-3-1").id || r.Master != w.pod("rc-3-0").id {
		t.Errorf("attach %v, want rc-3-1 to follow rc-3-0 (the lowest ordinal)", r)
	}
}

func TestScaleOutMovesSlotsOntoTheNewShard(t *testing.T) {
	w := healthy(4, 1, threeHosts...)
	w.pods = w.pods[:6]
	reassign(w, 3)
	w.addShard(3, true)
	a := decide(w.observation())
	if a.Kind != actReshard {
		t.Fatalf("decide = %s %q (blocked %q), want reshard", a.Kind, a.Message, a.Blocked)
	}
	from, to := migrated(t, w, a.Plan)
	if len(to) != 1 || to["rc-3-0"] != 4096 {
		t.Errorf("slots moved to %v, want 4096 to rc-3-0 only", to)
	}
	if from["rc-3-0"] != 0 || len(from) != 3 {
		t.Errorf("slots moved from %v, want from the three old masters", from)
	}
	if !strings.Contains(a.Message, "shard 3 +4096") {
		t.Errorf("message %q does not say where the slots go", a.Message)
	}
}

func TestScaleOutWaitsForTheNewReplicaToSync(t *testing.T) {
	w := healthy(4, 1, threeHosts...)
	w.pods = w.pods[:6]
	reassign(w, 3)
	w.addShard(3, true)
	w.pod("rc-3-1").linkUp = false
	w.pod("rc-3-1").offset = -1
	a := decide(w.observation())
	if a.Kind == actReshard || !strings.Contains(a.Blocked, "resharding waits") {
		t.Fatalf("decide = %s (blocked %q), want the resharding to wait for the replica", a.Kind, a.Blocked)
	}
}

func TestResumedReshardingFinishesAndThenStops(t *testing.T) {
	w := healthy(4, 1, threeHosts...)
	o := w.observation()
	o.Resharding = true
	if a := decide(o); a.Kind != actNone {
		t.Fatalf("balanced cluster with status.resharding set: decide = %s %q, want nothing", a.Kind, a.Message)
	}
	if _, need, why := reshardPlan(o); need && why != "" {
		t.Errorf("reshardPlan on a balanced cluster waits: %q", why)
	}
}

func TestScaleInDrainsTheRetiringShard(t *testing.T) {
	w := healthy(4, 1, threeHosts...)
	w.masters = 3
	a := decide(w.observation())
	if a.Kind != actReshard {
		t.Fatalf("decide = %s %q (blocked %q), want reshard", a.Kind, a.Message, a.Blocked)
	}
	from, to := migrated(t, w, a.Plan)
	if len(from) != 1 || from["rc-3-0"] != 4096 {
		t.Errorf("slots moved from %v, want all 4096 of rc-3-0", from)
	}
	if to["rc-3-0"] != 0 || len(to) != 3 {
		t.Errorf("slots moved to %v, want the three remaining masters", to)
	}
}

func TestScaleInRemovesTheDrainedShard(t *testing.T) {
	w := healthy(3, 1, threeHosts...)
	w.addShard(3, true)
	o := w.observation()
	o.RetiringSets = []int{3}
	a := decide(o)
	if a.Kind != actRemoveShards || len(a.Shards) != 1 || a.Shards[0] != 3 {
		t.Fatalf("decide = %s %q shards %v (blocked %q), want shard 3 removed", a.Kind, a.Message, a.Shards, a.Blocked)
	}
	resets, forgets := 0, 0
	for i, s := range a.Plan.Steps {
		switch s.(type) {
		case planner.ResetNode:
			resets++
			if forgets > 0 {
				t.Errorf("step %d resets after a forget: the node would gossip itself back", i)
			}
		case planner.Forget:
			forgets++
		}
	}
	if resets != 2 || forgets != 2 {
		t.Errorf("%d resets and %d forgets, want 2 and 2:\n%s", resets, forgets, a.Plan)
	}
	// A drained retiring pod is never introduced again.
	p := w.pod("rc-3-1")
	p.knownAt = map[int]string{}
	for i := range w.pods {
		p.knownAt[i] = ""
	}
	o = w.observation()
	o.RetiringSets = []int{3}
	if a, _ := decideMeet(o); a.Kind != actNone {
		t.Errorf("decideMeet = %q, want no meet of a drained retiring pod", a.Message)
	}
}

func TestScaleInDoesNotRemoveAShardThatStillOwnsSlots(t *testing.T) {
	w := healthy(4, 1, threeHosts...)
	w.masters = 3
	o := w.observation()
	o.RetiringSets = []int{3}
	if a, _ := decideRemoveShards(o); a.Kind != actNone {
		t.Fatalf("decideRemoveShards = %q with slots on shard 3", a.Message)
	}
}

// reassign spreads all slots evenly over the first n shards' masters
// (the cluster as it was before spec.masters was raised).
func reassign(w *world, n int) {
	ranges := planner.SplitEvenly(n)
	for _, p := range w.pods {
		if p.Ordinal == 0 && p.Shard < n {
			p.slots = topology.RangeSet(ranges[p.Shard].Start, ranges[p.Shard].End)
		}
	}
}
