package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ctrl-"}}
	if err := apiClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func createCluster(t *testing.T, ns, name string, mutate func(*redisv1alpha1.RedisCluster)) *redisv1alpha1.RedisCluster {
	t.Helper()
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	// A Go client sends a zero storage size that YAML would leave out (and
	// the CRD default fill in); default it here as the API server would.
	redisv1alpha1.SetDefaults(rc)
	if mutate != nil {
		mutate(rc)
	}
	if err := apiClient.Create(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	return rc
}

func getCluster(t *testing.T, ns, name string) *redisv1alpha1.RedisCluster {
	t.Helper()
	rc := &redisv1alpha1.RedisCluster{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, rc); err != nil {
		t.Fatal(err)
	}
	return rc
}

// versions returns the resourceVersion of every object the operator owns
// for rc, plus rc's own.
func versions(t *testing.T, ns, name string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	sel := client.MatchingLabels{resources.LabelInstance: name}
	var cms corev1.ConfigMapList
	var svcs corev1.ServiceList
	var stss appsv1.StatefulSetList
	var pdbs policyv1.PodDisruptionBudgetList
	for _, l := range []client.ObjectList{&cms, &svcs, &stss, &pdbs} {
		if err := apiClient.List(ctx, l, client.InNamespace(ns), sel); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range cms.Items {
		out["ConfigMap/"+o.Name] = o.ResourceVersion
	}
	for _, o := range svcs.Items {
		out["Service/"+o.Name] = o.ResourceVersion
	}
	for _, o := range stss.Items {
		out["StatefulSet/"+o.Name] = o.ResourceVersion
	}
	for _, o := range pdbs.Items {
		out["PodDisruptionBudget/"+o.Name] = o.ResourceVersion
	}
	out["RedisCluster/"+name] = getCluster(t, ns, name).ResourceVersion
	return out
}

func TestReconcileRendersObjectsAndStatus(t *testing.T) {
	needAPIServer(t)
	ns := newNamespace(t)
	createCluster(t, ns, "app", nil)

	res, err := reconcileOnce(t, ns, "app")
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter == 0 {
		t.Errorf("result %+v: a cluster without pods must be observed again", res)
	}
	v := versions(t, ns, "app")
	for _, want := range []string{"ConfigMap/app-config", "Service/app", "Service/app-nodes",
		"StatefulSet/app-0", "StatefulSet/app-1", "StatefulSet/app-2",
		"PodDisruptionBudget/app-0", "PodDisruptionBudget/app-1", "PodDisruptionBudget/app-2"} {
		if v[want] == "" {
			t.Errorf("%s was not created (have %v)", want, v)
		}
	}
	sts := &appsv1.StatefulSet{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "app-1"}, sts); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(sts); ref == nil || ref.Kind != "RedisCluster" || ref.Name != "app" {
		t.Errorf("StatefulSet app-1 controller = %+v, want RedisCluster app", ref)
	}
	if sts.Annotations[resources.AnnotationSpecHash] == "" {
		t.Error("StatefulSet app-1 has no spec-hash annotation")
	}

	rc := getCluster(t, ns, "app")
	if rc.Status.ObservedGeneration != rc.Generation {
		t.Errorf("status.observedGeneration %d, generation %d", rc.Status.ObservedGeneration, rc.Generation)
	}
	for ct, reason := range map[redisv1alpha1.ConditionType]redisv1alpha1.ConditionReason{
		redisv1alpha1.ConditionReady:       redisv1alpha1.ReasonPodsNotReady,
		redisv1alpha1.ConditionProgressing: redisv1alpha1.ReasonCreatingObjects,
		redisv1alpha1.ConditionDegraded:    redisv1alpha1.ReasonHealthy,
	} {
		c := meta.FindStatusCondition(rc.Status.Conditions, string(ct))
		if c == nil || c.Reason != string(reason) || c.ObservedGeneration != rc.Generation {
			t.Errorf("%s = %+v, want reason %s at generation %d", ct, c, reason, rc.Generation)
		}
	}

	t.Run("a second pass writes nothing", func(t *testing.T) {
		// The first pass's Progressing=CreatingObjects settles on the
		// second; from the third on nothing may change.
		if _, err := reconcileOnce(t, ns, "app"); err != nil {
			t.Fatal(err)
		}
		before := versions(t, ns, "app")
		if _, err := reconcileOnce(t, ns, "app"); err != nil {
			t.Fatal(err)
		}
		after := versions(t, ns, "app")
		for k, rv := range before {
			if after[k] != rv {
				t.Errorf("%s written again: resourceVersion %s -> %s", k, rv, after[k])
			}
		}
	})

	t.Run("a spec change rewrites what it changes and only that", func(t *testing.T) {
		rc := getCluster(t, ns, "app")
		rc.Spec.Config = map[string]redisv1alpha1.ConfigValue{"maxmemory": "100mb"}
		rc.Spec.PodDisruptionBudget.Enabled = ptr.To(false)
		if err := apiClient.Update(context.Background(), rc); err != nil {
			t.Fatal(err)
		}
		before := versions(t, ns, "app")
		if _, err := reconcileOnce(t, ns, "app"); err != nil {
			t.Fatal(err)
		}
		after := versions(t, ns, "app")
		for _, k := range []string{"ConfigMap/app-config", "StatefulSet/app-0", "StatefulSet/app-2"} {
			if after[k] == before[k] {
				t.Errorf("%s not updated after a config change", k)
			}
		}
		for _, k := range []string{"Service/app", "Service/app-nodes"} {
			if after[k] != before[k] {
				t.Errorf("%s rewritten although it did not change", k)
			}
		}
		for i := range 3 {
			if k := fmt.Sprintf("PodDisruptionBudget/app-%d", i); after[k] != "" {
				t.Errorf("%s kept although spec.podDisruptionBudget.enabled is false", k)
			}
		}
		cm := &corev1.ConfigMap{}
		if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "app-config"}, cm); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(cm.Data[resources.ConfigKey], "maxmemory 100mb") {
			t.Errorf("redis.conf lacks the override:\n%s", cm.Data[resources.ConfigKey])
		}
	})
}

func TestReconcileReportsMissingStorageClass(t *testing.T) {
	needAPIServer(t)
	ns := newNamespace(t)
	rc := createCluster(t, ns, "nosc", func(rc *redisv1alpha1.RedisCluster) {
		rc.Spec.Storage.StorageClassName = ptr.To("nfs")
	})
	// envtest runs no StatefulSet controller: create the claim it would.
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: resources.PVCName(rc, 0, 0), Labels: resources.ShardLabels(rc, 0)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("nfs"),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := apiClient.Create(context.Background(), pvc); err != nil {
		t.Fatal(err)
	}
	if _, err := reconcileOnce(t, ns, "nosc"); err != nil {
		t.Fatal(err)
	}
	c := meta.FindStatusCondition(getCluster(t, ns, "nosc").Status.Conditions, string(redisv1alpha1.ConditionStorageBound))
	want := `storageclass.storage.k8s.io "nfs" not found`
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != string(redisv1alpha1.ReasonStorageClassNotFound) || !strings.Contains(c.Message, want) {
		t.Errorf("StorageBound = %+v, want False/StorageClassNotFound naming %q", c, want)
	}
}

func TestReconcileRefusesAPasswordSecretItCannotUse(t *testing.T) {
	needAPIServer(t)
	for _, tc := range []struct {
		name string
		data map[string]string // nil: no Secret
		ref  redisv1alpha1.PasswordSecretRef
		want string
	}{
		{"a missing Secret is named", nil, redisv1alpha1.PasswordSecretRef{Name: "nope"}, `spec.passwordSecret.name: Secret "nope" not found`},
		{"a missing key is named", map[string]string{"other": "x"}, redisv1alpha1.PasswordSecretRef{Name: "pw"}, `Secret "pw" has no key "password"`},
		{"an empty password is refused", map[string]string{"password": ""}, redisv1alpha1.PasswordSecretRef{Name: "pw"}, "an empty password turns authentication off"},
		{"a whitespace-only password is refused", map[string]string{"pass": " \t\n"}, redisv1alpha1.PasswordSecretRef{Name: "pw", Key: "pass"}, `key "pass" of Secret "pw" is empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			if tc.data != nil {
				sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: tc.ref.Name, Namespace: ns}, StringData: tc.data}
				if err := apiClient.Create(context.Background(), sec); err != nil {
					t.Fatal(err)
				}
			}
			createCluster(t, ns, "pw", func(rc *redisv1alpha1.RedisCluster) {
				ref := tc.ref
				rc.Spec.PasswordSecret = &ref
			})
			res, err := reconcileOnce(t, ns, "pw")
			if err != nil {
				t.Fatal(err)
			}
			if res.RequeueAfter != RequeueInvalid {
				t.Errorf("requeue after %v, want %v (the Secret may be fixed)", res.RequeueAfter, RequeueInvalid)
			}
			c := meta.FindStatusCondition(getCluster(t, ns, "pw").Status.Conditions, string(redisv1alpha1.ConditionDegraded))
			if c == nil || c.Reason != string(redisv1alpha1.ReasonInvalidSpec) || !strings.Contains(c.Message, tc.want) {
				t.Errorf("Degraded = %+v, want InvalidSpec saying %q", c, tc.want)
			}
			sts := &appsv1.StatefulSet{}
			err = apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "pw-0"}, sts)
			if !apierrors.IsNotFound(err) {
				t.Errorf("StatefulSet pw-0 created without a usable password (err %v)", err)
			}
		})
	}
}

func TestReconcileOfDeletedClusterIsANoOp(t *testing.T) {
	needAPIServer(t)
	res, err := reconcileOnce(t, "default", "never-existed")
	if err != nil || res.RequeueAfter != 0 {
		t.Errorf("Reconcile of a missing cluster = %+v, %v; want nothing", res, err)
	}

}

func TestReconcileNeverWritesAnObjectItDoesNotControl(t *testing.T) {
	needAPIServer(t)
	for _, tc := range []struct {
		name string
		// owner is the live Service's controller; nil for none.
		owner *metav1.OwnerReference
		want  string
	}{
		{"a Service somebody created under the access name", nil, "Service nc already exists and is controlled by no controller"},
		{"a Service another RedisCluster controls", &metav1.OwnerReference{
			APIVersion: redisv1alpha1.GroupVersion.String(), Kind: "RedisCluster", Name: "other", UID: "4d6f2a1e-0000-4000-8000-000000000001", Controller: ptr.To(true),
		}, "controlled by RedisCluster other (uid 4d6f2a1e-0000-4000-8000-000000000001)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ns := newNamespace(t)
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "nc", Namespace: ns, Labels: map[string]string{"app": "theirs"}},
				Spec: corev1.ServiceSpec{
					Selector: map[string]string{"app": "theirs"},
					Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
				},
			}
			if tc.owner != nil {
				svc.OwnerReferences = []metav1.OwnerReference{*tc.owner}
			}
			if err := apiClient.Create(ctx, svc); err != nil {
				t.Fatal(err)
			}
			createCluster(t, ns, "nc", nil)
			rec := events.NewFakeRecorder(10)
			// As the manager's cache: only objects with the operator's
			// labels; the Service under the cluster's name is not among them.
			r := &Reconciler{Client: managedOnly{apiClient}, APIReader: apiClient, Recorder: rec}
			req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "nc"}}
			for range 2 {
				res, err := r.Reconcile(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if res.RequeueAfter != RequeueInvalid {
					t.Errorf("requeue after %v, want %v", res.RequeueAfter, RequeueInvalid)
				}
			}
			live := &corev1.Service{}
			if err := apiClient.Get(ctx, client.ObjectKeyFromObject(svc), live); err != nil {
				t.Fatal(err)
			}
			if live.ResourceVersion != svc.ResourceVersion {
				t.Errorf("the Service was written: %+v", live)
			}
			c := meta.FindStatusCondition(getCluster(t, ns, "nc").Status.Conditions, string(redisv1alpha1.ConditionDegraded))
			if c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(redisv1alpha1.ReasonNameConflict) || !strings.Contains(c.Message, tc.want) {
				t.Errorf("Degraded = %+v, want True NameConflict saying %q", c, tc.want)
			}
			for _, obj := range []client.Object{&corev1.ConfigMap{}, &corev1.Service{}} {
				key := types.NamespacedName{Namespace: ns, Name: "nc-config"}
				if _, isSvc := obj.(*corev1.Service); isSvc {
					key.Name = "nc-nodes"
				}
				if err := apiClient.Get(ctx, key, obj); !apierrors.IsNotFound(err) {
					t.Errorf("%T %s written although the pass met a conflict (err %v)", obj, key.Name, err)
				}
			}
			var got []string
			for len(rec.Events) > 0 {
				got = append(got, <-rec.Events)
			}
			if len(got) != 1 || !strings.Contains(got[0], "Warning NameConflict") || !strings.Contains(got[0], tc.want) {
				t.Errorf("events %q, want one Warning NameConflict saying %q (two passes, one event)", got, tc.want)
			}
		})
	}
}

// managedOnly reads like the manager's cache, which holds only objects
// labelled as managed by the operator (and RedisClusters).
type managedOnly struct{ client.Client }

func (m managedOnly) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := m.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if _, isRC := obj.(*redisv1alpha1.RedisCluster); !isRC && obj.GetLabels()[resources.LabelManagedBy] != resources.LabelManagedByValue {
		return apierrors.NewNotFound(schema.GroupResource{Resource: fmt.Sprintf("%T", obj)}, key.Name)
	}
	return nil
}
