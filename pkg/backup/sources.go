package backup

import (
	"fmt"
	"sort"
	"strings"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// Source is the node a shard's RDB is fetched from.
type Source struct {
	// MasterID is the shard's master and Slots the slots it owns.
	MasterID topology.NodeID
	Slots    topology.SlotSet
	// NodeID and Addr name the node to fetch from; Role says whether it
	// is a replica or the master.
	NodeID topology.NodeID
	Addr   string
	Role   Role
	// Fallback, for a master source, says why no replica was used.
	Fallback string
}

// PlanSources picks, for every master that owns slots in the agreed
// topology of snap, the node to fetch its RDB from: the best-ranked
// replica (planner.ReplicaRanking) that is in sync within maxLag bytes of
// its master (planner.PromotionSafeWithin, the same test a graceful
// failover uses), else the master itself, with the reason in Fallback.
// Sources are ordered by their first slot.
//
// It fails, naming the shard, when a slot is being migrated (its keys may
// be on two shards) or a shard's master did not answer (a replica that
// lost its master is not in sync, and a backup must not miss a shard).
func PlanSources(snap *topology.Snapshot, maxLag int64) ([]Source, error) {
	if open := snap.OpenSlots(); !open.IsEmpty() {
		return nil, fmt.Errorf("slots %s are being migrated (their keys may sit on two shards): finish the migration first (rcctl fix)", open.String())
	}
	own := planner.Agree(snap).Ownership()
	var out []Source
	for _, id := range own.IDs() {
		slots := own[id]
		if slots.IsEmpty() {
			continue
		}
		m := snap.Nodes[id]
		if m == nil {
			return nil, fmt.Errorf("shard of master %s (slots %s): the master did not answer, so no node of it is known to be in sync: %s", id.Short(), slots.String(), unreachableNote(snap))
		}
		out = append(out, sourceOf(snap, id, m, slots, maxLag))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no master owns a slot: nothing to back up")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slots.First() < out[j].Slots.First() })
	return out, nil
}

// sourceOf picks the source of one shard whose master m answered.
func sourceOf(snap *topology.Snapshot, id topology.NodeID, m *topology.NodeState, slots topology.SlotSet, maxLag int64) Source {
	var replicas planner.ReplicaRanking
	for _, rid := range snap.IDs() {
		if self := snap.Self(rid); self != nil && self.IsReplica() && self.MasterID == id {
			replicas = append(replicas, planner.ReplicaStatus{ID: rid, Replication: snap.Nodes[rid].Replication})
		}
	}
	sort.Sort(replicas)
	src := Source{MasterID: id, Slots: slots, NodeID: id, Addr: m.Addr, Role: RoleMaster}
	if len(replicas) == 0 {
		src.Fallback = "the shard has no reachable replica"
		return src
	}
	var why []string
	for _, r := range replicas {
		ok, reason := planner.PromotionSafeWithin(m.Replication, r, maxLag)
		if ok {
			return Source{MasterID: id, Slots: slots, NodeID: r.ID, Addr: snap.Nodes[r.ID].Addr, Role: RoleReplica}
		}
		why = append(why, reason)
	}
	src.Fallback = "no replica is in sync: " + strings.Join(why, "; ")
	return src
}

// unreachableNote lists the addresses that did not answer.
func unreachableNote(snap *topology.Snapshot) string {
	if len(snap.Unreachable) == 0 {
		return "no address of it answered"
	}
	addrs := make([]string, 0, len(snap.Unreachable))
	for a, e := range snap.Unreachable {
		addrs = append(addrs, a+" ("+e+")")
	}
	sort.Strings(addrs)
	return "unreachable: " + strings.Join(addrs, ", ")
}
