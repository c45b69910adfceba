package controller

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/metricsauth"
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

	// WatchNamespaces limits the operator to the RedisClusters, and the
	// objects it makes for them, in these namespaces (the cache's
	// DefaultNamespaces). Empty watches the whole cluster. Nodes and
	// StorageClasses are read cluster-wide either way.
	WatchNamespaces []string
	// MetricsSecure serves /metrics over HTTPS with a self-signed
	// certificate, to clients whose bearer token the API server
	// authenticates (TokenReview) and authorizes for GET on /metrics
	// (SubjectAccessReview), as kubebuilder's scaffold does. False serves
	// plain HTTP to anyone.
	MetricsSecure bool
	// Pod is the manager's own Pod (name, namespace and, if known, UID,
	// from the downward API), where missing permissions are recorded as
	// an event; nil out of cluster.
	Pod *types.NamespacedName
	// PodUID is the UID of Pod, so `kubectl describe pod` lists the
	// event; when empty the manager reads it from the API (if its
	// identity may get pods in its namespace).
	PodUID types.UID
	// PermissionCheckInterval is how often missing permissions are
	// checked again (DefaultPermissionCheckInterval when zero).
	PermissionCheckInterval time.Duration
	// ExporterImage is the exporter sidecar's image for RedisClusters
	// that do not set spec.monitoring.exporter.image
	// (DefaultExporterImage when empty).
	ExporterImage string
	// ClusterDomain is the cluster's DNS domain (pods' names with
	// spec.announce Hostname); default cluster.local.
	ClusterDomain string
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
			&batchv1.Job{}:                  managed,
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
// health and readiness checks. The controller is registered once the
// manager's identity has every permission it needs (see permissionGate);
// until then the readiness check "permissions" fails naming what is
// missing.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	cacheOpts := CacheOptions()
	if len(o.WatchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = make(map[string]cache.Config, len(o.WatchNamespaces))
		for _, ns := range o.WatchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsOptions(o),
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
		Recorder:  mgr.GetEventRecorder(EventSource),
		Logger:    o.Logger,

		ExporterImage: o.ExporterImage,
		ClusterDomain: o.ClusterDomain,
	}
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("clientset for pod logs: %w", err)
	}
	br := &BackupReconciler{
		Client: mgr.GetClient(), Logs: clientsetLogs{cs: cs}, Recorder: mgr.GetEventRecorder(EventSource),
		Image: o.ExporterImage, ClusterDomain: o.ClusterDomain,
	}
	gate, err := newPermissionGate(mgr, o, func() error {
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
		if err := br.SetupWithManager(mgr); err != nil {
			return err
		}
		sr := &ScheduleReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder(EventSource)}
		if err := sr.SetupWithManager(mgr); err != nil {
			return err
		}
		rr := &RestoreReconciler{
			Client: mgr.GetClient(), Logs: clientsetLogs{cs: cs}, Recorder: mgr.GetEventRecorder(EventSource),
			Image: o.ExporterImage, ClusterDomain: o.ClusterDomain,
		}
		return rr.SetupWithManager(mgr)
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(gate); err != nil {
		return nil, fmt.Errorf("add the permission check: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck(PermissionsCheckName, gate.Ready); err != nil {
		return nil, fmt.Errorf("add readiness check: %w", err)
	}
	return mgr, nil
}

// EventSource is the reporting controller of the operator's events.
const EventSource = "redkube-operator"

// metricsOptions serves /metrics in plain HTTP, or with MetricsSecure
// over HTTPS behind authentication and authorization (internal/metricsauth,
// which does what controller-runtime's metrics/filters does without
// linking k8s.io/apiserver), without HTTP/2 (kubebuilder's scaffold
// disables it against the HTTP/2 Rapid Reset and Stream Cancellation
// vulnerabilities, CVE-2023-44487 and CVE-2023-39325).
func metricsOptions(o ManagerOptions) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsBindAddress}
	if o.MetricsSecure {
		m.SecureServing = true
		m.FilterProvider = metricsauth.FilterProvider
		m.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return m
}

// newPermissionGate builds the check of everything the manager needs: the
// controller's permissions in the watched namespaces, the lease's when it
// elects a leader, the token and access reviews when /metrics is secure.
func newPermissionGate(mgr ctrl.Manager, o ManagerOptions, start func() error) (*permissionGate, error) {
	required := RequiredPermissions(ControllerPermissions, o.WatchNamespaces)
	if o.LeaderElection {
		if ns := leaderElectionNamespace(o.LeaderElectionNamespace); ns != "" {
			required = append(required, RequiredPermissions(LeaderElectionPermissions, []string{ns})...)
		}
	}
	if o.MetricsSecure && o.MetricsBindAddress != "0" {
		required = append(required, RequiredPermissions(MetricsAuthPermissions, nil)...)
	}
	// Reviews are cheap for the API server (no storage); the manager's own
	// client limits (20 per second) would make a start wait seconds.
	rc := rest.CopyConfig(mgr.GetConfig())
	rc.QPS, rc.Burst = 200, 400
	authn, err := authenticationv1client.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("client for the permission check: %w", err)
	}
	authz, err := authorizationv1client.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("client for the permission check: %w", err)
	}
	g := &permissionGate{
		authn: authn, authz: authz, required: required, start: start,
		interval: o.PermissionCheckInterval, recorder: mgr.GetEventRecorder(EventSource),
		log: o.Logger, status: errNotChecked,
	}
	if g.interval <= 0 {
		g.interval = DefaultPermissionCheckInterval
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if o.Pod != nil {
		g.reader = mgr.GetAPIReader()
		g.pod = &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Namespace: o.Pod.Namespace, Name: o.Pod.Name, UID: o.PodUID},
		}
	}
	return g, nil
}

// serviceAccountNamespaceFile holds the namespace of an in-cluster pod.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// leaderElectionNamespace is the lease's namespace as controller-runtime
// picks it: the option, else the pod's own namespace; "" when neither is
// known (out of cluster without the option, which the manager refuses).
func leaderElectionNamespace(ns string) string {
	if ns != "" {
		return ns
	}
	b, err := os.ReadFile(serviceAccountNamespaceFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
