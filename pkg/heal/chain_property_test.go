package heal_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// TestChainProperties runs the default chain over random worlds, as the
// operator and (one in three) as rcctl heal observes them, and checks
// the invariants every decision keeps, whatever the world: a replica is
// promoted only when safe, no slot owner is forgotten, every plan keeps
// each slot owned once, one change per pass, and the same observation
// always gives the same decision.
func TestChainProperties(t *testing.T) {
	const iterations = 1200
	r := rand.New(rand.NewPCG(8, 2026))
	kinds, forced := map[heal.Kind]int{}, 0
	for i := range iterations {
		rcctl := i%3 == 2
		w, story := randomWorld(r, rcctl)
		observe := w.Observation
		if rcctl {
			observe = func() heal.Observation { return unmanaged(w) }
			story = append(story, "as rcctl heal finds it")
		}
		c := heal.Derive(observe())
		d := heal.DefaultChain().Decide(c)
		kinds[d.Kind]++
		if d.Forced {
			forced++
		}
		errs := decisionErrors(c, d)
		if again := heal.DefaultChain().Decide(heal.Derive(observe())); !reflect.DeepEqual(again, d) {
			errs = append(errs, fmt.Sprintf("the same observation gave another decision: %s %q (%s)", again.Kind, again.Message, again.Plan))
		}
		if len(errs) > 0 {
			t.Fatalf("world %d (%s):\n%s\ndecision %s %q member %q op %d forced %t:\n%s\n%s",
				i, strings.Join(story, ", "), describe(w), d.Kind, d.Message, d.Member, d.MemberOp, d.Forced, d.Plan, strings.Join(errs, "\n"))
		}
	}
	// The generator must reach every rule that plans something; a kind
	// never decided means the invariants were never checked against it.
	for _, k := range heal.Kinds() {
		if kinds[k] == 0 {
			t.Errorf("no random world led to a %s decision", k)
		}
	}
	if forced == 0 {
		t.Error("no random world led to a forced failover")
	}
	t.Logf("decisions over %d worlds: %v (%d forced failovers)", iterations, kinds, forced)
}

// unmanaged returns the observation rcctl heal makes of w's Redis nodes
// (no spec, no platform, no memory), with w's probes.
func unmanaged(w *healtest.World) heal.Observation {
	o := heal.Unmanaged(w.Observation().Snap, time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), 0)
	o.Probes = w.Probes
	return o
}

// randomWorld returns a random cluster, mostly a healthy one with a few
// perturbations, and the names of the perturbations.
func randomWorld(r *rand.Rand, rcctl bool) (*healtest.World, []string) {
	masters, replicas := 3+r.IntN(3), r.IntN(3)
	hosts := make([]string, 1+r.IntN(4))
	for i := range hosts {
		hosts[i] = fmt.Sprintf("node-%d", i+1)
	}
	if r.IntN(12) == 0 {
		w := healtest.Fresh(masters, replicas, hosts...)
		story := []string{"fresh"}
		if r.IntN(3) == 0 {
			p := pick(r, w.Pods)
			p.Ready = false
			story = append(story, p.Name+" not ready")
		}
		if r.IntN(4) == 0 {
			p := pick(r, w.Pods)
			p.Fresh = false
			story = append(story, p.Name+" knows the others")
		}
		return w, story
	}
	w := healtest.Healthy(masters, replicas, hosts...)
	var story []string
	for _, p := range perturbations {
		if r.IntN(p.oneIn) == 0 {
			if s := p.apply(r, w); s != "" {
				story = append(story, s)
			}
		}
	}
	return w, story
}

// perturbation changes a world at random, one in oneIn worlds; apply
// returns what it did ("" for nothing). Structural changes come first.
type perturbation struct {
	oneIn int
	apply func(*rand.Rand, *healtest.World) string
}

var perturbations = []perturbation{
	{6, scaleOut},
	{8, scaleIn},
	{4, failedOverInShard},
	{8, secondMasterInGroup},
	{4, movedHosts},
	{5, lostSlots},
	{6, goneMasterWithSlots},
	{5, staleNode},
	{5, silentMaster},
	{5, terminating},
	{4, laggingReplica},
	{4, downReplica},
	{6, migratedReplica},
	{6, openSlot},
	{5, outdatedPods},
	{6, restartedPod},
	{8, freshPod},
	{6, notReady},
	{10, pending},
	{3, unsettled},
	{6, resharding},
	{4, reshardingPaused},
	{5, fewerReplicas},
	{5, replicaOfStaleMaster},
	{6, externalAccess},
}

// externalAccess gives every pod an external endpoint to announce; some
// nodes announce it already (and their peers know them there), the others
// still announce their pod address.
func externalAccess(r *rand.Rand, w *healtest.World) string {
	var pending []string
	settled := r.IntN(2) == 0
	for i, p := range w.Pods {
		want := topology.Endpoint{IP: fmt.Sprintf("192.0.2.%d", 1+i%3), Port: 30000 + i, BusPort: 31000 + i}
		p.Announce = &want
		if !settled && r.IntN(3) == 0 {
			pending = append(pending, p.Name)
			continue
		}
		p.Announced = &want
	}
	return fmt.Sprintf("external access, %d nodes not announcing yet", len(pending))
}

func scaleOut(r *rand.Rand, w *healtest.World) string {
	attached := r.IntN(2) == 0
	w.AddShard(w.Masters, attached)
	w.Masters++
	return fmt.Sprintf("shard %d added (attached %t)", w.Masters-1, attached)
}

func scaleIn(r *rand.Rand, w *healtest.World) string {
	w.Masters--
	if r.IntN(2) == 0 {
		w.RetiringGroups = []int{w.Masters}
	}
	return fmt.Sprintf("spec.masters lowered to %d", w.Masters)
}

func failedOverInShard(r *rand.Rand, w *healtest.World) string {
	m := pick(r, masters(w))
	reps := replicasOf(w, m)
	if len(reps) == 0 {
		return ""
	}
	to := pick(r, reps)
	to.Master, to.Slots, m.Master, m.Slots = "", m.Slots, to.NodeID, topology.SlotSet{}
	for _, q := range reps {
		if q != to {
			q.Master = to.NodeID
		}
	}
	return fmt.Sprintf("%s took over from %s", to.Name, m.Name)
}

// secondMasterInGroup makes a replica a master of slots taken from
// another shard's master: two masters serve slots in one group.
func secondMasterInGroup(r *rand.Rand, w *healtest.World) string {
	reps := replicas(w)
	if len(reps) == 0 {
		return ""
	}
	p, from := pick(r, reps), pick(r, masters(w))
	lo := from.Slots.First()
	for s := lo; s < lo+20; s++ {
		from.Slots.Remove(s)
		p.Slots.Add(s)
	}
	for _, q := range replicasOf(w, p) {
		q.Master = from.NodeID
	}
	p.Master = ""
	return fmt.Sprintf("%s serves slots %d-%d taken from %s", p.Name, lo, lo+19, from.Name)
}

func movedHosts(r *rand.Rand, w *healtest.World) string {
	var moved []string
	for range 1 + r.IntN(3) {
		p := pick(r, w.Pods)
		p.Host = pick(r, w.Hosts)
		moved = append(moved, p.Name+"@"+p.Host)
	}
	if r.IntN(3) == 0 && len(w.Hosts) > 1 {
		w.Hosts = w.Hosts[:len(w.Hosts)-1]
		moved = append(moved, "a host cordoned")
	}
	return "moved " + strings.Join(moved, " ")
}

func lostSlots(r *rand.Rand, w *healtest.World) string {
	m := pick(r, masters(w))
	lo := m.Slots.First() + r.IntN(100)
	hi := lo + r.IntN(50)
	for s := lo; s <= hi; s++ {
		m.Slots.Remove(s)
	}
	return fmt.Sprintf("slots %d-%d of %s uncovered", lo, hi, m.Name)
}

// goneMasterWithSlots adds a master no pod holds that owns slots taken from
// a pod's master, probed gone or not, possibly followed by a replica pod.
func goneMasterWithSlots(r *rand.Rand, w *healtest.World) string {
	m := pick(r, masters(w))
	id := healtest.NodeID(300 + len(w.Gone))
	n := &topology.Node{ID: id, Addr: fmt.Sprintf("10.9.0.%d:6379", len(w.Gone)+1), BusPort: 16379, Flags: topology.FlagMaster | topology.FlagFail}
	lo := m.Slots.First()
	for s := lo; s < lo+10; s++ {
		m.Slots.Remove(s)
		n.Slots.Add(s)
	}
	w.Gone = append(w.Gone, n)
	story := fmt.Sprintf("gone master %s owns slots %d-%d", id.Short(), lo, lo+9)
	if r.IntN(2) == 0 {
		w.Probes[id] = heal.Probe{Gone: true, Detail: "refused"}
		story += " (probed gone)"
	}
	if reps := replicasOf(w, m); len(reps) > 1 && r.IntN(2) == 0 {
		p := pick(r, reps)
		p.Master = id
		p.LinkUp = r.IntN(2) == 0
		story += ", followed by " + p.Name
	}
	return story
}

func staleNode(r *rand.Rand, w *healtest.World) string {
	id := healtest.NodeID(400 + len(w.Stale))
	n := &topology.Node{ID: id, Addr: fmt.Sprintf("10.8.0.%d:6379", len(w.Stale)+1), BusPort: 16379}
	if r.IntN(2) == 0 {
		n.Flags = topology.FlagReplica | topology.FlagFail
		n.MasterID = pick(r, masters(w)).NodeID
	} else {
		n.Flags = topology.FlagMaster | topology.FlagFail
	}
	w.Stale = append(w.Stale, n)
	return "stale node " + id.Short()
}

// replicaOfStaleMaster adds a master without slots that no pod holds and
// that a replica pod still follows (its master lost its storage). Only in
// worlds observed as rcctl heal does: the operator's forget rule forgets
// such a master, which Redis refuses on the replica ("Can't forget my
// master!").
func replicaOfStaleMaster(r *rand.Rand, w *healtest.World) string {
	reps := replicas(w)
	if len(reps) == 0 {
		return ""
	}
	id := healtest.NodeID(500)
	w.Stale = append(w.Stale, &topology.Node{ID: id, Addr: "10.7.0.1:6379", BusPort: 16379, Flags: topology.FlagMaster | topology.FlagFail})
	p := pick(r, reps)
	p.Master, p.LinkUp = id, false
	return fmt.Sprintf("%s follows stale master %s", p.Name, id.Short())
}

func silentMaster(r *rand.Rand, w *healtest.World) string {
	m := pick(r, masters(w))
	m.Silent = true
	m.Terminating = r.IntN(2) == 0
	story := m.Name + " silent"
	switch r.IntN(4) {
	case 0:
		w.Probes[m.NodeID] = heal.Probe{Gone: true, Detail: "refused"}
		story += ", probed gone"
	case 1:
		w.Probes[m.NodeID] = heal.Probe{Reached: true, Detail: "accepts connections"}
		story += ", probe reached it"
	case 2:
		w.Probes[m.NodeID] = heal.Probe{Detail: "i/o timeout"}
		story += ", probe timed out"
	}
	for _, q := range replicasOf(w, m) {
		if r.IntN(3) > 0 {
			q.LinkUp = false
		}
		if r.IntN(2) == 0 {
			w.Synced[q.NodeID] = false
		}
		if r.IntN(6) == 0 {
			q.Syncing = true
		}
		q.Offset = r.Int64N(5000) // 0: it holds no data
	}
	return story
}

func terminating(r *rand.Rand, w *healtest.World) string {
	p := pick(r, w.Pods)
	p.Terminating = true
	if r.IntN(3) == 0 {
		p.Silent = true
	}
	return p.Name + " terminating"
}

func laggingReplica(r *rand.Rand, w *healtest.World) string {
	m := pick(r, masters(w))
	m.Offset += r.Int64N(3 << 20)
	return fmt.Sprintf("%s at offset %d", m.Name, m.Offset)
}

func downReplica(r *rand.Rand, w *healtest.World) string {
	reps := replicas(w)
	if len(reps) == 0 {
		return ""
	}
	p := pick(r, reps)
	p.LinkUp = false
	p.Syncing = r.IntN(3) == 0
	p.Age = time.Duration(r.IntN(120)) * time.Second
	if r.IntN(2) == 0 {
		w.Stuck = map[topology.NodeID]bool{p.NodeID: true}
	}
	if r.IntN(3) == 0 {
		w.Synced[p.NodeID] = false
	}
	return fmt.Sprintf("%s link down (syncing %t, age %s, stuck %t)", p.Name, p.Syncing, p.Age, w.Stuck[p.NodeID])
}

func migratedReplica(r *rand.Rand, w *healtest.World) string {
	reps := replicas(w)
	if len(reps) == 0 {
		return ""
	}
	p, m := pick(r, reps), pick(r, masters(w))
	if p.Master == m.NodeID {
		return ""
	}
	p.Master = m.NodeID
	return p.Name + " follows " + m.Name
}

func openSlot(r *rand.Rand, w *healtest.World) string {
	ms := masters(w)
	from, to := pick(r, ms), pick(r, ms)
	if from == to || from.Slots.IsEmpty() {
		return ""
	}
	slot := from.Slots.First() + r.IntN(from.Slots.Count())
	if !from.Slots.Has(slot) {
		return ""
	}
	from.Migrating = map[int]topology.NodeID{slot: to.NodeID}
	return fmt.Sprintf("slot %d migrating from %s to %s", slot, from.Name, to.Name)
}

func outdatedPods(r *rand.Rand, w *healtest.World) string {
	var names []string
	for _, p := range w.Pods {
		if r.IntN(2) == 0 {
			p.Outdated = true
			names = append(names, p.Name)
		}
	}
	return "outdated " + strings.Join(names, " ")
}

func restartedPod(r *rand.Rand, w *healtest.World) string {
	p := pick(r, w.Pods)
	old := p.Addr
	p.Addr = strings.Replace(p.Addr, "10.0.", "10.5.", 1)
	p.KnownAt = map[int]string{}
	for i := range w.Pods {
		if r.IntN(2) == 0 {
			p.KnownAt[i] = old
		}
	}
	return p.Name + " restarted at " + p.Addr
}

func freshPod(r *rand.Rand, w *healtest.World) string {
	reps := replicas(w)
	if len(reps) == 0 {
		return ""
	}
	p := pick(r, reps)
	p.Master, p.Offset, p.LinkUp, p.Fresh = "", 0, false, r.IntN(2) == 0
	return fmt.Sprintf("%s empty (fresh %t)", p.Name, p.Fresh)
}

func notReady(r *rand.Rand, w *healtest.World) string {
	p := pick(r, w.Pods)
	p.Ready = false
	return p.Name + " not ready"
}

func pending(_ *rand.Rand, w *healtest.World) string {
	w.GroupsPending = true
	return "groups pending"
}

func unsettled(_ *rand.Rand, w *healtest.World) string {
	w.Unsettled = true
	return "unsettled"
}

func resharding(_ *rand.Rand, w *healtest.World) string {
	w.Resharding = true
	return "resharding"
}

func fewerReplicas(_ *rand.Rand, w *healtest.World) string {
	if w.Replicas == 0 {
		return ""
	}
	w.Replicas--
	return fmt.Sprintf("replicasPerMaster lowered to %d", w.Replicas)
}

func reshardingPaused(_ *rand.Rand, w *healtest.World) string {
	w.ReshardingPaused = true
	return "resharding paused"
}

// pick returns a random element of xs.
func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// masters returns the pods that serve slots.
func masters(w *healtest.World) []*healtest.Pod {
	var out []*healtest.Pod
	for _, p := range w.Pods {
		if p.Master == "" && !p.Slots.IsEmpty() {
			out = append(out, p)
		}
	}
	return out
}

// replicas returns the pods that follow a master.
func replicas(w *healtest.World) []*healtest.Pod {
	var out []*healtest.Pod
	for _, p := range w.Pods {
		if p.Master != "" {
			out = append(out, p)
		}
	}
	return out
}

// replicasOf returns the pods that follow m.
func replicasOf(w *healtest.World, m *healtest.Pod) []*healtest.Pod {
	var out []*healtest.Pod
	for _, p := range w.Pods {
		if p.Master == m.NodeID {
			out = append(out, p)
		}
	}
	return out
}

// describe renders the world one pod a line, for a failure's report.
func describe(w *healtest.World) string {
	var b strings.Builder
	fmt.Fprintf(&b, "masters %d x %d replicas, hosts %v\n", w.Masters, w.Replicas, w.Hosts)
	for _, p := range w.Pods {
		fmt.Fprintf(&b, "  %s %s %s@%s master=%s slots=%d offset=%d link=%t sync=%t silent=%t term=%t ready=%t outdated=%t fresh=%t synced=%t\n",
			p.Name, p.NodeID.Short(), p.Addr, p.Host, p.Master.Short(), p.Slots.Count(), p.Offset, p.LinkUp, p.Syncing,
			p.Silent, p.Terminating, p.Ready, p.Outdated, p.Fresh, w.Synced[p.NodeID])
	}
	for _, n := range append(append([]*topology.Node{}, w.Gone...), w.Stale...) {
		fmt.Fprintf(&b, "  node %s %s slots=%d probe=%+v\n", n.ID.Short(), n.Addr, n.Slots.Count(), w.Probes[n.ID])
	}
	return b.String()
}

// stepKinds are the steps each kind of change may plan: one change per
// pass, whatever the plan holds.
var stepKinds = map[heal.Kind][]string{
	heal.Bootstrap:      {"SetConfigEpoch", "AssignSlots", "Meet", "Replicate"},
	heal.Failover:       {"Failover"},
	heal.Meet:           {"Meet"},
	heal.Forget:         {"Forget"},
	heal.Attach:         {"Replicate"},
	heal.Repair:         {"FixOpenSlot", "AssignSlots", "SetSlotOwner", "MigrateSlots"},
	heal.MoveReplica:    {"Replicate"},
	heal.RestartReplica: {},
	heal.Reshard:        {"MigrateSlots"},
	heal.RemoveShards:   {"ResetNode", "Forget"},
	heal.UpdateMember:   {},
	heal.Announce:       {"Announce"},
}

// decisionErrors returns the invariants decision d breaks on cluster c.
func decisionErrors(c *heal.Cluster, d heal.Decision) []string {
	var errs []string
	errs = append(errs, shapeErrors(c, d)...)
	errs = append(errs, failoverErrors(c, d)...)
	errs = append(errs, forgetErrors(c, d)...)
	errs = append(errs, slotErrors(c, d)...)
	errs = append(errs, memberErrors(c, d)...)
	if c.Spec.ReshardingPaused && (d.Kind == heal.Reshard || d.ReshardingDone && c.SlotsOnRetiring()) {
		errs = append(errs, fmt.Sprintf("a %s decision while the resharding is paused", d.Kind))
	}
	return errs
}

// shapeErrors checks the decision's form: a change has a CamelCase reason
// and a message, and plans only the steps of its kind; no change plans
// nothing.
func shapeErrors(_ *heal.Cluster, d heal.Decision) []string {
	var errs []string
	if d.IsNone() {
		if !d.Plan.Empty() || d.MemberOp != heal.NoMemberOp || d.Member != "" || len(d.Groups) > 0 || d.Forced {
			errs = append(errs, "no change, yet a plan, a member operation, groups or a forced failover")
		}
		return errs
	}
	if !camelCase(d.Reason) || d.Message == "" {
		errs = append(errs, fmt.Sprintf("reason %q, message %q: want a CamelCase reason and a message", d.Reason, d.Message))
	}
	allowed := map[string]bool{}
	for _, s := range stepKinds[d.Kind] {
		allowed[s] = true
	}
	for _, s := range d.Plan.Steps {
		if name := reflect.TypeOf(s).Name(); !allowed[name] {
			errs = append(errs, fmt.Sprintf("a %s decision plans a %s step", d.Kind, name))
		}
	}
	if d.Kind == heal.Failover && len(d.Plan.Steps) != 1 {
		errs = append(errs, fmt.Sprintf("a failover plans %d steps, want one", len(d.Plan.Steps)))
	}
	if d.Plan.Empty() && d.MemberOp == heal.NoMemberOp && len(d.Groups) == 0 {
		errs = append(errs, "a change with neither a plan, a member operation nor groups to remove")
	}
	return errs
}

// failoverErrors checks that a replica is promoted only when in sync with
// its answering master (graceful), or, forced, when its master owns slots,
// does not answer, was probed gone (or unreached with every replica's link
// closed), and the previous pass saw the replica in sync.
func failoverErrors(c *heal.Cluster, d heal.Decision) []string {
	var errs []string
	for _, s := range d.Plan.Steps {
		f, ok := s.(planner.Failover)
		if !ok {
			continue
		}
		rep := c.Member(f.Replica)
		if rep == nil || !rep.Live() || !rep.Self().IsReplica() {
			errs = append(errs, fmt.Sprintf("promotes %s, which is not a live replica", f.Replica.Short()))
			continue
		}
		mid := rep.Self().MasterID
		// A forced failover, or the handover of a master being deleted,
		// may promote a replica the spec no longer asks for (the shard is
		// down otherwise); a planned one never does.
		if m := c.Member(mid); c.Spec.Declared && !d.Forced && rep.Ordinal > c.Spec.ReplicasPerMaster && (m == nil || !m.Terminating) {
			errs = append(errs, fmt.Sprintf("gracefully promotes %s, beyond spec.replicasPerMaster (%d)", rep.Name, c.Spec.ReplicasPerMaster))
		}
		if !d.Forced {
			master := c.Member(mid)
			if f.Mode != planner.FailoverGraceful {
				errs = append(errs, fmt.Sprintf("a %s failover not marked forced", f.Mode))
			}
			if master == nil {
				errs = append(errs, fmt.Sprintf("graceful failover to %s whose master %s does not answer", rep.Name, mid.Short()))
				continue
			}
			if ok, why := planner.PromotionSafeWithin(master.State.Replication, planner.ReplicaStatus{ID: f.Replica, Replication: rep.State.Replication}, planner.CaughtUpLag); !ok {
				errs = append(errs, fmt.Sprintf("graceful failover to %s, which is not in sync: %s", rep.Name, why))
			}
			continue
		}
		if want := forcedMode(c); f.Mode != want {
			errs = append(errs, fmt.Sprintf("a forced decision plans a %s failover, want %s", f.Mode, want))
		}
		pr, probed := c.Probes[mid]
		gone := probed && (pr.Gone || (!pr.Reached && c.LinksClosed(mid)))
		_, answers := c.Snap.Nodes[mid]
		switch {
		case answers:
			errs = append(errs, fmt.Sprintf("forced failover to %s while its master %s answers", rep.Name, mid.Short()))
		case !c.Owns(mid):
			errs = append(errs, fmt.Sprintf("forced failover to %s from %s, which owns no slot", rep.Name, mid.Short()))
		case !gone:
			errs = append(errs, fmt.Sprintf("forced failover to %s while its master %s is not known gone (probe %+v, links closed %t)", rep.Name, mid.Short(), pr, c.LinksClosed(mid)))
		}
		if !c.Memory.LastInSync[f.Replica] {
			errs = append(errs, fmt.Sprintf("forced failover to %s, which the previous pass did not see in sync", rep.Name))
		}
	}
	return errs
}

// forcedMode is the mode a forced failover must use: TAKEOVER when the
// masters serving slots that are not known gone are no majority of them
// (no election can be won), FORCE otherwise.
func forcedMode(c *heal.Cluster) planner.FailoverMode {
	owners, gone := 0, 0
	for _, n := range c.Cons.View.Nodes {
		if n.Slots.IsEmpty() {
			continue
		}
		owners++
		if pr, probed := c.Probes[n.ID]; probed && (pr.Gone || (!pr.Reached && c.LinksClosed(n.ID))) {
			gone++
		}
	}
	if 2*(owners-gone) <= owners {
		return planner.FailoverTakeover
	}
	return planner.FailoverForce
}

// forgetErrors checks that no node owning slots by consensus is forgotten
// or reset, nor a member the spec still wants, nor the master of a replica
// that answers and was not reset earlier in the plan (Redis refuses to
// forget a replica's own master).
func forgetErrors(c *heal.Cluster, d heal.Decision) []string {
	var errs []string
	reset := map[topology.NodeID]bool{}
	for _, s := range d.Plan.Steps {
		var id topology.NodeID
		switch s := s.(type) {
		case planner.Forget:
			id = s.Node
			for _, r := range c.Members {
				if self := r.Self(); r.Live() && self.IsReplica() && self.MasterID == id && !reset[self.ID] {
					errs = append(errs, fmt.Sprintf("%s: %s replicates it", s, r.Name))
				}
			}
		case planner.ResetNode:
			id = s.Node
			reset[id] = true
		default:
			continue
		}
		if c.Owns(id) {
			errs = append(errs, fmt.Sprintf("%s: %s owns %d slots", s, id.Short(), c.OwnedBy(id).Count()))
		}
		if m := c.Member(id); m != nil && !c.Retiring(m) {
			errs = append(errs, fmt.Sprintf("%s: %s is member %s, which the spec wants", s, id.Short(), m.Name))
		}
	}
	return errs
}

// slotErrors plays the plan's slot effects on the consensus ownership: a
// slot is assigned only when no node owns it and migrated only from its
// owner, a slot owner is never made a replica, coverage never shrinks, and
// a bootstrap or repair leaves every slot owned.
func slotErrors(c *heal.Cluster, d heal.Decision) []string {
	var owners [topology.SlotCount]topology.NodeID
	if c.Cons != nil {
		owners = c.Cons.Owners
	}
	before := count(&owners)
	var errs []string
	for _, s := range d.Plan.Steps {
		switch s := s.(type) {
		case planner.AssignSlots:
			s.Slots.Each(func(slot int) bool {
				if owners[slot] != "" {
					errs = append(errs, fmt.Sprintf("%s: slot %d is owned by %s", s, slot, owners[slot].Short()))
					return false
				}
				owners[slot] = s.Node
				return true
			})
		case planner.MigrateSlots:
			s.Slots.Each(func(slot int) bool {
				if owners[slot] != s.Source {
					errs = append(errs, fmt.Sprintf("%s: slot %d is owned by %q", s, slot, owners[slot].Short()))
					return false
				}
				owners[slot] = s.Target
				return true
			})
		case planner.SetSlotOwner:
			s.Slots.Each(func(slot int) bool { owners[slot] = s.Owner; return true })
		case planner.FixOpenSlot:
			owners[s.Slot] = s.Owner
		case planner.Failover:
			if rep := c.Member(s.Replica); rep != nil && rep.Self() != nil {
				for slot, id := range owners {
					if id == rep.Self().MasterID {
						owners[slot] = s.Replica
					}
				}
			}
		case planner.Replicate:
			for _, id := range owners {
				if id == s.Replica {
					errs = append(errs, fmt.Sprintf("%s: %s owns slots", s, s.Replica.Short()))
					break
				}
			}
		}
	}
	after := count(&owners)
	if after < before {
		errs = append(errs, fmt.Sprintf("the plan leaves %d slots owned, %d were", after, before))
	}
	if (d.Kind == heal.Bootstrap || d.Kind == heal.Repair) && after != topology.SlotCount {
		errs = append(errs, fmt.Sprintf("a %s leaves %d slots unowned", d.Kind, topology.SlotCount-after))
	}
	return errs
}

// count returns how many slots have an owner.
func count(owners *[topology.SlotCount]topology.NodeID) int {
	n := 0
	for _, id := range owners {
		if id != "" {
			n++
		}
	}
	return n
}

// memberErrors checks the membership change: a member operation names one
// member, never one whose node the plan promotes, and never a master that
// owns slots while a replica could take them over; groups go only with a
// removal of shards.
func memberErrors(c *heal.Cluster, d heal.Decision) []string {
	var errs []string
	if (d.MemberOp == heal.NoMemberOp) != (d.Member == "") {
		errs = append(errs, fmt.Sprintf("member %q with operation %d", d.Member, d.MemberOp))
	}
	if len(d.Groups) > 0 && (d.Kind != heal.RemoveShards || d.MemberOp != heal.NoMemberOp) {
		errs = append(errs, fmt.Sprintf("groups %v with a %s decision (member op %d)", d.Groups, d.Kind, d.MemberOp))
	}
	if d.MemberOp == heal.NoMemberOp {
		return errs
	}
	var m *heal.Member
	for i := range c.Members {
		if c.Members[i].Name == d.Member {
			m = &c.Members[i]
		}
	}
	if m == nil {
		return append(errs, fmt.Sprintf("member operation on %q, which is no member", d.Member))
	}
	id := m.ID()
	for _, s := range d.Plan.Steps {
		if f, ok := s.(planner.Failover); ok && id != "" && f.Replica == id {
			errs = append(errs, fmt.Sprintf("deletes %s and promotes its node", m.Name))
		}
	}
	if id != "" && c.Owns(id) && len(heal.ReplicasOf(c.Members, id)) > 0 {
		errs = append(errs, fmt.Sprintf("deletes %s, which owns slots and has live replicas to hand them to", m.Name))
	}
	return errs
}
