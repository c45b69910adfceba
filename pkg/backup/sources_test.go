package backup

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// fakeNode describes one node of a snapshot built for a pure test.
type fakeNode struct {
	id     string // one letter, repeated to 40
	master string // "" for a master
	slots  string
	repl   topology.Replication
	down   bool // unreachable
}

func nodeID(letter string) topology.NodeID { return topology.NodeID(strings.Repeat(letter, 40)) }

// snapshotOf builds the snapshot the nodes would report: one CLUSTER
// NODES listing, each reachable node seeing itself as myself.
func snapshotOf(t *testing.T, nodes []fakeNode) *topology.Snapshot {
	t.Helper()
	snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{}, Unreachable: map[string]string{}}
	for i, self := range nodes {
		addr := fmt.Sprintf("10.0.0.%d:6379", i+1)
		if self.down {
			snap.Unreachable[addr] = "dial tcp: connection refused"
			continue
		}
		var b strings.Builder
		for j, n := range nodes {
			flags, master := "master", "-"
			if n.master != "" {
				flags, master = "slave", string(nodeID(n.master))
			}
			if j == i {
				flags = "myself," + flags
			}
			fmt.Fprintf(&b, "%s 10.0.0.%d:6379@16379 %s %s 0 0 %d connected %s\n", nodeID(n.id), j+1, flags, master, j+1, n.slots)
		}
		view, err := topology.ParseClusterNodes(b.String())
		if err != nil {
			t.Fatalf("parse: %v\n%s", err, b.String())
		}
		snap.Nodes[nodeID(self.id)] = &topology.NodeState{Addr: addr, View: view, Replication: self.repl}
	}
	return snap
}

func master(offset int64) topology.Replication {
	return topology.Replication{Role: "master", Offset: offset}
}

func replica(offset int64, up bool) topology.Replication {
	return topology.Replication{Role: "slave", MasterLinkUp: up, Offset: offset}
}

func TestPlanSourcesPrefersAnInSyncReplicaAndSaysWhyItFallsBack(t *testing.T) {
	snap := snapshotOf(t, []fakeNode{
		{id: "a", slots: "0-5460", repl: master(5000)},
		{id: "b", slots: "5461-10922", repl: master(5000)},
		{id: "c", slots: "10923-16383", repl: master(9 << 20)},
		{id: "d", master: "a", repl: replica(4000, true)},  // in sync (1000 bytes behind)
		{id: "e", master: "a", repl: replica(5000, true)},  // more in sync: preferred
		{id: "f", master: "b", repl: replica(5000, false)}, // link down
		{id: "9", master: "c", repl: replica(1, true)},     // 9 MiB behind
	})
	srcs, err := PlanSources(snap, planner.CaughtUpLag)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	want := []struct {
		node topology.NodeID
		role Role
		note string
	}{
		{nodeID("e"), RoleReplica, ""},
		{nodeID("b"), RoleMaster, "link to the master down"},
		{nodeID("c"), RoleMaster, "trails the master by"},
	}
	if len(srcs) != len(want) {
		t.Fatalf("got %d sources, want %d: %+v", len(srcs), len(want), srcs)
	}
	for i, w := range want {
		s := srcs[i]
		if s.NodeID != w.node || s.Role != w.role || !strings.Contains(s.Fallback, w.note) || (w.note == "") != (s.Fallback == "") {
			t.Errorf("shard %d: source %s %s (%q), want %s %s (%q)", i, s.NodeID.Short(), s.Role, s.Fallback, w.node.Short(), w.role, w.note)
		}
	}
}

func TestPlanSourcesRefusesAShardWhoseMasterDidNotAnswer(t *testing.T) {
	snap := snapshotOf(t, []fakeNode{
		{id: "a", slots: "0-8191", repl: master(10)},
		{id: "b", slots: "8192-16383", down: true},
		{id: "c", master: "b", repl: replica(10, false)},
	})
	_, err := PlanSources(snap, planner.CaughtUpLag)
	if err == nil || !strings.Contains(err.Error(), "slots 8192-16383") || !strings.Contains(err.Error(), "10.0.0.2:6379") {
		t.Fatalf("plan with a dead master: %v, want an error naming its slots and address", err)
	}
}
