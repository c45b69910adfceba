package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// Event reasons of storage expansion (docs/design/2026-12-05-storage-expansion.md).
const (
	// EventExpandingClaims: the operator asked data claims for
	// spec.storage.size; the note names them.
	EventExpandingClaims = "ExpandingClaims"
	// EventClaimsResized: every data claim reports spec.storage.size.
	EventClaimsResized = "ClaimsResized"
	// EventExpansionNotSupported: the claims' StorageClass does not allow
	// volume expansion; nothing was changed.
	EventExpansionNotSupported = "ExpansionNotSupported"
	// EventRecreatingStatefulSet: a StatefulSet was deleted with its pods
	// and claims orphaned, to be created again with new claim templates
	// (immutable in place); its pods are adopted, not restarted.
	EventRecreatingStatefulSet = "RecreatingStatefulSet"
)

// claimObs is what the storage phase knows of one data claim.
type claimObs struct {
	Name string
	// Class is the claim's StorageClass ("" when none).
	Class string
	Bound bool
	// Request is spec.resources.requests.storage, Capacity
	// status.capacity.storage.
	Request, Capacity resource.Quantity
	// Resize are the claim's resize conditions that are True (Resizing,
	// FileSystemResizePending, ControllerResizeError, NodeResizeError).
	Resize []corev1.PersistentVolumeClaimConditionType
}

// storageObs is the storage phase's observation.
type storageObs struct {
	// Want is spec.storage.size.
	Want resource.Quantity
	// Claims are the cluster's data claims, sorted by name.
	Claims []claimObs
	// Expandable tells, for each class of Claims that exists, whether it
	// sets allowVolumeExpansion; a class that does not exist is absent.
	Expandable map[string]bool
}

// storagePlan is what the storage phase does and reports.
type storagePlan struct {
	// Expand are the bound claims to ask for Want.
	Expand []string
	// FollowTemplates lets the StatefulSets' claim templates take Want
	// (recreating the StatefulSets); false keeps the live templates.
	FollowTemplates bool
	// Known is false while there is no claim to report on: StorageResized
	// is left as it was.
	Known   bool
	Resized bool
	Reason  redisv1alpha1.ConditionReason
	Message string
	// Class is the StorageClass that blocks expansion
	// (ReasonExpansionNotSupported only).
	Class string
}

// planStorage decides the storage phase's steps. It is pure. A claim that
// asks for less than spec.storage.size is expanded only when every such
// claim's StorageClass allows expansion: otherwise nothing changes, not
// even the StatefulSets' templates, and StorageResized says which class
// refuses.
func planStorage(o storageObs) storagePlan {
	var short []claimObs
	for _, c := range o.Claims {
		if c.Request.Cmp(o.Want) < 0 {
			short = append(short, c)
		}
	}
	for _, c := range short {
		if o.Expandable[c.Class] {
			continue
		}
		why := fmt.Sprintf("StorageClass %q does not allow volume expansion (allowVolumeExpansion is not true)", c.Class)
		switch _, found := o.Expandable[c.Class]; {
		case c.Class == "":
			why = "it has no StorageClass, so it cannot be expanded"
		case !found:
			why = fmt.Sprintf("StorageClass %q does not exist", c.Class)
		}
		return storagePlan{
			Known: true, Reason: redisv1alpha1.ReasonExpansionNotSupported, Class: c.Class,
			Message: fmt.Sprintf("spec.storage.size is %s but claim %s asks for %s and %s: no claim was changed and the StatefulSets keep their claim templates",
				o.Want.String(), c.Name, c.Request.String(), why),
		}
	}
	p := storagePlan{FollowTemplates: true, Known: len(o.Claims) > 0}
	if !p.Known {
		return p
	}
	for _, c := range short {
		if c.Bound {
			p.Expand = append(p.Expand, c.Name)
		}
	}
	var behind []claimObs
	for _, c := range o.Claims {
		if c.Capacity.Cmp(o.Want) < 0 || c.Request.Cmp(o.Want) < 0 {
			behind = append(behind, c)
		}
	}
	if len(behind) == 0 {
		p.Resized, p.Reason = true, redisv1alpha1.ReasonClaimsAtSize
		p.Message = fmt.Sprintf("all %d claims have %s", len(o.Claims), o.Want.String())
		return p
	}
	p.Reason = redisv1alpha1.ReasonClaimsResizing
	first := behind[0]
	for _, c := range behind {
		if failed := resizeFailure(c); failed != "" {
			p.Reason, first = redisv1alpha1.ReasonResizeFailed, c
			break
		}
	}
	p.Message = fmt.Sprintf("%d of %d claims have not reached %s yet; %s", len(behind), len(o.Claims), o.Want.String(), claimProgress(first))
	return p
}

// resizeFailure is the claim's resize error condition, or "".
func resizeFailure(c claimObs) corev1.PersistentVolumeClaimConditionType {
	for _, t := range c.Resize {
		if t == corev1.PersistentVolumeClaimControllerResizeError || t == corev1.PersistentVolumeClaimNodeResizeError {
			return t
		}
	}
	return ""
}

// claimProgress describes where one claim's resize stands.
func claimProgress(c claimObs) string {
	capacity := "no capacity yet"
	if !c.Capacity.IsZero() {
		capacity = "capacity " + c.Capacity.String()
	}
	switch {
	case !c.Bound:
		return fmt.Sprintf("claim %s is not bound yet (asks for %s)", c.Name, c.Request.String())
	case len(c.Resize) > 0:
		names := make([]string, len(c.Resize))
		for i, t := range c.Resize {
			names[i] = string(t)
		}
		return fmt.Sprintf("claim %s is %s (%s)", c.Name, strings.Join(names, ", "), capacity)
	default:
		return fmt.Sprintf("claim %s asks for %s (%s)", c.Name, c.Request.String(), capacity)
	}
}

// convergeStorage is the storage phase: it observes the data claims and
// their StorageClasses, asks the claims that have less than
// spec.storage.size for it (each a single patch, repeated harmlessly after
// a crash), and leaves the plan for the apply phase (the StatefulSets'
// claim templates) and the status.
func (r *Reconciler) convergeStorage(ctx context.Context, st *state) error {
	obs, err := r.observeStorage(ctx, st.rc)
	if err != nil {
		return err
	}
	plan := planStorage(obs)
	st.storage = &plan
	for _, name := range plan.Expand {
		patch := fmt.Appendf(nil, `{"spec":{"resources":{"requests":{"storage":%q}}}}`, obs.Want.String())
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: st.rc.Namespace, Name: name}}
		if err := r.Client.Patch(ctx, pvc, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("ask claim %s for %s: %w", name, obs.Want.String(), err)
		}
	}
	r.recordStoragePlan(st, plan, obs.Want)
	return nil
}

// recordStoragePlan emits the events of the storage phase: one for the
// claims it asked to grow, and one on each transition of StorageResized to
// ExpansionNotSupported or to True after a resize.
func (r *Reconciler) recordStoragePlan(st *state, plan storagePlan, want resource.Quantity) {
	if r.Recorder == nil {
		return
	}
	if len(plan.Expand) > 0 {
		r.Recorder.Eventf(st.rc, nil, corev1.EventTypeNormal, EventExpandingClaims, "ExpandClaims",
			"asked %d claims for %s: %s", len(plan.Expand), want.String(), strings.Join(plan.Expand, ", "))
	}
	if !plan.Known {
		return
	}
	prev := meta.FindStatusCondition(st.old.Conditions, redisv1alpha1.ConditionStorageResized.String())
	switch {
	case plan.Reason == redisv1alpha1.ReasonExpansionNotSupported && (prev == nil || prev.Reason != plan.Reason.String()):
		r.Recorder.Eventf(st.rc, nil, corev1.EventTypeWarning, EventExpansionNotSupported, "ExpandClaims", "%s", plan.Message)
	case plan.Resized && prev != nil && prev.Status != metav1.ConditionTrue:
		r.Recorder.Eventf(st.rc, nil, corev1.EventTypeNormal, EventClaimsResized, "ExpandClaims", "%s", plan.Message)
	}
}

// observeStorage lists the cluster's data claims (by name: data-<pod>) and
// reads their StorageClasses.
func (r *Reconciler) observeStorage(ctx context.Context, rc *redisv1alpha1.RedisCluster) (storageObs, error) {
	obs := storageObs{Want: rc.Spec.Storage.Size, Expandable: map[string]bool{}}
	pvcs := &corev1.PersistentVolumeClaimList{}
	if err := r.Client.List(ctx, pvcs, client.InNamespace(rc.Namespace), client.MatchingLabelsSelector{Selector: resources.ClusterSelector(rc)}); err != nil {
		return obs, fmt.Errorf("list claims: %w", err)
	}
	for i := range pvcs.Items {
		c := &pvcs.Items[i]
		if _, _, ok := resources.ParseClaimName(rc, c.Name); !ok || c.DeletionTimestamp != nil {
			continue
		}
		o := claimObs{
			Name: c.Name, Class: ptr.Deref(c.Spec.StorageClassName, ""), Bound: c.Status.Phase == corev1.ClaimBound,
			Request: c.Spec.Resources.Requests[corev1.ResourceStorage], Capacity: c.Status.Capacity[corev1.ResourceStorage],
		}
		for _, cond := range c.Status.Conditions {
			switch cond.Type {
			case corev1.PersistentVolumeClaimResizing, corev1.PersistentVolumeClaimFileSystemResizePending,
				corev1.PersistentVolumeClaimControllerResizeError, corev1.PersistentVolumeClaimNodeResizeError:
				if cond.Status == corev1.ConditionTrue {
					o.Resize = append(o.Resize, cond.Type)
				}
			}
		}
		obs.Claims = append(obs.Claims, o)
		if _, seen := obs.Expandable[o.Class]; seen || o.Class == "" {
			continue
		}
		sc := &storagev1.StorageClass{}
		err := r.Client.Get(ctx, types.NamespacedName{Name: o.Class}, sc)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return obs, fmt.Errorf("get StorageClass %s: %w", o.Class, err)
		default:
			obs.Expandable[o.Class] = ptr.Deref(sc.AllowVolumeExpansion, false)
		}
	}
	sort.Slice(obs.Claims, func(a, b int) bool { return obs.Claims[a].Name < obs.Claims[b].Name })
	return obs, nil
}

// claimTemplatesStale reports whether the live StatefulSet's data claim
// template asks for less storage than the desired one: the templates are
// immutable, so the StatefulSet is recreated (recreateStatefulSet).
func claimTemplatesStale(live, desired *appsv1.StatefulSet) bool {
	size := func(s *appsv1.StatefulSet) (resource.Quantity, bool) {
		for _, t := range s.Spec.VolumeClaimTemplates {
			if t.Name == resources.DataVolumeName {
				q, ok := t.Spec.Resources.Requests[corev1.ResourceStorage]
				return q, ok
			}
		}
		return resource.Quantity{}, false
	}
	l, lok := size(live)
	d, dok := size(desired)
	return lok && dok && l.Cmp(d) < 0
}

// replaceStatefulSet handles the StatefulSets the apply phase must not
// update in place; it reports whether it did (or must wait): one being
// deleted is left until it is gone (the next pass creates it), and one
// whose claim templates are stale is deleted to be recreated, when the
// storage plan lets the templates follow spec.storage.size.
func (r *Reconciler) replaceStatefulSet(ctx context.Context, st *state, desired, live client.Object) (bool, error) {
	sts, ok := live.(*appsv1.StatefulSet)
	switch {
	case !ok:
		return false, nil
	case sts.DeletionTimestamp != nil:
		return true, nil
	case st.storage != nil && st.storage.FollowTemplates && claimTemplatesStale(sts, desired.(*appsv1.StatefulSet)):
		return true, r.recreateStatefulSet(ctx, st, sts)
	}
	return false, nil
}

// recreateStatefulSet deletes live with its pods, claims and revisions
// orphaned (and a UID precondition); the next pass finds it gone and
// creates it with the new claim templates. The new StatefulSet adopts the
// pods: its selector is the same, and its pod template too, so its update
// revision is the pods' controller-revision-hash and, with the OnDelete
// strategy, no pod restarts. A crash after the delete leaves nothing
// half done: the next pass creates the StatefulSet.
func (r *Reconciler) recreateStatefulSet(ctx context.Context, st *state, live *appsv1.StatefulSet) error {
	uid := live.UID
	err := r.Client.Delete(ctx, live, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationOrphan))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete StatefulSet %s (orphaning its pods) to recreate it with new claim templates: %w", live.Name, err)
	}
	st.changed = append(st.changed, "StatefulSet "+live.Name+" (deleted, pods orphaned, to take new claim templates)")
	if r.Recorder != nil {
		r.Recorder.Eventf(st.rc, nil, corev1.EventTypeNormal, EventRecreatingStatefulSet, "RecreateStatefulSet",
			"deleted StatefulSet %s with its pods orphaned, to create it again with claim templates of %s; its pods are adopted, not restarted",
			live.Name, st.rc.Spec.Storage.Size.String())
	}
	return nil
}
