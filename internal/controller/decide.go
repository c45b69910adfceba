package controller

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// actionKind names a topology action.
type actionKind int

// The topology actions, one per pass at most.
const (
	actNone actionKind = iota
	actBootstrap
	actFailover
	actMeet
	actForget
	actAttach
	actRepair
	actMoveReplica
	actRestartReplica
	actReshard
	actRemoveShards
	actUpdatePod
)

func (k actionKind) String() string {
	switch k {
	case actBootstrap:
		return "bootstrap"
	case actFailover:
		return "failover"
	case actMeet:
		return "meet"
	case actForget:
		return "forget"
	case actAttach:
		return "attach replicas"
	case actRepair:
		return "repair slots"
	case actMoveReplica:
		return "move replica"
	case actRestartReplica:
		return "restart replica"
	case actReshard:
		return "reshard"
	case actRemoveShards:
		return "remove shards"
	case actUpdatePod:
		return "update pod"
	}
	return "none"
}

// action is the one topology change of a pass.
type action struct {
	Kind actionKind
	// Reason is the Progressing reason while the action runs.
	Reason redisv1alpha1.ConditionReason
	// Message says what is done and why, for events and conditions.
	Message string
	// Plan holds the executor steps (every kind but actMoveReplica).
	Plan planner.Plan
	// Forced is set for a FAILOVER FORCE of a master that is gone: the
	// executor's own check needs the replica's link up, which it cannot
	// be, so decide has judged safety from LastInSync instead.
	Forced bool
	// Pod is deleted by actMoveReplica (with its claim), actRestartReplica
	// and actUpdatePod.
	Pod string
	// Shards are the retiring shards actRemoveShards deletes (StatefulSet,
	// PodDisruptionBudget, claims) once its plan has run.
	Shards []int
	// Blocked says why a wanted action was not taken (no safe replica for a
	// master being deleted, ...); empty when nothing is blocked.
	Blocked string
}

// decide returns the one topology action the observation calls for, in
// priority order: hand over a master being deleted, take over from a
// master that is gone, create the cluster, re-introduce nodes with new
// addresses, forget nodes no pod holds, attach empty nodes as replicas,
// repair slots, move slots after spec.masters changed, remove drained
// shards, replace pods running an old template, move a replica off its
// master's host, spread masters. It is pure.
func decide(o *observation) action {
	var blocked []string
	note := func(a action, why string) action {
		if why != "" {
			blocked = append(blocked, why)
		}
		return a
	}
	steps := []func(*observation) (action, string){
		decideGracefulFailover,
		decideForcedFailover,
		decideBootstrap,
		decideMeet,
		decideForget,
		decideAttach,
		decideRestartStuckReplica,
		decideRepair,
		decideReshard,
		decideRemoveShards,
		decideRollingUpdate,
		decidePlacement,
		decideMasterSpread,
	}
	for _, step := range steps {
		a, why := step(o)
		note(a, why)
		if a.Kind != actNone {
			a.Blocked = strings.Join(blocked, "; ")
			return a
		}
	}
	return action{Blocked: strings.Join(blocked, "; ")}
}

// failoverAction builds a failover action.
func failoverAction(replica topology.NodeID, mode planner.FailoverMode, msg string) action {
	return action{
		Kind:    actFailover,
		Reason:  redisv1alpha1.ReasonFailingOver,
		Message: msg,
		Plan:    planner.Plan{Steps: []planner.Step{planner.Failover{Replica: replica, Mode: mode}}},
		Forced:  mode != planner.FailoverGraceful,
	}
}

// decideGracefulFailover hands the master role of a pod being deleted to
// its best replica, when that replica is safe to promote.
func decideGracefulFailover(o *observation) (action, string) {
	var blocked []string
	for i := range o.Pods {
		p := &o.Pods[i]
		if !p.Terminating || !p.servingMaster() {
			continue
		}
		id := p.ID()
		var cands []planner.ReplicaStatus
		for j := range o.Pods {
			q := &o.Pods[j]
			if s := q.Self(); q.live() && s.IsReplica() && s.MasterID == id {
				cands = append(cands, planner.ReplicaStatus{ID: s.ID, Replication: q.State.Replication})
			}
		}
		master := p.State.Replication
		var why []string
		for _, c := range planner.RankReplicas(master, cands) {
			if ok, reason := planner.PromotionSafeWithin(master, c.ReplicaStatus, promotionMaxLag); !ok {
				why = append(why, reason)
				continue
			}
			to := o.podByID(c.ID)
			return failoverAction(c.ID, planner.FailoverGraceful,
				fmt.Sprintf("pod %s (master %s) is being deleted: graceful failover to %s (pod %s)", p.Name, id.Short(), c.ID.Short(), to.Name)), ""
		}
		if len(cands) == 0 {
			why = append(why, "no live replica")
		}
		blocked = append(blocked, fmt.Sprintf("pod %s (master %s) is being deleted but no replica is safe to promote: %s", p.Name, id.Short(), strings.Join(why, "; ")))
	}
	return action{}, strings.Join(blocked, "; ")
}

// decideForcedFailover promotes a replica of a master that serves slots,
// did not answer, and is positively gone: Kubernetes has no live pod at its
// address, and either the address refuses connections (or no host holds
// it), or the operator cannot reach it and every live replica reports its
// link to it closed (see linksClosed). The replica must have been recorded
// in sync by the previous pass, hold data, and not be in a sync. A master
// that is merely unreachable while its replicas are still linked to it
// (maybe a partition where clients still write to it, or a process not
// killed yet) is not touched; if it stays so, Redis's own failover, which
// needs a majority of masters, decides.
func decideForcedFailover(o *observation) (action, string) {
	ids := make([]topology.NodeID, 0, len(o.Probes))
	for id := range o.Probes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	var blocked []string
	for _, id := range ids {
		pr := o.Probes[id]
		if o.ownedBy(id).IsEmpty() {
			continue
		}
		why := pr.Detail
		switch {
		case pr.Gone:
		case !pr.Reached && o.linksClosed(id):
			why += "; its replicas' links to it are closed"
		default:
			continue
		}
		var best *podObs
		for j := range o.Pods {
			q := &o.Pods[j]
			s := q.Self()
			if !q.live() || !s.IsReplica() || s.MasterID != id {
				continue
			}
			r := q.State.Replication
			if !o.LastInSync[s.ID] || r.Offset <= 0 || r.MasterSyncInProgress {
				continue
			}
			if best == nil || r.Offset > best.State.Replication.Offset ||
				(r.Offset == best.State.Replication.Offset && s.ID < best.ID()) {
				best = q
			}
		}
		if best == nil {
			blocked = append(blocked, fmt.Sprintf("master %s is gone (%s) but none of its replicas was in sync", id.Short(), why))
			continue
		}
		return failoverAction(best.ID(), planner.FailoverForce,
			fmt.Sprintf("master %s is gone (%s): forced failover to %s (pod %s), in sync when last observed", id.Short(), why, best.ID().Short(), best.Name)), ""
	}
	return action{}, strings.Join(blocked, "; ")
}

// decideBootstrap creates the cluster once every pod is up and no node
// serves slots.
func decideBootstrap(o *observation) (action, string) {
	if o.bootstrapped() || !o.podsComplete() {
		return action{}, ""
	}
	plan, err := bootstrapPlan(o)
	if err != nil {
		return action{}, err.Error()
	}
	return action{
		Kind:    actBootstrap,
		Reason:  redisv1alpha1.ReasonBootstrapping,
		Message: fmt.Sprintf("creating the cluster: %d masters, %d replicas each", o.Masters, o.ReplicasPerMaster),
		Plan:    plan,
	}, ""
}

// decideMeet introduces every live pod to every other live pod that does
// not know it at its current address: a restarted pod keeps its node ID
// (nodes.conf on its volume) but has a new IP; Redis matches the ID when the
// handshake completes and updates the address, so the node keeps its slots
// or its replica role. After all pods restarted at once, every node is met
// with every other, which restores the whole cluster.
func decideMeet(o *observation) (action, string) {
	if !o.bootstrapped() {
		return action{}, ""
	}
	var steps []planner.Step
	var names []string
	drained := !o.slotsOnRetiring()
	for i := range o.Pods {
		p := &o.Pods[i]
		if !p.live() || (drained && o.retiring(p)) {
			continue // a drained retiring node is being removed: never re-met
		}
		missing := false
		for j := range o.Pods {
			q := &o.Pods[j]
			if i == j || !q.live() || (drained && o.retiring(q)) {
				continue
			}
			n := q.State.View.Node(p.ID())
			if n == nil || n.Flags.Has(topology.FlagHandshake) || n.Flags.Has(topology.FlagNoAddr) || n.Host() != p.IP {
				steps = append(steps, planner.Meet{Node: q.ID(), Peer: p.ID(), PeerAddr: p.Addr()})
				missing = true
			}
		}
		if missing {
			names = append(names, p.Name)
		}
	}
	if len(steps) == 0 {
		return action{}, ""
	}
	return action{
		Kind:    actMeet,
		Reason:  redisv1alpha1.ReasonRejoiningNodes,
		Message: fmt.Sprintf("introducing %s at their current addresses (%d CLUSTER MEET)", strings.Join(names, ", "), len(steps)),
		Plan:    planner.Plan{Steps: steps},
	}, ""
}

// decideForget forgets nodes that no pod holds. It acts only when every
// expected pod answers, so each pod's node ID is known and a pod that is
// merely restarting is never forgotten; nodes that still own slots are
// never forgotten.
func decideForget(o *observation) (action, string) {
	if !o.bootstrapped() || !o.podsComplete() || o.Cons == nil {
		return action{}, ""
	}
	ours := map[topology.NodeID]bool{}
	for i := range o.Pods {
		ours[o.Pods[i].ID()] = true
	}
	var steps []planner.Step
	var ids []string
	for _, n := range o.Cons.View.Nodes {
		if ours[n.ID] || n.Flags.Has(topology.FlagHandshake) || !o.ownedBy(n.ID).IsEmpty() {
			continue
		}
		steps = append(steps, planner.Forget{Node: n.ID})
		ids = append(ids, n.ID.Short())
	}
	if len(steps) == 0 {
		return action{}, ""
	}
	return action{
		Kind:    actForget,
		Reason:  redisv1alpha1.ReasonForgettingNodes,
		Message: fmt.Sprintf("forgetting nodes no pod holds: %s", strings.Join(ids, ", ")),
		Plan:    planner.Plan{Steps: steps},
	}, ""
}

// decideAttach makes every other live member of a shard a replica of the
// shard's master: new pods (empty masters) and replicas following another
// shard's master (Redis's replica migration moves them).
func decideAttach(o *observation) (action, string) {
	if !o.bootstrapped() {
		return action{}, ""
	}
	var steps []planner.Step
	var names []string
	for shard := 0; shard < o.Masters; shard++ {
		master, serving := o.shardMaster(shard)
		if serving > 1 || master == nil {
			continue // two masters in one shard (Redis settles it by epoch), or none yet
		}
		mid := master.ID()
		for i := range o.Pods {
			p := &o.Pods[i]
			if p.Shard != shard || p == master || !p.live() {
				continue
			}
			s := p.Self()
			if s.IsReplica() && s.MasterID == mid {
				continue
			}
			if s.IsMaster() && !s.Slots.IsEmpty() {
				continue
			}
			if n := p.State.View.Node(mid); n == nil || n.Flags.Has(topology.FlagHandshake) {
				continue // not met yet
			}
			steps = append(steps, planner.Replicate{Replica: s.ID, Master: mid})
			names = append(names, p.Name)
		}
	}
	if len(steps) == 0 {
		return action{}, ""
	}
	return action{
		Kind:    actAttach,
		Reason:  redisv1alpha1.ReasonAttachingReplicas,
		Message: fmt.Sprintf("attaching %s as replicas of their shard's master", strings.Join(names, ", ")),
		Plan:    planner.Plan{Steps: steps},
	}, ""
}

// shardMaster returns the master of shard and how many of its pods serve
// slots as masters. With none serving, a new shard (spec.masters raised)
// or a shard whose every node lost its data gets a designated master: its
// lowest-ordinal live pod that is a master without slots, provided no pod
// of the shard follows a master that still owns slots (a master that is
// merely restarting keeps its shard, and Redis may promote its replica).
// decideAttach makes the shard's other pods its replicas and decideReshard
// gives it slots.
func (o *observation) shardMaster(shard int) (*podObs, int) {
	var master *podObs
	serving := 0
	for i := range o.Pods {
		p := &o.Pods[i]
		if p.Shard == shard && p.live() && p.servingMaster() {
			master = p
			serving++
		}
	}
	if serving > 0 {
		return master, serving
	}
	for i := range o.Pods {
		p := &o.Pods[i]
		if p.Shard != shard || !p.live() {
			continue
		}
		s := p.Self()
		if s.IsReplica() && !o.ownedBy(s.MasterID).IsEmpty() {
			return nil, 0
		}
		if master == nil && s.IsMaster() && s.Slots.IsEmpty() && !o.ownedByAny(s.ID) {
			master = p
		}
	}
	return master, 0
}

// ownedByAny reports whether the consensus gives id any slot.
func (o *observation) ownedByAny(id topology.NodeID) bool {
	if o.Cons == nil {
		return false
	}
	for _, owner := range o.Cons.Owners {
		if owner == id {
			return true
		}
	}
	return false
}

// decideRestartStuckReplica restarts (deletes) the pod of a replica whose
// replication link never came up: attached to its shard's master, which
// answers, not in a sync, link down in this and the previous pass, with
// ReplicasInSync False and the pod older than stuckLinkAfter. Seen after
// all pods were deleted at once: a replica restarted with the right master
// address yet never connected (master_link_down_since_seconds -1), and
// CLUSTER REPLICATE did not revive it. Its data is its master's, so a
// restart loses nothing; it comes back and syncs.
func decideRestartStuckReplica(o *observation) (action, string) {
	if !o.bootstrapped() {
		return action{}, ""
	}
	for _, sh := range o.shards() {
		if sh.Master == nil || !sh.Master.live() {
			continue
		}
		for _, r := range sh.Replicas {
			p := r.Pod
			rep := p.State.Replication
			if !p.live() || rep.MasterLinkUp || rep.MasterSyncInProgress || !o.StuckLinks[p.ID()] || p.Age < stuckLinkAfter {
				continue
			}
			return action{
				Kind:    actRestartReplica,
				Reason:  redisv1alpha1.ReasonAttachingReplicas,
				Message: fmt.Sprintf("replica pod %s never got its replication link to %s up: restarting it", p.Name, sh.Master.Name),
				Pod:     p.Name,
			}, ""
		}
	}
	return action{}, ""
}

// decideRepair closes slots left MIGRATING/IMPORTING and assigns slots no
// node serves (planner.Repair). Disputed ownership alone is not acted on:
// it is what every failover looks like for a moment, until gossip spreads
// the new owner's epoch. Repair's Forget steps are left out: forgetting is
// decideForget's, which knows which nodes pods still hold.
func decideRepair(o *observation) (action, string) {
	if !o.bootstrapped() || o.Cons == nil || o.Snap == nil {
		return action{}, ""
	}
	open := false
	for i := range o.Pods {
		if s := o.Pods[i].Self(); s != nil && (len(s.Migrating) > 0 || len(s.Importing) > 0) {
			open = true
		}
	}
	uncovered := !o.Cons.Covered().IsFull()
	if !open && !uncovered {
		return action{}, ""
	}
	plan := planner.Repair(planner.RepairInput{Snapshot: o.Snap, KeyHolders: o.KeyHolders})
	var steps []planner.Step
	for _, s := range plan.Steps {
		if _, ok := s.(planner.Forget); !ok {
			steps = append(steps, s)
		}
	}
	if len(steps) == 0 {
		return action{}, ""
	}
	return action{
		Kind:    actRepair,
		Reason:  redisv1alpha1.ReasonRepairingSlots,
		Message: fmt.Sprintf("repairing slots: %d steps (open slots: %t, uncovered slots: %t)", len(steps), open, uncovered),
		Plan:    planner.Plan{Steps: steps, Notes: plan.Notes},
	}, ""
}

// decidePlacement moves a replica that shares a Kubernetes node with
// another member of its shard (after failovers and rescheduling) when a
// schedulable node without a member of that shard exists. The replica's
// claim is deleted with its pod: volumes are node-local, and a replica
// resyncs from its master anyway. It acts only on a healthy cluster (Ready
// in the previous pass, every pod up, every replica in sync), so the shard
// keeps its data meanwhile.
func decidePlacement(o *observation) (action, string) {
	if !o.WasReady || !o.bootstrapped() || !o.podsComplete() {
		return action{}, ""
	}
	if ok, _ := o.replicasInSync(); !ok {
		return action{}, ""
	}
	for _, sh := range o.shards() {
		if sh.Master == nil {
			continue
		}
		hosts := map[string]int{}
		for i := range o.Pods {
			if p := &o.Pods[i]; p.Shard == sh.Index && p.Host != "" {
				hosts[p.Host]++
			}
		}
		free := false
		for _, h := range o.Hosts {
			if hosts[h] == 0 {
				free = true
			}
		}
		for _, r := range sh.Replicas {
			p := r.Pod
			if p.Shard != sh.Index || hosts[p.Host] < 2 {
				continue
			}
			if !free {
				return action{}, fmt.Sprintf("shard %d has two members on node %s and no free node to move one to", sh.Index, p.Host)
			}
			return action{
				Kind:    actMoveReplica,
				Reason:  redisv1alpha1.ReasonMovingReplicas,
				Message: fmt.Sprintf("replica pod %s shares node %s with another member of shard %d: recreating it (and its claim) elsewhere", p.Name, p.Host, sh.Index),
				Pod:     p.Name,
			}, ""
		}
	}
	return action{}, ""
}

// decideMasterSpread hands a master role to an in-sync replica so that no
// host holds more than its share of masters (ceil(masters / schedulable
// hosts)). After failovers and rolling updates masters can pile up on one
// Kubernetes node; losing that node would then take a majority of the
// masters, and Redis cannot fail over without a majority. A direct move
// (the overfull host's master to a replica on a host below its share) is
// not always there: the replicas of the masters on the overfull host may
// all sit on hosts that are full already. spreadPath then finds a chain —
// first move a master off one of those hosts to a host below its share,
// then the overfull host's master onto the room made — and the pass takes
// the chain's first move; later passes take the rest. It acts only on a
// healthy cluster (Ready in the previous pass), with a graceful failover
// (no acknowledged write is lost; writes to that shard pause for the
// switch).
func decideMasterSpread(o *observation) (action, string) {
	if !o.WasReady || !o.bootstrapped() || !o.podsComplete() || len(o.Hosts) == 0 {
		return action{}, ""
	}
	if ok, _ := o.replicasInSync(); !ok {
		return action{}, ""
	}
	shards := o.shards()
	perHost := map[string]int{}
	for _, sh := range shards {
		if sh.Master == nil || sh.Master.Host == "" {
			return action{}, ""
		}
		perHost[sh.Master.Host]++
	}
	limit := (o.Masters + len(o.Hosts) - 1) / len(o.Hosts)
	hosts := make([]string, 0, len(perHost))
	for h := range perHost {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		if perHost[h] <= limit {
			continue
		}
		path := spreadPath(shards, perHost, limit, h, map[string]bool{h: true})
		if len(path) == 0 {
			continue
		}
		m := path[0]
		sh := shards[m.shard]
		why := fmt.Sprintf("node %s holds %d masters (more than %d)", h, perHost[h], limit)
		if len(path) > 1 {
			why += fmt.Sprintf("; first of %d handovers that make room", len(path))
		}
		return failoverAction(m.to.ID(), planner.FailoverGraceful,
			fmt.Sprintf("%s: handing shard %d's master role from pod %s on node %s to its replica %s on node %s",
				why, sh.Index, sh.Master.Name, sh.Master.Host, m.to.Name, m.to.Host)), ""
	}
	return action{}, ""
}

// spreadMove hands shard's master role to the replica pod to.
type spreadMove struct {
	shard int
	to    *podObs
}

// spreadPath returns a chain of handovers that takes one master off host
// from and ends on a host below limit, the move onto that host first (so
// that no move raises a host above what it holds now): an augmenting path,
// as in bipartite matching, over shards whose replicas are live, in sync
// and on another host. visited holds the hosts already on the path. It
// returns nil when there is none.
func spreadPath(shards []shardObs, perHost map[string]int, limit int, from string, visited map[string]bool) []spreadMove {
	for i, sh := range shards {
		if sh.Master.Host != from {
			continue
		}
		for _, r := range sh.Replicas {
			to := r.Pod
			if !r.InSync || !to.live() || to.Host == "" || visited[to.Host] || to.Shard != sh.Index {
				continue
			}
			if perHost[to.Host] < limit {
				return []spreadMove{{shard: i, to: to}}
			}
			visited[to.Host] = true
			if rest := spreadPath(shards, perHost, limit, to.Host, visited); rest != nil {
				return append(rest, spreadMove{shard: i, to: to})
			}
		}
	}
	return nil
}

// bootstrapPlan creates the cluster from the pods: one master per shard,
// taken from the shard's own pods (a shard is a StatefulSet), picked so
// that masters spread over hosts first and zones second; the shard's other
// pods become its replicas; slots are split evenly in shard order.
// planner.Layout is not used because it places members freely, across
// what are StatefulSets here.
func bootstrapPlan(o *observation) (planner.Plan, error) {
	perShard := make([][]*podObs, o.Masters)
	for i := range o.Pods {
		p := &o.Pods[i]
		if p.Shard >= o.Masters || p.Ordinal > o.ReplicasPerMaster {
			continue
		}
		s := p.Self()
		if s == nil || !s.IsMaster() || !s.Slots.IsEmpty() || len(p.State.View.Nodes) != 1 {
			return planner.Plan{}, fmt.Errorf("pod %s is not a fresh node (it knows %d nodes); not creating the cluster over it", p.Name, len(p.State.View.Nodes))
		}
		perShard[p.Shard] = append(perShard[p.Shard], p)
	}
	hostMasters, zoneMasters := map[string]int{}, map[string]int{}
	masters := make([]*podObs, o.Masters)
	for shard, members := range perShard {
		if len(members) == 0 {
			return planner.Plan{}, fmt.Errorf("shard %d has no pod", shard)
		}
		best := members[0]
		for _, m := range members[1:] {
			if hostMasters[m.Host] < hostMasters[best.Host] ||
				(hostMasters[m.Host] == hostMasters[best.Host] && zoneMasters[m.Zone] < zoneMasters[best.Zone]) {
				best = m
			}
		}
		masters[shard] = best
		if best.Host != "" {
			hostMasters[best.Host]++
		}
		if best.Zone != "" {
			zoneMasters[best.Zone]++
		}
	}
	var plan planner.Plan
	epoch := uint64(0)
	for _, members := range perShard {
		for _, m := range members {
			epoch++
			plan.Steps = append(plan.Steps, planner.SetConfigEpoch{Node: m.ID(), Epoch: epoch})
		}
	}
	for shard, r := range planner.SplitEvenly(o.Masters) {
		plan.Steps = append(plan.Steps, planner.AssignSlots{Node: masters[shard].ID(), Slots: topology.RangeSet(r.Start, r.End)})
	}
	first := masters[0]
	for _, members := range perShard {
		for _, m := range members {
			if m != first {
				plan.Steps = append(plan.Steps, planner.Meet{Node: first.ID(), Peer: m.ID(), PeerAddr: m.Addr()})
			}
		}
	}
	for shard, members := range perShard {
		for _, m := range members {
			if m == masters[shard] {
				continue
			}
			plan.Steps = append(plan.Steps, planner.Replicate{Replica: m.ID(), Master: masters[shard].ID()})
			if m.Host != "" && m.Host == masters[shard].Host {
				plan.Notes = append(plan.Notes, fmt.Sprintf("replica %s shares node %s with its master %s", m.Name, m.Host, masters[shard].Name))
			}
		}
	}
	return plan, nil
}

// reshardBudget bounds the slot moves of one pass: the executor stops at
// a chunk boundary when it runs out, and the next pass plans the rest from
// what Redis reports, so other actions (a master pod being deleted) are
// never held up for long by a big resharding.
const reshardBudget = 10 * time.Second

// decideReshard moves slots after spec.masters changed: onto the empty
// masters of new shards, and off the shards being removed, as one
// planner.Rebalance over the shards' masters with the retiring ones
// removed. It starts when a shard's master holds no slot or a retiring
// shard still owns some, and goes on, pass after pass, while
// status.resharding is set, until the plan is empty. It needs a healthy
// cluster: every slot covered and closed, every pod up, every replica in
// sync, every slot owner answering.
func decideReshard(o *observation) (action, string) {
	if !o.bootstrapped() || o.Cons == nil {
		return action{}, ""
	}
	plan, need, why := reshardPlan(o)
	if !need {
		return action{}, ""
	}
	if why != "" {
		return action{}, "resharding waits: " + why
	}
	if len(plan.Steps) == 0 {
		return action{}, ""
	}
	moves, slots := 0, 0
	targets := map[string]int{}
	for _, st := range plan.Steps {
		if m, ok := st.(planner.MigrateSlots); ok {
			moves++
			slots += m.Slots.Count()
			if p := o.podByID(m.Target); p != nil {
				targets[fmt.Sprintf("shard %d", p.Shard)] += m.Slots.Count()
			}
		}
	}
	var to []string
	for k, n := range targets {
		to = append(to, fmt.Sprintf("%s +%d", k, n))
	}
	sort.Strings(to)
	return action{
		Kind:    actReshard,
		Reason:  redisv1alpha1.ReasonResharding,
		Message: fmt.Sprintf("spreading the slots over %d shards: %d slots to move in %d transfers (%s)", o.Masters, slots, moves, strings.Join(to, ", ")),
		Plan:    plan,
	}, ""
}

// reshardPlan returns the remaining resharding plan; need is false when no
// resharding is wanted, why names what it waits for.
func reshardPlan(o *observation) (plan planner.Plan, need bool, why string) {
	owners := planner.Ownership{}
	emptyShard := false
	for shard := 0; shard < o.Masters; shard++ {
		m, serving := o.shardMaster(shard)
		if m == nil || serving > 1 {
			if o.Resharding {
				return plan, true, fmt.Sprintf("shard %d has no single master", shard)
			}
			return plan, false, ""
		}
		owners[m.ID()] = o.ownedBy(m.ID())
		emptyShard = emptyShard || owners[m.ID()].IsEmpty()
	}
	var remove []topology.NodeID
	onRetiring := false
	for slot, id := range o.Cons.Owners {
		if id == "" {
			return plan, o.Resharding, fmt.Sprintf("slot %d is not served", slot)
		}
		if _, ok := owners[id]; ok {
			continue
		}
		p := o.podByID(id)
		if p == nil || !p.live() {
			return plan, o.Resharding || emptyShard, fmt.Sprintf("slot owner %s does not answer", id.Short())
		}
		onRetiring = onRetiring || o.retiring(p)
		owners[id] = o.ownedBy(id)
		remove = append(remove, id)
	}
	need = o.Resharding || emptyShard || onRetiring
	if !need {
		return plan, false, ""
	}
	switch {
	case !o.podsComplete():
		return plan, true, "not every pod is up"
	case !o.slotsClosed():
		return plan, true, "slots are open"
	}
	if ok, msg := o.replicasInSync(); !ok {
		return plan, true, msg
	}
	sort.Slice(remove, func(a, b int) bool { return remove[a] < remove[b] })
	plan, err := planner.Rebalance(planner.RebalanceSpec{Owners: owners, Remove: remove, UseEmptyMasters: true})
	if err != nil {
		return plan, true, err.Error()
	}
	return plan, true, ""
}

// slotsClosed reports whether no answering node has a slot MIGRATING or
// IMPORTING.
func (o *observation) slotsClosed() bool {
	for i := range o.Pods {
		if s := o.Pods[i].Self(); s != nil && (len(s.Migrating) > 0 || len(s.Importing) > 0) {
			return false
		}
	}
	return true
}

// decideRemoveShards removes the shards spec.masters no longer includes,
// once they own no slot and no resharding runs: CLUSTER RESET on each of
// their nodes (so they stop gossiping and cannot rejoin), CLUSTER FORGET of
// their IDs on every node (which also keeps them out for a minute), then
// their StatefulSets, PodDisruptionBudgets and claims are deleted.
func decideRemoveShards(o *observation) (action, string) {
	if !o.bootstrapped() || !o.retiringLeft() || o.Resharding {
		return action{}, ""
	}
	if o.slotsOnRetiring() {
		return action{}, ""
	}
	var steps []planner.Step
	var forgets []planner.Step
	shards := map[int]bool{}
	for _, s := range o.RetiringSets {
		shards[s] = true
	}
	for i := range o.Pods {
		p := &o.Pods[i]
		if !o.retiring(p) {
			continue
		}
		shards[p.Shard] = true
		if !p.live() {
			continue
		}
		id := p.ID()
		if len(p.State.View.Nodes) > 1 {
			steps = append(steps, planner.ResetNode{Node: id})
		}
		for j := range o.Pods {
			q := &o.Pods[j]
			if q.live() && !o.retiring(q) && q.State.View.Node(id) != nil {
				forgets = append(forgets, planner.Forget{Node: id})
				break
			}
		}
	}
	list := make([]int, 0, len(shards))
	for s := range shards {
		list = append(list, s)
	}
	sort.Ints(list)
	names := make([]string, len(list))
	for i, s := range list {
		names[i] = strconv.Itoa(s)
	}
	return action{
		Kind:    actRemoveShards,
		Reason:  redisv1alpha1.ReasonRemovingShards,
		Message: fmt.Sprintf("removing drained shards %s (spec.masters is %d): resetting %d nodes, forgetting %d, deleting their StatefulSets and claims", strings.Join(names, ", "), o.Masters, len(steps), len(forgets)),
		Plan:    planner.Plan{Steps: append(steps, forgets...)},
		Shards:  list,
	}, ""
}

// decideRollingUpdate replaces, one pod per pass, the pods that run an older
// revision of their StatefulSet's template (the StatefulSets use OnDelete so
// that the operator orders it): in each shard the replicas first, then the
// master role is handed to an updated replica in sync with a graceful
// CLUSTER FAILOVER, and the old master, now a replica, is replaced last. It
// acts only on a healthy cluster (every pod up and Ready, every replica in
// sync, every slot served and closed, no resharding), so each replaced pod
// has rejoined and synced before the next goes.
func decideRollingUpdate(o *observation) (action, string) {
	old, all := o.outdated()
	if old == 0 || !o.bootstrapped() || o.Cons == nil || o.Resharding {
		return action{}, ""
	}
	switch {
	case !o.podsComplete():
		return action{}, "rolling update waits: not every pod is up"
	case !o.Cons.Covered().IsFull() || !o.slotsClosed():
		return action{}, "rolling update waits: slots are not all served and closed"
	}
	if ok, msg := o.replicasInSync(); !ok {
		return action{}, "rolling update waits: " + msg
	}
	progress := fmt.Sprintf("%d of %d pods run the current template", all-old, all)
	for _, sh := range o.shards() {
		if sh.Master == nil {
			continue
		}
		for i := range o.Pods {
			p := &o.Pods[i]
			if p.Shard != sh.Index || p == sh.Master || !p.Outdated {
				continue
			}
			return action{
				Kind:    actUpdatePod,
				Reason:  redisv1alpha1.ReasonUpdatingPods,
				Message: fmt.Sprintf("rolling update: recreating replica pod %s with the current template (%s)", p.Name, progress),
				Pod:     p.Name,
			}, ""
		}
		if !sh.Master.Outdated {
			continue
		}
		if len(sh.Replicas) == 0 {
			return action{
				Kind:    actUpdatePod,
				Reason:  redisv1alpha1.ReasonUpdatingPods,
				Message: fmt.Sprintf("rolling update: recreating master pod %s, which has no replica to hand over to: its slots are unavailable until it is back (%s)", sh.Master.Name, progress),
				Pod:     sh.Master.Name,
			}, ""
		}
		var cands []planner.ReplicaStatus
		for _, r := range sh.Replicas {
			if r.Pod.live() && !r.Pod.Outdated && !o.retiring(r.Pod) {
				cands = append(cands, planner.ReplicaStatus{ID: r.Pod.ID(), Replication: r.Pod.State.Replication})
			}
		}
		for _, c := range planner.RankReplicas(sh.Master.State.Replication, cands) {
			if ok, _ := planner.PromotionSafeWithin(sh.Master.State.Replication, c.ReplicaStatus, promotionMaxLag); ok {
				a := failoverAction(c.ID, planner.FailoverGraceful,
					fmt.Sprintf("rolling update: handing shard %d's master role from pod %s to updated replica pod %s before %s is recreated (%s)", sh.Index, sh.Master.Name, o.podByID(c.ID).Name, sh.Master.Name, progress))
				a.Reason = redisv1alpha1.ReasonUpdatingPods
				return a, ""
			}
		}
		return action{}, fmt.Sprintf("rolling update waits: master pod %s has no updated replica in sync to hand over to", sh.Master.Name)
	}
	return action{}, ""
}
