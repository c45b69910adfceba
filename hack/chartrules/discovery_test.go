package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The table of built-in scopes is what a real kube-apiserver of the pinned
// version (hack/build-k8s.sh) serves: every group it serves is a built-in
// group, every cluster-scoped resource is in the table, and every table
// entry it serves is cluster-scoped. A Kubernetes upgrade that adds a
// cluster-scoped resource fails here until the table has it.
func TestTableMatchesDiscovery(t *testing.T) {
	bin := os.Getenv("REDKUBE_K8S_BIN")
	if bin == "" || testing.Short() {
		t.Skip("REDKUBE_K8S_BIN is unset or -short: no API server (`make test` sets it)")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: bin}
	cfg, err := env.Start()
	if err != nil {
		if stopErr := env.Stop(); stopErr != nil {
			t.Errorf("stop envtest: %v", stopErr)
		}
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	served := map[schema.GroupResource]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(builtinGroups, gv.Group) {
			t.Errorf("the API server serves group %q, which builtinGroups lacks", gv.Group)
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // subresources have their parent's scope
			}
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			served[gr] = true
			if !r.Namespaced && !clusterScoped[gr] {
				t.Errorf("%v is cluster-scoped, and clusterScoped lacks it", gr)
			}
			if r.Namespaced && clusterScoped[gr] {
				t.Errorf("%v is namespaced, and clusterScoped lists it", gr)
			}
		}
	}
	if len(served) < 50 {
		t.Fatalf("discovery returned %d resources, too few to compare with", len(served))
	}
}
