package resources

import (
	"fmt"
	"strconv"
	"strings"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// Ports, volume names and paths shared by the builders and the controller.
const (
	// RedisPort is the port every Redis node listens on for clients.
	RedisPort = 6379
	// BusPort is the Redis Cluster bus port (RedisPort + 10000).
	BusPort = RedisPort + 10000
	// RedisPortName names RedisPort on containers and Services.
	RedisPortName = "redis"
	// BusPortName names BusPort on containers and the headless Service.
	BusPortName = "cluster-bus"
	// ContainerName is the name of the Redis container in every pod.
	ContainerName = "redis"
	// DataVolumeName is the name of the PVC template (and volume) holding
	// /data; a pod's claim is DataVolumeName-<pod name>.
	DataVolumeName = "data"
	// ConfigVolumeName is the volume that mounts the ConfigMap.
	ConfigVolumeName = "config"
	// ConfigKey is the ConfigMap key holding redis.conf.
	ConfigKey = "redis.conf"
	// DataDir is where the data volume is mounted (redis.conf's dir).
	DataDir = "/data"
	// ConfigDir is where the ConfigMap is mounted.
	ConfigDir = "/etc/redis"
	// NodesConfFile is the cluster config file inside DataDir.
	NodesConfFile = "nodes.conf"
)

// ConfigMapName is the name of the ConfigMap holding redis.conf.
func ConfigMapName(rc *redisv1alpha1.RedisCluster) string { return rc.Name + "-config" }

// HeadlessServiceName is the name of the headless Service that gives every
// pod a DNS name; the StatefulSets' serviceName.
func HeadlessServiceName(rc *redisv1alpha1.RedisCluster) string { return rc.Name + "-nodes" }

// AccessServiceName is the name of the Service clients connect through.
func AccessServiceName(rc *redisv1alpha1.RedisCluster) string { return rc.Name }

// ShardName is the name of shard's StatefulSet.
func ShardName(rc *redisv1alpha1.RedisCluster, shard int) string {
	return rc.Name + "-" + strconv.Itoa(shard)
}

// PodDisruptionBudgetName is the name of shard's PodDisruptionBudget.
func PodDisruptionBudgetName(rc *redisv1alpha1.RedisCluster, shard int) string {
	return ShardName(rc, shard)
}

// PodName is the name of the pod with the given ordinal in shard's StatefulSet.
func PodName(rc *redisv1alpha1.RedisCluster, shard, ordinal int) string {
	return ShardName(rc, shard) + "-" + strconv.Itoa(ordinal)
}

// PVCName is the name of the data PVC of the pod with the given ordinal in
// shard's StatefulSet (the StatefulSet controller's <template>-<pod> rule).
func PVCName(rc *redisv1alpha1.RedisCluster, shard, ordinal int) string {
	return DataVolumeName + "-" + PodName(rc, shard, ordinal)
}

// PodDNSName is the stable DNS name of a pod through the headless Service,
// relative to the cluster domain (append ".cluster.local" or the cluster's
// domain for a fully qualified name).
func PodDNSName(rc *redisv1alpha1.RedisCluster, shard, ordinal int) string {
	return fmt.Sprintf("%s.%s.%s.svc", PodName(rc, shard, ordinal), HeadlessServiceName(rc), rc.Namespace)
}

// ParsePodName is the inverse of PodName: it reports the shard and ordinal
// of a pod of rc, or ok false when podName is not one of rc's pod names.
func ParsePodName(rc *redisv1alpha1.RedisCluster, podName string) (shard, ordinal int, ok bool) {
	rest, found := strings.CutPrefix(podName, rc.Name+"-")
	if !found {
		return 0, 0, false
	}
	s, o, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	shard, err1 := strconv.Atoi(s)
	ordinal, err2 := strconv.Atoi(o)
	if err1 != nil || err2 != nil || shard < 0 || ordinal < 0 ||
		strconv.Itoa(shard) != s || strconv.Itoa(ordinal) != o {
		return 0, 0, false
	}
	return shard, ordinal, true
}

// ParseClaimName is the inverse of PVCName: it reports the shard and
// ordinal of a data claim of rc, or ok false when name is not one.
func ParseClaimName(rc *redisv1alpha1.RedisCluster, name string) (shard, ordinal int, ok bool) {
	pod, found := strings.CutPrefix(name, DataVolumeName+"-")
	if !found {
		return 0, 0, false
	}
	return ParsePodName(rc, pod)
}
