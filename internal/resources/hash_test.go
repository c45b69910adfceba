package resources

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

func TestSpecHashIsStableAndIgnoresItsAnnotation(t *testing.T) {
	rc := fullCluster()
	a, err := ShardStatefulSet(rc, 1, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ShardStatefulSet(rc, 1, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if SpecHashOf(a) == "" || SpecHashOf(a) != SpecHashOf(b) {
		t.Fatalf("hashes of equal renders: %q, %q", SpecHashOf(a), SpecHashOf(b))
	}
	h, err := SpecHash(a)
	if err != nil {
		t.Fatal(err)
	}
	if h != SpecHashOf(a) {
		t.Errorf("SpecHash of a stamped object = %q, want its annotation %q", h, SpecHashOf(a))
	}
	if NeedsUpdate(a, b) {
		t.Error("NeedsUpdate on equal renders")
	}
	a.Annotations = nil
	if !NeedsUpdate(a, b) {
		t.Error("NeedsUpdate false for a live object without the annotation")
	}
}

func TestSpecHashChangesWithEveryInput(t *testing.T) {
	base := fullCluster()
	baseObjs := renderHashes(t, base)
	for _, c := range []struct {
		name   string
		mutate func(*redisv1alpha1.RedisCluster)
		want   []string // objects whose hash must change
	}{
		{"config", func(rc *redisv1alpha1.RedisCluster) { rc.Spec.Config["maxmemory"] = "900mb" }, []string{"configmap", "sts"}},
		{"image", func(rc *redisv1alpha1.RedisCluster) { rc.Spec.Image = "redis:7.2.5" }, []string{"sts"}},
		{"replicas", func(rc *redisv1alpha1.RedisCluster) { rc.Spec.ReplicasPerMaster = 1 }, []string{"sts"}},
		{"service type", func(rc *redisv1alpha1.RedisCluster) {
			rc.Spec.Service = redisv1alpha1.ServiceSpec{Type: redisv1alpha1.ServiceTypeNodePort, NodePort: ptr.To(int32(30011))}
		}, []string{"access"}},
		// The default user's password is in the users file, applied live:
		// a change of it rolls nothing.
		{"password key", func(rc *redisv1alpha1.RedisCluster) { rc.Spec.PasswordSecret.Key = "other" }, nil},
		{"exporter enabled", func(rc *redisv1alpha1.RedisCluster) {
			rc.Spec.Monitoring = &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true}}
		}, []string{"sts"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := fullCluster()
			c.mutate(rc)
			got := renderHashes(t, rc)
			for obj, h := range got {
				changed := h != baseObjs[obj]
				wantChanged := false
				for _, w := range c.want {
					wantChanged = wantChanged || w == obj
				}
				if changed != wantChanged {
					t.Errorf("%s hash changed = %v, want %v", obj, changed, wantChanged)
				}
			}
		})
	}
}

func renderHashes(t *testing.T, rc *redisv1alpha1.RedisCluster) map[string]string {
	t.Helper()
	cm, err1 := ConfigMap(rc)
	hs, err2 := HeadlessService(rc)
	as, err3 := AccessService(rc)
	sts, err4 := ShardStatefulSet(rc, 0, testOptions)
	pdb, err5 := PodDisruptionBudget(rc, 0)
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{
		"configmap": SpecHashOf(cm), "headless": SpecHashOf(hs), "access": SpecHashOf(as),
		"sts": SpecHashOf(sts), "pdb": SpecHashOf(pdb),
	}
}

func TestShardOutOfRange(t *testing.T) {
	rc := fullCluster()
	for _, shard := range []int{-1, int(rc.Spec.Masters)} {
		if _, err := ShardStatefulSet(rc, shard, testOptions); err == nil {
			t.Errorf("ShardStatefulSet(%d) of %d masters: no error", shard, rc.Spec.Masters)
		}
		if _, err := PodDisruptionBudget(rc, shard); err == nil {
			t.Errorf("PodDisruptionBudget(%d) of %d masters: no error", shard, rc.Spec.Masters)
		}
	}
}
