package resources

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

func TestNames(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "redis-cluster", Namespace: "default"}}
	for _, c := range []struct{ got, want string }{
		{ConfigMapName(rc), "redis-cluster-config"},
		{HeadlessServiceName(rc), "redis-cluster-nodes"},
		{AccessServiceName(rc), "redis-cluster"},
		{ShardName(rc, 2), "redis-cluster-2"},
		{PodDisruptionBudgetName(rc, 2), "redis-cluster-2"},
		{PodName(rc, 2, 1), "redis-cluster-2-1"},
		{PVCName(rc, 2, 1), "data-redis-cluster-2-1"},
		{PodDNSName(rc, 2, 1), "redis-cluster-2-1.redis-cluster-nodes.default.svc"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestParsePodNameRoundTrips(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "a-1"}}
	for shard := range 12 {
		for ordinal := range 4 {
			s, o, ok := ParsePodName(rc, PodName(rc, shard, ordinal))
			if !ok || s != shard || o != ordinal {
				t.Errorf("ParsePodName(PodName(%d, %d)) = %d, %d, %v", shard, ordinal, s, o, ok)
			}
		}
	}
}

func TestParsePodNameRejectsForeignNames(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	for _, name := range []string{
		"a", "a-0", "b-0-0", "a-0-0-0", "a-x-0", "a-0-y", "a--1-0", "a-01-0", "a-0-01", "ab-0-0", "a-0-",
	} {
		if s, o, ok := ParsePodName(rc, name); ok {
			t.Errorf("ParsePodName(%q) = %d, %d, true; want not a pod of %q", name, s, o, rc.Name)
		}
	}
}

func TestParseClaimName(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	if s, o, ok := ParseClaimName(rc, PVCName(rc, 4, 1)); !ok || s != 4 || o != 1 {
		t.Errorf("ParseClaimName(PVCName(4, 1)) = %d, %d, %v", s, o, ok)
	}
	for _, name := range []string{PodName(rc, 4, 1), "data-b-0-0", "logs-a-0-0"} {
		if _, _, ok := ParseClaimName(rc, name); ok {
			t.Errorf("ParseClaimName(%q) = ok, want not a claim of %q", name, rc.Name)
		}
	}
}

func TestShardOf(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	if s, ok := ShardOf(ShardLabels(rc, 7)); !ok || s != 7 {
		t.Errorf("ShardOf(ShardLabels(7)) = %d, %v", s, ok)
	}
	for _, l := range []map[string]string{nil, Labels(rc), {LabelShard: "x"}, {LabelShard: "-1"}} {
		if _, ok := ShardOf(l); ok {
			t.Errorf("ShardOf(%v) = ok, want not ok", l)
		}
	}
	if !ShardSelector(rc, 3).Matches(labelSet(ShardLabels(rc, 3))) || ShardSelector(rc, 3).Matches(labelSet(ShardLabels(rc, 4))) {
		t.Error("ShardSelector does not select exactly its shard")
	}
	other := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "b"}}
	if !ClusterSelector(rc).Matches(labelSet(ShardLabels(rc, 0))) || ClusterSelector(rc).Matches(labelSet(ShardLabels(other, 0))) {
		t.Error("ClusterSelector does not select exactly its cluster")
	}
}
