package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// kubeObs is what Kubernetes reports about a cluster in one pass.
type kubeObs struct {
	// pods are the cluster's pods (names parsed by resources.ParsePodName).
	pods []corev1.Pod
	// zones maps a Kubernetes node name to its zone label.
	zones map[string]string
	// downHosts are the Kubernetes nodes whose Ready condition is False or
	// Unknown (the node lifecycle controller stopped hearing the kubelet).
	downHosts map[string]bool
	// hosts are the Ready, schedulable Kubernetes nodes.
	hosts []string
	// storage is the finding about the cluster's claims.
	storage storageFinding
	// podIssue is the first pod-level failure (none: the zero value).
	podIssue podFinding
	// observed is set once every finding above was gathered.
	observed bool
	// shortSets are the shards' StatefulSets with fewer pods than they
	// want (the StatefulSet controller may be unable to create them).
	shortSets []string
	// retiringSets are the shards >= spec.masters that still have a
	// StatefulSet (after spec.masters was lowered), sorted.
	retiringSets []int
	// updateRevision is each shard StatefulSet's update revision, once the
	// StatefulSet controller has observed its latest generation.
	updateRevision map[int]string
	// external are the per-pod external Services by name (pruned).
	external map[string]*corev1.Service
	// setsPending is set while the StatefulSet controller has not observed
	// the latest generation of some shard's StatefulSet.
	setsPending bool
}

// storageFinding is the StorageBound condition's input.
type storageFinding struct {
	Bound   bool
	Reason  redisv1alpha1.ConditionReason
	Message string
	// Class is the missing StorageClass (ReasonStorageClassNotFound only).
	Class string
}

// gatherKube lists the cluster's pods, StatefulSets and claims and the
// Kubernetes nodes.
func (r *Reconciler) gatherKube(ctx context.Context, st *state) error {
	rc := st.rc
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(rc.Namespace), client.MatchingLabelsSelector{Selector: resources.ClusterSelector(rc)}); err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	for _, p := range pods.Items {
		if _, _, ok := resources.ParsePodName(rc, p.Name); ok {
			st.kube.pods = append(st.kube.pods, p)
		}
	}
	if err := r.gatherNodes(ctx, st); err != nil {
		return err
	}
	if err := r.gatherSets(ctx, st); err != nil {
		return err
	}
	failures, err := r.createFailures(ctx, rc.Namespace, st.kube.shortSets)
	if err != nil {
		return err
	}
	st.kube.podIssue = podProblems(st.kube.pods, failures)
	f, err := r.observeClaims(ctx, rc, claimWaits(rc, st.kube.pods, failures))
	if err != nil {
		return err
	}
	st.kube.storage = f
	st.kube.observed = true
	return nil
}

// createFailureWindow is how recent a StatefulSet's FailedCreate event must
// be to explain a missing pod (the StatefulSet controller retries, and
// re-records the event, every few seconds up to a few minutes apart).
const createFailureWindow = 10 * time.Minute

// createFailures returns, for each StatefulSet in sets, the message of its
// latest recent FailedCreate event, if any. Events are read from the API
// server (not cached), and only for sets short of pods.
func (r *Reconciler) createFailures(ctx context.Context, ns string, sets []string) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range sets {
		evs := &corev1.EventList{}
		if err := r.APIReader.List(ctx, evs, client.InNamespace(ns), client.MatchingFields{
			"involvedObject.kind": "StatefulSet", "involvedObject.name": name, "reason": "FailedCreate",
		}); err != nil {
			return nil, fmt.Errorf("list FailedCreate events of StatefulSet %s: %w", name, err)
		}
		var latest time.Time
		for _, ev := range evs.Items {
			if t := eventTime(ev); t.After(latest) && r.Clock.Since(t) < createFailureWindow {
				latest, out[name] = t, ev.Message
			}
		}
	}
	return out, nil
}

// eventTime is when a core event was last seen.
func eventTime(ev corev1.Event) time.Time {
	t := ev.LastTimestamp.Time
	if ev.Series != nil && ev.Series.LastObservedTime.After(t) {
		t = ev.Series.LastObservedTime.Time
	}
	if ev.EventTime.After(t) {
		t = ev.EventTime.Time
	}
	return t
}

// gatherNodes records each Kubernetes node's zone and the nodes pods can be
// scheduled on (Ready, not cordoned, matching the placement's selector).
func (r *Reconciler) gatherNodes(ctx context.Context, st *state) error {
	nodes := &corev1.NodeList{}
	if err := r.Client.List(ctx, nodes); err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	placement := st.rc.Spec.Placement
	zoneKey := placement.ZoneTopologyKey
	if zoneKey == "" {
		zoneKey = redisv1alpha1.DefaultZoneTopologyKey
	}
	st.kube.zones = map[string]string{}
	st.kube.downHosts = map[string]bool{}
	for _, n := range nodes.Items {
		st.kube.zones[n.Name] = n.Labels[zoneKey]
		st.kube.downHosts[n.Name] = nodeDown(&n)
		if !n.Spec.Unschedulable && nodeReady(&n) && matchesSelector(n.Labels, placement.NodeSelector) {
			st.kube.hosts = append(st.kube.hosts, n.Name)
		}
	}
	sort.Strings(st.kube.hosts)
	return nil
}

// gatherSets records the shards' update revisions (once the StatefulSet
// controller has observed their latest generation) and the retiring
// shards that still have a StatefulSet.
func (r *Reconciler) gatherSets(ctx context.Context, st *state) error {
	rc := st.rc
	sets := &appsv1.StatefulSetList{}
	if err := r.Client.List(ctx, sets, client.InNamespace(rc.Namespace), client.MatchingLabelsSelector{Selector: resources.ClusterSelector(rc)}); err != nil {
		return fmt.Errorf("list StatefulSets: %w", err)
	}
	st.kube.updateRevision = map[int]string{}
	for _, s := range sets.Items {
		shard, ok := resources.ShardOf(s.Labels)
		if !ok || s.Name != resources.ShardName(rc, shard) {
			continue
		}
		if shard >= int(rc.Spec.Masters) {
			st.kube.retiringSets = append(st.kube.retiringSets, shard)
		}
		if want := s.Spec.Replicas; want != nil && s.Status.Replicas < *want && shard < int(rc.Spec.Masters) {
			st.kube.shortSets = append(st.kube.shortSets, s.Name)
		}
		switch {
		case s.Status.ObservedGeneration == s.Generation:
			st.kube.updateRevision[shard] = s.Status.UpdateRevision
		case shard < int(rc.Spec.Masters):
			st.kube.setsPending = true
		}
	}
	sort.Ints(st.kube.retiringSets)
	return nil
}

// observeClaims reports whether the cluster's data claims are bound, and
// names the StorageClass when a claim waits for one that does not exist.
func (r *Reconciler) observeClaims(ctx context.Context, rc *redisv1alpha1.RedisCluster, podWaits map[string]string) (storageFinding, error) {
	pvcs := &corev1.PersistentVolumeClaimList{}
	if err := r.Client.List(ctx, pvcs, client.InNamespace(rc.Namespace), client.MatchingLabelsSelector{Selector: resources.ClusterSelector(rc)}); err != nil {
		return storageFinding{}, fmt.Errorf("list claims: %w", err)
	}
	items := pvcs.Items
	sort.Slice(items, func(a, b int) bool { return items[a].Name < items[b].Name })
	var pending *corev1.PersistentVolumeClaim
	for i := range items {
		c := &items[i]
		if c.Status.Phase == corev1.ClaimBound {
			continue
		}
		if pending == nil {
			pending = c
		}
		name := c.Spec.StorageClassName
		if name == nil || *name == "" {
			continue
		}
		sc := &storagev1.StorageClass{}
		err := r.Client.Get(ctx, types.NamespacedName{Name: *name}, sc)
		if apierrors.IsNotFound(err) {
			// Worded as the PersistentVolume controller words it in the
			// claim's ProvisioningFailed event.
			return storageFinding{
				Reason:  redisv1alpha1.ReasonStorageClassNotFound,
				Message: fmt.Sprintf("PersistentVolumeClaim %s is %s: storageclass.storage.k8s.io %q not found", c.Name, c.Status.Phase, *name),
				Class:   *name,
			}, nil
		}
		if err != nil {
			return storageFinding{}, fmt.Errorf("get StorageClass %s: %w", *name, err)
		}
	}
	if pending != nil {
		msg := fmt.Sprintf("PersistentVolumeClaim %s is %s", pending.Name, pending.Status.Phase)
		if pod, ok := strings.CutPrefix(pending.Name, resources.DataVolumeName+"-"); ok && podWaits[pod] != "" {
			// With WaitForFirstConsumer the claim waits for its pod: the
			// storage is not the cause.
			msg += fmt.Sprintf(": waiting for its pod %s, which %s", pod, podWaits[pod])
		}
		return storageFinding{Reason: redisv1alpha1.ReasonClaimPending, Message: msg}, nil
	}
	return storageFinding{Bound: true, Reason: redisv1alpha1.ReasonAllClaimsBound, Message: fmt.Sprintf("%d claims bound", len(items))}, nil
}

// gatherRedis turns the pods into members (the one Kubernetes→Redis seam:
// pod IP:6379, spec.nodeName, the Node's zone label) and gathers what
// Redis reports in three rounds: every pod's node; then the masters that
// went silent while Kubernetes holds no live pod at their address
// (probeSilentMasters); then, once the cluster exists, the masters holding
// keys in open or uncovered slots. Nothing is derived here.
func (r *Reconciler) gatherRedis(ctx context.Context, st *state) error {
	rc := st.rc
	st.pool = redisadmin.NewPool(r.poolOptions(st))
	o := &st.obs
	*o = heal.Observation{
		Spec:           heal.Spec{Declared: true, Masters: int(rc.Spec.Masters), ReplicasPerMaster: int(rc.Spec.ReplicasPerMaster), ReshardingPaused: reshardingPaused(rc), RestoreShards: healRestoreShards(st.restore, st.old.Restore)},
		Platform:       heal.Platform{Recreates: true, AuthoritativeMembers: true},
		Hosts:          st.kube.hosts,
		RetiringGroups: st.kube.retiringSets,
		GroupsPending:  st.kube.setsPending,
		Memory:         r.memory(st.old),
		Now:            r.Clock.Now(),
	}
	var seeds []string
	o.Members, seeds = r.members(st)
	labels, anyReady := placementOf(o.Members)
	if len(seeds) == 0 {
		return nil
	}
	snap, err := redisadmin.ObserveNodes(ctx, st.pool, seeds, func(addr string) topology.Labels { return labels[addr] })
	if err != nil {
		if !anyReady && ctx.Err() == nil {
			return nil // redis-server is still starting everywhere
		}
		return fmt.Errorf("discover redis nodes: %w", err)
	}
	o.Snap = snap
	for i := range o.Members {
		if ns := snap.NodeAt(o.Members[i].Addr); ns != nil {
			o.Members[i].State = ns
		}
	}
	verifyEndpoints(ctx, st, dialTCP)
	o.Probes = r.probeSilentMasters(ctx, st.pool, o)
	slots := heal.SlotsToInspect(snap)
	if slots.IsEmpty() {
		return nil
	}
	holders, err := redisadmin.KeyHolders(ctx, st.pool, snap, slots)
	if err != nil {
		return fmt.Errorf("find the masters holding keys in open or uncovered slots: %w", err)
	}
	o.KeyHolders = holders
	return nil
}

// memory is what the previous pass recorded in status, as the rules'
// explicit input: the replicas seen in sync, the replicas whose link was
// down while ReplicasInSync has been False for heal.StuckLinkAfter, the
// Ready verdict, and whether a resharding runs.
func (r *Reconciler) memory(old redisv1alpha1.RedisClusterStatus) heal.Memory {
	m := heal.Memory{
		LastInSync: map[topology.NodeID]bool{},
		StuckLinks: map[topology.NodeID]bool{},
		WasReady:   meta.IsStatusConditionTrue(old.Conditions, redisv1alpha1.ConditionReady.String()),
		Resharding: old.Resharding != nil,
	}
	syncCond := meta.FindStatusCondition(old.Conditions, redisv1alpha1.ConditionReplicasInSync.String())
	longOutOfSync := syncCond != nil && syncCond.Status == metav1.ConditionFalse &&
		r.Clock.Since(syncCond.LastTransitionTime.Time) >= heal.StuckLinkAfter
	for _, sh := range old.Shards {
		for _, rep := range sh.Replicas {
			if rep.NodeID == "" {
				continue
			}
			id := topology.NodeID(rep.NodeID)
			m.LastInSync[id] = rep.InSync
			m.StuckLinks[id] = !rep.LinkUp && longOutOfSync
		}
	}
	return m
}

// members turns the cluster's pods into members, sorted by shard then
// ordinal, and returns the addresses of those whose process runs (the
// seeds to observe).
func (r *Reconciler) members(st *state) (out []heal.Member, seeds []string) {
	out = make([]heal.Member, 0, len(st.kube.pods))
	st.wishes = make(map[string]endpointWish, len(st.kube.pods))
	for i := range st.kube.pods {
		p := &st.kube.pods[i]
		shard, ordinal, _ := resources.ParsePodName(st.rc, p.Name)
		m := heal.Member{
			Name: p.Name, Group: shard, Ordinal: ordinal,
			Host: p.Spec.NodeName, Zone: st.kube.zones[p.Spec.NodeName],
			Ready: podReady(p), Terminating: p.DeletionTimestamp != nil,
			HostDown: st.kube.downHosts[p.Spec.NodeName],
			Age:      r.Clock.Since(p.CreationTimestamp.Time),
		}
		w := wantedEndpoint(st.rc, p, shard, ordinal, st.kube.external, r.clusterDomain())
		st.wishes[p.Name] = w
		m.Announce = w.endpoint
		if p.Status.PodIP != "" {
			m.Addr = net.JoinHostPort(p.Status.PodIP, strconv.Itoa(resources.RedisPort))
			if p.Status.Phase == corev1.PodRunning {
				seeds = append(seeds, m.Addr)
			}
		}
		if want := st.kube.updateRevision[shard]; want != "" {
			rev := p.Labels[appsv1.ControllerRevisionHashLabelKey]
			m.Outdated = rev != "" && rev != want
		}
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Group != out[b].Group {
			return out[a].Group < out[b].Group
		}
		return out[a].Ordinal < out[b].Ordinal
	})
	return out, seeds
}

// placementOf returns the members' placement labels by address, and
// whether any member is Ready.
func placementOf(members []heal.Member) (labels map[string]topology.Labels, anyReady bool) {
	labels = map[string]topology.Labels{}
	for _, m := range members {
		anyReady = anyReady || m.Ready
		if m.Addr != "" {
			labels[m.Addr] = topology.Labels{Host: m.Host, Zone: m.Zone}
		}
	}
	return labels, anyReady
}

// probeSilentMasters is the gather's second round: it probes the address of
// every master heal.ProbeTargets names, in parallel, and for each that
// neither refused nor accepted, reads its replicas' replication state again
// (a replica's link closes the moment the master's process exits, which
// may be while the probe waited; the forced failover should not wait a
// pass more for it). A replica that does not answer now keeps what the
// first round saw, and the probe's detail says so.
func (r *Reconciler) probeSilentMasters(ctx context.Context, pool *redisadmin.Pool, o *heal.Observation) map[topology.NodeID]heal.Probe {
	targets := heal.ProbeTargets(o.Members, o.Snap)
	out := make(map[topology.NodeID]heal.Probe, len(targets))
	if len(targets) == 0 {
		return out
	}
	results := make([]heal.Probe, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { results[i] = r.probeAddr(ctx, pool, t.Addr, t.ID) })
	}
	wg.Wait()
	for i, t := range targets {
		pr := results[i]
		if !pr.Gone && !pr.Reached {
			pr.Detail += rereadReplicas(ctx, pool, o, t.ID)
		}
		out[t.ID] = pr
		log.FromContext(ctx).Info("probed silent master", "node", t.ID.Short(), "addr", t.Addr, "gone", pr.Gone, "reached", pr.Reached, "detail", pr.Detail)
	}
	return out
}

// rereadReplicas reads the replication state of master id's live replicas
// again into the snapshot, and returns a note naming those that did not
// answer ("" when all did).
func rereadReplicas(ctx context.Context, pool *redisadmin.Pool, o *heal.Observation, id topology.NodeID) string {
	var failed []string
	for _, m := range heal.ReplicasOf(o.Members, id) {
		rep, err := pool.Node(m.Addr).InfoReplication(ctx)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", m.Name, err))
			continue
		}
		m.State.Replication = rep
	}
	if len(failed) == 0 {
		return ""
	}
	return "; replicas not read again: " + strings.Join(failed, ", ")
}

// probeAddr tells a gone process (connection refused, no host holds the
// address, another node answers there) from an unreachable one (timeout).
func (r *Reconciler) probeAddr(ctx context.Context, pool *redisadmin.Pool, addr string, want topology.NodeID) heal.Probe {
	pctx, cancel := context.WithTimeout(ctx, r.ProbeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(pctx, "tcp", addr)
	switch {
	case err == nil:
		_ = conn.Close()
		id, err := pool.Node(addr).MyID(pctx)
		if err == nil && id != want {
			return heal.Probe{Gone: true, Detail: fmt.Sprintf("%s now answers as node %s", addr, id.Short())}
		}
		return heal.Probe{Reached: true, Detail: fmt.Sprintf("%s accepts connections", addr)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return heal.Probe{Gone: true, Detail: fmt.Sprintf("%s refuses connections", addr)}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return heal.Probe{Gone: true, Detail: fmt.Sprintf("no host holds %s", addr)}
	default:
		return heal.Probe{Detail: fmt.Sprintf("%s: %v", addr, err)}
	}
}

// podReady reports the pod's Ready condition.
func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeDown reports whether the Kubernetes node's Ready condition is False
// or Unknown: a node that never reported (no condition) is not down.
func nodeDown(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status != corev1.ConditionTrue
		}
	}
	return false
}

// nodeReady reports the Kubernetes node's Ready condition.
func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// matchesSelector reports whether labels carry every key/value of sel.
func matchesSelector(labels, sel map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
