package resources

import (
	"strconv"

	"k8s.io/apimachinery/pkg/labels"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// Label and annotation keys the operator sets.
const (
	// LabelName is the well-known application name label; its value is
	// always LabelNameValue.
	LabelName = "app.kubernetes.io/name"
	// LabelNameValue is the value of LabelName.
	LabelNameValue = "redis"
	// LabelInstance carries the RedisCluster's name.
	LabelInstance = "app.kubernetes.io/instance"
	// LabelManagedBy says which operator manages the object.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelManagedByValue is the value of LabelManagedBy.
	LabelManagedByValue = "redkube"
	// LabelShard carries the shard index on StatefulSets, pods, PVCs and
	// PodDisruptionBudgets.
	LabelShard = "redis.redkube.io/shard"
	// AnnotationSpecHash holds the hash of an object as rendered (see SpecHash).
	AnnotationSpecHash = "redis.redkube.io/spec-hash"
	// AnnotationConfigHash on the pod template holds the hash of redis.conf,
	// so a config change changes the template (and the StatefulSet's update
	// revision) even though the ConfigMap's name does not change.
	AnnotationConfigHash = "redis.redkube.io/config-hash"
	// AnnotationPasswordRotation on the pod template counts the password
	// changes the operator carried out (Options.PasswordRotation).
	AnnotationPasswordRotation = "redis.redkube.io/password-rotation"
	// AnnotationTLSSwitch marks a pod template of a cluster being switched
	// to TLS (Options.TLSFilesMounted), with the value
	// TLSSwitchFilesMounted.
	AnnotationTLSSwitch = "redis.redkube.io/tls-switch"
	// TLSSwitchFilesMounted is AnnotationTLSSwitch's value.
	TLSSwitchFilesMounted = "FilesMounted"
)

// SelectorLabels select every pod (and PVC) of rc. The access and headless
// Services use them, as does the anti-affinity across the cluster.
func SelectorLabels(rc *redisv1alpha1.RedisCluster) map[string]string {
	return map[string]string{
		LabelName:     LabelNameValue,
		LabelInstance: rc.Name,
	}
}

// ShardSelectorLabels select the pods (and PVCs) of one shard; they are the
// shard StatefulSet's immutable selector.
func ShardSelectorLabels(rc *redisv1alpha1.RedisCluster, shard int) map[string]string {
	l := SelectorLabels(rc)
	l[LabelShard] = strconv.Itoa(shard)
	return l
}

// Labels are the labels on every object of rc that is not shard-specific.
func Labels(rc *redisv1alpha1.RedisCluster) map[string]string {
	l := SelectorLabels(rc)
	l[LabelManagedBy] = LabelManagedByValue
	return l
}

// ShardLabels are the labels on the objects of one shard (StatefulSet, pods,
// PVCs, PodDisruptionBudget).
func ShardLabels(rc *redisv1alpha1.RedisCluster, shard int) map[string]string {
	l := Labels(rc)
	l[LabelShard] = strconv.Itoa(shard)
	return l
}

// ClusterSelector selects every pod and PVC of rc, for List calls.
func ClusterSelector(rc *redisv1alpha1.RedisCluster) labels.Selector {
	return labels.SelectorFromSet(SelectorLabels(rc))
}

// ShardSelector selects the pods and PVCs of one shard, for List calls.
func ShardSelector(rc *redisv1alpha1.RedisCluster, shard int) labels.Selector {
	return labels.SelectorFromSet(ShardSelectorLabels(rc, shard))
}

// ShardOf reads the shard index from an object's labels; ok is false when
// the label is missing or not a non-negative integer.
func ShardOf(objLabels map[string]string) (shard int, ok bool) {
	v, found := objLabels[LabelShard]
	if !found {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
