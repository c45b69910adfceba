package resources

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/auth"
)

// Names and labels of the per-pod external Services and of the announce
// ConfigMap.
const (
	// LabelExternal marks a per-pod external Service; its value is the
	// pod's name.
	LabelExternal = "redis.redkube.io/external-for"
	// AnnounceVolumeName is the volume that mounts the announce ConfigMap.
	AnnounceVolumeName = "announce"
	// AnnounceDir is where the announce ConfigMap is mounted: one file per
	// pod, named after it (AnnounceLine).
	AnnounceDir = "/etc/redis-announce"
	// PodNameEnv and HostIPEnv hold the pod's name and its node's IP for
	// the start script.
	PodNameEnv = "POD_NAME"
	HostIPEnv  = "HOST_IP"
	// AnnounceHostIP and AnnouncePodIP stand, in an announce line, for the
	// address only the pod knows when it starts: its node's IP, its own.
	AnnounceHostIP = "host"
	AnnouncePodIP  = "pod"
	// DefaultClusterDomain is the DNS domain of a Kubernetes cluster unless
	// its administrator chose another.
	DefaultClusterDomain = "cluster.local"
)

// ExternalServiceName is the name of the external Service of the pod with
// the given ordinal in shard's StatefulSet.
func ExternalServiceName(rc *redisv1alpha1.RedisCluster, shard, ordinal int) string {
	return PodName(rc, shard, ordinal) + "-ext"
}

// AnnounceConfigMapName is the name of the ConfigMap holding each pod's
// announce line.
func AnnounceConfigMapName(rc *redisv1alpha1.RedisCluster) string { return rc.Name + "-announce" }

// AnnouncesAtStart reports whether the pods read what to announce from the
// announce ConfigMap when they start (external access or hostnames); other
// clusters announce their pod IP and run redis-server directly.
func AnnouncesAtStart(rc *redisv1alpha1.RedisCluster) bool {
	return rc.Spec.ExternalAccess != nil || rc.Spec.Announce == redisv1alpha1.AnnounceHostname
}

// AnnouncesHostnames reports whether the nodes send clients to hostnames
// (cluster-preferred-endpoint-type hostname): spec.announce Hostname, or
// external access at a fixed DNS name.
func AnnouncesHostnames(rc *redisv1alpha1.RedisCluster) bool {
	if rc.Spec.Announce == redisv1alpha1.AnnounceHostname {
		return true
	}
	ea := rc.Spec.ExternalAccess
	return ea != nil && ea.Address != "" && net.ParseIP(ea.Address) == nil
}

// PodFQDN is the pod's fully qualified DNS name under the headless Service.
func PodFQDN(rc *redisv1alpha1.RedisCluster, shard, ordinal int, clusterDomain string) string {
	return PodDNSName(rc, shard, ordinal) + "." + clusterDomain
}

// ExternalServices renders the external Service of every pod of shard.
func ExternalServices(rc *redisv1alpha1.RedisCluster, shard int) ([]*corev1.Service, error) {
	out := make([]*corev1.Service, 0, rc.Spec.PodsPerShard())
	for ordinal := range int(rc.Spec.PodsPerShard()) {
		svc, err := ExternalService(rc, shard, ordinal)
		if err != nil {
			return nil, err
		}
		out = append(out, svc)
	}
	return out, nil
}

// ExternalService renders the Service that exposes one Redis pod outside
// Kubernetes: its client and cluster-bus ports, as NodePorts (chosen by
// Kubernetes) or behind a load balancer of its own. It selects the pod by
// name and publishes it before it is ready: the other nodes reach its bus
// through it while it starts.
func ExternalService(rc *redisv1alpha1.RedisCluster, shard, ordinal int) (*corev1.Service, error) {
	ea := rc.Spec.ExternalAccess
	if ea == nil {
		return nil, fmt.Errorf("RedisCluster %s/%s has no spec.externalAccess", rc.Namespace, rc.Name)
	}
	if err := checkShard(rc, shard); err != nil {
		return nil, err
	}
	pod := PodName(rc, shard, ordinal)
	labels := ShardLabels(rc, shard)
	labels[LabelExternal] = pod
	selector := SelectorLabels(rc)
	selector[appsv1.StatefulSetPodNameLabel] = pod
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(rc, ExternalServiceName(rc, shard, ordinal), labels),
		Spec: corev1.ServiceSpec{
			Type:                     corev1.ServiceTypeNodePort,
			Selector:                 selector,
			PublishNotReadyAddresses: true,
			ExternalTrafficPolicy:    corev1.ServiceExternalTrafficPolicyCluster,
			Ports: []corev1.ServicePort{
				{Name: RedisPortName, Port: RedisPort, TargetPort: intstr.FromString(RedisPortName), Protocol: corev1.ProtocolTCP},
				{Name: BusPortName, Port: BusPort, TargetPort: intstr.FromString(BusPortName), Protocol: corev1.ProtocolTCP},
			},
		},
	}
	if ea.Type == redisv1alpha1.ExternalAccessLoadBalancer {
		svc.Spec.Type = corev1.ServiceTypeLoadBalancer
		if lb := ea.LoadBalancer; lb != nil {
			svc.Annotations = lb.Annotations
			svc.Spec.LoadBalancerClass = lb.LoadBalancerClass
			svc.Spec.LoadBalancerSourceRanges = lb.SourceRanges
		}
	}
	if err := stampSpecHash(svc); err != nil {
		return nil, err
	}
	return svc, nil
}

// Announcement is what one pod announces, as its start script reads it from
// its line of the announce ConfigMap.
type Announcement struct {
	// IP is an address, AnnounceHostIP or AnnouncePodIP.
	IP            string
	Port, BusPort int
	// Hostname is announced too when set.
	Hostname string
}

// Line renders the announcement as the start script reads it.
func (a Announcement) Line() string {
	fields := []string{a.IP, strconv.Itoa(a.Port), strconv.Itoa(a.BusPort)}
	if a.Hostname != "" {
		fields = append(fields, a.Hostname)
	}
	return strings.Join(fields, " ") + "\n"
}

// Announcements returns what each pod is to announce when it starts, from
// the live external Services (by name). Only the pods in verified get an
// external line (nil: all): those whose node announced its endpoint, so
// a restarted pod announces an endpoint the operator saw work. The others,
// and a pod whose Service has no node ports or load balancer address yet,
// start announcing their own IP until the operator corrects it. Only
// called when AnnouncesAtStart.
func Announcements(rc *redisv1alpha1.RedisCluster, services map[string]*corev1.Service, clusterDomain string, verified map[string]bool) map[string]Announcement {
	out := map[string]Announcement{}
	for shard := range int(rc.Spec.Masters) {
		for ordinal := range int(rc.Spec.PodsPerShard()) {
			pod := PodName(rc, shard, ordinal)
			if rc.Spec.ExternalAccess == nil {
				out[pod] = Announcement{IP: AnnouncePodIP, Port: RedisPort, BusPort: BusPort, Hostname: PodFQDN(rc, shard, ordinal, clusterDomain)}
				continue
			}
			if verified != nil && !verified[pod] {
				continue
			}
			if a, ok := ExternalAnnouncement(rc, services[ExternalServiceName(rc, shard, ordinal)]); ok {
				out[pod] = a
			}
		}
	}
	return out
}

// ExternalAnnouncement is what a pod exposed by svc announces: the load
// balancer's IP and the Service ports, or its node's IP (or the fixed
// address) and the node ports. ok is false while they are not known.
func ExternalAnnouncement(rc *redisv1alpha1.RedisCluster, svc *corev1.Service) (a Announcement, ok bool) {
	ea := rc.Spec.ExternalAccess
	if ea == nil || svc == nil {
		return Announcement{}, false
	}
	client, bus := servicePort(svc, RedisPortName), servicePort(svc, BusPortName)
	if ea.Type == redisv1alpha1.ExternalAccessLoadBalancer {
		ip := loadBalancerIP(svc)
		if ip == "" || client == nil || bus == nil {
			return Announcement{}, false
		}
		return Announcement{IP: ip, Port: int(client.Port), BusPort: int(bus.Port)}, true
	}
	if client == nil || bus == nil || client.NodePort == 0 || bus.NodePort == 0 {
		return Announcement{}, false
	}
	a = Announcement{IP: AnnounceHostIP, Port: int(client.NodePort), BusPort: int(bus.NodePort)}
	switch {
	case ea.Address == "":
	case net.ParseIP(ea.Address) != nil:
		a.IP = ea.Address
	default:
		// A name for clients; the bus and replication need an IP, and the
		// node's reaches the node ports.
		a.Hostname = ea.Address
	}
	return a, true
}

// LoadBalancerIP is the first IP the load balancer of svc reports ("" for
// none yet, or a load balancer that reports only a hostname).
func loadBalancerIP(svc *corev1.Service) string {
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			return in.IP
		}
	}
	return ""
}

// servicePort returns svc's port named name, or nil.
func servicePort(svc *corev1.Service, name string) *corev1.ServicePort {
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == name })
	if i < 0 {
		return nil
	}
	return &svc.Spec.Ports[i]
}

// AnnounceConfigMap renders the ConfigMap whose key <pod> holds that pod's
// announce line.
func AnnounceConfigMap(rc *redisv1alpha1.RedisCluster, lines map[string]Announcement) (*corev1.ConfigMap, error) {
	data := make(map[string]string, len(lines))
	for pod, a := range lines {
		data[pod] = a.Line()
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(rc, AnnounceConfigMapName(rc), Labels(rc)),
		Data:       data,
	}
	if err := stampSpecHash(cm); err != nil {
		return nil, err
	}
	return cm, nil
}

// StartScript starts redis-server announcing what the pod's line of the
// announce ConfigMap says, or its pod IP when it has none yet (the
// operator then corrects it at runtime). The line is read, never
// evaluated; the replication password comes from the environment as for
// the redis-server command of other clusters.
var StartScript = fmt.Sprintf(`set -- %[1]s/%[2]s --cluster-announce-ip "$%[3]s"
line=%[4]s/$%[5]s
if [ -s "$line" ] && read -r ip port bus host < "$line"; then
  case "$ip" in %[6]s) ip=$%[7]s ;; %[8]s) ip=$%[3]s ;; esac
  set -- %[1]s/%[2]s --cluster-announce-ip "$ip" --cluster-announce-port "$port" --cluster-announce-bus-port "$bus"
  if [ -n "$host" ]; then set -- "$@" --cluster-announce-hostname "$host"; fi
fi
set -- "$@" --masteruser %[9]s --masterauth "$%[10]s"
exec redis-server "$@"
`, ConfigDir, ConfigKey, PodIPEnv, AnnounceDir, PodNameEnv, AnnounceHostIP, HostIPEnv, AnnouncePodIP, auth.ReplicationUser, ReplicationPasswordEnv)
