package planner

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

// IDs of the captured cluster in ../topology/testdata/cluster-nodes.
const (
	idM1 topology.NodeID = "98c8468654f5193409df80d4f50c75b60b37be35" // :31101
	idM2 topology.NodeID = "2f5b408712abab9be837644c396e19801b5b6e3a" // :31102
	idM3 topology.NodeID = "b0eac86730f224b0097617905d0e218bfd2a2a02" // :31103
	idR1 topology.NodeID = "e3f7474717a6aa799704e8160d1028f41e6fa0db" // :31104
	idR2 topology.NodeID = "3eac0ffe3839cebbe179c2d996aaf62cfe1925fb" // :31105
	idR3 topology.NodeID = "11954c80c0ac88974bc4ba7d1f2411c3b21af660" // :31106
)

func capture(t testing.TB, name string) *topology.View {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "topology", "testdata", "cluster-nodes", name))
	if err != nil {
		t.Fatal(err)
	}
	v, err := topology.ParseClusterNodes(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// snapshotOf builds a healthy-looking snapshot from captured views, one per
// reachable node: cluster_state ok, replica links up and caught up.
func snapshotOf(t testing.TB, files ...string) *topology.Snapshot {
	t.Helper()
	snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{}, Unreachable: map[string]string{}}
	for _, f := range files {
		v := capture(t, f)
		self := v.Myself()
		snap.Nodes[self.ID] = &topology.NodeState{
			Addr:           self.Addr,
			View:           v,
			ClusterStateOK: true,
			Replication:    topology.Replication{Role: role(self), MasterLinkUp: self.IsReplica(), Offset: 1000},
		}
	}
	return snap
}

func role(n *topology.Node) string {
	if n.IsReplica() {
		return "slave"
	}
	return "master"
}

// viewAs re-renders view v as if node id had produced it.
func viewAs(t testing.TB, v *topology.View, id topology.NodeID) *topology.View {
	t.Helper()
	out := &topology.View{}
	for _, n := range v.Nodes {
		c := n.Clone()
		c.Flags &^= topology.FlagMyself
		c.Migrating, c.Importing = nil, nil
		if c.ID == id {
			c.Flags |= topology.FlagMyself
		}
		out.Nodes = append(out.Nodes, c)
	}
	if out.Myself() == nil {
		t.Fatalf("%s not in view", id)
	}
	return out
}

// healthySnapshot is the captured 3x1 cluster seen identically by all six.
func healthySnapshot(t testing.TB) *topology.Snapshot {
	t.Helper()
	base := capture(t, "healthy-3x1-master.txt")
	snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{}, Unreachable: map[string]string{}}
	for _, n := range base.Nodes {
		v := viewAs(t, base, n.ID)
		snap.Nodes[n.ID] = &topology.NodeState{
			Addr: n.Addr, View: v, ClusterStateOK: true,
			Replication: topology.Replication{Role: role(n), MasterLinkUp: n.IsReplica(), Offset: 1000},
			Labels:      topology.Labels{Host: hostOf(n.Port())},
		}
	}
	return snap
}

// nodeID returns a distinct valid ID whose short form shows i+1.
func nodeID(i int) topology.NodeID { return topology.NodeID(fmt.Sprintf("%08x%032x", i+1, 0)) }

// hostOf puts the captured masters (:31101-3) on h0-h2 and each replica
// (:31104-6, replicating :31101-3) on another host than its master.
func hostOf(port int) string {
	i := port - 31101
	return fmt.Sprintf("h%d", (i+i/3)%3)
}
