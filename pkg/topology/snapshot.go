package topology

import "sort"

// Replication is what INFO replication says about one node.
type Replication struct {
	// Role is "master" or "slave" as INFO reports it.
	Role string
	// MasterLinkUp reports master_link_status:up (replicas only).
	MasterLinkUp bool
	// MasterSyncInProgress reports master_sync_in_progress:1 (replicas only).
	MasterSyncInProgress bool
	// Offset is master_repl_offset on a master, slave_repl_offset on a replica
	// (the offset the replica has processed).
	Offset int64
}

// NodeState is everything observed from one node in one pass.
type NodeState struct {
	// Addr is the address the node was reached at.
	Addr string
	// View is the node's CLUSTER NODES listing; View.Myself() is the node.
	View *View
	// Replication is the node's INFO replication.
	Replication Replication
	// Keys is the number of keys the node holds (DBSIZE).
	Keys int64
	// UsedMemory is used_memory in bytes.
	UsedMemory int64
	// ClusterStateOK reports cluster_state:ok in CLUSTER INFO.
	ClusterStateOK bool
	// Labels are placement hints for the node (host, zone) supplied by the
	// caller; the cluster itself does not know them.
	Labels Labels
}

// Labels locate a node for placement decisions.
type Labels struct {
	// Host is the machine (or Kubernetes node) the Redis node runs on.
	Host string
	// Zone is the failure zone the host is in.
	Zone string
}

// Self returns the node's own line.
func (s *NodeState) Self() *Node { return s.View.Myself() }

// Snapshot is one consistent-as-possible observation of a whole cluster:
// every reachable node's own view plus the nodes that could not be reached.
type Snapshot struct {
	// Nodes maps each reachable node's ID to what it reported.
	Nodes map[NodeID]*NodeState
	// Unreachable lists addresses that were known (as seeds or from some
	// node's view) but could not be queried, with the error text.
	Unreachable map[string]string
}

// IDs returns the reachable nodes' IDs sorted.
func (s *Snapshot) IDs() []NodeID {
	ids := make([]NodeID, 0, len(s.Nodes))
	for id := range s.Nodes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Self returns the reachable node id's own line, or nil.
func (s *Snapshot) Self(id NodeID) *Node {
	ns := s.Nodes[id]
	if ns == nil || ns.View == nil {
		return nil
	}
	return ns.View.Myself()
}

// NodeAt returns the state of the reachable node that was reached at addr,
// or nil.
func (s *Snapshot) NodeAt(addr string) *NodeState {
	for _, ns := range s.Nodes {
		if ns.Addr == addr {
			return ns
		}
	}
	return nil
}

// OpenSlots returns the slots some reachable node reports as MIGRATING or
// IMPORTING.
func (s *Snapshot) OpenSlots() SlotSet {
	var open SlotSet
	for _, ns := range s.Nodes {
		if ns.View == nil || ns.View.Myself() == nil {
			continue
		}
		self := ns.View.Myself()
		for x := range self.Migrating {
			open.Add(x)
		}
		for x := range self.Importing {
			open.Add(x)
		}
	}
	return open
}
