package controller

import (
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// redisPort is the port of every Redis node (resources.RedisPort, kept here
// as an int for address building in pure code).
const redisPort = 6379

// stuckLinkAfter is how long replicas may be out of sync, and a replica's
// pod must have lived, before a replica whose link stays down (not in a
// sync) is restarted (decideRestartStuckReplica). The out-of-sync clock
// starts before a new replica is even attached, and a healthy new replica
// then waits repl-diskless-sync-delay (5 s) with its link down and no sync
// in progress: at 10 s the benchmark saw fresh replicas restarted during
// create (bench/operator.sh, 2026-11-25). 30 s clears that with margin and
// still heals the stuck link this exists for (seen lasting minutes).
const stuckLinkAfter = 30 * time.Second

// promotionMaxLag is how many bytes of replication offset a replica may
// trail its master and still count as in sync: a graceful CLUSTER FAILOVER
// lets it catch up before the switch (the executor's default).
const promotionMaxLag = 1 << 20

// observation is what one pass knows about the cluster, as plain data:
// decide and the status logic work on it without I/O.
type observation struct {
	// Masters and ReplicasPerMaster are the spec's.
	Masters, ReplicasPerMaster int
	// Pods are the cluster's pods, sorted by shard then ordinal.
	Pods []podObs
	// Snap is the Redis observation; nil when no node answered (no pod
	// has started redis-server yet).
	Snap *topology.Snapshot
	// Cons is the consensus of the reachable nodes (nil with Snap).
	Cons *planner.Consensus
	// KeyHolders lists, for open and uncovered slots only, the masters
	// holding keys in them (for planner.Repair).
	KeyHolders map[int][]topology.NodeID
	// Probes holds, for masters owning slots that did not answer while
	// Kubernetes has no live pod at their address, what a TCP probe of
	// that address found.
	Probes map[topology.NodeID]probe
	// LastInSync are the replicas the previous pass recorded in sync
	// (status.shards[].replicas[].inSync): the memory the forced failover
	// needs once the master is gone and offsets cannot be compared.
	LastInSync map[topology.NodeID]bool
	// StuckLinks are replicas whose link to the master was already down in
	// the previous pass, while ReplicasInSync has been False for at least
	// stuckLinkAfter: candidates for a restart.
	StuckLinks map[topology.NodeID]bool
	// WasReady is the previous pass's Ready condition: the optional moves
	// (placement, master spread) wait for one calm pass after any change.
	WasReady bool
	// Hosts are the Kubernetes nodes pods can be scheduled on (Ready and
	// not cordoned).
	Hosts []string
	// Resharding is set while status.resharding records a change of
	// spec.masters that has not finished.
	Resharding bool
	// RetiringSets are the shards >= Masters that still have a StatefulSet.
	RetiringSets []int
	// SetsPending is set while the StatefulSet controller has not yet
	// observed a shard StatefulSet's latest template: which pods are
	// outdated is not known yet.
	SetsPending bool
}

// podObs is one Redis pod as Kubernetes and Redis report it.
type podObs struct {
	Name           string
	Shard, Ordinal int
	// IP is the pod IP ("" before the pod has one).
	IP string
	// Host is spec.nodeName, Zone the zone label of that node.
	Host, Zone string
	// Ready is the pod's Ready condition.
	Ready bool
	// Terminating is set once the pod has a deletionTimestamp.
	Terminating bool
	// Outdated is set when the pod runs an older revision of its
	// StatefulSet's template (image, resources, redis.conf changed): the
	// StatefulSets use OnDelete, and decideRollingUpdate replaces it.
	Outdated bool
	// Age is the time since the pod was created.
	Age time.Duration
	// State is what the Redis node at IP reported; nil when it did not answer.
	State *topology.NodeState
}

// probe is the result of a TCP probe of a silent master's address.
type probe struct {
	// Gone is true when the address refused the connection, no host
	// answered for it, or another node answers there: no process can be
	// serving that master at that address.
	Gone bool
	// Reached is true when the master's own process accepted the
	// connection: it is alive at its address.
	Reached bool
	// Detail says what the probe saw.
	Detail string
}

// Addr is the pod's Redis address.
func (p *podObs) Addr() string {
	if p.IP == "" {
		return ""
	}
	return net.JoinHostPort(p.IP, strconv.Itoa(redisPort))
}

// Self returns the node's own line, or nil when it did not answer.
func (p *podObs) Self() *topology.Node {
	if p.State == nil || p.State.View == nil {
		return nil
	}
	return p.State.View.Myself()
}

// ID returns the node ID the pod's Redis reported ("" when it did not answer).
func (p *podObs) ID() topology.NodeID {
	if s := p.Self(); s != nil {
		return s.ID
	}
	return ""
}

// live reports whether the pod answers and is not being deleted.
func (p *podObs) live() bool { return p.State != nil && !p.Terminating && p.Self() != nil }

// servingMaster reports whether the pod's node is a master serving slots in
// its own view.
func (p *podObs) servingMaster() bool {
	s := p.Self()
	return s != nil && s.IsMaster() && !s.Slots.IsEmpty()
}

// expected is the number of pods the spec asks for.
func (o *observation) expected() int { return o.Masters * (1 + o.ReplicasPerMaster) }

// podsComplete reports whether every expected pod exists, is Ready, not
// being deleted and answers.
func (o *observation) podsComplete() bool {
	n := 0
	for i := range o.Pods {
		p := &o.Pods[i]
		if p.Shard >= o.Masters || p.Ordinal > o.ReplicasPerMaster {
			continue
		}
		if !p.Ready || !p.live() {
			return false
		}
		n++
	}
	return n == o.expected()
}

// bootstrapped reports whether the cluster was created: some node serves slots.
func (o *observation) bootstrapped() bool {
	if o.Cons != nil && !o.Cons.Covered().IsEmpty() {
		return true
	}
	for i := range o.Pods {
		if o.Pods[i].servingMaster() {
			return true
		}
	}
	return false
}

// linksClosed reports whether the master id has live replicas and every
// one of them reports its replication link down. A replica sees the link
// drop at once when the master's process exits (the kernel closes its
// sockets), but only after repl-timeout (60 s by default) when the master
// is cut off by the network, by which time a master on the minority side
// has long stopped taking writes (cluster-node-timeout). With the pod gone
// from Kubernetes and the address silent to the operator, that is the
// positive sign that no client can still be writing to the master.
func (o *observation) linksClosed(id topology.NodeID) bool {
	n := 0
	for i := range o.Pods {
		q := &o.Pods[i]
		s := q.Self()
		if !q.live() || !s.IsReplica() || s.MasterID != id {
			continue
		}
		if q.State.Replication.MasterLinkUp {
			return false
		}
		n++
	}
	return n > 0
}

// retiring reports whether the pod belongs to a shard that spec.masters no
// longer includes.
func (o *observation) retiring(p *podObs) bool { return p.Shard >= o.Masters }

// slotsOnRetiring reports whether a node of a retiring shard owns slots, or
// a slot owner does not answer (it may be one): the retiring shards are
// not drained yet.
func (o *observation) slotsOnRetiring() bool {
	if o.Cons == nil {
		return false
	}
	owners := map[topology.NodeID]bool{}
	for _, id := range o.Cons.Owners {
		if id != "" {
			owners[id] = true
		}
	}
	for id := range owners {
		p := o.podByID(id)
		if p == nil || o.retiring(p) {
			return true
		}
	}
	return false
}

// outdated counts the pods of shards < Masters that run an older template,
// and all pods of those shards.
func (o *observation) outdated() (old, all int) {
	for i := range o.Pods {
		p := &o.Pods[i]
		if o.retiring(p) {
			continue
		}
		all++
		if p.Outdated {
			old++
		}
	}
	return old, all
}

// retiringLeft reports whether anything of a retiring shard is left: a
// pod or a StatefulSet.
func (o *observation) retiringLeft() bool {
	if len(o.RetiringSets) > 0 {
		return true
	}
	for i := range o.Pods {
		if o.retiring(&o.Pods[i]) {
			return true
		}
	}
	return false
}

// podByID returns the pod whose node answered with id, or nil.
func (o *observation) podByID(id topology.NodeID) *podObs {
	for i := range o.Pods {
		if o.Pods[i].State != nil && o.Pods[i].ID() == id {
			return &o.Pods[i]
		}
	}
	return nil
}

// ownedBy returns the slots the consensus gives to id.
func (o *observation) ownedBy(id topology.NodeID) topology.SlotSet {
	var s topology.SlotSet
	if o.Cons == nil {
		return s
	}
	for slot, owner := range o.Cons.Owners {
		if owner == id {
			s.Add(slot)
		}
	}
	return s
}

// shardObs is one shard as observed: its serving master and the replicas
// following it.
type shardObs struct {
	Index int
	// Master is the pod serving the shard's slots; nil when none answers.
	Master *podObs
	// MasterID is the master's node ID, also when its pod is gone.
	MasterID topology.NodeID
	// Slots are the slots the master serves by consensus.
	Slots topology.SlotSet
	// Replicas follow MasterID.
	Replicas []replicaObs
}

// replicaObs is one replica and its sync state.
type replicaObs struct {
	Pod    *podObs
	LinkUp bool
	InSync bool
}

// shards returns the shards by index. A shard's master is the shard pod
// that serves slots; when none answers, the consensus master that a pod of
// the shard follows.
func (o *observation) shards() []shardObs {
	out := make([]shardObs, o.Masters)
	for i := range out {
		sh := &out[i]
		sh.Index = i
		for j := range o.Pods {
			p := &o.Pods[j]
			if p.Shard == i && !p.Terminating && p.servingMaster() {
				sh.Master = p
				break
			}
		}
		if sh.Master == nil {
			for j := range o.Pods {
				p := &o.Pods[j]
				if p.Shard == i && p.servingMaster() {
					sh.Master = p // being deleted, still serving
					break
				}
			}
		}
		if sh.Master == nil {
			sh.Master, _ = o.shardMaster(i) // a designated empty master
		}
		if sh.Master != nil {
			sh.MasterID = sh.Master.ID()
		} else {
			for j := range o.Pods {
				p := &o.Pods[j]
				if s := p.Self(); p.Shard == i && s != nil && s.IsReplica() && !o.ownedBy(s.MasterID).IsEmpty() {
					sh.MasterID = s.MasterID
					break
				}
			}
		}
		if sh.MasterID == "" {
			continue
		}
		sh.Slots = o.ownedBy(sh.MasterID)
		var masterRepl *topology.Replication
		if sh.Master != nil {
			masterRepl = &sh.Master.State.Replication
		}
		for j := range o.Pods {
			p := &o.Pods[j]
			s := p.Self()
			if s == nil || !s.IsReplica() || s.MasterID != sh.MasterID {
				continue
			}
			r := replicaObs{Pod: p, LinkUp: p.State.Replication.MasterLinkUp}
			switch {
			case p.Terminating:
			case masterRepl != nil:
				r.InSync, _ = planner.PromotionSafeWithin(*masterRepl, planner.ReplicaStatus{ID: s.ID, Replication: p.State.Replication}, promotionMaxLag)
			default:
				// The master is silent: offsets cannot be compared, and a
				// replica takes no writes of its own, so it stays as in
				// sync as it was when the master was last seen (the
				// memory decideForcedFailover relies on, pass after pass).
				r.InSync = o.LastInSync[s.ID] && !p.State.Replication.MasterSyncInProgress
			}
			sh.Replicas = append(sh.Replicas, r)
		}
		sort.Slice(sh.Replicas, func(a, b int) bool { return sh.Replicas[a].Pod.Name < sh.Replicas[b].Pod.Name })
	}
	return out
}

// replicasInSync reports whether every shard has at least ReplicasPerMaster
// replicas in sync, and if not, a message naming the first shard that lacks.
func (o *observation) replicasInSync() (bool, string) {
	for _, sh := range o.shards() {
		n := 0
		for _, r := range sh.Replicas {
			if r.InSync {
				n++
			}
		}
		if n < o.ReplicasPerMaster {
			return false, "shard " + strconv.Itoa(sh.Index) + " has " + strconv.Itoa(n) + " of " + strconv.Itoa(o.ReplicasPerMaster) + " replicas in sync"
		}
	}
	return true, ""
}
