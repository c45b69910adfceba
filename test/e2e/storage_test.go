package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/internal/resources"
)

// podIdentity is what a restart would change: the pod's UID and its
// containers' restart counts.
func podIdentity(p corev1.Pod) string {
	id := string(p.UID)
	for _, cs := range p.Status.ContainerStatuses {
		id += fmt.Sprintf(" %s:%d", cs.Name, cs.RestartCount)
	}
	return id
}

// testStorageExpansion raises spec.storage.size under a writer: every claim
// is expanded online by the local provisioner, the StatefulSets are
// recreated with the new claim template and adopt their pods, no pod
// restarts and no acknowledged write is lost; a shrink is then refused.
func testStorageExpansion(t *testing.T, e *opEnv, name string) {
	ctx := t.Context()
	cur, err := e.get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	before, err := e.pods(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	oldSets := map[string]string{} // StatefulSet name -> UID
	sets := &appsv1.StatefulSetList{}
	if err := e.cl.List(ctx, sets, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: name}); err != nil {
		t.Fatal(err)
	}
	for _, s := range sets.Items {
		oldSets[s.Name] = string(s.UID)
	}
	from := cur.Spec.Storage.Size.String()
	grown := cur.Spec.Storage.Size.DeepCopy()
	grown.Add(grown) // twice the current size
	want := grown.String()

	var mark time.Time
	defer e.logActions(t, e.logMark(), &mark)
	w := startWriter(e.addrs(t, name), "grow")
	time.Sleep(time.Second)
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec.Storage.Size = grown
	mark = time.Now()
	if err := e.cl.Patch(ctx, cur, patch); err != nil {
		t.Fatal(err)
	}
	var resized time.Duration
	opWait(t, 3*time.Minute, "every claim to report "+want, func(ctx context.Context) error {
		claims := &corev1.PersistentVolumeClaimList{}
		if err := e.cl.List(ctx, claims, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: name}); err != nil {
			return err
		}
		if len(claims.Items) != len(before) {
			return fmt.Errorf("%d claims, want %d", len(claims.Items), len(before))
		}
		for _, c := range claims.Items {
			got := c.Status.Capacity[corev1.ResourceStorage]
			if got.Cmp(grown) < 0 {
				return fmt.Errorf("claim %s has %s", c.Name, got.String())
			}
		}
		resized = time.Since(mark)
		return nil
	})
	t.Logf("timing: spec.storage.size %s -> %s: every claim reports the new capacity after %v", from, want, resized)
	opWait(t, 2*time.Minute, "StorageResized True and the StatefulSets recreated with the new template", func(ctx context.Context) error {
		rc, err := e.get(ctx, name)
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(rc.Status.Conditions, redisv1alpha1.ConditionStorageResized.String())
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != rc.Generation {
			return fmt.Errorf("StorageResized = %+v", c)
		}
		sets := &appsv1.StatefulSetList{}
		if err := e.cl.List(ctx, sets, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: name}); err != nil {
			return err
		}
		if len(sets.Items) != len(oldSets) {
			return fmt.Errorf("%d StatefulSets, want %d", len(sets.Items), len(oldSets))
		}
		for _, s := range sets.Items {
			size := s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
			switch {
			case s.DeletionTimestamp != nil || string(s.UID) == oldSets[s.Name]:
				return fmt.Errorf("StatefulSet %s not recreated yet", s.Name)
			case size.Cmp(grown) != 0:
				return fmt.Errorf("StatefulSet %s's claim template asks for %s", s.Name, size.String())
			case s.Status.ObservedGeneration != s.Generation || s.Status.UpdateRevision == "":
				return fmt.Errorf("StatefulSet %s not observed yet", s.Name)
			case s.Status.UpdatedReplicas != *s.Spec.Replicas:
				return fmt.Errorf("StatefulSet %s: %d of %d pods at its update revision", s.Name, s.Status.UpdatedReplicas, *s.Spec.Replicas)
			}
		}
		return nil
	})
	t.Logf("timing: spec change -> StorageResized True, StatefulSets recreated: %v", time.Since(mark))
	// Let the operator observe the adopted pods for a few passes: an
	// outdated verdict would start a rolling update now.
	time.Sleep(5 * time.Second)
	res := w.finish()
	addrs := e.addrs(t, name)
	lost := lostWrites(t, addrs, "grow", res.acked)
	t.Logf("measured: storage expansion of %d claims under a writer: %v to resize every claim, %d writes acknowledged, %d write errors (first: %v), worst gap %v, %d acknowledged writes lost",
		len(before), resized, len(res.acked), res.errs, res.firstErr, res.worstGap, lost)
	if lost > 0 {
		t.Errorf("%d acknowledged writes lost during the expansion", lost)
	}
	after, err := e.pods(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for n, p := range before {
		q, ok := after[n]
		shard, _, _ := resources.ParsePodName(cur, n)
		switch {
		case !ok:
			t.Errorf("pod %s is gone", n)
		case podIdentity(q) != podIdentity(p):
			t.Errorf("pod %s restarted: %s -> %s", n, podIdentity(p), podIdentity(q))
		case metav1.GetControllerOf(&q) == nil || string(metav1.GetControllerOf(&q).UID) == oldSets[resources.ShardName(cur, shard)]:
			t.Errorf("pod %s not adopted by its new StatefulSet: controller %+v", n, metav1.GetControllerOf(&q))
		}
	}
	if rc, err := e.get(ctx, name); err != nil || !meta.IsStatusConditionTrue(rc.Status.Conditions, string(redisv1alpha1.ConditionReady)) {
		t.Errorf("cluster not Ready after the expansion (err %v)", err)
	}
	wantEvent(t, e, name, controller.EventExpandingClaims, fmt.Sprintf("asked %d claims for %s", len(before), want))
	wantEvent(t, e, name, controller.EventRecreatingStatefulSet, "pods are adopted, not restarted")
	wantEvent(t, e, name, controller.EventClaimsResized, "have "+want)

	t.Run("a shrink is refused naming the field", func(t *testing.T) {
		rc, err := e.get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(rc.DeepCopy())
		rc.Spec.Storage.Size = resource.MustParse("32Mi")
		err = e.cl.Patch(ctx, rc, patch)
		if err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.storage.size cannot shrink") {
			t.Fatalf("shrink to 32Mi: err = %v, want Invalid naming spec.storage.size", err)
		}
	})
}

// testClaimRetention deletes two RedisClusters whose pods never start (a
// StorageClass that does not exist keeps their claims Pending, so no
// Redis runs): with spec.storage.deleteClaimsWithCluster the claims go
// with the cluster, without it they stay.
func testClaimRetention(t *testing.T, e *opEnv) {
	ctx := t.Context()
	for _, drop := range []bool{false, true} {
		name := map[bool]string{false: "keepclaims", true: "dropclaims"}[drop]
		rc := &redisv1alpha1.RedisCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
			Spec: redisv1alpha1.RedisClusterSpec{
				Masters: 3, ReplicasPerMaster: 0,
				Storage: redisv1alpha1.StorageSpec{StorageClassName: ptr.To("retention-none"), Size: resource.MustParse("16Mi"), DeleteClaimsWithCluster: drop},
			},
		}
		e.create(ctx, t, rc)
	}
	claimsOf := func(ctx context.Context, name string) ([]corev1.PersistentVolumeClaim, error) {
		l := &corev1.PersistentVolumeClaimList{}
		err := e.cl.List(ctx, l, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: name})
		return l.Items, err
	}
	stored, err := e.get(ctx, "keepclaims")
	if err != nil {
		t.Fatal(err)
	}
	pods := int(stored.Spec.Masters * stored.Spec.PodsPerShard())
	opWait(t, 2*time.Minute, "a claim per pod of each cluster, those to delete owned by their StatefulSet", func(ctx context.Context) error {
		for _, name := range []string{"keepclaims", "dropclaims"} {
			claims, err := claimsOf(ctx, name)
			if err != nil {
				return err
			}
			if len(claims) != pods {
				return fmt.Errorf("%s has %d claims, want %d", name, len(claims), pods)
			}
			for _, c := range claims {
				if owned := len(c.OwnerReferences) > 0; owned != (name == "dropclaims") {
					return fmt.Errorf("claim %s owners %+v", c.Name, c.OwnerReferences)
				}
			}
		}
		return nil
	})
	for _, name := range []string{"keepclaims", "dropclaims"} {
		rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS}}
		if err := e.cl.Delete(ctx, rc); err != nil {
			t.Fatal(err)
		}
	}
	opWait(t, 2*time.Minute, "the StatefulSets gone, and the claims of dropclaims", func(ctx context.Context) error {
		for _, name := range []string{"keepclaims", "dropclaims"} {
			sets := &appsv1.StatefulSetList{}
			if err := e.cl.List(ctx, sets, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: name}); err != nil {
				return err
			}
			if len(sets.Items) > 0 {
				return fmt.Errorf("%s has %d StatefulSets", name, len(sets.Items))
			}
		}
		claims, err := claimsOf(ctx, "dropclaims")
		if err != nil {
			return err
		}
		var left []string
		for _, c := range claims {
			if c.DeletionTimestamp == nil {
				left = append(left, c.Name)
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("claims of dropclaims not deleted: %v", left)
		}
		return nil
	})
	claims, err := claimsOf(ctx, "keepclaims")
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != pods {
		t.Errorf("keepclaims has %d claims after its deletion, want its %d kept", len(claims), pods)
	}
	for _, c := range claims {
		if c.DeletionTimestamp != nil {
			t.Errorf("claim %s of keepclaims is being deleted", c.Name)
		}
	}
}
