// Command manager runs the redkube operator: the RedisCluster controller
// with metrics, health probes and optional leader election. It runs in the
// cluster (config/manager) or from a host that reaches the pod IPs, such as
// the machine running localkube (--kubeconfig).
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/internal/version"
	"github.com/redkube/redkube/pkg/redisadmin"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run() error {
	var o controller.ManagerOptions
	var verbose, printVersion bool
	var memLimit, watch string
	flag.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", `address of the /metrics endpoint ("0" disables it; the in-cluster manifests use ":8443" with --metrics-secure)`)
	flag.BoolVar(&o.MetricsSecure, "metrics-secure", true, "serve /metrics over HTTPS (self-signed certificate) to clients whose token is authenticated and authorized for GET /metrics (needs create on tokenreviews and subjectaccessreviews); false serves plain HTTP to anyone")
	flag.StringVar(&watch, "watch-namespaces", "", "comma-separated namespaces whose RedisClusters the operator manages (empty: all namespaces); Nodes and StorageClasses are read cluster-wide either way")
	flag.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", `address of /healthz and /readyz ("0" disables them)`)
	flag.StringVar(&o.PprofBindAddress, "pprof-bind-address", "0", `address of /debug/pprof ("0" disables it)`)
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "run as one of several replicas, one active at a time")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the leader-election lease (default $POD_NAMESPACE; required out of cluster with --leader-elect)")
	flag.StringVar(&memLimit, "memory-limit", "", `soft memory limit of the Go runtime, a quantity such as "24Mi" ("0": none; default $GOMEMLIMIT if set, else 24Mi)`)
	flag.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "the Kubernetes cluster's DNS domain, in the pod names Redis nodes announce with spec.announce Hostname")
	flag.StringVar(&o.ExporterImage, "exporter-image", controller.DefaultExporterImage, "image of the exporter sidecar for RedisClusters that set spec.monitoring.exporter.enabled without an image (must contain /redkube-exporter; set it to the operator's image when that is mirrored)")
	flag.BoolVar(&verbose, "v", false, "log debug messages")
	flag.BoolVar(&printVersion, "version", false, "print the version and exit")
	// --kubeconfig is registered by controller-runtime's config package.
	flag.Parse()
	if printVersion {
		fmt.Println("manager version", version.String())
		return nil
	}

	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	handler := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	ctrl.SetLogger(logr.FromSlogHandler(handler))
	o.Logger = slog.New(handler)
	// go-redis logs every failed dial on its own; the controller reports
	// errors itself, in its status and events.
	redisadmin.SilenceGoRedis()
	limit, err := setMemoryLimit(memLimit)
	if err != nil {
		return err
	}

	o.WatchNamespaces = splitNamespaces(watch)
	o.Pod, o.PodUID = ownPod()

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	mgr, err := controller.NewManager(cfg, o)
	if err != nil {
		return err
	}
	o.Logger.Info("starting manager", "metrics", o.MetricsBindAddress, "metricsSecure", o.MetricsSecure, "health", o.HealthProbeBindAddress,
		"leaderElection", o.LeaderElection, "watchNamespaces", o.WatchNamespaces, "memoryLimit", limit, "exporterImage", o.ExporterImage)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}

// splitNamespaces parses --watch-namespaces: names separated by commas,
// blanks and empty items ignored, duplicates dropped.
func splitNamespaces(s string) []string {
	var out []string
	for _, ns := range strings.Split(s, ",") {
		if ns = strings.TrimSpace(ns); ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// ownPod returns the manager's own Pod from the downward API variables
// POD_NAME, POD_NAMESPACE and POD_UID (the in-cluster manifests set them),
// nil when the first two are unset (out of cluster).
func ownPod() (*types.NamespacedName, types.UID) {
	name, ns := os.Getenv("POD_NAME"), os.Getenv("POD_NAMESPACE")
	if name == "" || ns == "" {
		return nil, ""
	}
	return &types.NamespacedName{Namespace: ns, Name: name}, types.UID(os.Getenv("POD_UID"))
}
