package resources

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/auth"
)

// Pod settings shared with the controller.
const (
	// TerminationGracePeriodSeconds is the pods' grace period: the preStop
	// hook may hold SIGTERM this long minus PreStopReserveSeconds while the
	// operator moves the master role away.
	TerminationGracePeriodSeconds = 30
	// PreStopReserveSeconds is left to redis-server after the preStop hook
	// gives up, to shut down cleanly (flush the AOF) before SIGKILL.
	PreStopReserveSeconds = 5
	// PodIPEnv is the environment variable holding the pod's IP; redis-server
	// announces it to the cluster (--cluster-announce-ip).
	PodIPEnv = "POD_IP"
	// PasswordEnv holds the password when spec.passwordSecret is set. Its
	// name is the one redis-cli reads, so exec probes and the preStop hook
	// authenticate without the password on their command line.
	PasswordEnv = "REDISCLI_AUTH"
	// HostnameTopologyKey is the node label anti-affinity spreads over.
	HostnameTopologyKey = "kubernetes.io/hostname"
	// redisUID is the uid (and gid) of the redis user in the official image.
	redisUID int64 = 999
)

// PreStopScript is the preStop hook of the Redis container. While this node
// is a master that serves slots and has at least one replica that is not
// failed, it waits (polling CLUSTER NODES every 100 ms, for at most the grace
// period minus PreStopReserveSeconds), so that the operator, which sees the
// pod's deletionTimestamp at once, can hand the master role to a replica with
// a graceful CLUSTER FAILOVER before redis-server gets SIGTERM.
//
// Then it drains: while this node keeps redirecting clients (its MOVED
// count, INFO errorstats, grew within the last second), it stays up, within
// the same bound. A master just demoted, by this hook's wait or by the
// rolling update before the pod was deleted, answers MOVED to the clients
// whose slot maps still name it; a client reloads its map in the
// background, and one whose reload first tries addresses of pods already
// gone waits for their dial timeouts. Without the drain those clients would
// send to an address with no process behind it and time out instead of
// being redirected. A node no client is sent to (a replica) leaves after one
// quiet second, as does the hook when redis-server no longer answers.
var PreStopScript = preStopScript(preStopCLI(""))

// preStopCLI is the hook's redis-cli command as the monitor user, with
// redis-cli's TLS flags (empty: none).
func preStopCLI(tlsFlags string) string {
	return fmt.Sprintf(`REDISCLI_AUTH="$%s" redis-cli --user %s %s-p %d "$@"`, MonitorPasswordEnv, auth.MonitorUser, tlsFlags, RedisPort)
}

// preStopHook is the hook's command for rc: while a running cluster is
// switched to TLS (o.TLSFilesMounted), plain text first and TLS when the
// node no longer serves plain text.
func preStopHook(rc *redisv1alpha1.RedisCluster, o Options) string {
	if o.TLSFilesMounted && !rc.Spec.TLSEnabled() {
		return preStopScript(preStopCLI("") + " 2>/dev/null || " + preStopCLI(cliTLSFlags))
	}
	return preStopScript(preStopCLI(redisCLITLSFlags(rc)))
}

// preStopScript is PreStopScript with cli, the command that reaches the
// node.
func preStopScript(cli string) string {
	return fmt.Sprintf(`end=$(( $(date +%%s) + %[1]d ))
cli() { %[2]s; }
while [ "$(date +%%s)" -lt "$end" ]; do
  nodes=$(cli cluster nodes) || exit 0
  printf '%%s\n' "$nodes" | awk '
    $3 ~ /myself/ { me = $1; master = ($3 ~ /master/); slots = (NF > 8) }
    { flags[$1] = $3; of[$1] = $4 }
    END {
      if (!master || !slots) exit 1
      for (id in of) if (of[id] == me && flags[id] !~ /fail/) exit 0
      exit 1
    }' || break
  sleep 0.1
done
moved() { cli info errorstats | awk -F'[=,]' '/^errorstat_MOVED:/ { n = $2 } END { print n + 0 }'; }
last=$(moved) || exit 0
while [ "$(date +%%s)" -lt "$end" ]; do
  sleep 1
  now=$(moved) || exit 0
  [ "$now" = "$last" ] && exit 0
  last=$now
done
`, TerminationGracePeriodSeconds-PreStopReserveSeconds, cli)
}

// Options are the operator's settings the builders need beside the
// RedisCluster.
type Options struct {
	// ExporterImage is the image of the exporter sidecar when
	// spec.monitoring.exporter.image is unset (the operator's own image).
	ExporterImage string
	// PasswordRotation counts the changes of the password the operator
	// carried out (the applied-password Secret); the pod template carries
	// it, so a change rolls the pods, whose environment holds the
	// password. 0 adds nothing to the template.
	PasswordRotation int
	// KeepPods holds, per shard, a pod count above 1+replicasPerMaster:
	// after the spec lowered replicasPerMaster, a pod beyond the new count
	// that is still its shard's master stays until it handed the role
	// over (a StatefulSet removes its highest ordinals first).
	KeepPods map[int]int32
	// TLSFilesMounted is set while a running cluster is switched to TLS
	// (pkg/tlsswitch.ModeFilesMounted), rc being rendered without TLS:
	// the pods mount <name>-tls, the preStop hook and the exporter speak
	// plain text or TLS, whichever the node serves, and the template
	// carries AnnotationTLSSwitch.
	TLSFilesMounted bool
	// RestoreShards, when not nil, adds to each shard's pods the init
	// container of a same-layout restore (RestoreShardContainer): the
	// pod of ordinal 0, started for the first time, starts on its shard's
	// RDB. It is set for the cluster's whole life (spec.restore cannot
	// change), so it never rolls the pods.
	RestoreShards *ShardRestore
}

// ShardStatefulSet renders shard's StatefulSet: 1+replicasPerMaster pods
// created in parallel, OnDelete updates (the operator decides when a pod is
// replaced, failing masters over first), a data PVC per pod, the
// anti-affinity of spec.placement, and the exporter sidecar when
// spec.monitoring.exporter is enabled.
func ShardStatefulSet(rc *redisv1alpha1.RedisCluster, shard int, o Options) (*appsv1.StatefulSet, error) {
	if err := checkShard(rc, shard); err != nil {
		return nil, err
	}
	pod, err := podSpec(rc, shard, o)
	if err != nil {
		return nil, err
	}
	podLabels := ShardLabels(rc, shard)
	sts := &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: objectMeta(rc, ShardName(rc, shard), ShardLabels(rc, shard)),
		Spec: appsv1.StatefulSetSpec{
			Replicas:                             ptr.To(max(rc.Spec.PodsPerShard(), o.KeepPods[shard])),
			ServiceName:                          HeadlessServiceName(rc),
			Selector:                             &metav1.LabelSelector{MatchLabels: ShardSelectorLabels(rc, shard)},
			PodManagementPolicy:                  appsv1.ParallelPodManagement,
			UpdateStrategy:                       appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			PersistentVolumeClaimRetentionPolicy: claimRetention(rc),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: podAnnotations(rc, o),
				},
				Spec: pod,
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{dataClaimTemplate(rc, shard)},
		},
	}
	if err := stampSpecHash(sts); err != nil {
		return nil, err
	}
	return sts, nil
}

// claimRetention is the StatefulSets' claim retention policy: claims go
// with the StatefulSet only with spec.storage.deleteClaimsWithCluster
// (the StatefulSet goes with the RedisCluster, its owner). A lower
// replicasPerMaster deletes the claims of the pods it removes: they are
// replicas (the operator moved any master role off them first), whose
// data a new replica would resync anyway, and their nodes.conf holds a
// node ID the cluster has forgotten. The operator deletes the claims of
// removed shards itself, once their data has moved.
func claimRetention(rc *redisv1alpha1.RedisCluster) *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	whenDeleted := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if rc.Spec.Storage.DeleteClaimsWithCluster {
		whenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	return &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: whenDeleted,
		WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
}

// podAnnotations are the pod template's annotations: the hash of
// redis.conf and the password rotation, so that a change of either rolls
// the pods.
func podAnnotations(rc *redisv1alpha1.RedisCluster, o Options) map[string]string {
	a := map[string]string{AnnotationConfigHash: configHash(RedisConf(rc))}
	if o.PasswordRotation > 0 {
		a[AnnotationPasswordRotation] = strconv.Itoa(o.PasswordRotation)
	}
	if o.TLSFilesMounted && !rc.Spec.TLSEnabled() {
		a[AnnotationTLSSwitch] = TLSSwitchFilesMounted
	}
	return a
}

// podSpec is the pod template's spec.
func podSpec(rc *redisv1alpha1.RedisCluster, shard int, o Options) (corev1.PodSpec, error) {
	p := rc.Spec.Placement
	containers := []corev1.Container{redisContainer(rc, o)}
	if rc.Spec.ExporterEnabled() {
		exp, err := exporterContainer(rc, o)
		if err != nil {
			return corev1.PodSpec{}, err
		}
		containers = append(containers, exp)
	}
	volumes := []corev1.Volume{{
		Name: ConfigVolumeName,
		VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(rc)},
			Items:                []corev1.KeyToPath{{Key: ConfigKey, Path: ConfigKey}},
		}},
	}, usersVolume(rc)}
	if mountsTLS(rc, o) {
		volumes = append(volumes, tlsVolume(rc))
	}
	if AnnouncesAtStart(rc) {
		// Optional: a pod whose line is not written yet starts announcing
		// its IP, and the operator corrects it.
		volumes = append(volumes, corev1.Volume{
			Name: AnnounceVolumeName,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: AnnounceConfigMapName(rc)},
				Optional:             ptr.To(true),
			}},
		})
	}
	var inits []corev1.Container
	if r := o.RestoreShards; r != nil {
		inits = append(inits, RestoreShardContainer(rc, shard, r))
		if c := r.Source.PersistentVolumeClaim; c != nil {
			volumes = append(volumes, claimVolume(c))
		}
	}
	return corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr.To(int64(TerminationGracePeriodSeconds)),
		InitContainers:                inits,
		EnableServiceLinks:            ptr.To(false),
		NodeSelector:                  p.NodeSelector,
		Tolerations:                   p.Tolerations,
		PriorityClassName:             p.PriorityClassName,
		Affinity:                      affinity(rc, shard),
		// With the containers' own contexts this meets the "restricted" Pod
		// Security Standard, so the pods run in namespaces that enforce it.
		SecurityContext: &corev1.PodSecurityContext{
			RunAsUser:      ptr.To(redisUID),
			RunAsGroup:     ptr.To(redisUID),
			RunAsNonRoot:   ptr.To(true),
			FSGroup:        ptr.To(redisUID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: containers,
		Volumes:    volumes,
	}, nil
}

// redisContainer runs redis-server with the ConfigMap's redis.conf, announcing
// the pod IP. Its users, the default user's passwords included, come from
// the users file redis.conf includes.
func redisContainer(rc *redisv1alpha1.RedisCluster, o Options) corev1.Container {
	args := []string{ConfigDir + "/" + ConfigKey, "--cluster-announce-ip", "$(" + PodIPEnv + ")"}
	env := []corev1.EnvVar{{
		Name:      PodIPEnv,
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}},
	}}
	command := []string{"redis-server"}
	// Replicas authenticate as the operator's replication user, whatever
	// the default user's password; the preStop hook reads as its monitor
	// user (auth.SystemUsers).
	env = append(env,
		usersEnv(rc, ReplicationPasswordEnv, UsersReplicationPasswordKey),
		usersEnv(rc, MonitorPasswordEnv, UsersMonitorPasswordKey))
	// redis-server overwrites its argv with its process title, so the
	// expanded passwords do not stay visible in the process list.
	args = append(args, "--masteruser", auth.ReplicationUser, "--masterauth", "$("+ReplicationPasswordEnv+")")
	mounts := []corev1.VolumeMount{
		{Name: ConfigVolumeName, MountPath: ConfigDir, ReadOnly: true},
		{Name: DataVolumeName, MountPath: DataDir},
		usersMount(),
	}
	if mountsTLS(rc, o) {
		mounts = append(mounts, tlsMount())
	}
	if AnnouncesAtStart(rc) {
		command, args = []string{"sh", "-c", StartScript}, nil
		env = append(env,
			corev1.EnvVar{Name: PodNameEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			corev1.EnvVar{Name: HostIPEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.hostIP"}}})
		mounts = append(mounts, corev1.VolumeMount{Name: AnnounceVolumeName, MountPath: AnnounceDir, ReadOnly: true})
	}
	tcp := corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(RedisPortName)}}
	return corev1.Container{
		Name:            ContainerName,
		Image:           rc.Spec.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         command,
		Args:            args,
		Env:             env,
		Ports: []corev1.ContainerPort{
			{Name: RedisPortName, ContainerPort: RedisPort, Protocol: corev1.ProtocolTCP},
			{Name: BusPortName, ContainerPort: BusPort, Protocol: corev1.ProtocolTCP},
		},
		Resources: rc.Spec.Resources,
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: tcp, PeriodSeconds: 2, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler: tcp, InitialDelaySeconds: 15, PeriodSeconds: 10, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: 6,
		},
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{"sh", "-c", preStopHook(rc, o)}},
		}},
		VolumeMounts: mounts,
		// Redis writes only /data (the claim); the rest of the image is
		// read-only, and it needs no capability.
		SecurityContext: &corev1.SecurityContext{
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// affinity spreads the cluster's pods over nodes (required or preferred, per
// spec.placement.antiAffinity), keeps the members of one shard apart first,
// and prefers spreading each shard over zones.
func affinity(rc *redisv1alpha1.RedisCluster, shard int) *corev1.Affinity {
	cluster := &metav1.LabelSelector{MatchLabels: SelectorLabels(rc)}
	sameShard := &metav1.LabelSelector{MatchLabels: ShardSelectorLabels(rc, shard)}
	zoneKey := rc.Spec.Placement.ZoneTopologyKey
	if zoneKey == "" {
		zoneKey = redisv1alpha1.DefaultZoneTopologyKey
	}
	zoneSpread := corev1.WeightedPodAffinityTerm{Weight: 10, PodAffinityTerm: corev1.PodAffinityTerm{
		LabelSelector: sameShard, TopologyKey: zoneKey,
	}}
	anti := &corev1.PodAntiAffinity{}
	if rc.Spec.Placement.AntiAffinity == redisv1alpha1.AntiAffinityRequired {
		anti.RequiredDuringSchedulingIgnoredDuringExecution = []corev1.PodAffinityTerm{{
			LabelSelector: cluster, TopologyKey: HostnameTopologyKey,
		}}
		anti.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.WeightedPodAffinityTerm{zoneSpread}
	} else {
		anti.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.WeightedPodAffinityTerm{
			// A master and its replicas on one node lose the shard with the node.
			{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: sameShard, TopologyKey: HostnameTopologyKey}},
			// Fewer Redis nodes per Kubernetes node: less lost at once.
			{Weight: 50, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: cluster, TopologyKey: HostnameTopologyKey}},
			zoneSpread,
		}
	}
	return &corev1.Affinity{PodAntiAffinity: anti}
}

// dataClaimTemplate is the PVC template of shard's pods.
func dataClaimTemplate(rc *redisv1alpha1.RedisCluster, shard int) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   DataVolumeName,
			Labels: ShardLabels(rc, shard),
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: rc.Spec.Storage.StorageClassName,
			VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: rc.Spec.Storage.Size},
			},
		},
	}
}
