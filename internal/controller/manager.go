package controller

import (
	"fmt"
	"log/slog"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// ManagerOptions configure NewManager.
type ManagerOptions struct {
	// MetricsBindAddress serves /metrics ("0" disables it).
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz ("0" disables it).
	HealthProbeBindAddress string
	// PprofBindAddress serves net/http/pprof's /debug/pprof ("" or "0"
	// disables it, the default).
	PprofBindAddress string
	// LeaderElection makes one manager of several active at a time.
	LeaderElection bool
	// LeaderElectionNamespace holds the lease; required out of cluster.
	LeaderElectionNamespace string
	// Logger receives the executor's logs (default: discarded).
	Logger *slog.Logger
	// SkipControllerNameValidation lets one process build more than one
	// manager (a test of two managers contending for the lease does).
	// Controller names are otherwise unique per process, because they label
	// the controller's metrics.
	SkipControllerNameValidation bool
}

// LeaderElectionID names the leader-election lease.
const LeaderElectionID = "redkube-operator.redis.redkube.io"

// Scheme returns a scheme with the built-in types and RedisCluster.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("add built-in types to the scheme: %w", err)
	}
	if err := redisv1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("add redis.redkube.io types to the scheme: %w", err)
	}
	return s, nil
}

// CacheOptions cache only the objects the operator manages (by the
// managed-by label) among pods, claims, StatefulSets, ConfigMaps, Services
// and PodDisruptionBudgets, so its memory does not grow with the rest of
// the cluster. Cached objects carry no managedFields (the operator never
// reads them; they are often the largest part of an object), and cached
// Nodes carry no image list (see stripNode).
func CacheOptions() cache.Options {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{resources.LabelManagedBy: resources.LabelManagedByValue})}
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:                   managed,
			&corev1.PersistentVolumeClaim{}: managed,
			&corev1.ConfigMap{}:             managed,
			&corev1.Service{}:               managed,
			&appsv1.StatefulSet{}:           managed,
			&policyv1.PodDisruptionBudget{}: managed,
			// Nodes are cached cluster-wide, so their size is what grows
			// with the cluster.
			&corev1.Node{}: {Transform: stripNode},
		},
	}
}

// stripNode drops from a cached Node what the operator never reads and
// the kubelet fills in at length: managedFields, the container images on
// the node (up to 50 by default, each with its names and size) and the
// volumes in use or attached. The operator reads a Node's labels,
// spec.unschedulable and conditions.
func stripNode(in any) (any, error) {
	n, ok := in.(*corev1.Node)
	if !ok {
		// Tombstones and other wrappers pass through unchanged.
		return in, nil
	}
	n.ManagedFields = nil
	n.Status.Images = nil
	n.Status.VolumesInUse = nil
	n.Status.VolumesAttached = nil
	return n, nil
}

// NewManager returns a manager running the RedisCluster controller, with
// health and readiness checks.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   CacheOptions(),
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:  o.HealthProbeBindAddress,
		PprofBindAddress:        o.PprofBindAddress,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// The lease is released on a clean exit, so a standby takes over
		// at once instead of after the lease duration.
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: &o.SkipControllerNameValidation},
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	r := &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("redkube-operator"),
		Logger:    o.Logger,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add readiness check: %w", err)
	}
	return mgr, nil
}
