package backup

import (
	"fmt"

	"github.com/redkube/redkube/pkg/topology"
)

// Method is how a restore puts a backup's keys into a cluster.
type Method string

// Restore methods.
const (
	// MethodSameLayout places each shard's RDB where the planned master of
	// the same slots loads it at start (no key is moved over the network):
	// only for a new cluster with as many masters as the backup has shards.
	MethodSameLayout Method = "SameLayout"
	// MethodKeyByKey loads each RDB into a scratch redis-server and copies
	// its keys into the target with RESTORE (any shard count, any target).
	MethodKeyByKey Method = "KeyByKey"
)

// LayoutInput is what ChooseMethod decides on, all known before the
// target cluster holds any data.
type LayoutInput struct {
	// Shards are the backup's shards' slots in slot order (nil when the
	// backup was not read: a location whose manifest the caller cannot
	// see).
	Shards []topology.SlotSet
	// Masters is the target's number of masters.
	Masters int
	// FreshCluster is true when the target is being created: no node has
	// a cluster configuration or a key yet.
	FreshCluster bool
}

// ChooseMethod returns the restore method for in and a sentence saying
// why. The same-layout path needs a fresh target (its masters start on
// the RDBs), the backup's shards known, one master per shard, and the
// shards' slots covering every slot exactly once (so the target is
// complete with no slot assigned by any other rule). Anything else is
// key by key, which handles every case.
func ChooseMethod(in LayoutInput) (Method, string) {
	switch {
	case !in.FreshCluster:
		return MethodKeyByKey, "the target already exists, so its masters cannot start on the backup's RDBs"
	case len(in.Shards) == 0:
		return MethodKeyByKey, "the backup's shards are not known before the restore reads its manifest"
	case len(in.Shards) != in.Masters:
		return MethodKeyByKey, fmt.Sprintf("the backup has %d shards and the target %d masters", len(in.Shards), in.Masters)
	}
	var all topology.SlotSet
	for i, s := range in.Shards {
		if s.IsEmpty() {
			return MethodKeyByKey, fmt.Sprintf("backup shard %d owned no slot", i)
		}
		if all.Overlaps(s) {
			return MethodKeyByKey, fmt.Sprintf("backup shard %d shares slots %s with another shard", i, all.Intersect(s).String())
		}
		all = all.Union(s)
	}
	if !all.IsFull() {
		return MethodKeyByKey, fmt.Sprintf("the backup's shards leave slots %s without an owner", all.Complement().String())
	}
	return MethodSameLayout, fmt.Sprintf("the backup has %d shards and the target %d masters: each master starts on its shard's RDB", len(in.Shards), in.Masters)
}

// SlotsToAdd returns the slots a master started on a shard's RDB must
// still be assigned: Redis 7 in cluster mode, starting with no
// nodes.conf and keys in its RDB, claims every slot it holds keys for
// ("I have keys for unassigned slot N. Taking responsibility for it."),
// so the rest of the shard's slots (those that held no key) are added
// afterwards. Slots the node claimed outside the shard mean the RDB is
// not the shard's: the error names them.
func SlotsToAdd(shard, claimed topology.SlotSet) (topology.SlotSet, error) {
	if extra := claimed.Difference(shard); !extra.IsEmpty() {
		return topology.SlotSet{}, fmt.Errorf("the node claimed slots %s outside its shard's %s: its RDB holds keys of another shard", extra.String(), shard.String())
	}
	return shard.Difference(claimed), nil
}
