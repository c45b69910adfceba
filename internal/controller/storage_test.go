package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

func q(s string) resource.Quantity { return resource.MustParse(s) }

func TestPlanStorage(t *testing.T) {
	bound := func(name, class, req, capacity string, resize ...corev1.PersistentVolumeClaimConditionType) claimObs {
		c := claimObs{Name: name, Class: class, Bound: true, Request: q(req), Resize: resize}
		if capacity != "" {
			c.Capacity = q(capacity)
		}
		return c
	}
	for _, tc := range []struct {
		name       string
		obs        storageObs
		expand     []string
		follow     bool
		known, ok  bool
		reason     redisv1alpha1.ConditionReason
		msgHas     string
		blockClass string
	}{
		{name: "no claims yet: templates follow, nothing to report",
			obs:    storageObs{Want: q("1Gi")},
			follow: true},
		{name: "claims at size are reported resized",
			obs:    storageObs{Want: q("1Gi"), Claims: []claimObs{bound("data-a-0-0", "std", "1Gi", "1Gi")}, Expandable: map[string]bool{"std": false}},
			follow: true, known: true, ok: true, reason: redisv1alpha1.ReasonClaimsAtSize, msgHas: "all 1 claims have 1Gi"},
		{name: "a larger size asks every bound claim for it",
			obs: storageObs{Want: q("2Gi"), Claims: []claimObs{bound("data-a-0-0", "std", "1Gi", "1Gi"), bound("data-a-1-0", "std", "1Gi", "1Gi")},
				Expandable: map[string]bool{"std": true}},
			expand: []string{"data-a-0-0", "data-a-1-0"}, follow: true, known: true, reason: redisv1alpha1.ReasonClaimsResizing, msgHas: "2 of 2 claims have not reached 2Gi"},
		{name: "an unbound claim waits to bind before it is asked",
			obs: storageObs{Want: q("2Gi"), Claims: []claimObs{{Name: "data-a-0-0", Class: "std", Request: q("1Gi")}, bound("data-a-1-0", "std", "2Gi", "2Gi")},
				Expandable: map[string]bool{"std": true}},
			follow: true, known: true, reason: redisv1alpha1.ReasonClaimsResizing, msgHas: "claim data-a-0-0 is not bound yet"},
		{name: "claims asked but not grown are resizing, naming the claim's condition",
			obs: storageObs{Want: q("2Gi"), Claims: []claimObs{bound("data-a-0-0", "std", "2Gi", "1Gi", corev1.PersistentVolumeClaimFileSystemResizePending)},
				Expandable: map[string]bool{"std": true}},
			follow: true, known: true, reason: redisv1alpha1.ReasonClaimsResizing, msgHas: "claim data-a-0-0 is FileSystemResizePending (capacity 1Gi)"},
		{name: "a resizer error is reported as a failure",
			obs: storageObs{Want: q("2Gi"), Claims: []claimObs{bound("data-a-0-0", "std", "2Gi", "1Gi"), bound("data-a-1-0", "std", "2Gi", "1Gi", corev1.PersistentVolumeClaimControllerResizeError)},
				Expandable: map[string]bool{"std": true}},
			follow: true, known: true, reason: redisv1alpha1.ReasonResizeFailed, msgHas: "claim data-a-1-0 is ControllerResizeError"},
		{name: "a class without expansion changes nothing and is named",
			obs: storageObs{Want: q("2Gi"), Claims: []claimObs{bound("data-a-0-0", "fixed", "1Gi", "1Gi")},
				Expandable: map[string]bool{"fixed": false}},
			known: true, reason: redisv1alpha1.ReasonExpansionNotSupported, msgHas: `StorageClass "fixed" does not allow volume expansion`, blockClass: "fixed"},
		{name: "one claim of a class without expansion holds back all of them",
			obs: storageObs{Want: q("2Gi"), Claims: []claimObs{bound("data-a-0-0", "std", "1Gi", "1Gi"), bound("data-a-1-0", "fixed", "1Gi", "1Gi")},
				Expandable: map[string]bool{"std": true, "fixed": false}},
			known: true, reason: redisv1alpha1.ReasonExpansionNotSupported, msgHas: "claim data-a-1-0", blockClass: "fixed"},
		{name: "a class that is gone blocks expansion",
			obs:   storageObs{Want: q("2Gi"), Claims: []claimObs{bound("data-a-0-0", "gone", "1Gi", "1Gi")}, Expandable: map[string]bool{}},
			known: true, reason: redisv1alpha1.ReasonExpansionNotSupported, msgHas: `StorageClass "gone" does not exist`, blockClass: "gone"},
		{name: "a claim without a class blocks expansion",
			obs:   storageObs{Want: q("2Gi"), Claims: []claimObs{bound("data-a-0-0", "", "1Gi", "1Gi")}, Expandable: map[string]bool{}},
			known: true, reason: redisv1alpha1.ReasonExpansionNotSupported, msgHas: "it has no StorageClass"},
		{name: "a claim larger than the size is at size",
			obs:    storageObs{Want: q("1Gi"), Claims: []claimObs{bound("data-a-0-0", "fixed", "5Gi", "5Gi")}, Expandable: map[string]bool{"fixed": false}},
			follow: true, known: true, ok: true, reason: redisv1alpha1.ReasonClaimsAtSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planStorage(tc.obs)
			if !slices.Equal(p.Expand, tc.expand) {
				t.Errorf("Expand = %v, want %v", p.Expand, tc.expand)
			}
			if p.FollowTemplates != tc.follow || p.Known != tc.known || p.Resized != tc.ok || p.Reason != tc.reason || p.Class != tc.blockClass {
				t.Errorf("plan = %+v; want follow %v known %v resized %v reason %q class %q", p, tc.follow, tc.known, tc.ok, tc.reason, tc.blockClass)
			}
			if !strings.Contains(p.Message, tc.msgHas) {
				t.Errorf("message %q lacks %q", p.Message, tc.msgHas)
			}
		})
	}
}

func TestClaimTemplatesStaleOnlyWhenTheSizeGrows(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}}
	redisv1alpha1.SetDefaults(rc)
	render := func(size string) *appsv1.StatefulSet {
		c := rc.DeepCopy()
		c.Spec.Storage.Size = q(size)
		sts, err := resources.ShardStatefulSet(c, 0, resources.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return sts
	}
	for _, tc := range []struct {
		live, desired string
		want          bool
	}{{"1Gi", "2Gi", true}, {"1Gi", "1024Mi", false}, {"2Gi", "1Gi", false}} {
		if got := claimTemplatesStale(render(tc.live), render(tc.desired)); got != tc.want {
			t.Errorf("live %s, desired %s: stale = %v, want %v", tc.live, tc.desired, got, tc.want)
		}
	}
}

// storageClass creates a StorageClass (cluster-scoped) for one test.
func storageClass(t *testing.T, name string, expand bool) {
	t.Helper()
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/test"}
	if expand {
		sc.AllowVolumeExpansion = ptr.To(true)
	}
	if err := apiClient.Create(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = apiClient.Delete(context.Background(), sc) })
}

// boundClaims creates, as the StatefulSet and PersistentVolume
// controllers would (envtest runs neither), a bound data claim of size
// for every pod of rc, each with its volume.
func boundClaims(t *testing.T, rc *redisv1alpha1.RedisCluster, class, size string) []string {
	t.Helper()
	ctx := context.Background()
	var names []string
	for shard := range int(rc.Spec.Masters) {
		for ord := range int(rc.Spec.PodsPerShard()) {
			name := resources.PVCName(rc, shard, ord)
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Namespace: rc.Namespace, Name: name, Labels: resources.ShardLabels(rc, shard)},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: ptr.To(class),
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q(size)}},
					VolumeName:       "pv-" + rc.Namespace + "-" + name,
				},
			}
			if err := apiClient.Create(ctx, pvc); err != nil {
				t.Fatal(err)
			}
			pv := &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: pvc.Spec.VolumeName},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: q(size)},
					AccessModes:                   pvc.Spec.AccessModes,
					StorageClassName:              class,
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
					ClaimRef:                      &corev1.ObjectReference{Namespace: rc.Namespace, Name: name, UID: pvc.UID},
				},
			}
			if err := apiClient.Create(ctx, pv); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = apiClient.Delete(context.Background(), pv) })
			pvc.Status = corev1.PersistentVolumeClaimStatus{
				Phase: corev1.ClaimBound, AccessModes: pvc.Spec.AccessModes,
				Capacity: corev1.ResourceList{corev1.ResourceStorage: q(size)},
			}
			if err := apiClient.Status().Update(ctx, pvc); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
	}
	return names
}

func claimSizes(t *testing.T, ns string, names []string) (requests, capacities []string) {
	t.Helper()
	for _, n := range names {
		pvc := &corev1.PersistentVolumeClaim{}
		if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: n}, pvc); err != nil {
			t.Fatal(err)
		}
		r, c := pvc.Spec.Resources.Requests[corev1.ResourceStorage], pvc.Status.Capacity[corev1.ResourceStorage]
		requests, capacities = append(requests, r.String()), append(capacities, c.String())
	}
	return requests, capacities
}

func templateSize(t *testing.T, ns, name string) (string, *appsv1.StatefulSet) {
	t.Helper()
	sts := &appsv1.StatefulSet{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, sts); err != nil {
		t.Fatal(err)
	}
	s := sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
	return s.String(), sts
}

func drain(rec *events.FakeRecorder) []string {
	var got []string
	for len(rec.Events) > 0 {
		got = append(got, <-rec.Events)
	}
	return got
}

func hasEvent(got []string, want string) bool {
	return slices.ContainsFunc(got, func(e string) bool { return strings.Contains(e, want) })
}

func storageResized(t *testing.T, ns, name string) *metav1.Condition {
	t.Helper()
	return meta.FindStatusCondition(getCluster(t, ns, name).Status.Conditions, redisv1alpha1.ConditionStorageResized.String())
}

func growCluster(t *testing.T, ns, name, size string) {
	t.Helper()
	rc := getCluster(t, ns, name)
	rc.Spec.Storage.Size = q(size)
	if err := apiClient.Update(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
}

// A larger spec.storage.size asks every claim for it, recreates each
// StatefulSet with its pods orphaned (the next pass creates it with the
// new claim template), and StorageResized follows the claims' capacity.
func TestReconcileExpandsClaimsAndRecreatesStatefulSets(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := newNamespace(t)
	storageClass(t, ns+"-grow", true)
	rc := createCluster(t, ns, "grow", func(rc *redisv1alpha1.RedisCluster) {
		rc.Spec.Storage.StorageClassName = ptr.To(ns + "-grow")
	})
	rec := events.NewFakeRecorder(50)
	r := &Reconciler{Client: apiClient, APIReader: apiClient, Recorder: rec}
	pass := func() {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "grow"}}); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	claims := boundClaims(t, rc, ns+"-grow", "1Gi")
	pass()
	if c := storageResized(t, ns, "grow"); c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(redisv1alpha1.ReasonClaimsAtSize) {
		t.Fatalf("StorageResized = %+v, want True ClaimsAtSize", c)
	}
	_, before := templateSize(t, ns, "grow-0")
	drain(rec)

	growCluster(t, ns, "grow", "2Gi")
	pass()
	if req, _ := claimSizes(t, ns, claims); slices.ContainsFunc(req, func(s string) bool { return s != "2Gi" }) {
		t.Errorf("claim requests after the pass: %v, want all 2Gi", req)
	}
	for shard := range 3 {
		_, sts := templateSize(t, ns, resources.ShardName(rc, shard))
		if sts.DeletionTimestamp == nil || !slices.Contains(sts.Finalizers, metav1.FinalizerOrphanDependents) {
			t.Fatalf("StatefulSet %s: deletionTimestamp %v, finalizers %v; want deleted with its dependents orphaned", sts.Name, sts.DeletionTimestamp, sts.Finalizers)
		}
		if sts.UID != before.UID && shard == 0 {
			t.Fatalf("StatefulSet %s replaced within one pass", sts.Name)
		}
	}
	if c := storageResized(t, ns, "grow"); c == nil || c.Status != metav1.ConditionFalse || c.Reason != string(redisv1alpha1.ReasonClaimsResizing) {
		t.Errorf("StorageResized = %+v, want False ClaimsResizing", c)
	}
	got := drain(rec)
	if !hasEvent(got, fmt.Sprintf("Normal ExpandingClaims asked %d claims for 2Gi", len(claims))) || !hasEvent(got, "Normal RecreatingStatefulSet deleted StatefulSet grow-0 with its pods orphaned") {
		t.Errorf("events %q, want ExpandingClaims and RecreatingStatefulSet", got)
	}

	// A pass while the deletions are pending waits for them.
	pass()
	if _, sts := templateSize(t, ns, "grow-1"); sts.UID == "" || sts.DeletionTimestamp == nil {
		t.Fatalf("StatefulSet grow-1 written while being deleted: %+v", sts.ObjectMeta)
	}
	// envtest runs no garbage collector: do its part, which orphans the
	// dependents and then drops the finalizer.
	for shard := range 3 {
		_, sts := templateSize(t, ns, resources.ShardName(rc, shard))
		sts.Finalizers = nil
		if err := apiClient.Update(ctx, sts); err != nil {
			t.Fatal(err)
		}
		if err := apiClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: sts.Name}, sts); !apierrors.IsNotFound(err) {
			t.Fatalf("StatefulSet %s still there without finalizers: %v", sts.Name, err)
		}
	}
	pass()
	for shard := range 3 {
		size, sts := templateSize(t, ns, resources.ShardName(rc, shard))
		if size != "2Gi" || sts.DeletionTimestamp != nil {
			t.Errorf("StatefulSet %s recreated with a %s claim template (deleting: %v), want 2Gi", sts.Name, size, sts.DeletionTimestamp != nil)
		}
		if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			t.Errorf("StatefulSet %s retention %+v, want Retain by default", sts.Name, p)
		}
	}

	// The resizer reports the new capacity: StorageResized turns True.
	for _, n := range claims {
		pvc := &corev1.PersistentVolumeClaim{}
		if err := apiClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, pvc); err != nil {
			t.Fatal(err)
		}
		pvc.Status.Capacity[corev1.ResourceStorage] = q("2Gi")
		if err := apiClient.Status().Update(ctx, pvc); err != nil {
			t.Fatal(err)
		}
	}
	drain(rec)
	pass()
	if c := storageResized(t, ns, "grow"); c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(redisv1alpha1.ReasonClaimsAtSize) || c.ObservedGeneration != getCluster(t, ns, "grow").Generation {
		t.Errorf("StorageResized = %+v, want True ClaimsAtSize at the current generation", c)
	}
	if got := drain(rec); !hasEvent(got, fmt.Sprintf("Normal ClaimsResized all %d claims have 2Gi", len(claims))) {
		t.Errorf("events %q, want ClaimsResized", got)
	}
	// Settled: another pass recreates nothing.
	_, settled := templateSize(t, ns, "grow-2")
	pass()
	if _, sts := templateSize(t, ns, "grow-2"); sts.UID != settled.UID || sts.DeletionTimestamp != nil {
		t.Errorf("StatefulSet grow-2 deleted again after the resize settled")
	}
}

// A StorageClass without allowVolumeExpansion: a larger size changes no
// claim and no StatefulSet, and says so once (condition and event).
func TestReconcileLeavesClaimsOfAClassThatCannotExpand(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := newNamespace(t)
	class := ns + "-fixed"
	storageClass(t, class, false)
	rc := createCluster(t, ns, "fixed", func(rc *redisv1alpha1.RedisCluster) {
		rc.Spec.Storage.StorageClassName = ptr.To(class)
	})
	rec := events.NewFakeRecorder(50)
	r := &Reconciler{Client: apiClient, APIReader: apiClient, Recorder: rec}
	pass := func() {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "fixed"}}); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	claims := boundClaims(t, rc, class, "1Gi")
	pass()
	_, before := templateSize(t, ns, "fixed-0")
	drain(rec)

	growCluster(t, ns, "fixed", "2Gi")
	pass()
	pass()
	if req, _ := claimSizes(t, ns, claims); slices.ContainsFunc(req, func(s string) bool { return s != "1Gi" }) {
		t.Errorf("claim requests: %v, want all still 1Gi", req)
	}
	size, sts := templateSize(t, ns, "fixed-0")
	if size != "1Gi" || sts.UID != before.UID || sts.DeletionTimestamp != nil {
		t.Errorf("StatefulSet fixed-0: template %s, uid changed %v, deleting %v; want it left as it was", size, sts.UID != before.UID, sts.DeletionTimestamp != nil)
	}
	c := storageResized(t, ns, "fixed")
	want := `StorageClass "` + class + `" does not allow volume expansion`
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != string(redisv1alpha1.ReasonExpansionNotSupported) || !strings.Contains(c.Message, want) {
		t.Errorf("StorageResized = %+v, want False ExpansionNotSupported saying %q", c, want)
	}
	var warnings []string
	for _, e := range drain(rec) {
		if strings.Contains(e, "Warning ExpansionNotSupported") {
			warnings = append(warnings, e)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], want) {
		t.Errorf("warnings %q, want one ExpansionNotSupported naming the class (two passes)", warnings)
	}
}
