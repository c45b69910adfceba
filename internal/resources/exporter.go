package resources

import (
	"errors"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/auth"
)

// The exporter sidecar (spec.monitoring.exporter).
const (
	// ExporterContainerName is the name of the exporter container.
	ExporterContainerName = "exporter"
	// ExporterPort is the port the exporter serves /metrics on.
	ExporterPort = 9121
	// ExporterPortName names ExporterPort on the exporter container.
	ExporterPortName = "metrics"
	// ExporterPasswordEnv holds the monitor user's password in the
	// exporter container.
	ExporterPasswordEnv = "REDIS_PASSWORD"
	// exporterUID is the non-root uid (distroless "nonroot") the exporter
	// runs as.
	exporterUID int64 = 65532
)

// exporterContainer is the sidecar serving the metrics of the pod's Redis,
// running spec.monitoring.exporter.image or, when that is unset,
// o.ExporterImage.
func exporterContainer(rc *redisv1alpha1.RedisCluster, o Options) (corev1.Container, error) {
	spec := rc.Spec.Monitoring.Exporter
	image := spec.Image
	if image == "" {
		image = o.ExporterImage
	}
	if image == "" {
		return corev1.Container{}, errors.New("spec.monitoring.exporter.image is unset and the operator has no default exporter image")
	}
	res := spec.Resources
	if len(res.Requests) == 0 && len(res.Limits) == 0 {
		res = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		}
	}
	// The exporter reads INFO and CLUSTER INFO as the operator's monitor
	// user: it never holds the default user's password.
	env := []corev1.EnvVar{usersEnv(rc, ExporterPasswordEnv, UsersMonitorPasswordKey)}
	args := append([]string{
		"--redis-addr", "127.0.0.1:" + strconv.Itoa(RedisPort),
		"--redis-user", auth.MonitorUser,
		"--web.listen-address", ":" + strconv.Itoa(ExporterPort),
	}, exporterTLSArgs(rc, o)...)
	var mounts []corev1.VolumeMount
	if mountsTLS(rc, o) {
		mounts = append(mounts, tlsMount())
	}
	c := corev1.Container{
		Name:            ExporterContainerName,
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"/redkube-exporter"},
		Args:            args,
		Env:             env,
		VolumeMounts:    mounts,
		Ports: []corev1.ContainerPort{
			{Name: ExporterPortName, ContainerPort: ExporterPort, Protocol: corev1.ProtocolTCP},
		},
		Resources: res,
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/metrics", Port: intstr.FromString(ExporterPortName), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds: 10, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: 3,
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To(exporterUID),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	return c, nil
}
