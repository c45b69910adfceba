package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"syscall"

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
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// kubeObs is what Kubernetes reports about a cluster in one pass.
type kubeObs struct {
	// pods are the cluster's pods (names parsed by resources.ParsePodName).
	pods []corev1.Pod
	// zones maps a Kubernetes node name to its zone label.
	zones map[string]string
	// hosts are the Ready, schedulable Kubernetes nodes.
	hosts []string
	// storage is the finding about the cluster's claims.
	storage storageFinding
	// retiringSets are the shards >= spec.masters that still have a
	// StatefulSet (after spec.masters was lowered), sorted.
	retiringSets []int
	// updateRevision is each shard StatefulSet's update revision, once the
	// StatefulSet controller has observed its latest generation.
	updateRevision map[int]string
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

// observeKube lists the cluster's pods and claims and the Kubernetes nodes.
func (r *Reconciler) observeKube(ctx context.Context, st *state) error {
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
	nodes := &corev1.NodeList{}
	if err := r.Client.List(ctx, nodes); err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	zoneKey := rc.Spec.Placement.ZoneTopologyKey
	if zoneKey == "" {
		zoneKey = redisv1alpha1.DefaultZoneTopologyKey
	}
	st.kube.zones = map[string]string{}
	for _, n := range nodes.Items {
		st.kube.zones[n.Name] = n.Labels[zoneKey]
		if !n.Spec.Unschedulable && nodeReady(&n) && matchesSelector(n.Labels, rc.Spec.Placement.NodeSelector) {
			st.kube.hosts = append(st.kube.hosts, n.Name)
		}
	}
	sort.Strings(st.kube.hosts)
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
		if s.Status.ObservedGeneration == s.Generation {
			st.kube.updateRevision[shard] = s.Status.UpdateRevision
		} else if shard < int(rc.Spec.Masters) {
			st.kube.setsPending = true
		}
	}
	sort.Ints(st.kube.retiringSets)
	f, err := r.observeClaims(ctx, rc)
	if err != nil {
		return err
	}
	st.kube.storage = f
	return nil
}

// observeClaims reports whether the cluster's data claims are bound, and
// names the StorageClass when a claim waits for one that does not exist.
func (r *Reconciler) observeClaims(ctx context.Context, rc *redisv1alpha1.RedisCluster) (storageFinding, error) {
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
		return storageFinding{
			Reason:  redisv1alpha1.ReasonClaimPending,
			Message: fmt.Sprintf("PersistentVolumeClaim %s is %s", pending.Name, pending.Status.Phase),
		}, nil
	}
	return storageFinding{Bound: true, Reason: redisv1alpha1.ReasonAllClaimsBound, Message: fmt.Sprintf("%d claims bound", len(items))}, nil
}

// observeRedis turns the pods into addresses and labels (the one
// Kubernetes→Redis seam), observes the Redis nodes, and probes masters
// that are silent while Kubernetes holds no live pod at their address.
func (r *Reconciler) observeRedis(ctx context.Context, st *state) error {
	rc := st.rc
	st.pool = redisadmin.NewPool(r.poolOptions(st))
	o := &observation{
		Masters:           int(rc.Spec.Masters),
		ReplicasPerMaster: int(rc.Spec.ReplicasPerMaster),
		Hosts:             st.kube.hosts,
		LastInSync:        map[topology.NodeID]bool{},
		Resharding:        st.old.Resharding != nil,
		RetiringSets:      st.kube.retiringSets,
		SetsPending:       st.kube.setsPending,
	}
	o.WasReady = meta.IsStatusConditionTrue(st.old.Conditions, redisv1alpha1.ConditionReady.String())
	o.StuckLinks = map[topology.NodeID]bool{}
	syncCond := meta.FindStatusCondition(st.old.Conditions, redisv1alpha1.ConditionReplicasInSync.String())
	longOutOfSync := syncCond != nil && syncCond.Status == metav1.ConditionFalse &&
		r.Clock.Since(syncCond.LastTransitionTime.Time) >= stuckLinkAfter
	for _, sh := range st.old.Shards {
		for _, rep := range sh.Replicas {
			if rep.InSync && rep.NodeID != "" {
				o.LastInSync[topology.NodeID(rep.NodeID)] = true
			}
			if !rep.LinkUp && rep.NodeID != "" && longOutOfSync {
				o.StuckLinks[topology.NodeID(rep.NodeID)] = true
			}
		}
	}
	labels := map[string]topology.Labels{}
	var seeds []string
	anyReady := false
	for i := range st.kube.pods {
		p := &st.kube.pods[i]
		shard, ordinal, _ := resources.ParsePodName(rc, p.Name)
		po := podObs{
			Name: p.Name, Shard: shard, Ordinal: ordinal,
			IP: p.Status.PodIP, Host: p.Spec.NodeName, Zone: st.kube.zones[p.Spec.NodeName],
			Ready: podReady(p), Terminating: p.DeletionTimestamp != nil,
			Age: r.Clock.Since(p.CreationTimestamp.Time),
		}
		if want := st.kube.updateRevision[shard]; want != "" {
			rev := p.Labels[appsv1.ControllerRevisionHashLabelKey]
			po.Outdated = rev != "" && rev != want
		}
		if po.IP != "" && p.Status.Phase == corev1.PodRunning {
			seeds = append(seeds, po.Addr())
			labels[po.Addr()] = topology.Labels{Host: po.Host, Zone: po.Zone}
		}
		anyReady = anyReady || po.Ready
		o.Pods = append(o.Pods, po)
	}
	sort.Slice(o.Pods, func(a, b int) bool {
		if o.Pods[a].Shard != o.Pods[b].Shard {
			return o.Pods[a].Shard < o.Pods[b].Shard
		}
		return o.Pods[a].Ordinal < o.Pods[b].Ordinal
	})
	st.obs = o
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
	byAddr := map[string]*topology.NodeState{}
	for _, ns := range snap.Nodes {
		byAddr[ns.Addr] = ns
	}
	for i := range o.Pods {
		if ns, ok := byAddr[o.Pods[i].Addr()]; ok {
			o.Pods[i].State = ns
		}
	}
	o.Cons = planner.Agree(snap)
	o.Probes = r.probeSilentMasters(ctx, st.pool, o)
	if o.bootstrapped() {
		slots := o.Cons.Covered().Complement().Union(redisadmin.OpenSlots(snap))
		holders, err := redisadmin.KeyHolders(ctx, st.pool, snap, slots)
		if err != nil {
			return fmt.Errorf("find the masters holding keys in open or uncovered slots: %w", err)
		}
		o.KeyHolders = holders
	}
	return nil
}

// probeSilentMasters probes the address of every master that owns slots by
// consensus, did not answer, and has no live (not terminating) pod at its
// address in Kubernetes. Masters with such a pod are not probed: Kubernetes
// does not know their process is gone, so Redis's own failover decides.
func (r *Reconciler) probeSilentMasters(ctx context.Context, pool *redisadmin.Pool, o *observation) map[topology.NodeID]probe {
	out := map[topology.NodeID]probe{}
	if o.Cons == nil {
		return out
	}
	livePodIP := map[string]bool{}
	for i := range o.Pods {
		if p := &o.Pods[i]; p.IP != "" && !p.Terminating {
			livePodIP[p.IP] = true
		}
	}
	type job struct {
		id   topology.NodeID
		addr string
	}
	var jobs []job
	for _, n := range o.Cons.View.Nodes {
		if _, answered := o.Snap.Nodes[n.ID]; answered || !n.IsMaster() || o.ownedBy(n.ID).IsEmpty() {
			continue
		}
		if n.Host() == "" || livePodIP[n.Host()] {
			continue
		}
		jobs = append(jobs, job{n.ID, n.Addr})
	}
	results := make([]probe, len(jobs))
	done := make(chan struct{}, len(jobs))
	for i, j := range jobs {
		go func() {
			results[i] = r.probeAddr(ctx, pool, j.addr, j.id)
			done <- struct{}{}
		}()
	}
	for range jobs {
		<-done
	}
	for i, j := range jobs {
		out[j.id] = results[i]
		if !results[i].Gone && !results[i].Reached {
			refreshReplicas(ctx, pool, o, j.id)
		}
		log.FromContext(ctx).Info("probed silent master", "node", j.id.Short(), "addr", j.addr, "gone", results[i].Gone, "detail", results[i].Detail, "replicaLinksClosed", o.linksClosed(j.id))
	}
	return out
}

// refreshReplicas reads again the replication state of the live replicas
// of master id, after a probe of the master went unanswered: a replica's
// link closes the moment the master's process exits, which may be while
// the probe waited, and the forced failover should not wait a pass more
// for it. A replica that does not answer now keeps what the pass saw.
func refreshReplicas(ctx context.Context, pool *redisadmin.Pool, o *observation, id topology.NodeID) {
	for i := range o.Pods {
		p := &o.Pods[i]
		if s := p.Self(); !p.live() || !s.IsReplica() || s.MasterID != id {
			continue
		}
		if r, err := pool.Node(p.Addr()).InfoReplication(ctx); err == nil {
			p.State.Replication = r
		}
	}
}

// probeAddr tells a gone process (connection refused, no host holds the
// address, another node answers there) from an unreachable one (timeout).
func (r *Reconciler) probeAddr(ctx context.Context, pool *redisadmin.Pool, addr string, want topology.NodeID) probe {
	pctx, cancel := context.WithTimeout(ctx, r.ProbeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(pctx, "tcp", addr)
	switch {
	case err == nil:
		_ = conn.Close()
		if pool != nil {
			id, err := pool.Node(addr).MyID(pctx)
			if err == nil && id != want {
				return probe{Gone: true, Detail: fmt.Sprintf("%s now answers as node %s", addr, id.Short())}
			}
		}
		return probe{Reached: true, Detail: fmt.Sprintf("%s accepts connections", addr)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return probe{Gone: true, Detail: fmt.Sprintf("%s refuses connections", addr)}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return probe{Gone: true, Detail: fmt.Sprintf("no host holds %s", addr)}
	default:
		return probe{Detail: fmt.Sprintf("%s: %v", addr, err)}
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
