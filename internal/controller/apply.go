package controller

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/tlsswitch"
)

// applyObjects renders the cluster's objects with the pure builders and
// writes those whose spec-hash annotation differs from the live object's.
func (r *Reconciler) applyObjects(ctx context.Context, st *state) error {
	rc := st.rc
	desired, err := desiredObjects(st.renderCluster(), resources.Options{ExporterImage: r.exporterImage(), PasswordRotation: st.applied.Rotation, KeepPods: keepSurplusMasters(rc, st.old), RestoreShards: r.shardRestoreOption(st.restore),
		TLSFilesMounted: st.tls != nil && st.tls.sw.Render == tlsswitch.ModeFilesMounted})
	if err != nil {
		return err
	}
	live, err := r.readAllLive(ctx, st, desired)
	if err != nil || st.invalid != "" {
		return err
	}
	external, err := r.writeObjects(ctx, st, desired, live)
	if err != nil {
		return err
	}
	if err := r.applyAnnounce(ctx, st, external); err != nil || st.invalid != "" {
		return err
	}
	if !rc.Spec.PodDisruptionBudget.IsEnabled() {
		if err := r.deleteBudgets(ctx, st); err != nil {
			return err
		}
	}
	if len(st.changed) > 0 && r.Recorder != nil {
		r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, EventObjectsUpdated, "Apply", "wrote %s", strings.Join(st.changed, ", "))
	}
	return nil
}

// readAllLive reads the live object of every desired one (nil where none
// exists) before anything is written: a name another owner holds stops the
// pass (st.invalid, NameConflict), so a conflict never leaves the cluster
// half rendered.
func (r *Reconciler) readAllLive(ctx context.Context, st *state, desired []client.Object) ([]client.Object, error) {
	live := make([]client.Object, len(desired))
	for i, obj := range desired {
		var err error
		if live[i], err = r.readLive(ctx, obj); err != nil {
			return nil, err
		}
		if live[i] == nil {
			continue
		}
		if conflict := checkControlled(live[i], obj); conflict != nil {
			st.invalid, st.invalidReason = conflict.Error(), redisv1alpha1.ReasonNameConflict
			return nil, nil
		}
	}
	return live, nil
}

// writeObjects writes the desired objects that differ from their live
// ones and returns the external Services as this pass leaves them.
func (r *Reconciler) writeObjects(ctx context.Context, st *state, desired, live []client.Object) (map[string]*corev1.Service, error) {
	external := map[string]*corev1.Service{}
	for i, obj := range desired {
		if done, err := r.replaceStatefulSet(ctx, st, obj, live[i]); err != nil || done {
			if err != nil {
				return nil, err
			}
			continue
		}
		changed, err := r.apply(ctx, obj, live[i])
		if err != nil {
			return nil, err
		}
		if changed {
			st.changed = append(st.changed, fmt.Sprintf("%T %s", obj, obj.GetName()))
		}
		if svc, ok := current(obj, live[i], changed).(*corev1.Service); ok && svc.Labels[resources.LabelExternal] != "" {
			external[svc.Name] = svc
		}
	}
	return external, nil
}

// desiredObjects renders the ConfigMap, the Services, and each shard's
// StatefulSet and (when enabled) PodDisruptionBudget.
func desiredObjects(rc *redisv1alpha1.RedisCluster, o resources.Options) ([]client.Object, error) {
	cm, err := resources.ConfigMap(rc)
	if err != nil {
		return nil, fmt.Errorf("render ConfigMap: %w", err)
	}
	headless, err := resources.HeadlessService(rc)
	if err != nil {
		return nil, fmt.Errorf("render headless Service: %w", err)
	}
	access, err := resources.AccessService(rc)
	if err != nil {
		return nil, fmt.Errorf("render access Service: %w", err)
	}
	desired := []client.Object{cm, headless, access}
	// The external Services come before the StatefulSets: a pod's node
	// ports or load balancer exist before it starts.
	for shard := range int(rc.Spec.Masters) {
		if rc.Spec.ExternalAccess == nil {
			break
		}
		svcs, err := resources.ExternalServices(rc, shard)
		if err != nil {
			return nil, fmt.Errorf("render external Services of shard %d: %w", shard, err)
		}
		for _, svc := range svcs {
			desired = append(desired, svc)
		}
	}
	for shard := range int(rc.Spec.Masters) {
		sts, err := resources.ShardStatefulSet(rc, shard, o)
		if err != nil {
			return nil, fmt.Errorf("render StatefulSet of shard %d: %w", shard, err)
		}
		desired = append(desired, sts)
		if !rc.Spec.PodDisruptionBudget.IsEnabled() {
			continue
		}
		pdb, err := resources.PodDisruptionBudget(rc, shard)
		if err != nil {
			return nil, fmt.Errorf("render PodDisruptionBudget of shard %d: %w", shard, err)
		}
		desired = append(desired, pdb)
	}
	return desired, nil
}

// current is obj as this pass left it: as written, or as it was.
func current(desired, live client.Object, written bool) client.Object {
	if written || live == nil {
		return desired
	}
	return live
}

// deleteBudgets deletes the shards' PodDisruptionBudgets (turned off).
func (r *Reconciler) deleteBudgets(ctx context.Context, st *state) error {
	for shard := range int(st.rc.Spec.Masters) {
		pdb := &policyv1.PodDisruptionBudget{}
		pdb.Namespace, pdb.Name = st.rc.Namespace, resources.PodDisruptionBudgetName(st.rc, shard)
		err := r.Client.Delete(ctx, pdb)
		switch {
		case err == nil:
			st.changed = append(st.changed, "PodDisruptionBudget "+pdb.Name+" (deleted)")
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("delete PodDisruptionBudget %s: %w", pdb.Name, err)
		}
	}
	return nil
}

// nameConflict is an object under a name the cluster needs that another
// controller (or nobody) controls: the operator never writes it.
type nameConflict struct {
	kind, name string
	// owner is the live object's controller reference; nil when none.
	owner *metav1.OwnerReference
}

func (e *nameConflict) Error() string {
	by := "no controller (created by someone else)"
	if e.owner != nil {
		by = fmt.Sprintf("%s %s (uid %s)", e.owner.Kind, e.owner.Name, e.owner.UID)
	}
	return fmt.Sprintf("%s %s already exists and is controlled by %s, not by this RedisCluster: the operator does not write it; rename or delete one of them", e.kind, e.name, by)
}

// checkControlled returns a *nameConflict when live is not controlled by
// the RedisCluster that controls desired, nil when it is.
func checkControlled(live, desired client.Object) *nameConflict {
	want := metav1.GetControllerOfNoCopy(desired)
	got := metav1.GetControllerOfNoCopy(live)
	if want != nil && got != nil && got.UID == want.UID {
		return nil
	}
	kind := reflect.TypeOf(desired).Elem().Name()
	return &nameConflict{kind: kind, name: desired.GetName(), owner: got}
}

// readLive returns the live object under desired's name, or nil when
// there is none. The manager's cache holds only objects with the cluster's
// labels, so a name the cache does not know is asked of the API server:
// an object someone else made under it is found before anything is
// written.
func (r *Reconciler) readLive(ctx context.Context, desired client.Object) (client.Object, error) {
	key := client.ObjectKeyFromObject(desired)
	for _, reader := range []client.Reader{r.Client, r.APIReader} {
		live := reflect.New(reflect.TypeOf(desired).Elem()).Interface().(client.Object)
		err := reader.Get(ctx, key, live)
		switch {
		case err == nil:
			return live, nil
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("get %T %s: %w", desired, desired.GetName(), err)
		}
	}
	return nil, nil
}

// apply creates desired when live is nil, or updates live when its spec
// hash differs. It reports whether it wrote. The caller has checked that
// this cluster controls live (checkControlled).
func (r *Reconciler) apply(ctx context.Context, desired, live client.Object) (bool, error) {
	if live == nil {
		if err := r.Client.Create(ctx, desired); err != nil {
			return false, fmt.Errorf("create %T %s: %w", desired, desired.GetName(), err)
		}
		return true, nil
	}
	if !resources.NeedsUpdate(live, desired) {
		return false, nil
	}
	if immutableChanged(live, desired) {
		// Delete with a UID precondition; the next pass creates it anew.
		uid := live.GetUID()
		if err := r.Client.Delete(ctx, live, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("delete %T %s to recreate it: %w", live, live.GetName(), err)
		}
		return true, nil
	}
	keepServerFields(live, desired)
	desired.SetResourceVersion(live.GetResourceVersion())
	if err := r.Client.Update(ctx, desired); err != nil {
		return false, fmt.Errorf("update %T %s: %w", desired, desired.GetName(), err)
	}
	return true, nil
}

// immutableChanged reports whether desired changes a field of live that the
// API server does not let change in place: a Service's load balancer class
// (spec.externalAccess.loadBalancer.loadBalancerClass edited). Such an
// object is deleted and created again.
func immutableChanged(live, desired client.Object) bool {
	l, ok := live.(*corev1.Service)
	if !ok {
		return false
	}
	d := desired.(*corev1.Service)
	return l.Spec.Type == corev1.ServiceTypeLoadBalancer && d.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		!ptr.Equal(l.Spec.LoadBalancerClass, d.Spec.LoadBalancerClass)
}

// keepServerFields copies into desired the fields the API server allocated
// or that cannot change, so that an update does not try to change them.
func keepServerFields(live, desired client.Object) {
	switch d := desired.(type) {
	case *corev1.Service:
		l := live.(*corev1.Service)
		d.Spec.ClusterIP, d.Spec.ClusterIPs = l.Spec.ClusterIP, l.Spec.ClusterIPs
		d.Spec.IPFamilies, d.Spec.IPFamilyPolicy = l.Spec.IPFamilies, l.Spec.IPFamilyPolicy
		for i := range d.Spec.Ports {
			if d.Spec.Ports[i].NodePort != 0 {
				continue
			}
			for _, lp := range l.Spec.Ports {
				if lp.Name == d.Spec.Ports[i].Name {
					d.Spec.Ports[i].NodePort = lp.NodePort
				}
			}
		}
	case *appsv1.StatefulSet:
		// Claim templates and the selector are immutable. A larger
		// spec.storage.size recreates the StatefulSet before this point
		// (claimTemplatesStale); here the live templates stay, which is
		// what a size the StorageClass cannot expand to, or a class
		// change stored under an older CRD, leaves in place.
		l := live.(*appsv1.StatefulSet)
		d.Spec.VolumeClaimTemplates = l.Spec.VolumeClaimTemplates
		d.Spec.Selector = l.Spec.Selector
	}
}
