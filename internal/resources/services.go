package resources

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// HeadlessService renders the headless Service that gives each pod a stable
// DNS name. It publishes pods before they are ready: Redis nodes must reach
// each other while the cluster forms.
func HeadlessService(rc *redisv1alpha1.RedisCluster) (*corev1.Service, error) {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(rc, HeadlessServiceName(rc), Labels(rc)),
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 SelectorLabels(rc),
			Ports: []corev1.ServicePort{
				{Name: RedisPortName, Port: RedisPort, TargetPort: intstr.FromString(RedisPortName), Protocol: corev1.ProtocolTCP},
				{Name: BusPortName, Port: BusPort, TargetPort: intstr.FromString(BusPortName), Protocol: corev1.ProtocolTCP},
			},
		},
	}
	if err := stampSpecHash(svc); err != nil {
		return nil, err
	}
	return svc, nil
}

// AccessService renders the Service clients connect through: ClusterIP, or
// NodePort with spec.service.nodePort when set. Cluster-aware clients
// (redis-cli -c, go-redis ClusterClient) use it to discover the cluster and
// then follow redirections to the pods.
func AccessService(rc *redisv1alpha1.RedisCluster) (*corev1.Service, error) {
	port := corev1.ServicePort{
		Name: RedisPortName, Port: RedisPort, TargetPort: intstr.FromString(RedisPortName), Protocol: corev1.ProtocolTCP,
	}
	typ := corev1.ServiceTypeClusterIP
	if rc.Spec.Service.Type == redisv1alpha1.ServiceTypeNodePort {
		typ = corev1.ServiceTypeNodePort
		if rc.Spec.Service.NodePort != nil {
			port.NodePort = *rc.Spec.Service.NodePort
		}
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(rc, AccessServiceName(rc), Labels(rc)),
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: SelectorLabels(rc),
			Ports:    []corev1.ServicePort{port},
		},
	}
	if err := stampSpecHash(svc); err != nil {
		return nil, err
	}
	return svc, nil
}
