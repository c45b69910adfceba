package controller

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// apiClient talks to the real kube-apiserver (envtest with the binaries
// of hack/build-k8s.sh); nil when REDKUBE_K8S_BIN is unset.
var apiClient client.Client

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	bin := os.Getenv("REDKUBE_K8S_BIN")
	if bin == "" || testing.Short() {
		return m.Run() // the API-server tests skip themselves
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: bin,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start envtest from %s: %v\n", bin, err)
		_ = env.Stop()
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}()
	restConfig = cfg
	scheme, err := Scheme()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	apiClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func needAPIServer(t *testing.T) {
	t.Helper()
	if apiClient == nil {
		t.Skip("REDKUBE_K8S_BIN is unset: no API server (`make test` sets it)")
	}
}

// reconcileOnce runs one pass for the RedisCluster ns/name with a
// reconciler reading straight from the API server (no cache).
func reconcileOnce(t *testing.T, ns, name string) (ctrl.Result, error) {
	t.Helper()
	r := &Reconciler{Client: apiClient, APIReader: apiClient}
	return r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
}
